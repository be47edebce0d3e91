"""The pix2pix training loop: GAN + lambda * L1 (+ optional feature matching), Adam, linear decay.

Runs in steps (one batch of random crops each), not epochs, because crops are random.
Every ``checkpoint_every`` seconds (and at the end) it writes ``checkpoint.pt`` (G, D,
optimisers, step, sampler state; atomic) and exports the generator as a satgeo model
folder (``model/``: fp16 safetensors + config.json). ``resume=True`` continues from
``checkpoint.pt``. Losses go to ``log.csv``.

``init`` starts the generator from a trained model (e.g. an L1-only run, then adversarial
fine-tuning). With validation pairs, every save also scores the generator on them through the
render engine (PSNR/SSIM, seed 0) into ``val.csv``; ``snapshots`` keeps each save's model as
``snapshots/step-NNNNNN/`` so a run can be picked by its validation scores and its look.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from satgeo.atomic import atomic_path
from satgeo.errors import InputError
from satgeo.models.pix2pix import CLASSES, Pix2PixConfig, encode_masks, input_lut, save_pix2pix, side_channels
from satgeo.models.pix2pix_nets import PatchDiscriminator, init_weights, receptive_radius
from satgeo.train.landcover import IGNORE, CropSampler, LandcoverPair, from_pairs
from satgeo.train.losses import ssim_torch
from satgeo.train.metrics import score
from satgeo.train.pairs import Pairs, PairSampler


@dataclass
class TrainOptions:
    steps: int = 4000
    decay_steps: int | None = None  # linear lr decay to 0 over the last N steps (default: half)
    batch: int = 4
    crop: int = 256
    ngf: int = 32
    ndf: int = 32
    num_downs: int = 8
    norm: str = "instance"
    dropout: bool = True
    lr: float = 2e-4
    beta1: float = 0.5
    lambda_l1: float = 100.0
    lambda_fm: float = 0.0  # feature matching on D's activations (needs no downloaded weights)
    lambda_ssim: float = 0.0  # weight of 1 - SSIM (keeps structure and local contrast aligned with the photo)
    seed: int = 0
    checkpoint_every: float = 300.0  # seconds
    max_minutes: float | None = None  # stop (and save) after this training time; the lr schedule follows it
    bf16: bool = True  # autocast on CPUs with AMX / on CUDA
    threads: int | None = None
    init: str | None = None  # a pix2pix model (folder/file) of the same architecture to start G from
    snapshots: bool = False  # keep every saved model under snapshots/step-NNNNNN
    arch: str = "unet"  # "unet" (reference U-Net) | "local" (translation-consistent, GSD- and noise-fed)
    chans: tuple[int, ...] = (16, 32, 64, 128, 256)  # local: channel widths per level
    tile_size: int = 512  # local: render window (the crop is only the training patch)
    overlap: int = 16  # local: windows agree exactly, so a thin feather suffices
    noise_white: int = 2
    noise_smooth: int = 2
    scales: tuple[int, ...] = (1,)  # local: chips also used this many times coarser (GSD x factor)
    landcover_share: float = 0.5  # local: fraction of crops drawn from the land-cover pairs
    card: dict = field(default_factory=dict)  # name, training_data, license, attribution, description


def _lr_factor(progress: float, decay_fraction: float) -> float:
    """1 until ``1 - decay_fraction`` of the run, then linearly down to 0 at the end."""
    start = 1.0 - decay_fraction
    return 1.0 if progress < start else max(0.0, 1.0 - (progress - start) / max(1e-9, decay_fraction))


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def train_pix2pix(
    pairs: Pairs,
    out_dir: str | Path,
    opts: TrainOptions,
    resume: bool = False,
    on_step: Callable[[int, dict], None] | None = None,
    device: str | None = None,
    val: Pairs | None = None,
    landcover: Sequence[LandcoverPair] = (),
) -> Path:
    """Train; returns the exported model folder ``out_dir/model``.

    ``val``: pairs scored at each save. ``landcover``: pairs with every class (and their own
    GSDs) mixed into the local architecture's crops with ``opts.landcover_share``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    local = opts.arch == "local"
    if landcover and not local:
        raise InputError("land-cover pairs need --arch local (the U-Net has no GSD input)")
    if opts.threads:
        torch.set_num_threads(opts.threads)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    amp = opts.bf16 and (dev.type == "cuda" or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
    card = dict(opts.card)
    config = _config(pairs, opts, card.pop("name", out.name), card, landcover)
    if opts.crop % config.multiple:
        raise InputError(f"crop {opts.crop} must be a multiple of {config.multiple} for this architecture")
    torch.manual_seed(opts.seed)
    # the reference N(0, 0.02) init suits normalised U-Nets; the unnormalised local net keeps
    # PyTorch's fan-in scaled init (seeded above) so activations neither vanish nor explode
    G = config.build() if local else init_weights(config.build(), seed=opts.seed)
    if opts.init and not (resume and (out / "checkpoint.pt").is_file()):
        _init_from(G, config, opts.init)
    G = G.to(dev)
    n_cond = config.input_nc - config.noise_white - config.noise_smooth  # D sees the mask and the GSD, not the noise
    D = init_weights(PatchDiscriminator(n_cond + 3, opts.ndf, 3, opts.norm), seed=opts.seed + 1).to(dev)
    opt_g = torch.optim.Adam(G.parameters(), lr=opts.lr, betas=(opts.beta1, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=opts.lr, betas=(opts.beta1, 0.999))
    if local:
        groups = [from_pairs(pairs, opts.scales)] + ([list(landcover)] if landcover else [])
        shares = [1.0 - opts.landcover_share, opts.landcover_share] if landcover else [1.0]
        sampler: PairSampler | CropSampler = CropSampler(groups, shares, opts.crop, seed=opts.seed)
    else:
        sampler = PairSampler(pairs, opts.crop, seed=opts.seed)
    lut = input_lut(config)

    def next_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(G input, real images in [-1, 1], valid-pixel weights) for one step."""
        if isinstance(sampler, PairSampler):  # the U-Net: whole chips at their own GSD
            m, im = sampler.batch(opts.batch)
            return encode_masks(m, lut), _to_tensor(im), torch.ones(opts.batch, 1, opts.crop, opts.crop)
        m, im, gsds = sampler.batch(opts.batch)
        seeds = sampler.rng.integers(0, 2**62, size=len(m))
        side = side_channels(config, opts.crop, opts.crop, gsds.tolist(), seeds.tolist(), [(0, 0)] * len(m))
        x = torch.cat([encode_masks(m, lut), torch.from_numpy(side)], 1)
        valid = torch.from_numpy((m != IGNORE).astype(np.float32))[:, None]
        return x, _to_tensor(im), valid
    step, elapsed0 = 0, 0.0
    ckpt = out / "checkpoint.pt"
    if resume and ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        sampler.rng.bit_generator.state = state["sampler"]
        torch.set_rng_state(state["torch_rng"])
        step, elapsed0 = int(state["step"]), float(state.get("elapsed", 0.0))
    decay = opts.decay_steps if opts.decay_steps is not None else opts.steps // 2

    def save() -> None:
        state = {
            "G": G.state_dict(), "D": D.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "sampler": sampler.rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "step": step,
            "elapsed": elapsed0 + time.time() - t0, "options": asdict(opts),
        }
        with atomic_path(ckpt) as tmp:
            torch.save(state, tmp)
        G.eval()
        save_pix2pix(G, config, out / "model")
        if opts.snapshots:
            save_pix2pix(G, config, out / "snapshots" / f"step-{step:06d}")
        if val is not None:
            _validate(G, config, val, out / "val.csv", step, elapsed0 + time.time() - t0)
        G.train()

    log_path = out / "log.csv"
    fields = ["step", "seconds", "lr", "g_gan", "g_l1", "g_fm", "g_ssim", "d_loss"]
    new_log = not log_path.is_file() or not resume
    log_f = open(log_path, "w" if new_log else "a", newline="")
    log = csv.DictWriter(log_f, fieldnames=fields)
    if new_log:
        log.writeheader()
    from tqdm import tqdm

    bar = tqdm(total=opts.steps, initial=step, desc="train pix2pix", unit="step", dynamic_ncols=True)
    t0 = last_save = time.time()
    G.train()
    D.train()
    try:
        while step < opts.steps:
            # with a time budget the schedule follows whichever runs out first, steps or minutes,
            # so the decay always completes on a shared, contended machine
            progress = step / opts.steps
            if opts.max_minutes:
                progress = max(progress, (elapsed0 + time.time() - t0) / (opts.max_minutes * 60))
            lr = opts.lr * _lr_factor(progress, decay / opts.steps)
            for o in (opt_g, opt_d):
                for group in o.param_groups:
                    group["lr"] = lr
            x, y, valid = (t.to(dev) for t in next_batch())
            cond = x[:, :n_cond]
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                fake = G(x)
                # D step
                d_real = D(torch.cat([cond, y], 1))
                d_fake = D(torch.cat([cond, fake.detach()], 1))
                d_loss = 0.5 * (
                    F.binary_cross_entropy_with_logits(d_real.float(), torch.ones_like(d_real.float()))
                    + F.binary_cross_entropy_with_logits(d_fake.float(), torch.zeros_like(d_fake.float()))
                )
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                pred, feats_fake = D(torch.cat([cond, fake], 1), features=True)
                g_gan = F.binary_cross_entropy_with_logits(pred.float(), torch.ones_like(pred.float()))
                g_l1 = ((fake.float() - y).abs() * valid).sum() / (valid.sum() * 3).clamp(min=1.0)
                g_fm = torch.zeros((), device=dev)
                if opts.lambda_fm > 0:
                    with torch.no_grad():
                        _, feats_real = D(torch.cat([cond, y], 1), features=True)
                    for a, b in zip(feats_fake, feats_real):  # summed in order, as sum() did
                        g_fm = g_fm + F.l1_loss(a.float(), b.float())
                    g_fm = g_fm / len(feats_real)
                g_ssim = (1.0 - ssim_torch(fake.float(), y)) if opts.lambda_ssim > 0 else torch.zeros((), device=dev)
                g_loss = g_gan + opts.lambda_l1 * g_l1 + opts.lambda_fm * g_fm + opts.lambda_ssim * g_ssim
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            step += 1
            row = {
                "step": step, "seconds": round(elapsed0 + time.time() - t0, 1), "lr": f"{lr:.3g}",
                "g_gan": f"{g_gan.item():.4f}", "g_l1": f"{g_l1.item():.4f}", "g_fm": f"{float(g_fm):.4f}",
                "g_ssim": f"{float(g_ssim):.4f}",
                "d_loss": f"{d_loss.item():.4f}",
            }
            if not all(math.isfinite(float(str(row[k]))) for k in ("g_gan", "g_l1", "d_loss")):
                raise RuntimeError(f"training diverged at step {step}: {row}")
            log.writerow(row)
            bar.update(1)
            bar.set_postfix(l1=row["g_l1"], d=row["d_loss"])
            if on_step is not None:
                on_step(step, row)
            now = time.time()
            if now - last_save >= opts.checkpoint_every:
                log_f.flush()
                save()
                last_save = now
            if opts.max_minutes is not None and elapsed0 + now - t0 >= opts.max_minutes * 60:
                break
        save()
    finally:
        bar.close()
        log_f.close()
    return out / "model"


def _config(pairs: Pairs, opts: TrainOptions, name: str, card: dict,
            landcover: Sequence[LandcoverPair]) -> Pix2PixConfig:
    card_fields = {k: v for k, v in card.items() if k in Pix2PixConfig.__dataclass_fields__}
    if opts.arch != "local":
        return Pix2PixConfig(
            name=name, ngf=opts.ngf, num_downs=opts.num_downs, norm=opts.norm, dropout=opts.dropout,
            native_gsd=round(pairs.gsd, 4), tile_size=opts.crop, overlap=opts.crop // 4, **card_fields,
        )
    gsds = [round(pairs.gsd * f, 4) for f in opts.scales] + [p.gsd for p in landcover]
    input_nc = len(CLASSES) + 1 + opts.noise_white + opts.noise_smooth
    probe = Pix2PixConfig(name=name, arch="local", chans=tuple(opts.chans), input_nc=input_nc, gsd_input=True,
                          noise_white=opts.noise_white, noise_smooth=opts.noise_smooth, native_gsd=round(pairs.gsd, 4))
    radius = receptive_radius(probe.build(), input_nc)
    context = -(-radius // probe.multiple) * probe.multiple
    if opts.tile_size % probe.multiple or opts.overlap % probe.multiple:
        raise InputError(f"--tile-size and --overlap must be multiples of {probe.multiple}")
    return Pix2PixConfig(
        name=name, arch="local", chans=tuple(opts.chans), input_nc=input_nc, gsd_input=True,
        noise_white=opts.noise_white, noise_smooth=opts.noise_smooth, native_gsd=round(pairs.gsd, 4),
        gsd_range=(min(gsds), max(gsds)), context=context, tile_size=opts.tile_size, overlap=opts.overlap,
        dropout=False, norm="none", **card_fields,
    )


def _arch(config: Pix2PixConfig) -> tuple:
    if config.arch == "local":
        return (config.arch, config.chans, config.input_nc, config.output_nc)
    return (config.arch, config.ngf, config.num_downs, config.norm, config.input_nc, config.output_nc)


def _init_from(G: torch.nn.Module, config: Pix2PixConfig, path: str) -> None:
    from satgeo.models.pix2pix import load_pix2pix

    src = load_pix2pix(path, device="cpu", dtype=torch.float32)
    if _arch(config) != _arch(src.config):
        raise InputError(f"--init model {path} has another architecture {_arch(src.config)} than this run "
                         f"{_arch(config)}")
    G.load_state_dict(src.net.state_dict())


def _validate(G: torch.nn.Module, config: Pix2PixConfig, val: Pairs, csv_path: Path, step: int, seconds: float) -> None:
    """Score a copy of G, run like a render (bf16 where native, seeded noise, feathering), on ``val``."""
    import copy

    from satgeo.models.pix2pix import Pix2PixGenerator
    from satgeo.render.engine import render_mask

    gen = Pix2PixGenerator(copy.deepcopy(G).cpu(), config, device="cpu")
    res = score([render_mask(gen, m, 0) for m in val.masks], list(val.images))
    new = not csv_path.is_file()
    with open(csv_path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["step", "seconds", "psnr", "ssim"])
        w.writerow([step, round(seconds, 1), res["psnr"], res["ssim"]])


def layer_paths(paths: Sequence[str]) -> list[str]:
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise InputError(f"footprint layer {missing[0]} does not exist")
    return list(paths)
