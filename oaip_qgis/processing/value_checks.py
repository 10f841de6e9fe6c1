"""Sentences for parameter values QGIS would refuse as "Incorrect parameter value" (or take wrongly: "no" as yes,
1.5 workers as 2): each names the parameter, its value and what is allowed. Shared by the algorithms."""
from __future__ import annotations

import math

from qgis.core import QgsProcessingParameterBoolean, QgsProcessingParameterEnum, QgsProcessingParameterNumber

from ..core.batch.table import FALSE, TRUE
from ..i18n import tr

NO_MAXIMUM = 1e300   # QgsProcessingParameterNumber's bounds when none is set are the largest doubles


def value_sentence(definition, value) -> str | None:
    """Why `value` does not fit a number, choice or yes/no parameter; None when it fits (or is another kind)."""
    if isinstance(definition, QgsProcessingParameterNumber):
        return _number_out_of_range(definition, value)
    if isinstance(definition, QgsProcessingParameterEnum):
        return _unknown_choice(definition, value)
    if isinstance(definition, QgsProcessingParameterBoolean):
        return _not_yes_or_no(definition, value)
    return None


def _number_out_of_range(definition: QgsProcessingParameterNumber, value) -> str | None:
    """The sentence for a number outside its parameter's range, or a text or fraction where a (whole) number
    belongs, naming the value and what is allowed; None when it fits."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    low, high = definition.minimum(), definition.maximum()
    if high < NO_MAXIMUM:
        allowed = tr("from {low} to {high}").format(low=_shown(low), high=_shown(high))
    else:   # no bound at all (a nodata value): "a number -1.79769e+308 or more" said nothing
        allowed = tr("{low} or more").format(low=_shown(low)) if low > -NO_MAXIMUM else ""
    whole = definition.dataType() == QgsProcessingParameterNumber.Integer

    def not_a(shown) -> str:
        return tr("{name} ({description}) must be {kind}{allowed}, not {value}.").format(
            name=definition.name(), description=definition.description(),
            kind=tr("a whole number") if whole else tr("a number"), allowed=f" {allowed}" if allowed else "",
            value=shown)

    try:
        number = float(value)
    except (TypeError, ValueError):
        # Typed text (qgis_process, a script) is named; an expression or a property (not str): QGIS checks it.
        return not_a(f"'{value}'") if isinstance(value, str) else None
    if math.isnan(number):
        return None     # NaN is no range's member, but a nodata value (NODATA1=nan) QGIS and GDAL accept
    if whole and not number.is_integer():
        return not_a(value)
    if low <= number <= high:
        return None
    return tr("{name} ({description}) must be {allowed}, not {value}.").format(
        name=definition.name(), description=definition.description(), allowed=allowed, value=value)


def _shown(bound: float) -> str:
    """A range's bound as written: whole numbers in full (SEED's 2147483647, not 2.14748e+09)."""
    return str(int(bound)) if float(bound).is_integer() and abs(bound) < 1e15 else f"{bound:g}"


def _unknown_choice(definition: QgsProcessingParameterEnum, value) -> str | None:
    """The sentence for a choice that is not one of the parameter's options, listing them; None if it is."""
    if not isinstance(value, str) or not value or not definition.usesStaticStrings():
        return None
    options = definition.options()
    if value in options:
        return None
    return tr("{name} ({description}) must be one of {options}, not {value!r}.").format(
        name=definition.name(), description=definition.description(), options=", ".join(options), value=value)


def _not_yes_or_no(definition: QgsProcessingParameterBoolean, value) -> str | None:
    """The sentence for a yes/no value given as a word that is neither (QGIS takes any word but "false"
    and "0" as yes, so "no" and "off" turned an option on); None if it is one."""
    if not isinstance(value, str) or value.strip().lower() in TRUE | FALSE:
        return None
    return tr("{name} ({description}) must be true or false (yes/no, on/off, 1/0), not {value!r}.").format(
        name=definition.name(), description=definition.description(), value=value)
