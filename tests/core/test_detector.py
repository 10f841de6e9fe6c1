"""The detector on tiles: cell lattice, seamless tiles, nodata filling; initial weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from oaip_qgis.core.errors import InputError
from oaip_qgis.core.model.detector import Detector
from oaip_qgis.core.model.dual_vgg import FloatDualVGG, IntDualVGG, Spec, quantise_input
from oaip_qgis.core.model.init_weights import VGG16_CONVS, initial_weights
from oaip_qgis.core.model.patches import fill_invalid

SPEC = Spec()
RNG = np.random.default_rng(1)
X1 = RNG.random((1, 60, 70)).astype(np.float32)
X2 = RNG.random((3, 60, 70)).astype(np.float32)


def detector(integer=False, cell=2) -> Detector:
    weights = initial_weights(SPEC, (1, 3), seed=0)
    net = IntDualVGG(SPEC, weights) if integer else FloatDualVGG(SPEC, weights)
    return Detector([net], SPEC, integer, cell)


@pytest.mark.parametrize("integer", [False, True])
def test_probabilities_cover_the_tile_and_nodata_gives_no_nan(integer):
    x1 = X1.copy()
    x1[0, :5, :5] = np.nan
    prob = detector(integer).network_probability(x1, X2)
    assert prob.shape == (60, 70) and prob.dtype == np.float32
    assert np.isfinite(prob).all() and 0 <= prob.min() and prob.max() <= 1


def fixed(det: Detector) -> Detector:
    """The int8 detector with its shifts fixed as training leaves them (here on the test images themselves)."""
    crop1, crop2 = (quantise_input(torch.from_numpy(np.nan_to_num(x[:, :32, :32]))[None]) for x in (X1, X2))
    det.nets[0].fix_shifts(crop1, crop2)
    return det


@pytest.mark.parametrize("integer, cell", [(False, 1), (False, 2), (True, 1)])
def test_overlapping_tiles_give_the_whole_image_result(integer, cell):
    """cell 1: the grid's own pixels (large images); 2: the prior's blocks. int8: each layer scaled by the
    shift fixed in training, so a tile's integers are the whole image's (scaled by each tile's own peak, the
    right tile, which does not see the lively first columns, differed by 0.02 in probability)."""
    det = fixed(detector(integer, cell)) if integer else detector(cell=cell)
    x1, x2 = X1.copy(), X2.copy()
    x1[:, :, 15:] *= 0.1
    x2[:, :, 15:] *= 0.1
    x1[:, 20:40, 30:60] = np.nan      # nodata across the seam: its filling must not depend on the tile
    whole = det.network_probability(x1, x2)
    m = det.context
    split = 35 - m + 1                                 # right tile's first column: not on the cell lattice
    a = det.network_probability(x1[:, :, :35 + m], x2[:, :, :35 + m])[:, :35]   # core columns 0..34
    b = det.network_probability(x1[:, :, split:], x2[:, :, split:], 0, split)[:, 35 - split:]
    assert np.allclose(np.concatenate([a, b], axis=1), whole, atol=1e-5)


def test_nodata_cells_are_filled_from_their_neighbours_ring_by_ring():
    x = np.arange(2 * 5 * 6, dtype=np.float32).reshape(2, 5, 6)
    ok = np.zeros((5, 6), bool)
    ok[:, :2] = True                                   # two valid columns, four invalid
    filled = fill_invalid(x, ok, steps=2)
    assert np.array_equal(filled[:, ok], x[:, ok])     # valid cells untouched
    assert np.allclose(filled[:, 2, 2], x[:, 1:4, 1].mean(axis=1))   # first ring: mean of valid neighbours
    assert (filled[:, :, 3] != 0).all() and (filled[:, :, 4:] == 0).all()   # two rings, then zeros


@pytest.mark.parametrize("integer", [False, True])
def test_a_tile_not_filling_the_stride_is_padded_with_its_edge_cells_not_zeros(integer):
    det = detector(integer)
    tile1, tile2 = X1[:, :, :66], X2[:, :, :66]          # 33 cells of 2 px: one short of the stride
    extended1 = np.concatenate([tile1, tile1[:, :, -2:]], axis=2)   # the last cell, repeated
    extended2 = np.concatenate([tile2, tile2[:, :, -2:]], axis=2)
    padded = det.network_probability(tile1, tile2)
    assert np.allclose(padded, det.network_probability(extended1, extended2)[:, :66], atol=1e-6)


def test_tiles_that_do_not_match_are_refused():
    with pytest.raises(InputError, match="one grid"):
        detector().network_probability(X1, X2[:, :50])


def test_seeded_weights_are_reproducible_and_seed_dependent():
    a, b, c = (initial_weights(SPEC, (1, 3), seed) for seed in (4, 4, 5))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["a1"], c["a1"])
    assert a["a0"].shape == (16, 1, 3, 3) and a["b0"].shape == (16, 3, 3, 3)


def test_vgg16_weights_are_cut_to_the_network_and_adapted_to_the_bands(vgg16_file):
    path, state = vgg16_file
    w = initial_weights(SPEC, (1, 4), seed=0, vgg16=str(path))
    assert w["a0"].shape == (16, 1, 3, 3) and w["b0"].shape == (16, 4, 3, 3)
    assert w["a1"].shape == (16, 16, 3, 3) and w["a3"].shape == (32, 32, 3, 3)
    # the kept first filters are VGG's strongest ones, their RGB mean for a one-band image
    strongest = state[VGG16_CONVS[0]].mean(1, keepdim=True).abs().sum((1, 2, 3)).topk(16).indices.sort().values
    assert torch.allclose(w["a0"], state[VGG16_CONVS[0]].mean(1, keepdim=True)[strongest] * 3)


def test_a_missing_or_foreign_vgg16_file_is_refused(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        initial_weights(SPEC, (1, 3), 0, vgg16=str(tmp_path / "none.pth"))
    torch.save({"classifier.0.weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(InputError, match="vgg16"):
        initial_weights(SPEC, (1, 3), 0, vgg16=str(tmp_path / "other.pth"))
