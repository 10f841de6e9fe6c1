"""A border found on a decimated read, as a mask of the image at its own pixels.

Where the fill value is also ground (a linear σ⁰ after thermal-noise removal is 0 outside its swath and on
calm water), a nodata value would take the water's pixels with the border: holes in a flood, just where
the water is darkest. So the border is given to GDAL as the image's mask (a per-dataset mask band of its
VRT): the warp leaves the border out and reads the same value elsewhere as data.
"""
from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import numpy as np
from osgeo import gdal

from .border import Border
from .input_files import read_or_explain
from .scratch import edited_vrt, scratch_name
from .strips import strips


def write_border_mask(ds: gdal.Dataset, bands: list[int], border: Border, label: str, path: str) -> str:
    """The in-memory file (Byte, 0 = no data, 255 = data) of `ds`'s size that is 0 inside `border.region` (the
    decimated read's cells, taken at this resolution): where every band of `bands` holds `border.value`, or
    everywhere there for a border that is not exact (a JPEG's faded rim). Written strip by strip so that
    memory follows the image's width."""
    width, height = ds.RasterXSize, ds.RasterYSize
    rows, cols = border.region.shape
    row_cell = np.minimum(np.arange(height) * rows // height, rows - 1)
    col_cell = np.minimum(np.arange(width) * cols // width, cols - 1)
    name = scratch_name(".tif")
    out = gdal.GetDriverByName("GTiff").Create(name, width, height, 1, gdal.GDT_Byte,
                                               options=["COMPRESS=DEFLATE", "TILED=YES"])
    for row, count in strips(height):
        inside = border.region[row_cell[row:row + count]][:, col_cell]
        for band in bands if border.exact else []:   # band by band, in its own type: a strip of float64 was 8× it
            values = read_or_explain(label, path, lambda row=row, count=count, band=band:
                                     ds.GetRasterBand(band).ReadAsArray(0, row, width, count))
            inside &= (np.abs(values) if np.iscomplexobj(values) else values) == border.value
        out.GetRasterBand(1).WriteArray((~inside).astype(np.uint8) * np.uint8(255), 0, row)
    out = None   # closed: written to its file before a VRT reads it
    return name


def with_mask(selected: gdal.Dataset, mask: str) -> gdal.Dataset:
    """The VRT `selected` with the file `mask` (`write_border_mask`) as the mask of all its bands."""
    def add_mask(root: ElementTree.Element) -> None:
        source = ElementTree.SubElement(ElementTree.SubElement(
            ElementTree.SubElement(root, "MaskBand"), "VRTRasterBand", dataType="Byte"), "SimpleSource")
        ElementTree.SubElement(source, "SourceFilename", relativeToVRT="0").text = mask
        ElementTree.SubElement(source, "SourceBand").text = "1"
    return edited_vrt(selected, add_mask)
