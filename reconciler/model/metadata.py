"""The two ``meta/kraken.yml`` file formats (DESIGN §3–§4), as pydantic models.

These models are the single source of truth for the formats: ``schemas/`` is generated from them
(``python -m reconciler.model.schemas``) and a test keeps the two in sync. They check *shape* only;
whether a name refers to a declared variable or a value belongs to its enum needs the whole catalog
and is checked in :mod:`reconciler.model.validation`, so that every problem is reported at once.

Extensions to DESIGN §3–§4, all optional:

* ``state.<var>.terminal`` — values that deliberately have no way out (``image: FATAL``): a node
  discovered there waits for a human instead of failing validation.
* ``state.<var>.knowable_when`` — for variables no mutation moves (``busy``), the values other
  variables must have for this one to be known; e.g. ``busy`` is forgotten when ``runstate`` leaves
  ``SYNC``, so a dead node's last ``BUSY`` cannot block its own recovery.
* role ``probes`` — entry points that only report values (``busy``, or power as the BMC sees it), run
  for agentless nodes on a schedule, on config changes and once their ``requires`` hold; they are not
  mutations and are not in the graph.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reconciler.model.types import Context, Duration, EnumValue

__all__ = [
    "CollectionMeta",
    "MutationSpec",
    "ProbeSpec",
    "RoleMeta",
    "StateVariableSpec",
    "Transition",
]

_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StateVariableSpec(_Strict):
    """One entry under ``state:`` in a collection's ``meta/kraken.yml``."""

    values: list[EnumValue] | None = Field(
        default=None,
        description="Enum values, the first being the zero value that means unknown. "
        "For a config-only variable, optionally the values it may take.",
    )
    config: bool = Field(
        default=False,
        description="Config-only: set in the inventory, selects and parameterises mutations, never mutated.",
    )
    description: str = ""
    terminal: list[EnumValue] = Field(
        default_factory=list,
        description="Values that deliberately have no mutation out of them (a human must intervene).",
    )
    knowable_when: dict[str, EnumValue] = Field(
        default_factory=dict,
        description="For variables no mutation moves: the values other variables must have for this one "
        "to be known; otherwise its discovered value is forgotten.",
    )

    @model_validator(mode="after")
    def _enum_needs_values(self) -> StateVariableSpec:
        if not self.config and (not self.values or len(self.values) < 2):
            raise ValueError(
                "an enum variable needs `values:` with the unknown value first and at least one more "
                "(or `config: true` for a config-only variable)"
            )
        values = self.values or []
        if len(set(values)) != len(values):
            dupes = sorted({v for v in values if values.count(v) > 1})
            raise ValueError(f"duplicate values {dupes}")
        if not self.config and values:
            bad = [v for v in self.terminal if v not in values]
            if bad:
                raise ValueError(f"terminal values {bad} are not among the values {values}")
            if values[0] in self.terminal:
                raise ValueError(f"the unknown value {values[0]} cannot be terminal")
        return self

    @property
    def is_enum(self) -> bool:
        return not self.config

    @property
    def zero(self) -> str:
        """The unknown value (the first); only meaningful for enum variables."""
        assert self.values, "config variables have no zero value"
        return self.values[0]


class CollectionMeta(_Strict):
    """``<collection>/meta/kraken.yml``: the state variables a collection declares."""

    state: dict[str, StateVariableSpec] = Field(default_factory=dict)

    @field_validator("state")
    @classmethod
    def _names(cls, state: dict[str, StateVariableSpec]) -> dict[str, StateVariableSpec]:
        bad = [name for name in state if not re.fullmatch(_NAME_PATTERN, str(name))]
        if bad:
            raise ValueError(f"variable names must be lower_snake_case, got {bad}")
        return state


class Transition(_Strict):
    """``{from: A, to: B}`` for one mutated variable."""

    from_: EnumValue = Field(alias="from")
    to: EnumValue

    @model_validator(mode="after")
    def _moves(self) -> Transition:
        if self.from_ == self.to:
            raise ValueError(f"from and to are both {self.to}: a mutation must change the value")
        return self


class MutationSpec(_Strict):
    """One entry of ``mutations:`` in a role's ``meta/kraken.yml``: an entry point and what it changes."""

    name: str = Field(pattern=_NAME_PATTERN, description="Entry point name; tasks/<name>.yml by default.")
    tasks: str | None = Field(default=None, description="Tasks file (relative to the role's tasks/) if not <name>.yml.")
    description: str = ""
    mutates: dict[str, Transition] = Field(min_length=1)
    requires: dict[str, EnumValue] = Field(default_factory=dict)
    excludes: dict[str, EnumValue] = Field(default_factory=dict)
    context: Context = Context.CHILD
    timeout: Duration = 0.0
    failto: dict[str, EnumValue] = Field(default_factory=dict)
    cost: float = Field(default=1.0, gt=0, description="Planner weight; the cheapest chain wins.")
    disruptive: bool = Field(default=False, description="Counts against the disruption budget.")

    @property
    def tasks_file(self) -> str:
        return self.tasks or f"{self.name}.yml"


class ProbeSpec(_Strict):
    """One entry of ``probes:``: an entry point that only reports values (no transition, not in the graph)."""

    name: str = Field(pattern=_NAME_PATTERN)
    tasks: str | None = None
    description: str = ""
    context: Context = Context.SELF
    timeout: Duration = 0.0
    requires: dict[str, EnumValue] = Field(
        default_factory=dict,
        description="Values that must be known to hold for the probe to mean anything (busy: runstate SYNC); "
        "the engine runs it only then.",
    )

    @property
    def tasks_file(self) -> str:
        return self.tasks or f"{self.name}.yml"


class RoleMeta(_Strict):
    """``<role>/meta/kraken.yml``: the role's mutations and the variables it may report."""

    mutations: list[MutationSpec] = Field(default_factory=list)
    probes: list[ProbeSpec] = Field(default_factory=list)
    discovers: list[str] = Field(
        default_factory=list,
        description="Variables this role may report with kraken.core.discover besides those its mutations "
        "move (always allowed); anything else it reports is rejected.",
    )
