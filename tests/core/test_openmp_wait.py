"""Idle OpenMP threads spin briefly (core.openmp_wait): set on importing the engine, before torch, and never
over the analyst's own setting."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from oaip_qgis.core.openmp_wait import SPIN_COUNT, spin_briefly

REPO = Path(__file__).resolve().parents[2]
IMPORT_IN_A_CHILD = ("import json, os, sys; import oaip_qgis.core; "
                     "print(json.dumps([os.environ.get('GOMP_SPINCOUNT'), 'torch' in sys.modules]))")


def test_the_spin_count_is_set_where_nothing_is_said():
    environ: dict[str, str] = {}
    spin_briefly(environ)
    assert environ == {"GOMP_SPINCOUNT": SPIN_COUNT}


def test_the_analysts_own_spin_count_or_wait_policy_is_kept():
    own = {"GOMP_SPINCOUNT": "20000"}
    spin_briefly(own)
    assert own == {"GOMP_SPINCOUNT": "20000"}
    policy = {"OMP_WAIT_POLICY": "ACTIVE"}
    spin_briefly(policy)
    assert policy == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_importing_the_engine_sets_it_before_torch_is_loaded():
    """libgomp reads the variable when torch loads it: the engine's package sets it and loads no torch itself."""
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    done = subprocess.run([sys.executable, "-c", IMPORT_IN_A_CHILD], cwd=REPO, env=env, capture_output=True,
                          text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [SPIN_COUNT, False]
