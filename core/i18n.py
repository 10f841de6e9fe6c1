"""The engine's translation hook: every message meant for the analyst goes through `tr()`.

core/ imports no QGIS, so it cannot call QCoreApplication.translate itself. The plugin installs
QGIS's translate (oaip_qgis.i18n.tr, context "OAIP") with `set_translator` when it starts; the CLI,
Dask workers and the tests keep the default, which returns the English text as is.

The English template, with its named placeholders (``"{name} must be ... not {value!r}."``), is the
key a translation is looked up by; the values are filled in afterwards, so one translation serves
every value. Never build the text before calling `tr()` (no f-string inside it).
"""
from __future__ import annotations

from collections.abc import Callable


def _identity(text: str) -> str:
    return text


_translator: Callable[[str], str] = _identity


def set_translator(function: Callable[[str], str] | None) -> None:
    """Install `function` (English template -> the user's language) for every later `tr()` call;
    None restores the default, which keeps English."""
    global _translator
    _translator = _identity if function is None else function


def QT_TRANSLATE_NOOP(context: str, text: str) -> str:
    """`text` as it is: marks a label for Qt's translation tools (pylupdate5 reads this call by its name), to be
    translated where it is shown, through tr()."""
    return text


def tr(text: str, /, **values) -> str:
    """`text` translated by the installed translator, then its placeholders filled from `values`."""
    translated = _translator(text)
    return translated.format(**values) if values else translated
