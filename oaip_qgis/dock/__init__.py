"""The dock panel and its parts: charts, statistics rows, analyst samples."""
from .panel import OaipDock

__all__ = ["OaipDock"]
