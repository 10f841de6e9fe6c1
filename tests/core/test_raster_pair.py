"""Alignment of heterogeneous rasters, clear errors on bad input, and all-or-nothing outputs."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from oaip_qgis.core.errors import InputError
from oaip_qgis.core.raster import strips
from oaip_qgis.core.raster.align import open_pair
from oaip_qgis.core.raster.found_nodata import _lossy
from oaip_qgis.core.raster.grid import Grid, Window
from oaip_qgis.core.raster.input_files import check_vector
from oaip_qgis.core.raster.on_grid import read_on_grid
from oaip_qgis.core.raster.polygons import polygonize_changes
from oaip_qgis.core.raster.samples import rasterize_samples
from oaip_qgis.core.raster.tiles import tiles
from oaip_qgis.core.raster.write import OutputSet
from tests.helpers import make_raster, write_polygon, write_samples


def ramp(rows=100, cols=120):
    """A plane in map x, so resampling onto another grid is checkable: value = column index."""
    return np.tile(np.arange(cols, dtype=np.float32), (rows, 1))


def test_second_image_in_another_crs_and_pixel_size_lands_on_the_first_grid(tmp_path):
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    # The same plane at 20 m: value = x offset / 10 m, so after warping it matches t1's columns.
    t2_data = np.tile(np.arange(0, 120, 2, dtype=np.float32) + 0.5, (50, 1))
    t2 = make_raster(tmp_path / "t2.tif", t2_data, pixel=20.0)
    with open_pair(t1, t2) as pair:
        assert (pair.grid.width, pair.grid.height) == (120, 100)
        assert pair.grid.transform[:2] == (500000.0, 10.0)
        x1, x2, valid = pair.read(Window(10, 10, 80, 80))
        assert valid.all()
        assert np.abs(x2[0] - x1[0]).max() < 0.6


def test_geographic_crs_input_is_reprojected(tmp_path):
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    t2 = make_raster(tmp_path / "t2.tif", np.ones((200, 200)), epsg=4326, origin=(14.99, 36.15), pixel=0.0005)
    with open_pair(t1, t2) as pair:
        x1, x2, valid = pair.read()
        assert valid.any()
        assert np.nanmax(np.abs(x2[:, valid] - 1.0)) < 1e-5


def test_overlap_crop_and_decimated_read_average_block_means(tmp_path):
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    t2 = make_raster(tmp_path / "t2.tif", ramp(), origin=(500200.0, 4000000.0))  # shifted 20 px east
    with open_pair(t1, t2) as pair:
        assert pair.grid.width == 100 and pair.grid.transform[0] == 500200.0
        full, _, _ = pair.read()
        blocks, _, valid = pair.read(out_shape=(25, 25))
        expected = full[0].reshape(25, 4, 25, 4).mean(axis=(1, 3))
        assert valid.all()   # both images cover the grid: its edge cells are whole
        assert np.allclose(blocks[0], expected, atol=1e-3)


def test_a_block_only_partly_covered_by_one_image_is_not_valid(tmp_path):
    # T2 lacks the last row and column of pixels: its blocks there are means over less ground than T1's
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    data = ramp()
    data[-1, :], data[:, -1] = -9999, -9999
    t2 = make_raster(tmp_path / "t2.tif", data, nodata=-9999)
    with open_pair(t1, t2) as pair:
        x1, x2, valid = pair.read(out_shape=(50, 60))
    assert not valid[-1].any() and not valid[:, -1].any() and valid[:-1, :-1].all()
    partly = np.isfinite(x2[0]) & ~valid
    assert partly[-1, 5:-5].all() and not np.isclose(x1[0], x2[0])[partly].all()   # they did differ there


def test_nodata_is_excluded_from_validity(tmp_path):
    data = ramp()
    data[:10, :] = -9999
    t1 = make_raster(tmp_path / "t1.tif", data, nodata=-9999)
    t2 = make_raster(tmp_path / "t2.tif", ramp())
    with open_pair(t1, t2) as pair:
        _, _, valid = pair.read()
    assert not valid[:10].any() and valid[11:].all()


@pytest.mark.parametrize("fill", [0, 255])
def test_an_undeclared_fill_found_in_every_band_is_no_data_only_where_every_band_holds_it(tmp_path, fill):
    """An 8-bit RGB rendering with black or white corners and no nodata declared: the corners are no data, but
    a pixel clipped to that value in one band (a bright roof's red, dark water's blue) is data. GDAL's nodata
    value, band by band, took such pixels out of the map as well."""
    rng = np.random.default_rng(0)
    rgb = np.clip(ramp()[None] + rng.normal(0, 3, (3, 100, 120)) + 60, 1, 254).astype(np.uint8)
    rows, cols = np.indices(rgb.shape[1:])
    rgb[:, rows + cols < 40] = fill
    clipped = (slice(50, 54), slice(60, 64))
    rgb[0][clipped] = fill
    ds = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "t1.tif"), 120, 100, 3, gdal.GDT_Byte)
    ds.SetGeoTransform((500000.0, 10.0, 0, 4000000.0, 0, -10.0))
    ds.SetProjection(gdal.Open(make_raster(tmp_path / "t2.tif", ramp())).GetProjection())
    for band, values in enumerate(rgb, start=1):
        ds.GetRasterBand(band).WriteArray(values)
    ds = None
    with open_pair(str(tmp_path / "t1.tif"), str(tmp_path / "t2.tif")) as pair:
        _, _, valid = pair.read()
        assert any(f"is {fill} in every band" in note for note in pair.notes)
    assert not valid[rows + cols < 40].any()
    assert valid[clipped].all() and valid[rows + cols >= 40].all()


def test_a_zero_border_is_found_when_the_declared_nodata_value_holds_no_pixel(tmp_path):
    """A radar image declaring −9999 as nodata whose swath edge, warped without it, is 0: the border check was
    skipped because a value was declared, and the edge compared as data (the generated default scene 0.796 ->
    0.555, its unchanged twin 1.5 % marked and "change found")."""
    rng = np.random.default_rng(0)
    sigma0 = (0.05 + 0.1 * (ramp() > 2000)) * rng.gamma(4, 1 / 4, (100, 120))
    rows, cols = np.indices(sigma0.shape)
    wedge = rows + cols < 40
    t2 = make_raster(tmp_path / "t2.tif", np.where(wedge, 0, sigma0), nodata=-9999)
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    with open_pair(t1, t2) as pair:
        _, _, valid = pair.read()
        assert any("is 0 in every band" in note and "declares (-9999)" in note for note in pair.notes)
    assert not valid[wedge].any() and valid[~wedge].mean() > 0.99
    held = make_raster(tmp_path / "held.tif", np.where(wedge | (rows > 95), np.where(rows > 95, -9999, 0), sigma0),
                       nodata=-9999)
    with open_pair(t1, held) as pair:   # the declared value holds pixels: it is the file's nodata, as declared
        _, _, valid = pair.read()
    assert not valid[rows > 95].any() and valid[wedge].all()


@pytest.mark.parametrize("amplitude", [False, True])
def test_a_swath_border_whose_value_calm_water_holds_too_is_masked_pixel_by_pixel(tmp_path, amplitude):
    """A linear σ⁰ at 0 outside its swath and on scattered pixels of calm water, no nodata declared: the
    border is the image's mask at its own pixels (a nodata value would punch the water's zeros out too), and
    the water's zeros are read as data, also where they touch the border. The same as a UInt16 amplitude was
    left to the log's advice, its edge compared as data (a generated flood beside a river: Kappa −0.02
    against 0.95)."""
    rng = np.random.default_rng(0)
    water = (ramp() >= 30) & (ramp() < 60)   # a river beside the wedge's end
    sigma0 = np.where(water, 0.01, 0.2) * rng.gamma(4, 1 / 4, (100, 120))
    rows, cols = np.indices(sigma0.shape)
    wedge = rows + cols < 40
    zeros = water & ~wedge & (rng.random(sigma0.shape) < 0.3)
    t2 = make_raster(tmp_path / "sigma0.tif", np.where(wedge | zeros, 0, sigma0))
    if amplitude:
        t2 = str(tmp_path / "amplitude.tif")
        gdal.Translate(t2, str(tmp_path / "sigma0.tif"), outputType=gdal.GDT_UInt16, scaleParams=[[0, 1, 0, 1000]])
        stored = gdal.Open(t2).ReadAsArray()
        assert (stored[zeros | wedge] == 0).all() and (stored == 0).sum() < (zeros | wedge).sum() + 20
    before = gdal.Open(t2).ReadAsArray().copy()
    with open_pair(make_raster(tmp_path / "t1.tif", ramp()), t2) as pair:
        _, x2, valid = pair.read()
        assert any("along its edge is 0" in note and "compared as data" in note for note in pair.notes)
        blocks = pair.read(out_shape=(50, 60))[2]   # block means see the mask too
        assert blocks[30:, 30:].all() and not blocks[np.add.outer(np.arange(50), np.arange(60)) < 18].any()
    beyond = zeros & (rows + cols >= 50)   # clear of the wedge, which takes zeros within SPECKLE + 1 pixels of it
    assert not valid[wedge].any() and valid[beyond].all() and (x2[0][beyond] == 0).all() and beyond.sum() > 500
    given = gdal.Open(t2)   # held: a band read from a dataset already freed crashes GDAL
    assert (given.ReadAsArray() == before).all() and given.GetRasterBand(1).GetMaskFlags() == 1
    # The note's way out works whatever values the image holds (a Byte image may hold all 256): NODATA nan.
    assert any("NODATA2 to 0" in note and "to nan (no value is no data)" in note for note in pair.notes)
    with open_pair(make_raster(tmp_path / "t1.tif", ramp()), t2, nodata2=float("nan")) as pair:
        assert pair.read()[2][wedge].all() and not any("along its edge" in note for note in pair.notes)


def test_stacked_bands_with_borders_of_their_own_values_each_get_their_nodata(tmp_path):
    """VV with a 0 swath edge stacked with VH at −9999 (gdalbuildvrt -separate of two undeclared files): no value
    is every band's, so nothing was found and both edges were compared as data (Kappa 0.53 against 0.79)."""
    rng = np.random.default_rng(0)
    rows, cols = np.indices((100, 120))
    vv = (0.05 + 0.1 * (ramp() > 60)) * rng.gamma(4, 1 / 4, (100, 120))
    vh = 0.2 * vv * rng.gamma(4, 1 / 4, (100, 120))
    edge = rows + cols < 40
    t2 = make_raster(tmp_path / "t2.tif", np.stack([np.where(edge, 0, vv), np.where(edge, -9999, vh)]))
    with open_pair(make_raster(tmp_path / "t1.tif", ramp()), t2) as pair:
        _, x2, valid = pair.read()
        assert any("each band of" in note and "band 1: 0, band 2: -9999" in note for note in pair.notes)
    assert not valid[edge].any() and valid[~edge].all() and np.isfinite(x2[:, ~edge]).all()


def test_an_integer_stack_whose_band_holds_its_fill_in_calm_water_too_keeps_each_band_its_nodata(tmp_path):
    """A UInt16 VV + VH stack with edges of 0 and 1, VV also 0 on scattered pixels of calm water: VV's border was
    found as a region among the zeros, which a value per band cannot give, so no band got a value, without a
    word, and both edges were compared as data."""
    rng = np.random.default_rng(1)
    rows, cols = np.indices((200, 240))
    vv = (400 + 300 * np.sin(rows / 9.0)) * rng.gamma(4, 1 / 4, rows.shape) + 2
    vv[(cols > 100) & (cols < 130) & (rng.random(rows.shape) < 0.3)] = 0   # calm water, clear of the edge
    vh = 0.3 * vv + 2
    edge = rows + cols < 60
    stack = np.stack([np.where(edge, 0, vv), np.where(edge, 1, vh)])
    make_raster(tmp_path / "float.tif", stack)
    gdal.Translate(str(tmp_path / "t2.tif"), str(tmp_path / "float.tif"), outputType=gdal.GDT_UInt16)
    with open_pair(make_raster(tmp_path / "t1.tif", np.indices((200, 240))[1]), str(tmp_path / "t2.tif")) as pair:
        valid = pair.read()[2]
        assert any("each band of" in note and "band 1: 0, band 2: 1" in note for note in pair.notes)
    assert not valid[edge].any() and valid[rows + cols > 64].mean() > 0.95


@pytest.mark.parametrize("options, lossy", [(["COMPRESS=DEFLATE"], False), (["COMPRESS=JPEG"], True),
                                            (["COMPRESS=JPEG", "PHOTOMETRIC=YCBCR"], True)])
def test_lossy_compression_is_told_from_the_file_as_gdal_reports_it(tmp_path, options, lossy):
    """A COG or GeoTIFF of RGB in JPEG reports 'YCbCr JPEG', which an exact match took for lossless: its
    corners were not looked for through the ringing (Kappa 0.42 against 0.64 as a .jpg)."""
    rgb = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "rgb.tif"), 64, 64, 3, gdal.GDT_Byte, options=options)
    rgb.WriteRaster(0, 0, 64, 64, bytes(range(256)) * 48)
    rgb = None
    assert _lossy(gdal.Open(str(tmp_path / "rgb.tif")), [1, 2, 3]) is lossy


def test_a_declared_nodata_value_the_decimated_read_misses_still_stands(tmp_path):
    """The check for a declared value that no pixel holds reads a decimated sample: scattered nodata pixels on
    the rows and columns it skips, with a white corner found as a border, had the declared value dropped and
    −9999 compared as data."""
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(120, 30, (2048, 2048)), 1, 250)
    rows, cols = np.indices(image.shape)
    image[rows + cols < 700] = 250
    image[0:1200:2, 1000:1600:2] = -9999                 # on every second row and column: between the samples
    t1 = make_raster(tmp_path / "t1.tif", image, nodata=-9999, pixel=1.0)
    t2 = make_raster(tmp_path / "t2.tif", rng.normal(1000, 100, (2048, 2048)), pixel=1.0)
    with open_pair(t1, t2) as pair:
        x1, _, valid = pair.read(Window(1000, 0, 600, 1200))
        assert not any("declares (-9999)" in note for note in pair.notes)
    assert np.nanmin(x1) > 0 and not valid[::2, ::2].any() and valid[1::2, 1::2].all()


def test_infinite_values_inside_an_image_are_named(tmp_path):
    """Decibels of a radar intensity of 0 are −∞ over calm water: read as no data, a flood's water got no map
    without a word. A swath edge of −∞ is no data as it should be, and a few infinite pixels are noise."""
    rng = np.random.default_rng(0)
    decibels = 10 * np.log10(0.1 * rng.gamma(4, 1 / 4, (100, 120)))
    rows, cols = np.indices(decibels.shape)
    edge = decibels.copy()
    edge[rows + cols < 40] = -np.inf
    edge[50, 60] = np.inf
    water = edge.copy()
    water[40:60, 50:80] = -np.inf
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    for name, data, said in (("edge", edge, False), ("water", water, True)):
        with open_pair(t1, make_raster(tmp_path / f"{name}.tif", data)) as pair:
            named = [note for note in pair.notes if "is infinite" in note]
        assert bool(named) == said and (not said or named[0].startswith("T2: 5.0 % of"))


def test_a_zip_archive_is_named_with_the_path_of_the_image_inside(tmp_path):
    """Products come zipped; the archive was called "not a raster" like any other file."""
    import zipfile

    t2 = make_raster(tmp_path / "t2.tif", ramp())
    with zipfile.ZipFile(tmp_path / "product.zip", "w") as archive:
        archive.write(make_raster(tmp_path / "t1.tif", ramp()), "measurement/t1.tif")
        archive.writestr("manifest.txt", "not an image")
    inside = f"/vsizip/{tmp_path / 'product.zip'}/measurement/t1.tif"
    with pytest.raises(InputError, match=f"T1: .*product.zip' is a zip archive: give the image inside it, e.g. "
                                         f"{re.escape(inside)} \\(1 raster"):
        open_pair(str(tmp_path / "product.zip"), t2)
    with open_pair(inside, t2) as pair:   # the path the sentence gives is read
        assert pair.read()[2].all()
    with pytest.raises(InputError, match=r"T1: the zip archive '.*product.zip' holds no 'measurement/t0.tif'; it "
                                         r"holds measurement/t1.tif, manifest.txt\."):   # GDAL: "cannot read"
        open_pair(inside.replace("t1.tif", "t0.tif"), t2)
    with pytest.raises(InputError, match=r"T1: the zip archive '.*other.zip' does not exist\."):
        open_pair(inside.replace("product.zip", "other.zip"), t2)


def test_a_prj_file_gdal_does_not_read_is_named(tmp_path):
    """A PNG export with a world file and a .prj: GDAL places it by the world file but reads no CRS from the
    .prj, and the sentence said only that the file has no CRS while the analyst sees one beside it."""
    source = gdal.Open(make_raster(tmp_path / "t2.tif", ramp()))
    png = gdal.GetDriverByName("MEM").Create("", 120, 100, 1, gdal.GDT_Byte)
    png.SetGeoTransform(source.GetGeoTransform())
    png.GetRasterBand(1).WriteArray(np.clip(ramp() / 40, 0, 255).astype(np.uint8))
    palette = gdal.ColorTable()
    for value in range(256):
        palette.SetColorEntry(value, (value, 255 - value, value // 2, 255))
    for name, colours in (("export", None), ("paletted", palette)):   # a paletted one is read through a VRT
        png.GetRasterBand(1).SetColorTable(colours)
        gdal.GetDriverByName("PNG").CreateCopy(str(tmp_path / f"{name}.png"), png, options=["WORLDFILE=YES"])
        (tmp_path / f"{name}.prj").write_text(source.GetProjection())
        shown = f"{name}.png' has no coordinate reference system \\(CRS\\) in its file \\(GDAL does not read the "
        before = set(gdal.ReadDirRecursive("/vsimem/") or [])
        with pytest.raises(InputError, match=f"T1: .*{shown}'{name}.prj' beside it for a PNG file\\)"):
            open_pair(str(tmp_path / f"{name}.png"), str(tmp_path / "t2.tif"))
        assert set(gdal.ReadDirRecursive("/vsimem/") or []) <= before   # the colours' VRT was left behind


@pytest.mark.parametrize("nodata", [None, 255])
def test_a_change_mask_given_as_an_image_is_refused(tmp_path, nodata):
    """The dock lists every raster layer, the reference among them: a 0/1 mask chosen as T1 was compared as an
    image and reported as change found."""
    mask = np.zeros((100, 120), np.uint8)
    mask[30:60, 40:90] = 1
    if nodata is not None:
        mask[:5] = nodata
    ds = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "gt.tif"), 120, 100, 1, gdal.GDT_Byte)
    ds.SetGeoTransform((500000.0, 10.0, 0, 4000000.0, 0, -10.0))
    t2 = make_raster(tmp_path / "t2.tif", ramp())
    ds.SetProjection(gdal.Open(t2).GetProjection())
    ds.GetRasterBand(1).WriteArray(mask)
    if nodata is not None:
        ds.GetRasterBand(1).SetNoDataValue(nodata)
    ds = None
    with pytest.raises(InputError, match="T1: '.*gt.tif' holds only the values 0 and 1 in every band: it is a mask"):
        open_pair(str(tmp_path / "gt.tif"), t2)
    ds = gdal.Open(str(tmp_path / "gt.tif"), gdal.GA_Update)
    ds.GetRasterBand(1).Fill(0)   # one value: a blank export, which the run names as such, not as a mask
    ds = None
    with open_pair(str(tmp_path / "gt.tif"), t2):
        pass


def test_tiles_cover_every_pixel_once_by_their_cores():
    cover = np.zeros((130, 250), int)
    image = np.arange(130 * 250).reshape(130, 250)
    for tile in tiles(250, 130, 64, 8):
        cover[tile.core.slices()] += 1
        r, c = tile.read.slices()
        assert r.start <= tile.core.row_off and c.start <= tile.core.col_off
        # The core's pixels, taken out of what was read with the margin
        assert np.array_equal(image[tile.read.slices()][tile.core_in_read()], image[tile.core.slices()])
    assert (cover == 1).all()


@pytest.mark.parametrize("case, message", [
    ("far", "do not overlap"),
    ("nocrs", "no coordinate reference system"),
    ("band", "band 3 is out of range"),
    ("text", "not a raster"),
    ("small", "at least 32 x 32"),
    ("rotated", "T2: '.*t2.tif' has a rotated geotransform.*set GRID \\(the dock's Output grid\\) to t1"),
])
def test_bad_input_is_named(tmp_path, case, message):
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    kwargs = {}
    if case == "far":
        t2 = make_raster(tmp_path / "t2.tif", ramp(), origin=(900000.0, 4000000.0))
    elif case == "nocrs":
        t2 = make_raster(tmp_path / "t2.tif", ramp(), epsg=None)
    elif case == "band":
        t2 = make_raster(tmp_path / "t2.tif", ramp())
        kwargs["bands2"] = [3]
    elif case == "text":
        t2 = str(tmp_path / "t2.tif")
        (tmp_path / "t2.tif").write_text("hello")
    elif case == "rotated":
        t2 = make_raster(tmp_path / "t2.tif", ramp())
        ds = gdal.Open(t2, gdal.GA_Update)
        ds.SetGeoTransform((500000.0, 9.0, 1.0, 4000000.0, 1.0, -9.0))
        ds = None
        kwargs["grid"] = "t2"
    else:
        t2 = make_raster(tmp_path / "t2.tif", ramp(), origin=(500000.0 + 10 * 100, 4000000.0))
    with pytest.raises(InputError, match=message):
        open_pair(t1, t2, **kwargs)


@pytest.mark.parametrize("transform", [
    (500000.0, 10.0, 0.0, 3999000.0, 0.0, 10.0),                 # south-up: rows run north
    (500000.0, 10.0, 1e-12, 4000000.0, -1e-12, -10.0),           # a reprojection's arithmetic left as rotation
])
def test_a_south_up_or_barely_rotated_image_sets_the_grid_as_a_north_up_one(tmp_path, transform):
    """Both were refused as the outputs' grid: "the overlap is only 120 x 0 pixels", "a rotated geotransform"."""
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    north_up = ramp() + 1000 * np.arange(100, dtype=np.float32)[:, None]   # every pixel its own value
    t2 = make_raster(tmp_path / "t2.tif", north_up[::-1] if transform[5] > 0 else north_up)
    ds = gdal.Open(t2, gdal.GA_Update)
    ds.SetGeoTransform(transform)
    ds = None
    with open_pair(t1, t2, grid="t2") as pair:
        assert pair.grid.transform == (500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0)
        x1, x2, valid = pair.read()
    assert valid.all() and np.allclose(x2[0], north_up, atol=1e-3)   # the same ground, row for row


def test_a_turned_image_covers_its_whole_ground_and_counts_its_pixels_by_their_area(tmp_path):
    """With rotation terms the overlap was a box of the pixel sizes alone: an image turned 90° (pixel sizes 0 on the
    diagonal) divided by 0, or did "not overlap"; one turned 30° lost a third of the overlap; a coarser one turned
    45° was taken for the finer, as its grid, and refused."""
    t1 = make_raster(tmp_path / "t1.tif", ramp())                  # 120 x 100, 10 m
    turned = make_raster(tmp_path / "t2.tif", ramp().T)              # the same ground, rows along x
    ds = gdal.Open(turned, gdal.GA_Update)
    ds.SetGeoTransform((500000.0, 0.0, 10.0, 4000000.0, -10.0, 0.0))
    ds = None
    with open_pair(t1, turned) as pair:
        assert (pair.grid.width, pair.grid.height) == (120, 100)
        assert pair.grid.transform == (500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0)
        x1, x2, valid = pair.read()
    assert valid.all() and np.allclose(x1, x2, atol=1e-3)
    side, angle = 13.0, np.radians(45)
    a, b = side * np.cos(angle), side * np.sin(angle)
    coarse = make_raster(tmp_path / "coarse.tif", np.ones((200, 200)))
    ds = gdal.Open(coarse, gdal.GA_Update)
    centre = (500600.0, 3999500.0)
    ds.SetGeoTransform((centre[0] - 100 * (a + b), a, b, centre[1] - 100 * (b - a), b, -a))
    ds = None
    with open_pair(t1, coarse) as pair:                              # T1's 10 m grid, whole
        assert pair.grid.transform == (500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0)
        assert (pair.grid.width, pair.grid.height) == (120, 100) and pair.read()[2].all()


def test_nan_as_nodata_of_integer_bands_that_declare_their_own_is_said(tmp_path):
    """NODATA1=nan masks nothing in a UInt16 image, so the file's own nodata 0 (a block of it) became data
    without a word."""
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    gdal.Translate(str(tmp_path / "t2.tif"), t1, outputType=gdal.GDT_UInt16, noData=0).FlushCache()
    said = "NODATA2 nan masks nothing in T2's integer bands, and replaces the nodata value the file declares (0)"
    with open_pair(t1, str(tmp_path / "t2.tif"), nodata2=math.nan) as pair:
        assert any(said in note for note in pair.notes)
    with open_pair(t1, str(tmp_path / "t2.tif"), nodata1=math.nan) as pair:   # float T1: NaN is its nodata
        assert not any("nan masks nothing" in note for note in pair.notes)


def utm_image(path: str, bands: int, kind: int, options: tuple = ()) -> gdal.Dataset:
    """A 120 x 100 GeoTIFF on ramp()'s 10 m UTM grid, open for writing its bands."""
    ds = gdal.GetDriverByName("GTiff").Create(path, 120, 100, bands, kind, list(options))
    ds.SetGeoTransform((500000.0, 10.0, 0, 4000000.0, 0, -10.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds.SetProjection(srs.ExportToWkt())
    return ds


def test_an_alpha_band_masks_the_image_and_is_not_read_as_data(tmp_path):
    path = str(tmp_path / "rgba.tif")
    ds = utm_image(path, 4, gdal.GDT_Byte, ("ALPHA=YES",))
    alpha = np.full((100, 120), 255, np.uint8)
    alpha[:30, :40] = 0
    for band, values in enumerate([ramp().astype(np.uint8)] * 3 + [alpha], start=1):
        ds.GetRasterBand(band).WriteArray(values)
    ds = None
    with open_pair(path, make_raster(tmp_path / "t2.tif", ramp())) as pair:
        _, _, valid = pair.read()
        assert pair.band_count1 == 3
    np.testing.assert_array_equal(valid, alpha == 255)


def test_a_fourth_band_flagged_alpha_that_holds_data_is_read_as_data(tmp_path):
    """GDAL writes a 4-band 8-bit GeoTIFF as RGBA by default: red, green, blue and near-infrared lost the
    NIR band, and every pixel where NIR was 0 (dark water) became nodata, without a word."""
    path = str(tmp_path / "rgbn.tif")
    ds = utm_image(path, 4, gdal.GDT_Byte)
    nir = (ramp() % 200).astype(np.uint8)
    nir[:30, :40] = 0
    for band, values in enumerate([ramp().astype(np.uint8)] * 3 + [nir], start=1):
        ds.GetRasterBand(band).WriteArray(values)
    assert ds.GetRasterBand(4).GetColorInterpretation() == gdal.GCI_AlphaBand   # GDAL's default
    ds = None
    with open_pair(path, make_raster(tmp_path / "t2.tif", ramp())) as pair:
        x1, _, valid = pair.read()
        assert pair.band_count1 == 4 and any("band 4 is flagged as alpha" in note for note in pair.notes)
    assert valid.all()
    np.testing.assert_array_equal(x1[3], nir)


def test_a_paletted_image_is_read_as_its_colours(tmp_path):
    index = (np.arange(100 * 120).reshape(100, 120) // 7 % 4).astype(np.uint8)
    colours = np.array([[200, 10, 10], [10, 200, 10], [10, 10, 200], [90, 90, 90]], np.uint8)   # index order: arbitrary
    path = str(tmp_path / "palette.tif")
    ds = utm_image(path, 1, gdal.GDT_Byte)
    table = gdal.ColorTable()
    for i, colour in enumerate(colours):
        table.SetColorEntry(i, (*colour.tolist(), 255))
    ds.GetRasterBand(1).SetRasterColorTable(table)
    ds.GetRasterBand(1).SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
    ds.GetRasterBand(1).WriteArray(index)
    ds = None
    with open_pair(path, make_raster(tmp_path / "t2.tif", ramp())) as pair:
        x1, _, _ = pair.read()
        assert pair.band_count1 == 3 and any("T1 is a paletted image" in note for note in pair.notes)
    np.testing.assert_array_equal(np.moveaxis(x1, 0, -1), colours[index])


def test_same_grid_allows_inputs_without_crs(tmp_path):
    t1 = make_raster(tmp_path / "t1.tif", ramp(), epsg=None)
    t2 = make_raster(tmp_path / "t2.tif", 2 * ramp(), epsg=None)
    with open_pair(t1, t2, same_grid=True) as pair:
        x1, x2, _ = pair.read()
    assert np.allclose(2 * x1, x2)


def test_same_grid_refuses_images_whose_own_georeferencing_places_them_apart(tmp_path):
    """Two exports whose world files put them 30 px apart were overlaid pixel for pixel (Kappa -0.03 against
    0.72 with agreeing world files)."""
    t1 = make_raster(tmp_path / "t1.tif", ramp(), epsg=None)
    t2 = make_raster(tmp_path / "t2.tif", 2 * ramp(), epsg=None, origin=(500300.0, 3999700.0))
    with pytest.raises(InputError, match="SAME_GRID.*places them apart: T1 .*t1.tif' at \\(500000, 4000000\\).*T2 "
                                         ".*t2.tif' at \\(500300, 3999700\\).*Assign both their CRS"):
        open_pair(t1, t2, same_grid=True)


def test_an_image_georeferenced_by_rpcs_only_is_refused_with_orthorectification_advice(tmp_path):
    """A primary VHR product (Pleiades, WorldView) carries RPCs and no map grid: the refusal said to assign a
    CRS or set SAME_GRID, which would place it wrongly or not at all."""
    rpc = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "primary.tif"), 120, 100, 1, gdal.GDT_UInt16)
    rpc.GetRasterBand(1).WriteArray(ramp().astype(np.uint16))
    ones = " ".join(["1"] + ["0"] * 19)
    rpc.SetMetadata({"LINE_OFF": "50", "SAMP_OFF": "60", "LAT_OFF": "45.1", "LONG_OFF": "15.0", "HEIGHT_OFF": "0",
                     "LINE_SCALE": "50", "SAMP_SCALE": "60", "LAT_SCALE": "0.01", "LONG_SCALE": "0.01",
                     "HEIGHT_SCALE": "100", "LINE_NUM_COEFF": " ".join(["0", "0", "-1"] + ["0"] * 17),
                     "LINE_DEN_COEFF": ones, "SAMP_NUM_COEFF": " ".join(["0", "1"] + ["0"] * 18),
                     "SAMP_DEN_COEFF": ones}, "RPC")
    rpc = None
    with pytest.raises(InputError, match="T1: .*primary.tif' is georeferenced by rational polynomial coefficients "
                                         "\\(RPC\\) only.*orthorectify it first.*gdalwarp -rpc"):
        open_pair(str(tmp_path / "primary.tif"), make_raster(tmp_path / "t2.tif", ramp()))


def test_a_signed_8_bit_image_is_refused_with_a_conversion_that_keeps_its_signs(tmp_path):
    """GDAL 3.6 reads PIXELTYPE=SIGNEDBYTE as signed in a decimated read and as unsigned in the warp: −25 dB
    became 231 and its −128 nodata 128, compared as data (Kappa 0.26 against 0.92 as Int16)."""
    decibels = np.clip(np.round(ramp() / 4 - 30), -127, 127).astype(np.int8)
    signed = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "db.tif"), 120, 100, 1, gdal.GDT_Byte,
                                                  options=["PIXELTYPE=SIGNEDBYTE"])
    signed.SetGeoTransform(gdal.Open(make_raster(tmp_path / "t1.tif", ramp())).GetGeoTransform())
    signed.SetProjection(gdal.Open(str(tmp_path / "t1.tif")).GetProjection())
    signed.GetRasterBand(1).WriteArray(decibels.view(np.uint8))
    signed = None
    with pytest.raises(InputError, match="T2: .*db.tif' holds signed 8-bit values") as refused:
        open_pair(str(tmp_path / "t1.tif"), str(tmp_path / "db.tif"))
    command = re.search(r"\((gdal_calc\.py .*?);", str(refused.value)).group(1)   # the advice, run as given
    subprocess.run(command.replace("converted.tif", str(tmp_path / "converted.tif")), shell=True, check=True)
    assert (gdal.Open(str(tmp_path / "converted.tif")).ReadAsArray() == decibels).all()


def test_an_image_whose_crs_has_no_transformation_over_its_area_is_refused_in_one_sentence(tmp_path):
    """An image labelled NAD27 (EPSG:4267) over Europe: GDAL's warp found no coordinate operation and the run
    ended with its RuntimeError."""
    t1 = make_raster(tmp_path / "t1.tif", ramp(), epsg=4267, origin=(15.5, 45.1), pixel=0.0001)
    t2 = make_raster(tmp_path / "t2.tif", ramp(), origin=(539000.0, 4994000.0), pixel=10.0)
    for grid in ("t1", "t2", "finer"):   # with T2's grid PROJ's ballpark placed it without a word
        with pytest.raises(InputError, match="T1: .*t1.tif' cannot be laid on the run's grid: GDAL finds no "
                                             "transformation from its CRS \\(NAD27\\).*assign the file its real CRS"):
            open_pair(t1, t2, grid=grid)


def test_a_declared_scale_and_offset_are_applied_unless_a_nodata_value_is_given(tmp_path):
    """Radar decibels stored as Int16 × 100 with GDAL's scale 0.01: compared as stored, the log-ratio refused
    them as "not decibels" (Kappa 0.90 against 0.92 for the same values in float). A nodata value the analyst
    gives is in stored units, so with one the stored values are compared, and the log says which."""
    stored = np.where(np.indices((100, 120))[0] < 5, -32768, -2500 - 10 * ramp()).astype(np.int16)
    t2 = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "t2.tif"), 120, 100, 1, gdal.GDT_Int16)
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    t2.SetGeoTransform(gdal.Open(t1).GetGeoTransform())
    t2.SetProjection(gdal.Open(t1).GetProjection())
    t2.GetRasterBand(1).WriteArray(stored)
    t2.GetRasterBand(1).SetNoDataValue(-32768)
    t2.GetRasterBand(1).SetScale(0.01)
    t2 = None
    with open_pair(t1, str(tmp_path / "t2.tif")) as pair:
        _, x2, valid = pair.read()
        assert any("declare a scale or offset: their values are compared as it gives them" in n for n in pair.notes)
    assert not valid[:5].any() and np.allclose(x2[0][5:], stored[5:] / 100)
    with open_pair(t1, str(tmp_path / "t2.tif"), nodata2=-32768) as pair:
        _, x2, valid = pair.read()
        assert any("declare a scale or offset that the run does not apply" in note for note in pair.notes)
    assert not valid[:5].any() and np.allclose(x2[0][5:], stored[5:])


def test_a_mosaic_whose_source_file_moved_is_named_with_that_file(tmp_path):
    """A VRT mosaic whose second tile was moved was called damaged ("copy or export it again")."""
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    for index in (0, 1):
        gdal.Translate(str(tmp_path / f"tile{index}.tif"), t1, srcWin=[60 * index, 0, 60, 100])
    gdal.BuildVRT(str(tmp_path / "mosaic.vrt"), [str(tmp_path / "tile0.tif"), str(tmp_path / "tile1.tif")])
    os.remove(tmp_path / "tile1.tif")
    with pytest.raises(InputError, match="T2: .*mosaic.vrt' reads its pixels from '.*tile1.tif', which is not there"):
        with open_pair(t1, str(tmp_path / "mosaic.vrt")) as pair:
            pair.read()


def test_images_on_either_side_of_the_antimeridian_overlap(tmp_path):
    """T1 in UTM 60N across 180°, T2 in EPSG:4326 at longitudes −179.99…: its box was compared with T1's taken
    past 180 (179.99…180.01), so they were refused as not overlapping (GRID t2)."""
    utm, geographic = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32660)
    geographic.ImportFromEPSG(4326)
    for srs in (utm, geographic):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    x, y = osr.CoordinateTransformation(geographic, utm).TransformPoint(180.0, 45.0)[:2]
    t1 = make_raster(tmp_path / "t1.tif", ramp(), epsg=32660, origin=(x - 600.0, y + 500.0))
    t2 = make_raster(tmp_path / "t2.tif", ramp(80, 100), epsg=4326, origin=(-179.9999, 45.004), pixel=0.0001)
    for grid in ("t2", "finer"):
        with open_pair(t1, t2, grid=grid) as pair:
            _, _, valid = pair.read()
            assert pair.grid.transform[0] < -179.99 and valid.sum() > 40 * 40


def test_same_grid_keeps_the_georeferencing_one_image_has(tmp_path):
    """T1 in UTM against T2 as a plain array: the outputs had no CRS although T1 has one."""
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    plain = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "t2.tif"), 120, 100, 1, gdal.GDT_Float32)
    plain.GetRasterBand(1).WriteArray(2 * ramp())
    plain = None
    for first, second in ((t1, str(tmp_path / "t2.tif")), (str(tmp_path / "t2.tif"), t1)):
        with open_pair(first, second, same_grid=True) as pair:
            x1, x2, valid = pair.read()
            assert pair.grid.srs().GetAuthorityCode(None) == "32633"
            assert pair.grid.transform == (500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0) and valid.all()
        assert np.allclose(x1 + x2, 3 * ramp()) and not np.allclose(x1, x2)


def test_same_grid_limits_to_the_aoi_and_says_a_pixel_size_is_ignored(tmp_path):
    """Both were passed over without a word on a shared grid: the whole grid was compared."""
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    t2 = make_raster(tmp_path / "t2.tif", 2 * ramp(), epsg=None)
    aoi = write_polygon(tmp_path / "aoi.geojson", "POLYGON ((500000 4000000, 500300 4000000, 500300 3999700, "
                                                  "500000 3999700, 500000 4000000))")
    with open_pair(t1, t2, same_grid=True, aoi=aoi, pixel_size=20.0) as pair:
        _, _, valid = pair.read()
        assert pair.has_aoi and valid.sum() == 30 * 30 and valid[:30, :30].all()
        assert any("PIXEL_SIZE 20 is ignored" in note for note in pair.notes)
    plain = make_raster(tmp_path / "plain.tif", ramp(), epsg=None)
    with pytest.raises(InputError, match="AOI: .* has a CRS, but neither image has one"):
        open_pair(plain, t2, same_grid=True, aoi=aoi)
    # The AOI's own checks, as on any grid: lines enclose nothing, an area elsewhere does not overlap.
    lines = tmp_path / "lines.geojson"
    lines.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": '
                     '{"type": "LineString", "coordinates": [[500000, 4000000], [500300, 3999700]]}}]}')
    far = write_polygon(tmp_path / "far.geojson", "POLYGON ((100 100, 200 100, 200 0, 100 0, 100 100))")
    for area, shown in ((str(lines), "enclose no area"), (far, "does not overlap the images")):
        with pytest.raises(InputError, match=shown):
            open_pair(t1, t2, same_grid=True, aoi=area)
    assert not [name for name in gdal.ReadDirRecursive("/vsimem/") or [] if name.startswith("oaip_")]


def test_same_grid_takes_two_images_without_any_georeferencing(tmp_path):
    """Two plain pixel arrays (no geotransform, no CRS) ended in GDAL's "Unable to compute a transformation"."""
    for name, data in (("t1", ramp()), ("t2", 2 * ramp())):
        plain = gdal.GetDriverByName("GTiff").Create(str(tmp_path / f"{name}.tif"), 120, 100, 1, gdal.GDT_Float32)
        plain.GetRasterBand(1).WriteArray(data)
        plain = None
    with open_pair(str(tmp_path / "t1.tif"), str(tmp_path / "t2.tif"), same_grid=True) as pair:
        x1, x2, valid = pair.read()
        assert pair.grid.crs_wkt == "" and (pair.grid.width, pair.grid.height) == (120, 100)
        # Where QGIS draws the inputs (y 0 down to -100): at y 100…0 the outputs lay a whole image away.
        assert pair.grid.transform == (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
        assert any("areas (changed_area, the polygons' area_m2, MIN_AREA) are in its units squared (pixels)" in note
                   for note in pair.notes)
    assert valid.all() and np.allclose(2 * x1, x2)


def grid():
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    return Grid(srs.ExportToWkt(), (500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0), 40, 30)


def test_outputs_are_all_renamed_on_success_and_none_left_on_failure(tmp_path):
    existing = tmp_path / "b.tif"
    existing.write_bytes(b"keep me")
    with pytest.raises(RuntimeError):
        with OutputSet() as out:
            sink = out.raster(str(tmp_path / "a.tif"), grid(), "uint8", 255)
            sink.write(Window(0, 0, 40, 30), np.ones((30, 40), np.uint8))
            out.raster(str(existing), grid(), "float32", -1)
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tif"]
    assert existing.read_bytes() == b"keep me"
    with OutputSet() as out:
        sink = out.raster(str(tmp_path / "a.tif"), grid(), "uint8", 255)
        sink.write(Window(0, 0, 40, 30), np.ones((30, 40), np.uint8))
    assert read_on_grid(str(tmp_path / "a.tif"), grid()).sum() == 1200


def test_unwritable_or_existing_outputs_are_refused(tmp_path):
    with pytest.raises(InputError, match="cannot be written"):
        OutputSet().raster(str(tmp_path / "missing" / "a.tif"), grid(), "uint8", 255)
    (tmp_path / "a.tif").write_bytes(b"x")
    with pytest.raises(InputError, match="exists already"):
        OutputSet(overwrite=False).raster(str(tmp_path / "a.tif"), grid(), "uint8", 255)


@pytest.mark.parametrize("strip", [512, 3])   # read whole, or in strips that cut through the regions
def test_polygons_one_feature_per_region_above_min_area(tmp_path, monkeypatch, strip):
    monkeypatch.setattr(strips, "STRIP_ROWS", strip)
    change = np.zeros((30, 40), np.float32)
    change[2:7, 2:7] = 1      # 25 px = 2500 m²
    change[20:22, 30:32] = 1  # 4 px = 400 m²
    path = make_raster(tmp_path / "c.tif", change)
    prob = make_raster(tmp_path / "p.tif", change * 0.8 + 0.1)
    assert polygonize_changes(path, prob, str(tmp_path / "all.gpkg"), grid(), 0.0) == 2
    assert polygonize_changes(path, prob, str(tmp_path / "big.gpkg"), grid(), 1000.0) == 1
    # larger than the whole grid (it overflowed GDAL's sieve size): no region is left, no traceback
    assert polygonize_changes(path, prob, str(tmp_path / "none.gpkg"), grid(), 1e13) == 0
    source = ogr.Open(str(tmp_path / "big.gpkg"))
    feature = source.GetLayer(0).GetNextFeature()
    assert feature.GetField("area_m2") == pytest.approx(2500.0)
    assert feature.GetField("mean_prob") == pytest.approx(0.9, abs=1e-5)
    every = ogr.Open(str(tmp_path / "all.gpkg"))   # held while its layer is read
    small = [f for f in every.GetLayer(0) if f.GetField("area_m2") < 1000]
    assert len(small) == 1 and small[0].GetField("mean_prob") == pytest.approx(0.9, abs=1e-5)


def test_polygons_report_their_progress_and_stop_when_cancelled(tmp_path):
    """The polygons were the one step with no progress and deaf to a cancel: a speckled map of 650 000 regions at
    4000² took 95 s (GDAL's polygonize 37 s of it). A cancel inside GDAL's own loop now stops it there."""
    from oaip_qgis.core.errors import Cancelled
    from oaip_qgis.core.progress import Progress

    change = (np.random.default_rng(0).random((30, 40)) < 0.3).astype(np.float32)
    path = make_raster(tmp_path / "c.tif", change)
    shown: list[tuple[float, str]] = []
    count = polygonize_changes(path, None, str(tmp_path / "all.gpkg"), grid(), 0.0,
                               Progress(report=lambda f, m: shown.append((f, m))))
    assert count > 20
    assert [f for f, _ in shown] == sorted(f for f, _ in shown) and shown[-1][0] > 0.95
    assert all(m.startswith("Writing the change polygons: ") for _, m in shown)
    for stop_at in (0.3, 0.7):   # inside GDAL's polygonize; in the areas' loop
        seen: list[float] = [0.0]
        stopped = Progress(report=lambda f, m: seen.append(f), is_cancelled=lambda: seen[-1] >= stop_at)  # noqa: B023
        with pytest.raises(Cancelled):
            polygonize_changes(path, None, str(tmp_path / f"stopped{stop_at}.gpkg"), grid(), 100.0, stopped)
        assert stop_at <= seen[-1] < stop_at + 0.1


def utm_samples(path, values, field_type=ogr.OFTInteger) -> str:
    """Points at (1, 1), (10, 9), … of grid() with the given `changed` values."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    points = ((500015.0, 3999985.0), (500105.0, 3999905.0), (500205.0, 3999805.0))
    return write_samples(path, [(f"POINT ({x} {y})", value) for (x, y), value in zip(points, values)], srs,
                         field_type)


def test_samples_are_burnt_on_the_right_pixels(tmp_path):
    path = utm_samples(tmp_path / "s.gpkg", (1, 0))
    burnt, _ = rasterize_samples(path, grid())
    assert burnt[1, 1] == 1 and burnt[9, 10] == 0
    assert (burnt == -1).sum() == 40 * 30 - 2


def test_samples_on_a_large_grid_are_read_back_strip_by_strip(tmp_path):
    """Both burnt bands of the whole grid were read at once (two Int16 arrays and their comparisons): a 10 980²
    run with three drawn buildings peaked at 1.8 GiB there, 1.4 GiB strip by strip."""
    import tracemalloc

    path = utm_samples(tmp_path / "s.gpkg", (1, 0))
    large = Grid(grid().crs_wkt, grid().transform, 3000, 6000)
    tracemalloc.start()
    try:
        burnt, _ = rasterize_samples(path, large)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert burnt[1, 1] == 1 and burnt[9, 10] == 0 and (burnt == -1).sum() == 3000 * 6000 - 2
    assert peak < 2.5 * burnt.nbytes   # the result and one strip's arrays; both bands read whole took 7 times it


def test_a_samples_field_is_found_as_ogr_finds_it_whatever_its_case(tmp_path):
    """`Changed` was refused as "has no field 'changed' (fields: Changed)"."""
    path = utm_samples(tmp_path / "s.gpkg", (1, 0))
    gdal.VectorTranslate(str(tmp_path / "upper.gpkg"), path, SQLStatement='SELECT geom, changed AS "Changed" FROM s')
    burnt, both = rasterize_samples(str(tmp_path / "upper.gpkg"), grid())
    assert burnt[1, 1] == 1 and burnt[9, 10] == 0 and both == 0


def test_a_geopackage_of_several_layers_is_read_by_its_first_or_named_layer(tmp_path):
    """gdal.Rasterize refused a file of several layers ("Neither -sql nor -l are specified") with a traceback."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    path = str(tmp_path / "both.gpkg")
    source = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    boxes = {"first": (500000, 500200, 3999800, 4000000), "second": (500200, 500400, 3999800, 4000000)}
    for name, (x0, x1, y0, y1) in boxes.items():
        layer = source.CreateLayer(name, srs, ogr.wkbPolygon)
        layer.CreateField(ogr.FieldDefn("changed", ogr.OFTInteger))
        feature = ogr.Feature(layer.GetLayerDefn())
        ring = f"{x0} {y1}, {x1} {y1}, {x1} {y0}, {x0} {y0}, {x0} {y1}"
        feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POLYGON (({ring}))"))
        feature.SetField("changed", 1 if name == "first" else 0)
        layer.CreateFeature(feature)
    source = None
    assert set(np.unique(rasterize_samples(path, grid())[0])) == {-1, 1}
    assert set(np.unique(rasterize_samples(f"{path}|layername=second", grid())[0])) == {-1, 0}
    assert set(np.unique(rasterize_samples(f"{path}|layerid=1", grid())[0])) == {-1, 0}
    with pytest.raises(InputError, match="has no layer 'third' \\(its layers: first, second\\)"):
        rasterize_samples(f"{path}|layername=third", grid())
    # Checked before any work: the layer named, or which one is read (the messages that follow name the file).
    assert check_vector(path, "AOI") == [f"AOI: '{path}' holds 2 layers (first, second); the first, 'first', is "
                                         f"read: to read another, give it as '{path}|layername=…'."]
    assert check_vector(f"{path}|layername=second", "AOI") == []
    with pytest.raises(InputError, match="AOI: .* has no layer 'third'"):   # QGIS said "not found"
        check_vector(f"{path}|layername=third", "AOI")
    with pytest.raises(InputError, match="AOI: .* asks for 'geometrytype=Polygon', which is not applied here"):
        check_vector(f"{path}|layername=second|geometrytype=Polygon", "AOI")
    t1, t2 = make_raster(tmp_path / "t1.tif", ramp()), make_raster(tmp_path / "t2.tif", ramp())
    for aoi, first_column in ((path, 0), (f"{path}|layername=second", 20)):
        with open_pair(t1, t2, aoi=aoi, min_size=16) as pair:
            assert pair.grid.transform[0] == 500000.0 + 10 * first_column and pair.grid.width == 20


def test_a_nodata_value_an_integer_band_cannot_hold_is_refused(tmp_path):
    """GDAL clamped NODATA1 1e40 on a UInt16 image to 65535, with only its own warning on stderr."""
    path = str(tmp_path / "u16.tif")
    ds = utm_image(path, 1, gdal.GDT_UInt16)
    ds.GetRasterBand(1).WriteArray(ramp().astype(np.uint16))
    ds = None
    t2 = make_raster(tmp_path / "t2.tif", ramp())
    for value in (1e40, -1, 0.5):
        with pytest.raises(InputError, match="NODATA1 .* cannot occur in T1's UInt16 band 1: give a whole number "
                                             "from 0 to 65535"):
            open_pair(path, t2, nodata1=value)
    with open_pair(path, t2, nodata1=0, nodata2=-1e40) as pair:   # in range; any number in a Float32 band
        assert pair.grid.width == 120


def test_a_geographic_grid_across_the_antimeridian_overlaps_a_utm_image_there(tmp_path):
    """A UTM zone 60 image astride 180° and the same place in EPSG:4326 with longitudes past 180: GRID t1 on the
    geographic image said that the extents do not overlap (GDAL gives such bounds with xmin > xmax)."""
    utm = make_raster(tmp_path / "utm.tif", ramp(), epsg=32660, origin=(735300.0, 5000000.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    source = osr.SpatialReference()
    source.ImportFromEPSG(32660)
    minx, miny, maxx, maxy = osr.CoordinateTransformation(source, srs).TransformBounds(
        735300.0, 4999000.0, 736500.0, 5000000.0, 21)
    assert minx > maxx   # astride 180°
    geographic = str(tmp_path / "geo.tif")
    gdal.Warp(geographic, utm, dstSRS="EPSG:4326", outputBounds=(minx, miny, maxx + 360.0, maxy),
              xRes=0.0001, yRes=0.0001)
    with open_pair(geographic, utm, grid="t1") as pair:
        _, _, valid = pair.read()
        assert pair.grid.transform[0] == pytest.approx(minx, abs=1e-3) and valid.mean() > 0.5


def test_an_aoi_of_points_or_lines_is_named_as_such(tmp_path):
    """It was refused as "do not overlap" or "holds no valid pixel", which sent the analyst to the wrong place."""
    t1, t2 = make_raster(tmp_path / "t1.tif", ramp()), make_raster(tmp_path / "t2.tif", ramp())
    for kind, wkt in (("lines", "LINESTRING (500100 3999900, 500900 3999300)"), ("points", "POINT (500100 3999900)")):
        aoi = write_polygon(tmp_path / f"{kind}.geojson", wkt)
        with pytest.raises(InputError, match=f"AOI: .*holds {kind}, which enclose no area"):
            open_pair(t1, t2, aoi=aoi)


@pytest.mark.parametrize("values, field_type, shown", [
    ((1, -1), ogr.OFTInteger, "changed = -1"),          # burnt, -1 would read as "no sample"
    ((1, 0, 2), ogr.OFTInteger, "changed = 2"),
    ((0.7, 1.0), ogr.OFTReal, "changed = 0.7"),         # burnt as an integer, 0.7 would become 0
])
def test_sample_values_other_than_0_or_1_are_refused_naming_the_field_and_value(tmp_path, values, field_type,
                                                                                 shown):
    path = utm_samples(tmp_path / "s.gpkg", values, field_type)
    with pytest.raises(InputError, match=f"Samples: feature \\d+ of .*{shown}"):
        rasterize_samples(path, grid())


def test_an_area_of_interest_crops_the_grid_and_masks_outside_its_polygon(tmp_path):
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    t2 = make_raster(tmp_path / "t2.tif", ramp())
    # A right triangle over columns 10–90 and rows 10–70 of the 10 m grid.
    aoi = write_polygon(tmp_path / "aoi.geojson",
                        "POLYGON ((500100 3999900, 500900 3999900, 500100 3999300, 500100 3999900))")
    with open_pair(t1, t2, aoi=aoi) as pair:
        assert (pair.grid.width, pair.grid.height) == (79, 60)   # column 89 holds no pixel centre of the triangle
        assert pair.grid.transform[0] == 500100.0 and pair.grid.transform[3] == 3999900.0
        x1, _, valid = pair.read()
        assert valid[2, 2] and not valid[57, 77]          # inside the right angle; beyond the hypotenuse
        assert 0.4 < valid.mean() < 0.6                   # about half of the bounding box
        assert x1[0, 0, 0] == 10.0                        # the crop starts at column 10 of the input


def test_an_area_of_interest_in_another_crs_is_reprojected(tmp_path):
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    t2 = make_raster(tmp_path / "t2.tif", ramp())
    with open_pair(t1, t2) as whole:
        full = (whole.grid.width, whole.grid.height)
    # The grid's centre 400 m × 400 m, written in geographic coordinates.
    ring = ogr.CreateGeometryFromWkt("POLYGON ((500300 3999700, 500700 3999700, 500700 3999300, "
                                     "500300 3999300, 500300 3999700))")
    utm, geographic = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32633)
    geographic.ImportFromEPSG(4326)
    for srs in (utm, geographic):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ring.Transform(osr.CoordinateTransformation(utm, geographic))
    aoi = write_polygon(tmp_path / "aoi.geojson", ring.ExportToWkt(), epsg=4326)
    with open_pair(t1, t2, aoi=aoi) as pair:
        assert abs(pair.grid.width - 40) <= 1 and abs(pair.grid.height - 40) <= 1 and full == (120, 100)
        _, _, valid = pair.read()
        assert valid.mean() > 0.9


def test_the_grid_can_be_the_second_image_or_a_given_pixel_size(tmp_path):
    t1 = make_raster(tmp_path / "t1.tif", ramp())
    t2 = make_raster(tmp_path / "t2.tif", np.ones((50, 60)), pixel=20.0)
    with open_pair(t1, t2, grid="t2") as pair:
        assert pair.grid.transform[1] == 20.0 and (pair.grid.width, pair.grid.height) == (60, 50)
    with open_pair(t1, t2, pixel_size=5.0) as pair:
        assert pair.grid.transform[1] == 5.0 and (pair.grid.width, pair.grid.height) == (240, 200)
    # 0.01 m on 10 m pixels: a million times the pixels, no detail, hours of work (it ran without end)
    with pytest.raises(InputError, match=r"Pixel size 0.01 makes a grid of 120,000 x 100,000 pixels.* 2.5 or more"):
        open_pair(t1, t2, pixel_size=0.01)


def test_the_default_grid_is_the_finer_image_s_whichever_is_t1(tmp_path):
    """The map must not depend on which image the analyst calls T1, and keeps the finer image's detail."""
    fine = make_raster(tmp_path / "fine.tif", ramp())                        # 10 m, 120 x 100
    coarse = make_raster(tmp_path / "coarse.tif", ramp(50, 60), pixel=20.0)  # 20 m, same ground
    for t1, t2, named in ((fine, coarse, None), (coarse, fine, "T2's grid")):
        with open_pair(t1, t2) as pair:
            assert pair.grid.transform[1] == 10.0 and (pair.grid.width, pair.grid.height) == (120, 100)
            assert any(named in note for note in pair.notes) if named else not pair.notes
    with open_pair(coarse, fine, grid="t1") as pair:                  # the analyst's choice wins
        assert pair.grid.transform[1] == 20.0
    twin = make_raster(tmp_path / "twin.tif", ramp())
    with open_pair(twin, fine) as pair:                               # a tie keeps T1's grid, silently
        assert pair.grid.transform[1] == 10.0 and not pair.notes


def test_a_web_map_service_is_named_as_such_not_read_over_the_network(tmp_path):
    """A GDAL WMS description (a QGIS basemap saved as .xml) was read tile by tile inside the run."""
    service = tmp_path / "osm.xml"
    service.write_text(
        "<GDAL_WMS><Service name=\"TMS\"><ServerUrl>https://tile.example.org/${z}/${x}/${y}.png</ServerUrl>"
        "</Service><DataWindow><UpperLeftX>-20037508.34</UpperLeftX><UpperLeftY>20037508.34</UpperLeftY>"
        "<LowerRightX>20037508.34</LowerRightX><LowerRightY>-20037508.34</LowerRightY><TileLevel>18</TileLevel>"
        "<TileCountX>1</TileCountX><TileCountY>1</TileCountY><YOrigin>top</YOrigin></DataWindow>"
        "<Projection>EPSG:3857</Projection><BandsCount>3</BandsCount></GDAL_WMS>")
    with pytest.raises(InputError, match=r"T2: '.*osm.xml' is a web map service \(GDAL WMS\).*GeoTIFF first"):
        open_pair(make_raster(tmp_path / "t1.tif", ramp()), str(service))


def test_an_image_far_coarser_than_the_other_is_named(tmp_path):
    """A 283 m radar against 10 m optical marked 5.4 % of an unchanged scene, under a weak verdict only."""
    fine = make_raster(tmp_path / "fine.tif", ramp())                              # 10 m, 120 x 100
    coarse = make_raster(tmp_path / "coarse.tif", ramp(10, 12), pixel=100.0)       # 100 m, same ground
    with open_pair(fine, coarse) as pair:
        assert any("T2's pixels are about 10 times as wide as T1's (120 of them" in note for note in pair.notes)
    middling = make_raster(tmp_path / "middling.tif", ramp(25, 30), pixel=40.0)    # 4 times: no note
    with open_pair(fine, middling) as pair:
        assert not any("times as wide" in note for note in pair.notes)


def test_a_sar_image_finer_than_the_optical_one_sets_the_grid_across_crs(tmp_path):
    """A 5 m radar (Web Mercator) against a 10 m optical image (UTM): the radar's grid, counted in each CRS."""
    from oaip_qgis.core.sample_pair import make_sample_pair

    pair = make_sample_pair(tmp_path, size=96, seed=0, scenario="sar-finer")
    with open_pair(pair["t1"], pair["t2"]) as aligned:
        assert aligned.grid.srs().GetAuthorityCode(None) == "3857" and aligned.grid.width > 96 * 1.5
        assert any("T2's grid" in note for note in aligned.notes)
        assert aligned.pixel_sides[0] == pytest.approx(2.0, abs=0.05) and aligned.pixel_sides[1] == pytest.approx(1.0)
    default = make_sample_pair(tmp_path / "default", size=96, seed=0)   # a 20 m radar against 10 m optical
    with open_pair(default["t1"], default["t2"]) as aligned:
        assert aligned.pixel_sides[0] == pytest.approx(1.0) and aligned.pixel_sides[1] == pytest.approx(2.0, abs=0.05)
    with open_pair(default["t1"], default["t2"], pixel_size=20.0) as aligned:   # a grid of 20 m
        assert aligned.pixel_sides[0] == pytest.approx(0.5) and aligned.pixel_sides[1] == pytest.approx(1.0, abs=0.03)


def test_each_source_is_resampled_as_its_grid_needs(tmp_path):
    from oaip_qgis.core.raster.align import _resampling

    t1 = make_raster(tmp_path / "t1.tif", ramp())
    shifted = make_raster(tmp_path / "shifted.tif", ramp(), origin=(500003.0, 4000000.0))
    coarse = make_raster(tmp_path / "coarse.tif", ramp(50, 60), pixel=20.0)
    with open_pair(t1, shifted) as pair:
        sources = pair._sources
        # t1's own lattice (cropped by whole pixels): nearest gives its values exactly, and faster
        assert _resampling(sources[0], pair.grid) == "near"
        assert _resampling(sources[1], pair.grid) == "bilinear"     # a 3 m shift: interpolate
        x1, _, _ = pair.read(Window(0, 0, 5, 1))
        assert np.array_equal(x1[0, 0], ramp()[0, 1:6])             # the crop starts one column in
    with open_pair(coarse, t1, grid="t1") as pair:                   # 10 m data onto a 20 m grid
        assert _resampling(pair._sources[1], pair.grid) == "average"


def test_closing_a_pair_after_training_does_not_crash_the_process():
    """A dataset freed before the warped views that read it crashed the process when a trained pair was
    closed (a segfault at this test module's teardown, with QGIS loaded); run alone, as it showed."""
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/core/test_train.py", "-k", "compiled"], cwd=repo, capture_output=True,
                            text=True, timeout=600, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.mark.parametrize("last", ["mask", "nir"])
def test_an_unflagged_alpha_band_masks_its_image_and_a_fourth_band_of_data_is_compared(tmp_path, last):
    """An RGBA export that did not flag its alpha had the band compared as data: its transparent strip was marked
    changed (italy: Kappa 0.81 → 0.15). A band of only 0 and 255 beside data is the mask; a NIR band is data."""
    rng = np.random.default_rng(1)
    path = str(tmp_path / "rgba.tif")
    ds = utm_image(path, 4, gdal.GDT_Byte, ("PHOTOMETRIC=MINISBLACK", "ALPHA=NO"))
    for band in range(1, 4):
        ds.GetRasterBand(band).WriteArray(rng.integers(20, 200, (100, 120)).astype(np.uint8))
    fourth = np.full((100, 120), 255, np.uint8)
    fourth[:, :30] = 0
    ds.GetRasterBand(4).WriteArray(fourth if last == "mask" else rng.integers(0, 256, (100, 120)).astype(np.uint8))
    assert ds.GetRasterBand(4).GetColorInterpretation() != gdal.GCI_AlphaBand
    ds = None
    with open_pair(make_raster(tmp_path / "t1.tif", ramp()), path) as pair:
        _, x2, valid = pair.read()
        noted = any("band 4 of" in note and "holds only 0 and 255" in note for note in pair.notes)
    if last == "mask":
        assert noted and x2.shape[0] == 3 and not valid[:, :30].any() and valid[:, 30:].all()
    else:
        assert not noted and x2.shape[0] == 4 and valid.all()
    assert gdal.Open(path).GetRasterBand(4).GetColorInterpretation() != gdal.GCI_AlphaBand   # the file untouched
