"""The Dask client a batch runs on: an embedded LocalCluster, or an existing cluster by its address.

Each pair claims the worker resource PAIR (one unit, every worker has one), so a worker runs one pair
at a time and the pair's torch threads are the worker's thread count: "the cores the worker was given".
One pair per process also matters because GDAL's exception and cache settings are process-wide
(core/raster/gdal_scope.py). Workers of a remote cluster must declare it:
`dask worker tcp://host:8786 --nthreads 4 --resources pair=1`.
"""
from __future__ import annotations

import importlib.util
import logging
import multiprocessing
import os
import signal
import socket
import struct
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Optional

from ..errors import InputError
from ..i18n import tr

PAIR = "pair"
CONNECT_TIMEOUT = "20s"
HANDSHAKE_S = 10   # a scheduler speaks first, at once: its handshake, a message of well under 64 KiB
WAIT_FOR_WORKERS_S = 60


def local_layout(workers: Optional[int], cores: Optional[int] = None) -> tuple[int, int]:
    """(workers, cores each) on this machine: by default one worker per core."""
    cores = cores or os.cpu_count() or 1
    if workers is not None and workers < 1:
        raise InputError(tr("WORKERS must be 1 or more, not {workers}.", workers=workers))
    count = workers or cores
    return count, max(1, cores // count)


def worker_python() -> str:
    """The Python that worker processes start with. Inside QGIS or qgis_process sys.executable is the
    application itself, or a Python found on PATH that may not be the one QGIS embeds (another version,
    another standard library): the interpreter is taken beside the standard library this process uses,
    unless sys.executable is that one or a virtual environment's."""
    stdlib = os.path.dirname(os.__file__)                       # <prefix>/lib/python3.11 or <prefix>\Lib
    prefix = os.path.dirname(stdlib) if sys.platform == "win32" else os.path.dirname(os.path.dirname(stdlib))
    executable = sys.executable
    in_venv = sys.prefix != sys.base_prefix
    beside = os.path.realpath(executable).startswith(os.path.realpath(prefix) + os.sep)
    if os.path.basename(executable).lower().startswith("python") and (in_venv or beside):
        return executable
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    names = ("python.exe",) if sys.platform == "win32" else (f"bin/python{version}", "bin/python3")
    for name in names:
        path = os.path.join(prefix, name)
        if os.path.isfile(path):
            return path
    return executable


def _check_workers(client, address: str) -> None:
    """Refuse a cluster whose workers cannot take pairs, before any is submitted."""
    workers = client.scheduler_info().get("workers", {})
    if not workers:
        try:
            client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_S)
        except TimeoutError as exc:
            raise InputError(tr("The Dask scheduler at {address} has no worker (waited {seconds} s): "
                                "start some with `dask worker ADDRESS --nthreads N --resources pair=1`.",
                                address=address, seconds=WAIT_FOR_WORKERS_S)) from exc
        workers = client.scheduler_info().get("workers", {})
    if not any((info.get("resources") or {}).get(PAIR) for info in workers.values()):
        raise InputError(tr("The workers of the Dask cluster at {address} do not declare the resource '{pair}' "
                            "that runs one pair at a time per worker: start them with "
                            "`dask worker {address} --nthreads N --resources {pair}=1` (N: the cores for one pair).",
                            address=address, pair=PAIR))


def _check_scheduler(client, address: str) -> None:
    """Refuse a scheduler that cannot import the plugin, before any pair: Dask's scheduler unpickles the task
    graph, so every pair failed with "Error during deserialization of the task graph"."""
    module = __name__.rsplit(".", 1)[0] + ".worker"
    try:
        client.run_on_scheduler(importlib.import_module, module)
    except ImportError as exc:
        raise InputError(tr("The Dask scheduler at {address} cannot import {module} ({reason}): start the scheduler, "
                            "like the workers, with this plugin's folder on its PYTHONPATH.", address=address,
                            module=module, reason=exc)) from exc


def _warm_up(client) -> None:
    """Import the pipeline (and torch) on every worker once, before any pair: a worker that cannot is
    reported now, and the first pairs' times are the pipeline's, not the imports'."""
    module = __name__.rsplit(".", 2)[0] + ".pipeline"
    try:
        client.run(importlib.import_module, module)
    except ImportError as exc:
        raise InputError(tr("A Dask worker cannot import {module} ({reason}): the workers need this plugin's folder on "
                            "their PYTHONPATH and the packages of requirements.txt (torch, GDAL).",
                            module=module, reason=exc)) from exc


def _check_it_is_a_scheduler(scheduler: str) -> None:
    """Refuse an address where no Dask scheduler listens, in one sentence: at the dashboard's port (which the
    batch itself prints) Dask's client waited for a handshake for ever, and at a web server that answers it read
    the reply as a message of exabytes and ended in a MemoryError's traceback. A tcp:// address is asked
    directly; others (tls://, …) are left to the client."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        scheme, location = parse_address(scheduler)
        host, port = parse_host_port(location, 8786)
    except ValueError:
        return   # the client names what is wrong with the address
    if scheme != "tcp":
        return
    try:
        connection = socket.create_connection((host, port), timeout=float(CONNECT_TIMEOUT.rstrip("s")))
    except OSError as exc:
        raise InputError(tr("No Dask scheduler answers at {scheduler!r} ({reason}): check the address "
                            "(tcp://host:8786) and that the scheduler is running.",
                            scheduler=scheduler, reason=exc.strerror or exc)) from exc
    with connection:
        connection.settimeout(HANDSHAKE_S)
        try:
            first = connection.recv(8)
        except OSError:   # a timeout: nothing said
            first = b""
    if len(first) < 8 or not 0 < struct.unpack("<Q", first)[0] < 2 ** 16:
        raise InputError(tr("Something listens at {scheduler!r} but does not answer as a Dask scheduler (a web "
                            "page, such as Dask's dashboard, or another service): give the scheduler's own address, "
                            "port 8786 unless it was started with another.", scheduler=scheduler))


@contextmanager
def _ctrl_c_not_for_workers() -> Iterator[list]:
    """The local workers start with SIGINT ignored (a process keeps that through exec, and asyncio then leaves
    it alone): a Ctrl-C reaches the terminal's whole process group, and each worker printed asyncio's
    KeyboardInterrupt traceback while the batch itself cancelled them with one sentence. For the seconds
    the workers take to start, a Ctrl-C is not taken here either. A SIGTERM that the command line takes as a Ctrl-C
    (batch.__main__) is kept for then instead, in the list yielded: raised inside Dask's start, it left the cluster
    half made and Dask's exit hook printed a traceback (a Python handler, unlike SIG_IGN, is not passed to the
    workers). Only the main thread may set them."""
    stopped: list = []
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield stopped
        return
    earlier = signal.signal(signal.SIGINT, signal.SIG_IGN)
    term = signal.getsignal(signal.SIGTERM)
    if term is signal.default_int_handler:
        signal.signal(signal.SIGTERM, lambda number, _frame: stopped.append(number))
    try:
        yield stopped
    finally:
        signal.signal(signal.SIGINT, earlier)
        signal.signal(signal.SIGTERM, term)


@contextmanager
def dask_client(scheduler: Optional[str] = None, workers: Optional[int] = None,
                log: Callable[[str], None] = print) -> Iterator[object]:
    """A connected distributed.Client; the embedded cluster (when there is no address) closes with it."""
    if importlib.util.find_spec("distributed") is None:
        raise InputError(tr("Batch runs need Dask: install it with `python3 -m pip install dask distributed` "
                            "in the Python that runs the plugin (see requirements.txt for the tested versions)."))
    from distributed import Client, LocalCluster

    if scheduler:
        if workers is not None:
            raise InputError(tr("WORKERS sets the workers of the local cluster; the cluster at {scheduler} has its "
                                "own: leave WORKERS out (start more workers there to run more pairs at once).",
                                scheduler=scheduler))
        _check_it_is_a_scheduler(scheduler)
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError, MemoryError) as exc:
            raise InputError(tr("No Dask scheduler answers at {scheduler!r} ({reason}): check the address "
                                "(tcp://host:8786) and that the scheduler is running.",
                                scheduler=scheduler, reason=exc)) from exc
        try:
            _check_scheduler(client, scheduler)
            _check_workers(client, scheduler)
            _warm_up(client)
            yield client
        finally:
            client.close()
        return
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # A worker starting runs the script that started the batch again; unguarded, the script started a batch of
        # its own there, and its later lines (QgsApplication.exitQgis()) broke the worker's GDAL for every pair.
        raise InputError(tr("A batch was started by a local Dask worker as it started: the script that runs the "
                            "batch must keep its code under `if __name__ == \"__main__\":`, since each worker runs "
                            "the script's top level again."))
    count, cores = local_layout(workers)
    multiprocessing.get_context("spawn").set_executable(worker_python())
    dashboard = ":8787" if importlib.util.find_spec("bokeh") else None
    with warnings.catch_warnings(), _ctrl_c_not_for_workers() as stopped:
        warnings.filterwarnings("ignore", message="Port 8787 is already in use", category=UserWarning)
        # Dask's own logs below CRITICAL stay out of the analyst's terminal: a pair's failure comes back as its
        # result, and a worker losing its heartbeat as the cluster closes under load printed a traceback.
        cluster = LocalCluster(n_workers=count, threads_per_worker=cores, processes=True, resources={PAIR: 1},
                               dashboard_address=dashboard, silence_logs=logging.CRITICAL)
    if stopped:   # a SIGTERM while the workers started: stopped as a Ctrl-C, once the cluster can be closed
        cluster.close()
        raise KeyboardInterrupt
    try:
        with Client(cluster) as client:
            log(tr("Local Dask cluster: {count} worker(s) × {cores} core(s).", count=count, cores=cores))
            _warm_up(client)
            yield client
    finally:
        cluster.close()
