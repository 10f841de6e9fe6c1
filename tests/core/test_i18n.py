"""core/i18n.py: the engine's translation hook (English unless a front end installs a translator)."""
from __future__ import annotations

import ast
from pathlib import Path

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


def _literal_messages(tree: ast.AST):
    """Calls that hand the analyst a message (an engine error, a log or progress line) built from a
    string literal or an f-string rather than from tr()."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        receiver = getattr(getattr(node.func, "value", None), "id", "")
        if name in MESSAGE_CALLS or (name == "append" and receiver in ("log", "notes")):
            arguments = node.args
        elif name in ("progress", "report") and len(node.args) > 1:
            arguments = node.args[1:]
        else:
            continue
        if any(isinstance(a, ast.JoinedStr) or (isinstance(a, ast.Constant) and isinstance(a.value, str))
               for a in arguments):
            yield node.lineno


MESSAGE_CALLS = {"InputError", "ResourceError", "OaipError", "Cancelled", "info", "log"}


def test_every_engine_message_goes_through_tr():
    core = Path(i18n.__file__).resolve().parent
    found = [f"{path.relative_to(core)}:{line}" for path in sorted(core.rglob("*.py"))
             for line in _literal_messages(ast.parse(path.read_text(encoding="utf-8")))]
    assert found == []
