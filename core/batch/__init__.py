"""Batch runs: every pair of a table through the core pipeline as Dask tasks, on an embedded LocalCluster
or on an existing cluster by address, with one summary GeoPackage and JSON for the whole event.

    python -m oaip_qgis.core.batch pairs.csv --out DIR [--scheduler tcp://host:8786] [--workers N] [--force]

Dask is imported only when a batch starts: the rest of core (and the plugin) works without it.
"""
from .runner import run_batch

__all__ = ["run_batch"]
