"""pix2pix networks: the U-Net generator and the 70x70 PatchGAN discriminator.

The module tree mirrors the reference PyTorch implementation (Isola et al. 2017; the
``pytorch-CycleGAN-and-pix2pix`` project), so its ``latest_net_G.pth`` state dicts
(keys ``model.model.0.weight``, ``model.model.1.model.1.weight``, ...) load unchanged:
every skip block keeps one ``nn.Sequential`` called ``model`` whose indices match.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

NORMS = ("batch", "instance", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


class SeededDropout(nn.Dropout):
    """Dropout whose masks can come from per-sample seeds (drawn on the CPU).

    In training it is plain dropout. At inference, ``seeds`` (one int per batch item, an
    argument of the call: a module shared by threads holds no per-call state) makes the
    noise a pure function of the seed, whatever the device or batch order; ``seeds=None``
    in eval mode switches the noise off.
    """

    def forward(self, x: torch.Tensor, seeds: Sequence[int] | None = None) -> torch.Tensor:
        if self.training or seeds is None:
            return super().forward(x)
        if len(seeds) != x.shape[0]:
            raise ValueError(f"{len(seeds)} noise seeds for a batch of {x.shape[0]}")
        keep = 1.0 - self.p
        masks = []
        for s in seeds:
            g = torch.Generator(device="cpu").manual_seed(int(s))
            masks.append(torch.rand(x.shape[1:], generator=g) < keep)
        mask = torch.stack(masks).to(device=x.device, dtype=x.dtype)
        return x * mask / keep


class SkipBlock(nn.Module):
    """One U-Net level: down conv, the inner levels, up conv, and the skip concatenation."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: str = "batch",
        dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        bias = norm != "batch"  # batch norm has its own shift
        input_nc = outer_nc if input_nc is None else input_nc
        down_conv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        inner: nn.Module = submodule if submodule is not None else nn.Identity()  # innermost levels have none
        layers: list[nn.Module]
        if outermost:
            up_conv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [down_conv, inner, nn.ReLU(True), up_conv, nn.Tanh()]
        elif innermost:
            up_conv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down_conv, nn.ReLU(True), up_conv, _norm(norm, outer_nc)]
        else:
            up_conv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [
                nn.LeakyReLU(0.2, True), down_conv, _norm(norm, inner_nc), inner,
                nn.ReLU(True), up_conv, _norm(norm, outer_nc),
            ]
            if dropout:
                layers.append(SeededDropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, seeds: Sequence[int] | None = None) -> torch.Tensor:
        y = x
        for layer in self.model:
            y = layer(y, seeds) if isinstance(layer, (SkipBlock, SeededDropout)) else layer(y)
        if self.outermost:
            return y
        return torch.cat([x, y], 1)


class UNetGenerator(nn.Module):
    """U-Net with ``num_downs`` halvings (8 for 256 px windows: a 1x1 bottleneck)."""

    def __init__(
        self, input_nc: int, output_nc: int = 3, num_downs: int = 8, ngf: int = 64,
        norm: str = "batch", dropout: bool = True,
    ) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError("num_downs must be at least 5")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}")
        block = SkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = SkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=dropout)
        block = SkipBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = SkipBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = SkipBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = SkipBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm=norm)
        self.num_downs = num_downs

    def forward(self, x: torch.Tensor, noise_seeds: Sequence[int] | None = None) -> torch.Tensor:
        """``noise_seeds``: one per batch item, for the seeded dropout noise at inference."""
        return self.model(x, noise_seeds)


class PatchDiscriminator(nn.Module):
    """PatchGAN: with ``n_layers=3`` each output logit sees a 70x70 input patch."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=bias),
                _norm(norm, ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor,
                features: bool = False) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Patch logits; with ``features`` also the activations after each LeakyReLU (feature matching)."""
        if not features:
            out: torch.Tensor = self.model(x)
            return out
        feats = []
        for layer in self.model:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                feats.append(x)
        return x, feats


def init_weights(net: nn.Module, gain: float = 0.02, seed: int | None = None) -> nn.Module:
    """The reference's N(0, 0.02) init (norm weights N(1, 0.02)); seeded when ``seed`` is given."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * gain)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1.0 + torch.randn(m.weight.shape, generator=g) * gain)
                m.bias.zero_()
    return net



class LocalGenerator(nn.Module):
    """A fully convolutional U-Net without normalisation: the same ground gives the same pixels.

    Every output pixel depends only on the input within ``radius`` pixels, and the layers
    commute with shifts by multiples of ``2**levels`` (stride-2 convs down, nearest upsampling
    and 3x3 convs up, additive skips, no per-window statistics). Windows whose origins sit on
    multiples of ``2**levels`` and that see ``radius`` pixels of context around the part they
    keep therefore compute identical pixels for the same ground. Noise enters as input
    channels sampled from one global field (``satgeo.models.noise_field``).
    """

    def __init__(self, input_nc: int, output_nc: int = 3, chans: tuple[int, ...] = (16, 32, 64, 128, 256)) -> None:
        super().__init__()
        levels = len(chans) - 1
        if levels < 1:
            raise ValueError("LocalGenerator needs at least two channel widths")
        act = lambda: nn.LeakyReLU(0.2, True)  # noqa: E731
        self.stem = nn.Sequential(nn.Conv2d(input_nc, chans[0], 3, 1, 1), act())
        self.downs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chans[k], chans[k + 1], 4, 2, 1), act(),
                          nn.Conv2d(chans[k + 1], chans[k + 1], 3, 1, 1), act())
            for k in range(levels)
        )
        self.ups = nn.ModuleList(
            nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(chans[k + 1], chans[k], 3, 1, 1), act())
            for k in reversed(range(levels))
        )
        # full resolution keeps only the additive skip: 3x3 convs there dominate the cost
        self.fuse = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chans[k], chans[k], 3, 1, 1), act()) if k else nn.Identity()
            for k in reversed(range(levels))
        )
        self.head = nn.Sequential(nn.Conv2d(chans[0], output_nc, 3, 1, 1), nn.Tanh())
        self.levels = levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        skips = [h]
        for down in self.downs:
            h = down(h)
            skips.append(h)
        for up, fuse, skip in zip(self.ups, self.fuse, reversed(skips[:-1])):
            h = fuse(up(h) + skip)
        return self.head(h)


def receptive_radius(net: nn.Module, input_nc: int, size: int = 512) -> int:
    """Input pixels on each side that reach an output pixel, read off the gradient of a centre pixel."""
    import copy

    probe = copy.deepcopy(net).double().eval()
    x = torch.zeros(1, input_nc, size, size, dtype=torch.float64, requires_grad=True)
    probe(x)[0, :, size // 2, size // 2].sum().backward()
    assert x.grad is not None  # set by backward() above
    reached = (x.grad.abs().sum((0, 1)) > 0).nonzero()
    return int(size // 2 - reached[:, 0].min())
