"""`make detect`'s command line becomes the algorithm's parameters."""
from __future__ import annotations

import sys
from argparse import Namespace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from detect import algorithm_params  # noqa: E402


def args(**extra) -> Namespace:
    values = dict(t1="a.tif", t2="b.tif", reference=None, mode="int8", seed="0", epochs=None, param=[])
    return Namespace(**{**values, **extra})


def test_extra_parameters_pass_through_and_override(tmp_path):
    params = algorithm_params(args(param=["aoi=/x/aoi.gpkg", "PRUNE = false", "MODE=prior"]), tmp_path)
    assert params["AOI"] == "/x/aoi.gpkg" and params["PRUNE"] == "false" and params["MODE"] == "prior"
    assert params["OUTPUT_CHANGE"] == tmp_path / "change.tif" and "REFERENCE" not in params


def test_a_parameter_without_a_value_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        algorithm_params(args(param=["PRUNE"]), tmp_path)
