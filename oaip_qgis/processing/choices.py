"""Choices given by their number, as `qgis_process help` offers them ("- 2: prior").

The algorithms' choices are static strings (MODE=prior reads the same in a table, a script and a
log), and QGIS 3.22 then refuses the number its own help lists. Both forms are taken: a number is
replaced by its option's name before QGIS checks or reads the value.
"""
from __future__ import annotations

from qgis.core import QgsProcessingAlgorithm, QgsProcessingParameterEnum


def named_choices(algorithm: QgsProcessingAlgorithm, parameters: dict) -> dict:
    """The parameters with every single choice given by its number (int or digits) given by its name."""
    named = dict(parameters)
    for definition in algorithm.parameterDefinitions():
        if not isinstance(definition, QgsProcessingParameterEnum) or not definition.usesStaticStrings():
            continue
        value, options = parameters.get(definition.name()), definition.options()
        if isinstance(value, str) and value.strip().isdigit() and value not in options:
            value = int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(options):
            named[definition.name()] = options[value]
    return named
