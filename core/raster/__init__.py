"""Raster I/O: open and validate, align onto one grid with GDAL, tiles, atomic outputs, vectors."""
