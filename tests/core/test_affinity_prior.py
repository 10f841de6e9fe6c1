"""The change priors (affinity and structural) and the block grid they run on."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from oaip_qgis.core.errors import InputError
from oaip_qgis.core.labels import structural_prior as structural_prior_module
from oaip_qgis.core.labels.affinity_prior import affinity_prior
from oaip_qgis.core.labels.blocks import (
    MAX_CELLS,
    MAX_VALUES,
    block_means,
    block_size,
    least_block,
    radar_finer,
    upsample_prior,
)
from oaip_qgis.core.labels.prior import change_prior
from oaip_qgis.core.labels.structural_prior import structural_prior
from oaip_qgis.core.metrics import auc
from tests.helpers import two_sensors

PRIORS = {"affinity": affinity_prior, "structural": lambda *args, **kwargs: structural_prior(*args, **kwargs).both,
          "structural, one-sided": lambda *args, **kwargs: structural_prior(*args, **kwargs).one_sided}


def maps(*args, **kwargs) -> np.ndarray:
    """The structural prior's two maps, stacked: what must not move with a seed, a batch size or a CPU."""
    drawn = structural_prior(*args, **kwargs)
    return np.stack([drawn.both, drawn.one_sided])


@pytest.mark.parametrize("name", PRIORS)
def test_prior_is_high_inside_the_change_and_low_outside(name):
    x1, x2, change = two_sensors()
    prior = PRIORS[name](x1, x2, np.ones(change.shape, bool))
    assert prior.shape == change.shape and prior.dtype == np.float32
    assert np.nanmin(prior) >= 0 and np.nanquantile(prior, 0.995) <= 1 + 1e-6
    if name.startswith("structural"):   # 1 at its 0.995 quantile, the places above it left unclipped for the decision
        assert np.isclose(np.nanquantile(prior, 0.995), 1) and np.nanmax(prior) > 1
    assert prior[change].mean() > 2 * prior[~change].mean()
    assert auc(prior.ravel(), change.ravel()) > (0.95 if name.startswith("structural") else 0.8)


@pytest.mark.parametrize("name", PRIORS)
def test_invalid_cells_do_not_influence_the_prior(name):
    x1, x2, change = two_sensors()
    valid = np.ones(change.shape, bool)
    valid[:, :10] = False
    a1, a2 = x1.copy(), x2.copy()
    a1[:, ~valid], a2[:, ~valid] = 50.0, -7.0
    first = PRIORS[name](x1, x2, valid)
    second = PRIORS[name](a1, a2, valid)
    assert np.isnan(first[~valid]).all()
    np.testing.assert_allclose(first[valid], second[valid], atol=1e-5)


def test_structural_prior_is_seeded():
    """The seed draws the anchors among the cells; with at least as many anchors as cells every cell is one."""
    x1, x2, change = two_sensors()
    valid = np.ones(change.shape, bool)
    drawn = {seed: maps(x1, x2, valid, anchors=256, seed=seed) for seed in (4, 5)}
    assert np.array_equal(drawn[4], maps(x1, x2, valid, anchors=256, seed=4))
    assert not np.array_equal(drawn[4], drawn[5])
    assert np.array_equal(maps(x1, x2, valid, anchors=change.size, seed=4),
                          maps(x1, x2, valid, anchors=change.size, seed=5))


def test_the_structural_prior_does_not_depend_on_its_batch_size(monkeypatch):
    """The distances are computed in batches bounded by DISTANCES whatever the anchor count (memory);
    the prior must be the same, bit for bit, with batches of a few cells as with one batch: in float64
    the matrix product's order of adding no longer swaps two equally near neighbours."""
    x1, x2, change = two_sensors()
    valid = np.ones(change.shape, bool)
    whole = maps(x1, x2, valid, anchors=512, seed=2)
    monkeypatch.setattr(structural_prior_module, "DISTANCES", 512 * 7)
    assert np.array_equal(maps(x1, x2, valid, anchors=512, seed=2), whole)


def test_the_neighbour_ranking_holds_for_near_ties():
    """Cells far from the origin and close to each other: |a|² − 2q·a in float32 loses their differences
    (this draw: the nearest anchor right for about 4 % of the queries), so the ranking, and the map with
    it, depended on the CPU's matrix kernel; the distances are float64 and rank as exact arithmetic does."""
    rng = np.random.default_rng(0)
    anchors = torch.from_numpy((1000 + rng.normal(0, 0.01, (64, 4))).astype(np.float32))
    queries = torch.from_numpy((1000 + rng.normal(0, 0.01, (256, 4))).astype(np.float32))
    exact = ((queries.double()[:, None] - anchors.double()[None]) ** 2).sum(-1).argmin(1)
    assert torch.equal(structural_prior_module._distances(queries, anchors).argmin(1), exact)


# MKL picks its matrix kernel by CPU; its portable path, with ATen's generic kernels, stands in for another CPU.
OTHER_CPU = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default"}
PRIOR_IN_A_CHILD = """
import sys
import numpy as np
from oaip_qgis.core.labels.structural_prior import structural_prior
from tests.helpers import two_sensors
x1, x2, change = two_sensors()
drawn = structural_prior(x1, x2, np.ones(change.shape, bool), seed=3)
np.save(sys.argv[1], np.stack([drawn.both, drawn.one_sided]))
"""


def test_the_structural_prior_is_the_same_on_another_cpu_code_path(tmp_path):
    """A seed's map must not depend on the machine: the prior computed in a process on MKL's portable code
    path is the same bit for bit as here (with float32 distances it differed by 2.5e-4 on this scene)."""
    x1, x2, change = two_sensors()
    here = maps(x1, x2, np.ones(change.shape, bool), seed=3)
    out = tmp_path / "prior.npy"
    subprocess.run([sys.executable, "-c", PRIOR_IN_A_CHILD, str(out)], cwd=Path(__file__).resolve().parents[2],
                   env={**os.environ, **OTHER_CPU}, check=True, timeout=300)
    assert np.array_equal(np.load(out), here, equal_nan=True)


def test_priors_refuse_mismatched_grids_and_unknown_names():
    x1, x2, change = two_sensors()
    valid = np.ones(change.shape, bool)
    with pytest.raises(InputError, match="one grid"):
        structural_prior(x1, x2[:, :32], valid)
    with pytest.raises(InputError, match="no valid cell"):
        affinity_prior(x1, x2, ~valid)
    with pytest.raises(InputError, match="PRIOR must be"):
        change_prior(x1, x2, valid, method="pca")


def test_block_means_average_valid_pixels_only():
    x = np.arange(5 * 6, dtype=np.float32).reshape(1, 5, 6)
    valid = np.ones((5, 6), bool)
    valid[0, 0] = False
    means, ok = block_means(x, valid, 2)
    assert means.shape == (1, 3, 3) and ok.all()
    assert means[0, 0, 0] == pytest.approx((1 + 6 + 7) / 3)       # the invalid pixel 0 is left out
    assert means[0, 2, 2] == pytest.approx((28 + 29) / 2)         # edge block: only the pixels it has
    means, ok = block_means(x, np.zeros((5, 6), bool) | (np.arange(6) > 1), 2)
    assert not ok[:, 0].any() and np.isnan(means[0, :, 0]).all()


def test_block_size_bounds_the_grid():
    assert block_size(100, 100, 5) == 2
    for h, w in ((10_980, 10_980), (10_000, 7_000), (3_000, 3_000), (501, 499)):
        b = block_size(h, w, 5)
        assert -(-h // b) * -(-w // b) <= MAX_CELLS * 1.01
        assert b == 2 or -(-h // (b - 1)) * -(-w // (b - 1)) > MAX_CELLS
    assert block_size(10_980, 10_980, 5) == 6   # a Sentinel-2 tile against one SAR band: 60 m blocks


def test_blocks_span_two_coarser_pixels_only_where_a_radar_image_is_the_finer_and_the_other_is_not():
    """Sides in grid pixels: a 5 m radar on its own grid against a 10 m optical image is (1, 2) or (2, 1)."""
    assert least_block((2.0, 1.0), (False, True), 600, 600) == 4      # optical 2x coarser than the radar
    assert least_block((1.0, 4.02), (True, False), 600, 600) == 8     # a side measured a little off
    assert least_block((0.5, 1.0), (True, False), 600, 600) == 2      # on the coarser image's grid: its pixels
    assert least_block((1.0, 2.0), (False, True), 600, 600) == 2      # the optical image is the finer
    assert least_block((1.0, 2.0), (True, True), 600, 600) == 2       # two radar images
    assert least_block((1.0, 1.0), (True, False), 600, 600) == 2      # one grid
    assert least_block((1.0, 10.0), (True, False), 320, 600) == 10   # a small AOI keeps 32 cells a side
    assert radar_finer((1.0, 2.0), (True, False)) and radar_finer((2.0, 1.0), (False, True))
    assert not radar_finer((1.0, 2.0), (False, True)) and not radar_finer((1.0, 1.0), (True, False))


def test_block_size_bounds_the_values_with_many_bands():
    """12 + 2 bands: fewer, larger blocks, so that cells × bands stays within what 4 + 1 bands hold."""
    b = block_size(4000, 4000, 14)
    assert b > block_size(4000, 4000, 5) == 2
    assert (-(-4000 // b)) ** 2 * 14 <= MAX_VALUES
    assert (-(-4000 // (b - 1))) ** 2 * 14 > MAX_VALUES


def test_upsampling_is_bilinear_and_windowed():
    grid = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)
    full = upsample_prior(grid, (4, 4))
    assert full[0, 0] == 0.0 and full[3, 3] == 3.0                    # corners clamp to the blocks
    assert full[1, 1] == pytest.approx(0.75 * 0 + 0.25 * 1 * 0.75 + 0.25 * 2 * 0.75 + 3 * 0.0625)
    window = SimpleNamespace(row_off=1, col_off=2, height=3, width=2)
    assert np.array_equal(upsample_prior(grid, (4, 4), window), full[1:4, 2:4])
    with pytest.raises(InputError, match="outside"):
        upsample_prior(grid, (4, 4), SimpleNamespace(row_off=3, col_off=0, height=2, width=2))


def test_upsampling_skips_invalid_blocks():
    grid = np.array([[1.0, np.nan], [1.0, 1.0]], np.float32)
    full = upsample_prior(grid, (8, 8))
    assert np.allclose(full[np.isfinite(full)], 1.0)
    assert np.isfinite(full[2, 3])             # between a valid and the invalid block: valid ones only
    assert np.isnan(upsample_prior(np.full((2, 2), np.nan, np.float32), (4, 4))).all()


def test_the_structural_prior_checks_for_cancel_while_it_works():
    rng = np.random.default_rng(5)
    x1, x2 = rng.random((1, 64, 64)).astype(np.float32), rng.random((2, 64, 64)).astype(np.float32)
    valid = np.ones((64, 64), bool)
    calls = []

    def check() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        change_prior(x1, x2, valid, check=check)
    assert len(calls) == 3      # it stopped at the third check, inside the prior
    quiet = []
    change_prior(x1, x2, valid, check=lambda: quiet.append(1))
    assert len(quiet) > 3       # checked at every level's chunks and the joint smoothing


def test_the_structural_prior_reports_its_progress_from_start_to_end():
    """Counted in chunks of cells, estimated before it starts: over several chunks (a 300² grid and
    its pyramid) the reports grow from 0 to near 1 and never pass it."""
    rng = np.random.default_rng(6)
    x1, x2 = rng.random((2, 300, 300)).astype(np.float32), rng.random((1, 300, 300)).astype(np.float32)
    shares = []
    change_prior(x1, x2, np.ones((300, 300), bool), report=shares.append)
    assert shares[0] == 0 and shares == sorted(shares)
    assert len(shares) > 10 and 0.9 <= shares[-1] <= 1


@pytest.mark.parametrize("levels", [(0, 1), (2, 4)])
def test_the_structural_prior_refuses_pyramid_levels_without_one_or_below_it(levels):
    x = np.random.default_rng(7).random((1, 32, 32)).astype(np.float32)
    with pytest.raises(InputError, match="Pyramid levels"):
        structural_prior(x, x, np.ones((32, 32), bool), levels=levels)


def test_a_second_pass_is_taken_only_where_crowded_change_collapses_the_contrast():
    """Many places changed alike (30 % at 1.6x the median): Otsu's split falls under the evidence floor
    and the share above the floor is returned; a few strong changes, or none, give 0 or under DROP."""
    rng = np.random.default_rng(0)
    unchanged = rng.lognormal(0.0, 0.15, 70_000)
    crowded = np.concatenate([unchanged, rng.lognormal(np.log(2.0), 0.15, 30_000)])
    floor = structural_prior_module.EVIDENCE_FLOOR * np.median(crowded)
    share = structural_prior_module._crowded_share(crowded)
    assert share == pytest.approx(np.mean(crowded > floor)) and share > structural_prior_module.DROP
    strong = np.concatenate([unchanged, rng.lognormal(np.log(6.0), 0.2, 3_000)])
    assert structural_prior_module._crowded_share(strong) == 0
    assert structural_prior_module._crowded_share(unchanged) < structural_prior_module.DROP


def test_the_second_pass_leaves_a_clear_change_as_it_was(monkeypatch):
    """6 % of the scene changed, clearly: more than DROP lies above the floor, but Otsu's split lies
    above it too, so the prior is the one-pass prior, bit for bit (a second pass would change it)."""
    x1, x2, _ = two_sensors(64, seed=3)
    valid = np.ones(x2.shape[1:], bool)
    once = maps(x1, x2, valid, seed=1)
    monkeypatch.setattr(structural_prior_module, "SECOND_PASS", False)
    assert np.array_equal(maps(x1, x2, valid, seed=1), once)


def test_the_affinity_prior_reports_progress_and_can_be_cancelled():
    """It ran to the end unseen (about 70 s at the most cells on one thread) whatever the analyst pressed."""
    from oaip_qgis.core.errors import Cancelled

    x1, x2, _ = two_sensors(size=48)
    valid = np.ones(x1.shape[1:], bool)
    shares: list[float] = []
    change_prior(x1, x2, valid, method="affinity", report=shares.append)
    assert len(shares) >= 2 and shares == sorted(shares) and shares[-1] == pytest.approx(1.0)

    def cancel() -> None:
        raise Cancelled()

    with pytest.raises(Cancelled):
        change_prior(x1, x2, valid, method="affinity", check=cancel)
