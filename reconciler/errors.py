"""Every exception the reconciler raises on purpose, in one place.

Library code raises these; only ``reconciler.cli`` turns them into messages and exit codes
(2 for a :class:`UserError`, 1 for anything else). Each error carries the context an operator
needs to act on it (file, key path, host, variable) rather than a bare string.

Hierarchy::

    KrakenError
    ├── UserError                 bad input; exit code 2
    │   ├── CatalogError          mutation metadata / state declarations (all problems at once)
    │   ├── InventoryError        desired state from an Ansible inventory (all problems at once)
    │   ├── ObservedStateError    an --observed file
    │   └── GraphRenderError      a graph format that needs a missing tool (Graphviz)
    └── InternalError             a bug; exit code 1
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CatalogError",
    "GraphRenderError",
    "InternalError",
    "InventoryError",
    "KrakenError",
    "ObservedStateError",
    "Problem",
    "UserError",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located precisely enough to fix it without searching.

    ``where`` is a file (optionally with ``:line``), ``key`` the path inside it (``mutations[0].requires.power``)
    or a host name; ``fix`` says what to write instead.
    """

    where: str
    key: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        location = f"{self.where}: {self.key}" if self.key else self.where
        text = f"{location}: {self.message}"
        return f"{text} (fix: {self.fix})" if self.fix else text


class KrakenError(Exception):
    """Base of every error raised on purpose by the reconciler."""


class UserError(KrakenError):
    """Bad input from an operator or an automation author; nothing good was changed."""


class CatalogError(UserError):
    """The mutation catalog (collections' ``meta/kraken.yml`` files) has problems; all are listed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(_summarise("catalog", self.problems))


class InventoryError(UserError):
    """The desired state read from an inventory has problems; all are listed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(_summarise("inventory", self.problems))


class ObservedStateError(UserError):
    """An observed-state file (``kraken plan --observed``) is malformed or names unknown values."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(_summarise("observed state", self.problems))


class GraphRenderError(UserError):
    """A graph could not be rendered in the requested format (e.g. Graphviz's ``dot`` is missing)."""


class InternalError(KrakenError):
    """An invariant of the reconciler itself does not hold: a bug, not bad input."""


def _summarise(what: str, problems: list[Problem]) -> str:
    count = len(problems)
    head = f"{count} problem{'s' if count != 1 else ''} in the {what}"
    return head + ":\n" + "\n".join(f"  - {p}" for p in problems)
