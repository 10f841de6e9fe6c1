"""Co-registration: the shift of greatest mutual information between two sensors' images, applied to T2."""
import json

import numpy as np
import pytest
from osgeo import gdal

from oaip_qgis.core.params import RunParams
from oaip_qgis.core.pipeline import run
from oaip_qgis.core.raster import coregister
from oaip_qgis.core.raster.align import open_pair
from oaip_qgis.core.raster.coregister import MAX_SHIFT, REACH, Shift, estimate_shift, mutual_information
from oaip_qgis.core.sample_pair import make_sample_pair
from tests.helpers import make_raster


def _scene(seed: int = 0, size: int = 160) -> np.ndarray:
    """A map of 4 classes in blocks of 8 px with rough edges: what both sensors see."""
    rng = np.random.default_rng(seed)
    classes = np.kron(rng.integers(0, 4, (size // 8, size // 8)), np.ones((8, 8), int))
    return np.roll(classes, rng.integers(-2, 3, size), axis=1)   # ragged borders, row by row


def _sensors(classes: np.ndarray, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """An optical-like 3-band and a SAR-like 1-band image of the same classes, with unrelated levels."""
    rng = np.random.default_rng(seed)
    spectra = np.array([[0.1, 0.2, 0.3], [0.5, 0.4, 0.1], [0.2, 0.6, 0.4], [0.8, 0.7, 0.9]])
    optical = np.moveaxis(spectra[classes], -1, 0) + rng.normal(0, 0.03, (3, *classes.shape))
    sar = np.array([0.3, 0.05, 0.9, 0.15])[classes] * rng.gamma(4, 1 / 4, classes.shape)
    return optical.astype(np.float32), sar[None].astype(np.float32)


def test_the_shift_of_a_sar_image_against_an_optical_one_is_found():
    classes = _scene()
    optical, _ = _sensors(classes)
    _, sar = _sensors(np.roll(classes, (-2, 3), axis=(0, 1)))   # T2's content at (r − 2, c + 3) belongs at (r, c)
    valid = np.ones(classes.shape, bool)
    shift = estimate_shift(optical, sar, valid)
    assert (shift.rows, shift.cols) == (-2, 3)
    assert shift.found and shift.gain > 1.2


def _fields(size: int = 240, side: int = 24, seed: int = 0) -> np.ndarray:
    """Like `_scene`, in fields of `side` px: structure that still agrees a dozen pixels off."""
    rng = np.random.default_rng(seed)
    classes = np.kron(rng.integers(0, 4, (size // side, size // side)), np.ones((side, side), int))
    return np.roll(classes, rng.integers(-3, 4, size), axis=1)


@pytest.mark.parametrize("rows, cols", [(-9, 7), (14, -11)])
def test_a_shift_beyond_the_first_search_is_followed_to_where_it_is(rows, cols):
    """The search's edge (MAX_SHIFT) was its end: a radar image 10 × 8 grid pixels off was read 5 × 5 back, and
    one 14 × 10 off left as given (a generated pair's Kappa 0.45 and 0.07 against 0.80)."""
    classes = _fields()
    optical, _ = _sensors(classes)
    _, sar = _sensors(np.roll(classes, (rows, cols), axis=(0, 1)))
    shift = estimate_shift(optical, sar, np.ones(classes.shape, bool))
    assert (shift.rows, shift.cols) == (rows, cols) and not shift.edge


def test_a_shift_beyond_reach_is_said_to_be_where_the_search_ended():
    classes = _fields(side=40)
    optical, _ = _sensors(classes)
    _, sar = _sensors(np.roll(classes, (-26, 0), axis=(0, 1)))
    shift = estimate_shift(optical, sar, np.ones(classes.shape, bool))
    assert shift.rows == -REACH and shift.edge
    assert "may lie further apart" in shift.note(10.0, "m")
    assert estimate_shift(optical, sar, np.ones(classes.shape, bool), reach=MAX_SHIFT).rows == -MAX_SHIFT   # as it was


def test_the_search_moves_on_only_from_a_clear_shift():
    """A best shift on the first search's edge that does not beat the pair as given by MIN_GAIN is no lead: moved
    on from one, the search found 6 × 14 px in a crop of yellowriver, whose information is flat (Kappa 0.89 →
    −0.02). Far apart fields that agree nowhere within 5 px are left as given too."""
    def search(a, b, valid, centre, max_shift, margin, bins):   # a weak edge at first, a strong peak further on
        weak = centre == (0, 0)
        return coregister._Search(0.385 if weak else 0.9, (-5, -5) if weak else (-6, -14), 0.324, 0.02, weak)

    optical, sar = _sensors(_scene())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(coregister, "_search", search)
        shift = estimate_shift(optical, sar, np.ones((160, 160), bool))
    assert not shift.found and shift.gain == pytest.approx(0.385 / 0.324)
    classes = _fields(side=24)
    _, sar = _sensors(np.roll(classes, (-26, 0), axis=(0, 1)))
    assert estimate_shift(_sensors(classes)[0], sar, np.ones(classes.shape, bool)) == Shift()


def test_a_registered_pair_and_a_pair_without_structure_are_left_as_given():
    classes = _scene()
    optical, sar = _sensors(classes)
    valid = np.ones(classes.shape, bool)
    assert not estimate_shift(optical, sar, valid).found
    for seed in range(10):   # without the bias correction, noise peaked 1.18× above "no shift" at 1024²
        rng = np.random.default_rng(seed)
        assert estimate_shift(rng.random((1, 160, 160)), rng.random((1, 160, 160)), valid) == Shift()
    assert not estimate_shift(optical[:, :16, :16], sar[:, :16, :16], valid[:16, :16]).found   # too small to say


def test_mutual_information_is_zero_for_independent_bins_and_positive_for_equal_ones():
    a = np.repeat(np.arange(4), 4)
    b = np.tile(np.arange(4), 4)
    assert mutual_information(a, b, 4) == pytest.approx(0.0, abs=1e-12)
    assert mutual_information(a, a, 4) == pytest.approx(np.log(4))


def test_shifting_the_second_image_reads_it_further_on(sample_pair):
    with open_pair(sample_pair["t1"], sample_pair["t2"]) as pair:
        _, before, _ = pair.read()
        pair.shift_second(Shift(1, 2, 1.5))
        _, after, valid = pair.read()
        coarse = pair.read(out_shape=(pair.grid.height // 4, pair.grid.width // 4))
    inner = (slice(10, -10), slice(10, -10))
    np.testing.assert_allclose(after[:, 10:-10, 10:-10], before[:, 11:-9, 12:-8], rtol=2e-3, atol=1e-3)
    assert valid[inner].mean() > 0.9 and coarse[2].any()


@pytest.mark.parametrize("pixels", [1, 3])
def test_an_image_against_itself_moved_by_an_odd_number_of_pixels_shows_no_change(tmp_path, pixels):
    # Moved back by co-registration, T2 leaves the last rows and columns uncovered: half of a 2-px block there
    # (an odd shift) once made a block mean of other ground than T1's and a band of false change (5.8 % at 1 px).
    optical, _ = _sensors(_scene(size=200))
    moved = optical.copy()
    moved[:, pixels:, pixels:] = optical[:, :-pixels, :-pixels]
    t1, t2 = make_raster(tmp_path / "t1.tif", optical), make_raster(tmp_path / "t2.tif", moved)
    difference = tmp_path / "difference.tif"
    result = run(RunParams(t1=t1, t2=t2, mode="prior", out_stats=str(tmp_path / "stats.json"),
                           out_difference=str(difference)))
    assert (result.stats.coregistration["rows"], result.stats.coregistration["cols"]) == (pixels, pixels)
    assert result.stats.changed_fraction == 0
    # every pixel with data in both images has a score, the blocks left out included; the uncovered strip none
    score = gdal.Open(str(difference)).ReadAsArray()
    uncovered = np.zeros(score.shape, bool)
    uncovered[-pixels:], uncovered[:, -pixels:] = True, True
    assert np.isfinite(score).all() and (score[uncovered] == -1).all() and (score[~uncovered] >= 0).all()


@pytest.mark.parametrize("coregister", [True, False])
def test_a_run_undoes_the_misregistration_of_the_generated_pair_and_says_so(tmp_path, coregister):
    pair = make_sample_pair(tmp_path / "scene", size=300, seed=2, scenario="misregistered")
    stats_path = tmp_path / "stats.json"
    result = run(RunParams(t1=pair["t1"], t2=pair["t2"], mode="prior", out_stats=str(stats_path),
                           coregister=coregister))
    stats = json.loads(stats_path.read_text())
    if coregister:   # the generator shifts T2's georeferencing by 3 px east and 2 px south
        assert (stats["coregistration"]["rows"], stats["coregistration"]["cols"]) == (2, 3)
        assert any("Co-registration: T2 lies +2 row(s) and +3 column(s) off T1" in line for line in result.log)
    else:
        assert "coregistration" not in stats
        assert not any("Co-registration" in line for line in result.log)
