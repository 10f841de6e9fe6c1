"""Named, interchangeable methods of one kind (the change priors, the threshold methods).

The interfaces list a registry's names, RunParams.validate checks a choice against it and the run
calls what it holds, so a new method is added in one place: its registry entry.
"""
from __future__ import annotations

from typing import Generic, TypeVar

from .errors import InputError
from .i18n import tr

Method = TypeVar("Method")


class Registry(dict[str, Method], Generic[Method]):
    """A dict of methods by name that refuses an unknown name with one sentence listing the choices."""

    def __init__(self, kind: str, methods: dict[str, Method]) -> None:
        super().__init__(methods)
        self.kind = kind

    def pick(self, name: str) -> Method:
        if name not in self:
            raise InputError(tr("{kind} must be one of {names}, not {name!r}.",
                                kind=self.kind, names=", ".join(self), name=name))
        return self[name]
