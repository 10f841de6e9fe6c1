"""Fixtures shared by the three test layers."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sample_pair(tmp_path_factory) -> dict:
    """The generated heterogeneous pair (optical t1, SAR t2 on another grid, truth on t1's grid)."""
    from oaip_qgis.core.sample_pair import make_sample_pair

    return make_sample_pair(tmp_path_factory.mktemp("pair"), size=160, seed=3)


VGG16_WIDTHS = (64, 64, 128, 128, 256, 256, 256)


@pytest.fixture
def vgg16_file(tmp_path) -> tuple[Path, dict]:
    """A state_dict with torchvision vgg16's first convolution keys and shapes (random values)."""
    import torch

    from oaip_qgis.core.model.init_weights import VGG16_CONVS

    state, channels = {}, 3
    generator = torch.Generator().manual_seed(0)
    for key, width in zip(VGG16_CONVS, VGG16_WIDTHS):
        state[key] = torch.randn((width, channels, 3, 3), generator=generator)
        state[key.replace("weight", "bias")] = torch.zeros(width)
        channels = width
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    return path, state
