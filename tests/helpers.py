"""What the tests share besides fixtures: GDAL/OGR writers for rasters, polygon layers and analyst samples made on the
fly, and the benchmark pairs of ../shared/data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def make_raster(path, data, epsg=32633, origin=(500000.0, 4000000.0), pixel=10.0, nodata=None):
    data = np.asarray(data, dtype=np.float32)
    data = data[None] if data.ndim == 2 else data
    ds = gdal.GetDriverByName("GTiff").Create(str(path), data.shape[2], data.shape[1], data.shape[0], gdal.GDT_Float32)
    ds.SetGeoTransform((origin[0], pixel, 0, origin[1], 0, -pixel))
    if epsg:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    for i, band in enumerate(data, start=1):
        ds.GetRasterBand(i).WriteArray(band)
        if nodata is not None:
            ds.GetRasterBand(i).SetNoDataValue(nodata)
    ds = None
    return str(path)


def write_polygon(path, wkt: str, epsg: int = 32633) -> str:
    """A one-feature polygon layer (GeoJSON) in the given CRS."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    source = ogr.GetDriverByName("GeoJSON").CreateDataSource(str(path))
    layer = source.CreateLayer("aoi", srs, ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
    layer.CreateFeature(feature)
    source = None
    return str(path)


def write_samples(path, features, srs: osr.SpatialReference, field_type=ogr.OFTInteger) -> str:
    """An analyst sample layer (GeoPackage): one feature per (WKT geometry, `changed` value)."""
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("s", srs, ogr.wkbUnknown)
    layer.CreateField(ogr.FieldDefn("changed", field_type))
    for wkt, value in features:
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        feature.SetField("changed", value)
        layer.CreateFeature(feature)
    source = None
    return str(path)


def shared_pair(name: str) -> dict:
    """A benchmark pair from ../shared/data, or skip where the checkout has none beside it."""
    folder = SHARED_DATA / name
    if not (folder / "t1.tif").exists():
        pytest.skip(f"{folder} is not available")
    return {"t1": str(folder / "t1.tif"), "t2": str(folder / "t2.tif"), "truth": str(folder / "gt.tif")}


def make_wheel(folder, name: str, version: str = "1.0", body: str = "", padding: int = 0) -> Path:
    """A pure-Python wheel of one package `name` whose `__version__` is `version` (then `body` runs on
    import), with `padding` random bytes in a data file to make the download that long, for pip to
    install from a local folder or server (no network)."""
    import base64
    import hashlib
    import zipfile

    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": f'__version__ = "{version}"\n{body}'.encode(),
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: oaip-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    if padding:
        files[f"{name}/padding.bin"] = np.random.default_rng(0).bytes(padding)   # does not compress
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = Path(folder) / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def two_sensors(size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blocky land cover seen by two unrelated sensors, with a square whose cover changed in image 2.

    Image 1 has 3 bands, image 2 one band with a non-monotonic response to the classes, so no
    pixel-wise comparison of the two can work; only their structure agrees outside the square.
    """
    rng = np.random.default_rng(seed)
    classes = np.kron(rng.integers(0, 4, (size // 8, size // 8)), np.ones((8, 8), int))
    after = classes.copy()
    change = np.zeros((size, size), bool)
    change[20:36, 24:40] = True
    after[change] = (after[change] + 2) % 4
    x1 = np.array([[0.1, 0.5, 0.9, 0.3], [0.8, 0.2, 0.6, 0.4], [0.3, 0.3, 0.9, 0.1]])[:, classes]
    x2 = np.array([0.6, 0.1, 0.9, 0.35])[after][None]
    x1 = x1 + rng.normal(0, 0.03, x1.shape)
    x2 = x2 + rng.normal(0, 0.03, x2.shape)
    return x1.astype(np.float32), x2.astype(np.float32), change
