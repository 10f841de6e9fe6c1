"""core/i18n.py: the engine's translation hook (English unless a front end installs a translator)."""
from __future__ import annotations

from oaip_qgis.core import i18n


def test_tr_keeps_english_and_fills_named_values_by_default():
    assert i18n.tr("Plain {text}") == "Plain {text}"   # no values: the template is returned as is
    assert i18n.tr("{name} is {value:g}, not {other!r}.", name="X", value=0.5, other="y") == "X is 0.5, not 'y'."
    assert i18n.tr("{text}!", text="a value named text") == "a value named text!"   # the template is positional


def test_an_installed_translator_sees_the_template_before_the_values():
    seen = []
    i18n.set_translator(lambda text: seen.append(text) or text.replace("is", "ist"))
    try:
        assert i18n.tr("{name} is {value}", name="X", value=1) == "X ist 1"
        assert seen == ["{name} is {value}"]
    finally:
        i18n.set_translator(None)
    assert i18n.tr("{a}", a=1) == "1"
