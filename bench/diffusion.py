"""satgeo's DiffusionSat pipeline vs diffusers' stock StableDiffusionPipeline, in one run.

Both get the *same* randomly initialised SD 2.1-base-architecture weights (UNet 865M, VAE,
OpenCLIP-H-sized text encoder), the same DDIM scheduler, step count, guidance (7.5), prompt,
seed and 512 px size. The stock pipeline runs with its defaults (fp32 on CPU; fp16 on a GPU
as users load it); satgeo runs its own speed plan (bf16 on AMX CPUs, SDPA, channels_last,
inference_mode; fp16/bf16 + torch.compile on CUDA).

    python3 bench/diffusion.py [--steps 2] [--device cpu|cuda] [--size 512]

Prints one JSON object: seconds per run for each, the ratio, and how far satgeo's pixels
are from the stock fp32/fp16 pixels (mean |diff| in 0..255).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

PROMPT = "a fmow satellite image of a park in Nepal"


def sd21_base_unet_config() -> dict:
    return dict(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=2,
        cross_attention_dim=1024,
        attention_head_dim=(5, 10, 20, 20),
        use_linear_projection=True,
        flip_sin_to_cos=True,
        freq_shift=0,
    )


def _fast_random_init(module: torch.nn.Module, seed: int) -> None:
    """Small random weights (std 0.02, biases 0, norms 1): cheap and numerically sane."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() == 1:
                p.fill_(1.0 if "norm" in name and name.endswith("weight") else 0.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)


def build_components(seed: int = 0):
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from satgeo.models.tiny import scheduler_config, write_byte_tokenizer

    unet = UNet2DConditionModel(**sd21_base_unet_config())
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        sample_size=512,
    )
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23,
            num_attention_heads=16, max_position_embeddings=77, hidden_act="gelu", projection_dim=512,
            bos_token_id=512, eos_token_id=513, pad_token_id=513,
        )
    )
    for i, m in enumerate((unet, vae, text)):
        _fast_random_init(m, seed + i)
    tok_dir = Path(tempfile.mkdtemp(prefix="satgeo-bench-tok-"))
    write_byte_tokenizer(tok_dir, max_length=77)
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    sched_cfg = scheduler_config("epsilon")
    return unet, vae, text, tokenizer, DDIMScheduler.from_config(sched_cfg), sched_cfg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()

    import copy

    from diffusers import StableDiffusionPipeline

    from satgeo.models.diffusionsat import DiffusionSatPipeline, plan_speed
    from satgeo.models.satunet import SatUNet

    t0 = time.time()
    unet, vae, text, tokenizer, sched, sched_cfg = build_components()
    build_s = time.time() - t0
    dev = torch.device(args.device)

    # satgeo: its own copies (the speed plan converts modules in place)
    sat_unet = SatUNet(**sd21_base_unet_config(), use_metadata=False)
    sat_unet.load_state_dict(unet.state_dict(), strict=True)
    sat = DiffusionSatPipeline(sat_unet, copy.deepcopy(vae), copy.deepcopy(text), tokenizer, sched_cfg, plan_speed(dev))

    stock_dtype = torch.float16 if dev.type == "cuda" else torch.float32
    stock = StableDiffusionPipeline(
        vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=sched,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    ).to(dev, stock_dtype)
    stock.set_progress_bar_config(disable=True)

    def run_stock(steps: int, size: int) -> np.ndarray:
        g = torch.Generator("cpu").manual_seed(0)
        lat = torch.randn(1, 4, size // 8, size // 8, generator=g).to(dev, stock_dtype)
        out = stock(PROMPT, height=size, width=size, num_inference_steps=steps, guidance_scale=7.5,
                    latents=lat, output_type="np").images
        return (out[0] * 255).round().astype(np.uint8)

    def run_sat(steps: int, size: int) -> np.ndarray:
        g = torch.Generator("cpu").manual_seed(0)
        lat = torch.randn(1, 4, size // 8, size // 8, generator=g)
        return sat(PROMPT, None, size, size, steps=steps, guidance=7.5, latents=lat)[0]

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    # warm up kernels / compile at the benchmark size, 1 step
    for f in (run_stock, run_sat):
        f(1, args.size)
    sync()
    times = {"stock": [], "satgeo": []}
    imgs = {}
    for _ in range(args.repeats):
        for name, f in (("stock", run_stock), ("satgeo", run_sat)):
            sync()
            t = time.perf_counter()
            imgs[name] = f(args.steps, args.size)
            sync()
            times[name].append(time.perf_counter() - t)
    stock_s, sat_s = min(times["stock"]), min(times["satgeo"])
    print(json.dumps({
        "bench": "diffusion",
        "device": str(dev),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "size": args.size,
        "steps": args.steps,
        "scheduler": "DDIMScheduler",
        "stock_dtype": str(stock_dtype),
        "satgeo_dtype": str(sat.plan.dtype),
        "satgeo_compile": sat.plan.compile,
        "build_s": round(build_s, 1),
        "stock_s": round(stock_s, 2),
        "satgeo_s": round(sat_s, 2),
        "speedup": round(stock_s / sat_s, 2),
        "mean_abs_pixel_diff": round(float(np.abs(imgs["stock"].astype(float) - imgs["satgeo"]).mean()), 2),
    }))


if __name__ == "__main__":
    main()
