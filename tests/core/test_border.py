"""An undeclared constant border is no data; the darkest or brightest ground of an image is not."""
from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal
from scipy import ndimage

from oaip_qgis.core.raster.border import BORDER_SHARE, undeclared_border
from tests.helpers import shared_pair

RNG = np.random.default_rng(0)


def speckled(shape=(200, 200)) -> np.ndarray:
    """A linear radar intensity over fields of two levels, never exactly 0."""
    fields = np.where(np.add.outer(np.arange(shape[0]) // 25, np.arange(shape[1]) // 25) % 2 == 0, 0.05, 0.2)
    return (fields * RNG.gamma(4, 1 / 4, shape))[None]


def swath(image: np.ndarray, value: float) -> np.ndarray:
    """The image with a wedge outside its swath (a corner triangle) filled with `value`."""
    rows, cols = np.indices(image.shape[1:])
    return np.where(rows + cols < 60, value, image)


def test_a_swath_border_of_0_is_found_with_its_share():
    border = undeclared_border(swath(speckled(), 0.0))
    assert border is not None and border.value == 0.0
    assert border.share == pytest.approx(1830 / 40000, abs=1e-3)


def test_a_border_of_another_fill_value_or_of_0_around_decibels_is_found():
    decibels = 10 * np.log10(speckled())
    assert undeclared_border(swath(decibels, -9999.0)).value == -9999.0
    zero_in_the_middle = swath(decibels.astype(np.float32), 0.0)     # 0 dB lies among the values, not below them
    assert undeclared_border(zero_in_the_middle).value == 0.0
    assert undeclared_border(swath(np.sqrt(speckled()) * 1000, 0.0).astype(np.uint16)).value == 0.0


def test_a_white_fill_of_an_8_bit_rendering_is_found_beyond_its_clipped_highlights():
    """A rendering's white (255) corners in every band, as a map export leaves them where the image held no
    ground; a percentile stretch clips about as much of the image to its lowest value, so a white edge region
    no larger than twice that is left as data."""
    rgb = np.repeat(np.clip(speckled() * 400 + 20, 1, 255), 3, axis=0)   # a few highlights clipped to 255
    rgb[:, 80:82, 80:82] = 0                             # a few clipped shadows: the stretch's low end
    border = undeclared_border(swath(rgb, 255).astype(np.uint8))
    assert border is not None and border.value == 255
    rgb[:, 100:150, 100:150] = 0                         # as much clipped dark as the white region
    assert undeclared_border(swath(rgb, 255).astype(np.uint8)) is None


def test_dark_ground_clipped_to_the_lowest_value_at_the_edge_is_data():
    """An 8-bit rendering clips its darkest water to 0, along the edge too: beside it the water is nearly
    as dark, where a border cuts through ordinary ground."""
    image = np.clip(speckled() * 1200, 0, 255)
    image[:, :, :40] = np.clip(RNG.normal(3, 3, (200, 40)), 0, 255)     # a lake along the left edge
    image = image.astype(np.uint8)
    assert (image[:, :, :40] == 0).mean() > 0.1 and (image == 0).mean() > BORDER_SHARE
    assert undeclared_border(image) is None


def test_a_saturated_bright_edge_and_scattered_zeros_are_data():
    bright = speckled()
    bright[:, :45, :45] = bright.max() * 0.9            # a cloud's edge, nearly as bright as its saturated core
    bright[:, :30, :30] = bright.max()                  # one value at the image's edge, but its brightest
    assert undeclared_border(bright.astype(np.float32)) is None
    assert undeclared_border((bright / bright.max() * 255).astype(np.uint8)) is None   # beside it bright ground
    scattered = np.where(RNG.random((1, 200, 200)) < 0.02, 0, speckled() * 1000).astype(np.uint16)
    assert undeclared_border(scattered) is None


def test_complex_bands_count_by_magnitude_and_a_jpeg_border_is_left_to_the_log():
    complex_image = swath(np.sqrt(speckled()), 0.0) * np.exp(1j * RNG.uniform(-np.pi, np.pi, (1, 200, 200)))
    assert undeclared_border(complex_image.astype(np.complex64)).value == 0.0
    image = np.clip(speckled() * 1200 + 40, 0, 255)
    image[:, :, :20] = 0
    image[:, :, 20:23] = RNG.integers(0, 5, (200, 3))      # the ringing a JPEG's blocks leave along an edge
    assert undeclared_border(np.repeat(image, 3, axis=0).astype(np.uint8)) is None   # fades like clipped water


def test_a_percentile_rendering_clipped_to_0_along_an_edge_is_data():
    """A 5 % stretch of a smoothed radar image clips its dark water to 0, solid and along an edge: as much is
    clipped to 255, which no fill border explains."""
    decibels = 10 * np.log10(speckled())[0]
    decibels[:, :20] = -30 + RNG.normal(0, 0.3, (200, 20))   # calm water along the left edge
    low, high = np.percentile(decibels, [12, 88])             # a stretch that clips the water whole
    rendering = np.clip((decibels - low) / (high - low) * 255, 0, 255).astype(np.uint8)[None]
    assert (rendering[:, :, :20] == 0).all() and (rendering == 255).mean() > 0.1
    assert undeclared_border(rendering) is None
    rendering[:, :80, :80] = 0                                # a true fill, far beyond the clipped share
    assert undeclared_border(rendering) is not None


def test_a_value_the_ground_holds_inside_the_image_is_no_border():
    """A lake at 0 in a near-infrared image, cut by the image's edge, is 0 inside the image too."""
    image = swath(speckled() * 1000 + 50, 0.0).astype(np.uint16)
    image[:, 80:160, 60:160] = 0
    assert undeclared_border(image) is None


def calm_water_zeros(image: np.ndarray, share: float = 0.3) -> np.ndarray:
    """The image with `share` of its dark fields' pixels at exactly 0, as a linear σ⁰ after thermal-noise
    removal holds over calm water; the dark fields touch the wedge, so some zeros touch it too."""
    dark = np.add.outer(np.arange(image.shape[1]) // 25, np.arange(image.shape[2]) // 25) % 2 == 0   # speckled()'s 0.05
    return np.where(dark & (RNG.random(image.shape[1:]) < share), 0, image)


def test_a_fill_all_round_the_data_is_found_though_it_encloses_it():
    """An image clipped to a polygon: 0 all round the data. The data it encloses is no speck of the fill; a
    clipped lake's specks are (the other tests)."""
    rows, cols = np.indices((200, 200))
    frame = (rows < 20 + cols // 5) | (rows > 185) | (cols < 15) | (cols > 170 + rows // 10)
    image = np.where(frame, 0, speckled() * 1000 + 50).astype(np.uint16)
    border = undeclared_border(image)
    assert border is not None and border.value == 0 and border.share == pytest.approx(frame.mean())


def test_a_swath_border_among_calm_water_zeros_is_found_as_a_region():
    """A linear σ⁰ at 0 outside its swath and on a third of its calm water's pixels: the zeros touching the
    wedge made it neither solid nor most of the zeros, and the border was compared as data. The wedge is
    found as a region; the water's zeros are left as data."""
    image = calm_water_zeros(swath(speckled(), 0.0)).astype(np.float32)
    border = undeclared_border(image)
    assert border is not None and border.value == 0.0 and border.region is not None
    rows, cols = np.indices(image.shape[1:])
    wedge = rows + cols < 60
    assert border.region[wedge].all() and border.region[rows + cols >= 64].sum() < 0.02 * border.region.sum()
    assert border.inside == pytest.approx(((image[0] == 0) & ~border.region).mean()) and border.inside > 0.1


def test_a_solid_lake_at_the_fill_value_is_not_taken_with_the_border():
    """The same wedge in an image whose ground also holds the value in a solid lake larger than the wedge:
    ground, not a fill (the rule for 8-bit renderings' clipped water, kept for float σ⁰ and integer amplitudes)."""
    image = calm_water_zeros(swath(speckled(), 0.0)).astype(np.float32)
    image[:, 100:180, 80:180] = 0
    assert undeclared_border(image) is None
    amplitude = calm_water_zeros(swath(speckled() * 1000, 0.0)).astype(np.uint16)
    assert undeclared_border(amplitude).region is not None   # without the lake, an integer amplitude's wedge is found
    amplitude[:, 100:180, 80:180] = 0
    assert undeclared_border(amplitude) is None


def test_an_8_bit_rendering_whose_sea_is_clipped_to_0_is_data_though_its_land_holds_specks_of_0():
    """A sea 99.5 % at 0 along the top of an 8-bit rendering whose 2 % stretch clips dark land to scattered 0:
    an opening takes the specks away and leaves the sea's straight-sided body, which passes every guard. Taken
    for a border among specks it became no data, 30 % of the image (a probe of 5 616 generated images found 58
    such 8-bit cases), so 8-bit images are left to the whole-region rules, which decline it."""
    rng = np.random.default_rng(0)
    rows = np.indices((300, 300))[0]
    sea = rows < 90
    ground = ndimage.gaussian_filter(rng.standard_normal((300, 300)), 12)
    texture = ndimage.gaussian_filter(rng.standard_normal((300, 300)), 3)
    ground, texture = ((f - f.mean()) / f.std() for f in (ground, texture))
    values = np.where(sea, 0.15 + 0.03 * rng.standard_normal((300, 300)),
                      np.exp(0.35 * (0.6 * ground + 0.3 * texture) + 0.08 * rng.standard_normal((300, 300))))
    values = ndimage.gaussian_filter(values, 0.8)
    low, high = np.quantile(values[~sea], 0.02), np.quantile(values, 0.995)
    values = (values - low) / (high - low) * 255
    values = np.where(sea & (rng.random((300, 300)) > 0.995), rng.uniform(1, 20, (300, 300)), values)
    rendering = np.clip(np.round(values), 0, 255).astype(np.uint8)[None]
    assert (rendering[0][~sea] == 0).mean() > 0.005 and (rendering[0][sea] == 0).mean() > 0.99
    assert undeclared_border(rendering) is None


def jpeg_decoded(image: np.ndarray) -> np.ndarray:
    """An 8-bit image (bands, rows, cols) as a JPEG of quality 75 decodes."""
    memory = gdal.GetDriverByName("MEM").Create("", image.shape[2], image.shape[1], image.shape[0], gdal.GDT_Byte)
    for band, values in enumerate(image, start=1):
        memory.GetRasterBand(band).WriteArray(values)
    gdal.GetDriverByName("JPEG").CreateCopy("/vsimem/test_border.jpg", memory, options=["QUALITY=75"])
    decoded = gdal.Open("/vsimem/test_border.jpg").ReadAsArray().reshape(image.shape)
    gdal.Unlink("/vsimem/test_border.jpg")
    return decoded


def test_a_jpeg_fill_border_is_found_through_its_ringing_with_its_faded_rim():
    """Black corners of a JPEG export: the ringing leaves the pixels beside them nearly black, as clipped water's
    are, so only a ring looked at beyond a JPEG block tells ordinary ground there; everything within that
    fade is no data, faded or not. A lake at 0 inside the image still makes the value ground."""
    rendering = np.repeat(np.clip(speckled() * 400 + 30, 1, 255), 3, axis=0)
    decoded = jpeg_decoded(swath(rendering, 0.0).astype(np.uint8))
    assert undeclared_border(decoded) is None                       # the ring right beside it: faded
    border = undeclared_border(decoded, fade=8)
    rows, cols = np.indices(decoded.shape[1:])
    assert border is not None and border.value == 0 and not border.exact
    wedge, rim = rows + cols < 60, (rows + cols >= 60) & (rows + cols < 66) & (rows > 10) & (cols > 10)
    assert border.region[wedge & (rows > 4) & (cols > 4)].all() and border.region[rim].all()   # its tips aside
    assert not border.region[rows + cols > 100].any()
    lake = swath(rendering, 0.0)
    lake[:, 100:180, 80:180] = 0
    assert undeclared_border(jpeg_decoded(lake.astype(np.uint8)), fade=8) is None


def test_the_bands_must_share_the_border_value():
    two = np.concatenate([swath(speckled(), 0.0), swath(speckled(), 0.0) + 0.5])   # the second band's lowest is 0.5
    assert undeclared_border(two) is None
    assert undeclared_border(np.concatenate([swath(speckled(), 0.0), swath(speckled(), 0.0)])).value == 0.0


@pytest.mark.parametrize("name", ["italy", "shuguang", "yellowriver", "sar-enl-10", "sar-enl-11", "urban-optical"])
def test_the_shared_pairs_renderings_have_no_border(name):
    """8-bit renderings with up to 1 % of an image at 0 (clipped water), none of it a border."""
    pair = shared_pair(name)
    for key in ("t1", "t2"):
        values = gdal.Open(str(pair[key])).ReadAsArray()
        assert undeclared_border(values.reshape(-1, *values.shape[-2:])) is None
