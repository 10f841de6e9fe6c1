"""Reproducible initial weights of the dual-VGG network, never fitted on an image pair.

Default: seeded He-normal weights, so a run depends on its seed only. Pretrained ImageNet weights
cannot be shipped or downloaded here, but a user with torchvision's `vgg16` state_dict file can
point to it: its first convolutions are used, cut to this network's widths (the filters with the
largest L1 norms) and with the first convolution adapted to each image's band count.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from ..errors import InputError
from ..i18n import tr
from .dual_vgg import Spec

VGG16_CONVS = ("features.0.weight", "features.2.weight", "features.5.weight", "features.7.weight",
               "features.10.weight", "features.12.weight", "features.14.weight")


def seeded_weights(spec: Spec, bands: tuple[int, int], seed: int) -> dict[str, torch.Tensor]:
    """He-normal fp32 weights for both branches (a: image 1, b: image 2) and the 1×1 head."""
    generator = torch.Generator().manual_seed(seed)
    weights = {}
    for branch, channels in (("a", bands[0]), ("b", bands[1])):
        for i, width in enumerate(spec.convs()):
            std = (2.0 / (channels * 9)) ** 0.5
            weights[f"{branch}{i}"] = torch.randn((width, channels, 3, 3), generator=generator) * std
            channels = width
    last = spec.convs()[-1]
    weights["head"] = torch.randn((2, last, 1, 1), generator=generator) * (1.0 / last) ** 0.5
    return weights


def _adapt_first(w: torch.Tensor, bands: int) -> torch.Tensor:
    """An RGB first convolution for `bands` inputs: RGB kept for 3 bands, else the RGB mean repeated,
    scaled so a grey input gives the same response."""
    if bands == 3:
        return w
    return w.mean(dim=1, keepdim=True).repeat(1, bands, 1, 1) * (3.0 / bands)


def vgg16_weights(path: str, spec: Spec, bands: tuple[int, int], seed: int) -> dict[str, torch.Tensor]:
    """Branch weights from a torchvision vgg16 state_dict (both branches start alike); the head seeded."""
    file = Path(path)
    if not file.is_file():
        raise InputError(tr("The VGG16 weights file {path} does not exist.", path=path))
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: torch raises many kinds, some pages long
        raise InputError(tr("{path} is not a readable torch state_dict of weights only (torch: {reason}): give "
                            "torchvision's vgg16 weights file (vgg16-397923af.pth).", path=path,
                            reason=type(exc).__name__)) from exc
    convs = spec.convs()
    if len(convs) > len(VGG16_CONVS) or any(key not in state for key in VGG16_CONVS[:len(convs)]):
        raise InputError(tr("{path} is not a torchvision vgg16 state_dict with {count} convolutions ({names}).",
                            path=path, count=len(convs), names=", ".join(VGG16_CONVS[:len(convs)])))
    weights = seeded_weights(spec, bands, seed)
    for branch, band_count in (("a", bands[0]), ("b", bands[1])):
        kept = None
        for i, width in enumerate(convs):
            w = state[VGG16_CONVS[i]].float()
            if width > w.shape[0]:
                raise InputError(tr("Layer {layer} needs {width} filters; VGG16 has {count}.",
                                    layer=i, width=width, count=w.shape[0]))
            w = _adapt_first(w, band_count) if i == 0 else w[:, kept]
            kept = torch.sort(w.abs().sum(dim=(1, 2, 3)).topk(width).indices).values
            weights[f"{branch}{i}"] = w[kept].clone()
    return weights


def initial_weights(spec: Spec, bands: tuple[int, int], seed: int,
                    vgg16: Optional[str] = None) -> dict[str, torch.Tensor]:
    """The network's starting weights: from a vgg16 state_dict file when given, else seeded."""
    if min(bands) < 1:
        raise InputError(tr("Each branch needs at least one band, not {bands}.", bands=bands))
    return vgg16_weights(vgg16, spec, bands, seed) if vgg16 else seeded_weights(spec, bands, seed)
