"""The table of pairs: every problem is one clear message before any work starts (no Dask needed)."""
from __future__ import annotations

import numpy as np
import pytest
from osgeo import ogr, osr

from oaip_qgis.core.batch.table import column_key, read_pairs
from oaip_qgis.core.decision.threshold import DEFAULT_METHOD
from oaip_qgis.core.errors import InputError
from tests.helpers import make_raster


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "event"
    for site in ("a", "b"):
        (folder / site).mkdir(parents=True)
        for date in ("t1", "t2"):
            make_raster(folder / site / f"{date}.tif", np.ones((8, 8)))
    return folder


def write_csv(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_relative_paths_names_and_parameters(images):
    table = write_csv(images / "pairs.csv", "t1,t2,Threshold Method,seed,prune,bands1,min_area\n"
                                            "a/t1.tif,a/t2.tif,kittler,3,no,1,250\n"
                                            "b/t1.tif,b/t2.tif,,,,,\n")
    first, second = read_pairs(table, defaults={"mode": "prior", "seed": "7"})
    # Both T1 files are called t1.tif: each pair is named after its folder.
    assert (first.name, second.name) == ("a", "b")
    assert first.params.t1 == str(images / "a" / "t1.tif")
    assert (first.params.threshold_method, first.params.seed, first.params.prune) == ("kittler", 3, False)
    assert first.params.bands1 == [1] and first.params.min_polygon_area == 250.0
    # Empty cells take the batch's defaults, then RunParams' own.
    assert (second.params.mode, second.params.seed, second.params.threshold_method) == ("prior", 7, DEFAULT_METHOD)
    assert second.params.prune is True and second.params.out_change is None


def test_semicolon_csv_with_names(images):
    table = write_csv(images / "pairs.csv", "name;t1;t2\nnorth;a/t1.tif;a/t2.tif\n")
    (spec,) = read_pairs(table)
    assert spec.name == "north" and spec.row == 1


def test_names_in_any_script_are_folder_names(images):
    """"site_é_1" was refused as "cannot be a folder name; use letters, digits…": é is a letter, and so is 洪."""
    table = write_csv(images / "pairs.csv", "name,t1,t2\nsite_é_1,a/t1.tif,a/t2.tif\n洪水_2,b/t1.tif,b/t2.tif\n")
    assert [spec.name for spec in read_pairs(table)] == ["site_é_1", "洪水_2"]
    for bad in ("my site", "_hidden"):
        table = write_csv(images / "pairs.csv", f"name,t1,t2\n{bad},a/t1.tif,a/t2.tif\n")
        with pytest.raises(InputError, match="cannot be a folder name; use letters, digits, .* \\(no spaces\\)"):
            read_pairs(table)


def test_names_as_macos_writes_them_and_names_too_long_for_a_folder(images):
    """macOS writes 'é' as 'e' and a combining accent (NFD): a 'café' name was refused as "cannot be a folder name",
    and a default name from 'Zürich/t1.tif' became 'Zu_rich'. A name over 255 bytes passed the table and failed its
    worker three times ("File name too long")."""
    import unicodedata

    zurich = unicodedata.normalize("NFD", "Zürich")
    (images / zurich).mkdir()
    for date in ("t1", "t2"):
        make_raster(images / zurich / f"{date}.tif", np.ones((8, 8)))
    table = write_csv(images / "pairs.csv", f"name,t1,t2\n{unicodedata.normalize('NFD', 'café')},a/t1.tif,a/t2.tif\n"
                                            f",{zurich}/t1.tif,{zurich}/t2.tif\n,b/t1.tif,b/t2.tif\n")
    assert [spec.name for spec in read_pairs(table)][:2] == ["café", "Zürich"]
    table = write_csv(images / "pairs.csv", f"name,t1,t2\n{'é' * 101},a/t1.tif,a/t2.tif\n")
    with pytest.raises(InputError, match="is too long for a folder name \\(202 bytes; at most 200\\)"):
        read_pairs(table)


@pytest.mark.parametrize("text, expected", [
    ("t1,name\na/t1.tif,x\n", "has no column 't2'"),
    ("t1,t2,colour\na/t1.tif,a/t2.tif,red\n", "unknown column or parameter 'colour'. Known ones: name, "),
    ("t1,t2,thresold method\na/t1.tif,a/t2.tif,kittler\n",
     "unknown column or parameter 'thresold method': did you mean 'threshold_method'?"),
    ("t1,t2,out_change\na/t1.tif,a/t2.tif,x.tif\n", "unknown column or parameter 'out_change'"),
    ("t1,t2\na/t1.tif,a/missing.tif\n", "missing.tif' does not exist"),
    ("t1,t2,reference\na/t1.tif,a/t2.tif,gt.tif\n", "reference file"),
    ("t1,t2,seed\na/t1.tif,a/t2.tif,one\n", "'seed' = 'one' is not a whole number"),   # not Optional[int]
    ("t1,t2,prune\na/t1.tif,a/t2.tif,maybe\n", "'prune' = 'maybe' is not true or false"),
    ("t1,t2,mode\na/t1.tif,a/t2.tif,int4\n", "MODE must be one of"),
    ("t1,t2,prune\na/t1.tif,a/t2.tif,maybe\n", "expected true or false"),
    ("name,t1,t2\nx,a/t1.tif,a/t2.tif\nx,b/t1.tif,b/t2.tif\n", "also the name of row 1"),
    ("name,t1,t2\n../up,a/t1.tif,a/t2.tif\n", "cannot be a folder name"),
    ("name,t1,t2\nPair,a/t1.tif,a/t2.tif\npair,b/t1.tif,b/t2.tif\n", "also the name of row 1"),   # one on Windows
    ("name,t1,t2\nsummary.json,a/t1.tif,a/t2.tif\n", "the batch summary's own file"),
    ("name,t1,t2\nx,a/t1.tif,a/t2.tif,b/extra.tif\n", "Row 1 of '"),   # a cell beyond the header: a traceback
    ("t1,t2\na/t1.tif,\n", "the cell 't2' is empty"),
    ("t1,t2\n", "holds no pair"),
])
def test_bad_tables_are_refused_with_one_clear_message(images, text, expected):
    table = write_csv(images / "pairs.csv", text)
    with pytest.raises(InputError) as caught:
        read_pairs(table)
    message = str(caught.value)
    assert expected in message
    assert "Traceback" not in message and "\n" not in message


def test_row_is_named_in_the_message(images):
    table = write_csv(images / "pairs.csv", "name,t1,t2\nok,a/t1.tif,a/t2.tif\nlost,b/t1.tif,b/nothere.tif\n")
    with pytest.raises(InputError, match=r"row 2 \(lost\): the t2 file"):
        read_pairs(table)


def test_unknown_default_parameter_and_missing_table(images):
    table = write_csv(images / "pairs.csv", "t1,t2\na/t1.tif,a/t2.tif\n")
    with pytest.raises(InputError, match="Batch parameters: unknown column or parameter 'epoch'"):
        read_pairs(table, defaults={"epoch": "3"})
    with pytest.raises(InputError, match="does not exist: give a CSV file or a GeoPackage"):
        read_pairs(str(images / "nothing.csv"))


def test_geopackage_layer(images):
    path = str(images / "pairs.gpkg")
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    layer = source.CreateLayer("event", srs, ogr.wkbNone)
    for name in ("name", "t1", "t2", "mode"):
        layer.CreateField(ogr.FieldDefn(name, ogr.OFTString))
    feature = ogr.Feature(layer.GetLayerDefn())
    for name, value in (("name", "site-a"), ("t1", "a/t1.tif"), ("t2", "a/t2.tif"), ("mode", "fp32")):
        feature.SetField(name, value)
    layer.CreateFeature(feature)
    source = None
    (spec,) = read_pairs(path, layer="event")
    assert (spec.name, spec.params.mode, spec.params.t2) == ("site-a", "fp32", str(images / "a" / "t2.tif"))
    with pytest.raises(InputError, match="has no layer 'other'; its layers: event"):
        read_pairs(path, layer="other")


def test_gdal_virtual_paths_are_kept_and_checked(images):
    from osgeo import gdal

    gdal.FileFromMemBuffer("/vsimem/batch/t2.tif", (images / "a" / "t2.tif").read_bytes())
    try:
        table = write_csv(images / "pairs.csv", "t1,t2\na/t1.tif,/vsimem/batch/t2.tif\n")
        (spec,) = read_pairs(table)
        assert spec.params.t2 == "/vsimem/batch/t2.tif"
        table = write_csv(images / "pairs.csv", "t1,t2\na/t1.tif,/vsimem/batch/none.tif\n")
        with pytest.raises(InputError, match="'/vsimem/batch/none.tif' does not exist"):
            read_pairs(table)
    finally:
        gdal.Unlink("/vsimem/batch/t2.tif")


def test_a_subdataset_name_is_kept_and_checked(images):
    """NETCDF:"f.nc":Band1 was joined to the table's folder and then "does not exist"."""
    from osgeo import gdal

    if gdal.GetDriverByName("netCDF") is None:
        pytest.skip("GDAL without netCDF")
    stack = images / "b" / "t2.nc"
    gdal.Translate(str(stack), str(images / "b" / "t2.tif"), format="netCDF")
    table = write_csv(images / "pairs.csv", f't1,t2\nb/t1.tif,"NETCDF:""{stack}"":Band1"\n')
    (spec,) = read_pairs(table)
    assert spec.params.t2 == f'NETCDF:"{stack}":Band1'
    table = write_csv(images / "pairs.csv", f't1,t2\nb/t1.tif,"NETCDF:""{stack}"":HH"\n')
    with pytest.raises(InputError, match="does not exist or cannot be read"):
        read_pairs(table)


def test_header_spelling():
    assert column_key(" Threshold-Method ") == "threshold_method"
    assert column_key("MIN_AREA") == "min_polygon_area"


def test_a_trailing_separator_is_no_column_and_a_raster_is_no_table(images):
    """Excel's trailing comma and a raster given as the table each ended in an AttributeError."""
    table = write_csv(images / "pairs.csv", "name,t1,t2\nnorth,a/t1.tif,a/t2.tif,\n")
    assert [spec.name for spec in read_pairs(table)] == ["north"]
    with pytest.raises(InputError, match="holds no table: give a CSV file or a GeoPackage layer"):
        read_pairs(str(images / "a" / "t1.tif"))


def test_a_choice_is_read_whatever_its_case(images):
    """'PRIOR' in a mode column (or from --param mode=PRIOR) was refused: MODE must be one of int8, fp32, prior."""
    table = write_csv(images / "pairs.csv", "t1,t2,mode,threshold method\na/t1.tif,a/t2.tif,PRIOR,Kittler\n")
    (spec,) = read_pairs(table)
    assert (spec.params.mode, spec.params.threshold_method) == ("prior", "kittler")



def test_a_vector_cell_may_name_its_layer_as_qgis_does(images):
    """`areas.gpkg|layername=flood` was "the aoi file … does not exist": the batch had no way to pick a layer but
    the first."""
    (images / "a" / "areas.gpkg").write_bytes(b"")   # what is read from it is the run's to check
    table = write_csv(images / "pairs.csv", "t1,t2,aoi,samples\n"
                                            "a/t1.tif,a/t2.tif,a/areas.gpkg|layername=flood,a/areas.gpkg|layerid=1\n")
    (spec,) = read_pairs(table)
    assert spec.params.aoi == f"{images / 'a' / 'areas.gpkg'}|layername=flood"
    assert spec.params.samples == f"{images / 'a' / 'areas.gpkg'}|layerid=1"
    missing = write_csv(images / "missing.csv", "t1,t2,aoi\na/t1.tif,a/t2.tif,a/none.gpkg|layername=flood\n")
    with pytest.raises(InputError, match=r"the aoi file '[^']*none\.gpkg' does not exist"):
        read_pairs(missing)


@pytest.mark.parametrize("text, expected", [
    ("t1,t2,T1\na/t1.tif,a/t2.tif,b/t1.tif\n", "two columns for t1: 't1' and 'T1'; keep one"),
    ("t1,t2,min_area,min polygon area\na/t1.tif,a/t2.tif,10,20\n",
     "two columns for min_polygon_area: 'min_area' and 'min polygon area'"),
    ("t1,t2,,seed,\na/t1.tif,a/t2.tif,3,,\n", "Row 1 of .* has '3' in column 3, which has no header"),
])
def test_a_column_twice_or_a_value_without_a_header_is_refused(images, text, expected):
    """Read as a dict, the last of two t1 columns was the pair's T1, and a value under a blank header was dropped."""
    with pytest.raises(InputError, match=expected):
        read_pairs(write_csv(images / "pairs.csv", text))


def test_blank_columns_of_a_header_are_no_columns(images):
    """`t1,t2,name,` (Excel's trailing separator on the header) was "unknown column or parameter ''"."""
    table = write_csv(images / "pairs.csv", "t1;t2;name;;\na/t1.tif;a/t2.tif;north;;\n")
    assert [spec.name for spec in read_pairs(table)] == ["north"]


def test_a_later_row_is_named_by_the_table_after_a_layer_cell(images):
    """Resolving `file|layername=` reused the name of the table's path: a later row's message named a samples file
    as the table."""
    (images / "a" / "areas.gpkg").write_bytes(b"")
    table = write_csv(images / "pairs.csv", "t1,t2,aoi\na/t1.tif,a/t2.tif,a/areas.gpkg|layername=flood\n"
                                            "b/t1.tif,b/none.tif,\n")
    with pytest.raises(InputError, match=r"pairs\.csv', row 2: the t2 file"):
        read_pairs(table)


def test_a_row_whose_two_dates_are_one_file_is_refused_before_any_work(images):
    """It was caught in the worker, after the cluster had started, with advice in the dock's words (BANDS1)."""
    table = write_csv(images / "pairs.csv", "t1,t2\na/t1.tif,a/t1.tif\n")
    with pytest.raises(InputError, match=r"row 1: t1 and t2 are the same file .* columns bands1 and bands2"):
        read_pairs(table)
    stacked = write_csv(images / "stacked.csv", "t1,t2,bands1,bands2\na/t1.tif,a/t1.tif,1,1\n")
    with pytest.raises(InputError, match="the same file"):
        read_pairs(stacked)
    (spec,) = read_pairs(write_csv(images / "dates.csv", "t1,t2,bands1,bands2\na/t1.tif,a/t1.tif,1,2\n"))
    assert spec.params.bands1 == [1] and spec.params.bands2 == [2]
