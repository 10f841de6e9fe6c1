"""Reading pip's output: how far an install has come, and why one failed.

Without a terminal pip draws no progress bar, but it prints one line per step ("Collecting torch",
"Downloading torch-….whl (180.4 MB)", "Installing collected packages", "Successfully installed");
during a download the bytes that have reached pip's temporary folder tell how far it is.
"""
from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass
from enum import Enum

_SIZE = re.compile(r"\((\d+(?:\.\d+)?) (bytes|kB|MB|GB)\)\s*$")   # pip's format_size
_UNITS = {"bytes": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}
_FETCH = re.compile(r"^(Downloading|Using cached) (\S+)")
COLLECTED = 0.05      # share of the bar for resolving what to fetch
DOWNLOADED = 0.85     # … up to here for the downloads; then installing
INSTALLING = 0.9


def folder_bytes(folder: str) -> int:
    """Bytes of the files below `folder` (files that vanish while it is read count as empty)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


@dataclass
class PipProgress:
    """Progress of one `pip install` from its lines (`feed`) and its temporary folder's size (`downloaded`).

    The fraction never goes back: the downloads announced so far are the whole (torch's wheel is
    nearly all of it, and it is the first one pip fetches).
    """

    fraction: float = 0.0
    step: str = ""                 # pip's line for the current step, the file name in place of a URL
    download_total: float = 0.0    # bytes of the current download, as pip announced it
    download_done: float = 0.0     # bytes of it that have arrived
    _announced: float = 0.0
    _finished: float = 0.0
    _start_bytes: int = 0

    def feed(self, line: str, temp_bytes: int = 0) -> bool:
        """Read one line of pip's output; True when it started a new step."""
        line = line.strip()
        fetch = _FETCH.match(line)
        if fetch:
            size = _SIZE.search(line)
            nbytes = float(size.group(1)) * _UNITS[size.group(2)] if size else 0.0
            self._finish_download()
            self._announced += nbytes
            name = urllib.parse.unquote(fetch.group(2).rstrip("/").rsplit("/", 1)[-1])
            self.step = f"{fetch.group(1)} {name}" + (f" ({size.group(1)} {size.group(2)})" if size else "")
            if fetch.group(1) == "Using cached":
                self._finished += nbytes
            else:
                self.download_total, self._start_bytes = nbytes, temp_bytes
            self._advance(self._download_share())
            return True
        if line.startswith(("Collecting ", "Processing ")):
            self.step = line
            self._advance(COLLECTED)
            return True
        if line.startswith("Installing collected packages"):
            self._finish_download()
            self.step = line
            self._advance(INSTALLING)
            return True
        if line.startswith("Successfully installed"):
            self.step = line
            self._advance(1.0)
            return True
        return False

    def downloaded(self, temp_bytes: int) -> None:
        """The temporary folder now holds `temp_bytes`: how much of the current download has arrived."""
        if self.download_total:
            self.download_done = min(max(temp_bytes - self._start_bytes, 0), self.download_total)
            self._advance(self._download_share())

    def _finish_download(self) -> None:
        self._finished += self.download_total
        self.download_total = self.download_done = 0.0

    def _download_share(self) -> float:
        if not self._announced:
            return COLLECTED
        return COLLECTED + (DOWNLOADED - COLLECTED) * (self._finished + self.download_done) / self._announced

    def _advance(self, fraction: float) -> None:
        self.fraction = max(self.fraction, min(fraction, 1.0))


class Failure(Enum):
    """Why pip failed, as far as its output tells."""

    PROXY = "proxy"
    CERTIFICATE = "certificate"
    OFFLINE = "offline"
    NO_PIP = "no pip"
    NO_SPACE = "no space"
    PERMISSION = "permission"
    NO_WHEEL = "no wheel"
    OTHER = "other"


# First match wins: a proxy that refuses reads as a refused connection too, and an offline pip ends
# with "No matching distribution found", so the network causes come before the resolver's verdict.
_SIGNS = (
    (Failure.PROXY, ("ProxyError", "Cannot connect to proxy", "407 Proxy Authentication", "Tunnel connection failed")),
    (Failure.CERTIFICATE, ("CERTIFICATE_VERIFY_FAILED", "SSLCertVerificationError", "certificate verify failed")),
    (Failure.OFFLINE, ("Failed to establish a new connection", "Temporary failure in name resolution",
                       "Name or service not known", "nodename nor servname", "getaddrinfo failed",
                       "Network is unreachable", "No route to host", "Connection refused", "ConnectTimeoutError",
                       "Read timed out", "Connection reset by peer", "RemoteDisconnected")),
    (Failure.NO_PIP, ("No module named pip",)),
    (Failure.NO_SPACE, ("No space left on device", "[Errno 28]")),
    (Failure.PERMISSION, ("Permission denied", "[Errno 13]", "[WinError 5]")),
    (Failure.NO_WHEEL, ("No matching distribution found", "Could not find a version that satisfies")),
)


def classify_failure(output: str) -> Failure:
    """The cause of a failed pip run from everything it printed."""
    for failure, signs in _SIGNS:
        if any(sign in output for sign in signs):
            return failure
    return Failure.OTHER


def last_error(output: str) -> str:
    """pip's last `ERROR:` line without the prefix (or its last non-empty line), for the message."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line[len("ERROR:"):].strip() for line in lines if line.startswith("ERROR:")]
    return errors[-1] if errors else (lines[-1] if lines else "")
