"""How long idle OpenMP threads spin before they sleep: briefly, set before torch loads libgomp.

torch's CPU wheel and the compiled integer kernels (integer/kernels.c) share one libgomp, whose idle
threads spin for GOMP_SPINCOUNT = 300 000 turns before sleeping unless it knows there are more threads
than CPUs. It cannot see other processes: with two busy processes beside a run on a 2-core machine, a
training of 2.8 s took 146 s to over 200 s in three of four runs (QGIS rendering, a second run, a test
suite: an analyst's ordinary machine). With 1 000 turns, libgomp's own value for an oversubscribed
machine, the same training took 5.7–15 s under that load (bench/bench_contention.py). Alone it
costs a little: 4 runs of 25 took about twice the usual 3–4 s, against none of 24 with libgomp's default;
10 000 turns gave no such run alone (8) but 9.5–20 s under the load, and OMP_WAIT_POLICY=PASSIVE cost
10–15 % alone. libgomp reads the variable once, when it is loaded, so it must be set before torch is first
imported; an analyst's own setting is kept.
"""
from __future__ import annotations

import os
from collections.abc import MutableMapping

SPIN_COUNT = "1000"


_SET_HERE: list[MutableMapping[str, str]] = []   # the environments spin_briefly set it in


def spin_briefly(environ: MutableMapping[str, str] = os.environ) -> None:
    """GOMP_SPINCOUNT set to SPIN_COUNT unless the analyst set it or OMP_WAIT_POLICY themselves."""
    if "OMP_WAIT_POLICY" not in environ and "GOMP_SPINCOUNT" not in environ:
        environ["GOMP_SPINCOUNT"] = SPIN_COUNT
        _SET_HERE.append(environ)


def restore_spin() -> None:
    """Take back what spin_briefly set (the plugin's unload: QGIS's later processes, other plugins' too,
    inherited it); a libgomp already loaded keeps what it read."""
    while _SET_HERE:
        environ = _SET_HERE.pop()
        if environ.get("GOMP_SPINCOUNT") == SPIN_COUNT:
            del environ["GOMP_SPINCOUNT"]
