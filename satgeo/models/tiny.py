"""Tiny random diffusion models built by code, in the same on-disk layouts as real checkpoints.

Tests (and anyone without the real weights) get a complete DiffusionSat pipeline folder in
seconds: a ~1M-parameter SatUNet, a 4-block (x8) VAE, a tiny CLIP text encoder and a
hand-built byte-level CLIP tokenizer (every byte is a token; no merges), laid out like
DiffusionSat's release::

    <root>/model_index.json
    <root>/{vae,text_encoder,tokenizer,scheduler}/...
    <root>/checkpoint-<N>/unet/{config.json,diffusion_pytorch_model.safetensors}

and ControlNets either as DiffusionSat's variant (metadata MLPs) or plain diffusers layout.
The images they make are noise-like textures; they exist to exercise every code path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from satgeo.models.controlnet_net import SatControlNet
    from satgeo.models.hf_types import AutoencoderKL, CLIPTextModel

TINY_TOKEN_LIMIT = 128
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def byte_to_unicode() -> dict[int, str]:
    """The reversible byte -> printable character map used by byte-level BPE vocabularies."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def write_byte_tokenizer(folder: Path, max_length: int = TINY_TOKEN_LIMIT) -> None:
    """A CLIPTokenizer folder whose vocabulary is the 256 bytes (plus word-final forms) and no merges."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = list(byte_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": i + 256 for i, c in enumerate(chars)})
    vocab[BOS], vocab[EOS] = 512, 513
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "CLIPTokenizer",
                "model_max_length": max_length,
                "bos_token": BOS,
                "eos_token": EOS,
                "unk_token": EOS,
                "pad_token": EOS,
                "do_lower_case": True,
            }
        )
    )
    (folder / "special_tokens_map.json").write_text(
        json.dumps({"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS})
    )


def tiny_unet_config(sample_size: int = 32, use_metadata: bool = True) -> dict:
    return dict(
        sample_size=sample_size,
        block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=1,
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=8,
        use_linear_projection=True,
        use_metadata=use_metadata,
        num_metadata=7,
    )


def tiny_vae() -> AutoencoderKL:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 32, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=256,
        scaling_factor=0.18215,
    )


def tiny_text_encoder() -> CLIPTextModel:
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = CLIPTextConfig(
        vocab_size=514,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=TINY_TOKEN_LIMIT,
        bos_token_id=512,
        eos_token_id=513,
        pad_token_id=513,
        projection_dim=32,
    )
    return CLIPTextModel(cfg)


def scheduler_config(prediction_type: str = "epsilon") -> dict:
    """SD 2.x's DDIM settings."""
    return {
        "_class_name": "DDIMScheduler",
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "num_train_timesteps": 1000,
        "clip_sample": False,
        "set_alpha_to_one": False,
        "steps_offset": 1,
        "prediction_type": prediction_type,
    }


def write_model_index(root: Path, unet_class: tuple[str, str] = ("diffusionsat", "SatUNet")) -> None:
    index = {
        "_class_name": "DiffusionSatPipeline",
        "scheduler": ["diffusers", "DDIMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": list(unet_class),
        "vae": ["diffusers", "AutoencoderKL"],
    }
    (root / "model_index.json").write_text(json.dumps(index, indent=1))


def build_tiny_diffusionsat(
    root: str | Path,
    seed: int = 0,
    checkpoint_step: int | None = 100,
    use_metadata: bool = True,
    prediction_type: str = "epsilon",
    sample_size: int = 32,
) -> Path:
    """Write a tiny DiffusionSat pipeline folder; the UNet goes to checkpoint-<step>/unet (or unet/)."""
    from satgeo.models.satunet import SatUNet

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    unet = SatUNet(**tiny_unet_config(sample_size=sample_size, use_metadata=use_metadata))
    _randomise_zero_layers(unet)
    unet_dir = root / (f"checkpoint-{checkpoint_step}" if checkpoint_step is not None else "") / "unet"
    unet.save_pretrained(unet_dir, safe_serialization=True)
    tiny_vae().save_pretrained(root / "vae", safe_serialization=True)
    tiny_text_encoder().save_pretrained(root / "text_encoder", safe_serialization=True)
    write_byte_tokenizer(root / "tokenizer")
    (root / "scheduler").mkdir(exist_ok=True)
    (root / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler_config(prediction_type)))
    write_model_index(root)
    return root


def _randomise_zero_layers(model: torch.nn.Module, std: float = 0.05) -> None:
    """Diffusers zero-initialises output convs; give them small random weights so outputs depend on inputs."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1 and float(p.abs().max()) == 0.0:
                p.normal_(0.0, std)


def _scale_preserving_control_path(cn: SatControlNet) -> None:
    """Random weights that carry the map through to the UNet at its own scale.

    PyTorch's default conv init shrinks a signal about 3x per layer, so through the 8 convs
    of the conditioning embedding and the zero-initialised output convs (given small random
    weights) a map changed the UNet's prediction by ~1e-6 relative: the tiny ControlNet did
    not follow the map. He-normal weights keep each layer's output at its input's scale.
    """
    with torch.no_grad():
        convs = [m for m in cn.controlnet_cond_embedding.modules() if isinstance(m, torch.nn.Conv2d)]
        for m in convs:
            m.weight.normal_(0.0, (2.0 / m.weight[0].numel()) ** 0.5)
        for m in [*cn.controlnet_down_blocks, cn.controlnet_mid_block]:
            m.weight.normal_(0.0, (1.0 / m.weight[0].numel()) ** 0.5)


def build_tiny_controlnet(
    folder: str | Path, base_root: str | Path, variant: str = "diffusionsat", seed: int = 1
) -> Path:
    """A tiny ControlNet derived from the tiny base UNet in ``base_root``, saved as a diffusers model folder.

    ``variant`` "diffusionsat" keeps the metadata MLPs (DiffusionSat's ControlNet);
    "diffusers" is the stock ``ControlNetModel`` layout (e.g. GeoSynth-OSM).
    """
    from satgeo.models.controlnet_net import controlnet_from_unet
    from satgeo.models.ds_layout import find_unet_dir
    from satgeo.models.satunet import load_satunet

    torch.manual_seed(seed)
    unet = load_satunet(find_unet_dir(Path(base_root)))
    cn = controlnet_from_unet(unet, variant=variant, conditioning_embedding_out_channels=(8, 16, 32, 32))
    _scale_preserving_control_path(cn)
    folder = Path(folder)
    cn.save_pretrained(folder, safe_serialization=True)
    return folder


def _rewrite_config(folder: Path, **fields: object) -> None:
    """Give a saved config the field names/values of an official release (e.g. its _class_name)."""
    f = folder / "config.json"
    cfg = json.loads(f.read_text())
    for k, v in fields.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    f.write_text(json.dumps(cfg, indent=2))


def build_tiny_controlnet3d(folder: str | Path, base_root: str | Path, seed: int = 2, channels: int = 3) -> Path:
    """A tiny 3D ControlNet saved exactly as DiffusionSat's ``ControlNetModel3D`` (temporal attention on)."""
    from satgeo.models.controlnet3d import CLASS_NAME, SatControlNet3D
    from satgeo.models.ds_layout import find_unet_dir
    from satgeo.models.satunet import load_satunet

    torch.manual_seed(seed)
    unet = load_satunet(find_unet_dir(Path(base_root)))
    cn = SatControlNet3D.from_unet(unet, conditioning_in_channels=channels, use_temporal_transformer=True,
                                   conditioning_embedding_out_channels=(8, 16, 32, 32))
    _randomise_zero_layers(cn, std=0.02)
    with torch.no_grad():
        for p in cn.mixing_attns:
            p.fill_(0.5)  # the released model learned non-zero mixing; exercise the temporal path
    folder = Path(folder)
    cn.save_pretrained(folder, safe_serialization=True)
    _rewrite_config(folder, _class_name=CLASS_NAME, _diffusers_version="0.17.0.dev0")
    return folder


def build_tiny_fmow_sr_controlnet(folder: str | Path, base_root: str | Path, seed: int = 3) -> Path:
    """A tiny 2D DiffusionSat ControlNet shaped like the fMoW Sentinel->RGB release: 10 channels, scale 2."""
    from diffusers import ControlNetModel

    from satgeo.models.controlnet_net import SatControlNet
    from satgeo.models.ds_layout import find_unet_dir
    from satgeo.models.satunet import load_satunet

    torch.manual_seed(seed)
    unet = load_satunet(find_unet_dir(Path(base_root)))
    base = ControlNetModel.from_unet(unet, conditioning_channels=10, conditioning_embedding_out_channels=(8, 16, 32, 32))
    cfg = {k: v for k, v in dict(base.config).items() if not k.startswith("_")}
    cn = SatControlNet(**cfg, use_metadata=True, conditioning_scale=2)
    state = dict(base.state_dict())
    assert unet.metadata_embedding is not None  # the tiny base is a metadata (DiffusionSat) UNet
    state.update({f"metadata_embedding.{k}": v for k, v in unet.metadata_embedding.state_dict().items()})
    cn.load_state_dict(state, strict=True)
    _randomise_zero_layers(cn, std=0.02)
    folder = Path(folder)
    cn.save_pretrained(folder, safe_serialization=True)
    # the official config names the channels conditioning_in_channels
    _rewrite_config(folder, _class_name="ControlNetModel", conditioning_in_channels=10, conditioning_channels=None)
    return folder
