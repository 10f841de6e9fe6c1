"""RunParams.threads for the length of one run, and the process's own count again after it.

torch's intra-op thread pool is process-wide. Set inside training only, the setting missed the
structural prior (its nearest-anchor distances are torch products, 40–80 % of an int8 run) and every
run in MODE prior, and it stayed set afterwards: a dock run left QGIS itself on the dock's count.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

from .process_setting import SharedSetting


def _count() -> int:
    import torch  # imported when a run starts, as everywhere in core (the plugin loads without it)
    return torch.get_num_threads()


def _set(count: int) -> None:
    import torch
    torch.set_num_threads(count)


_THREADS = SharedSetting(_count, _set)


@contextmanager
def torch_threads(count: Optional[int]) -> Iterator[None]:
    """torch on `count` threads within the block (None: torch's own count, untouched); the process's own
    count back when the last overlapping run ends (core.process_setting)."""
    if not count:
        yield
        return
    with _THREADS.held(lambda own: _set(count)):
        yield
