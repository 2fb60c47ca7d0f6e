"""Documents the CLI prints for machines (``--format json``): their shape is part of the contract (DESIGN §5).

Defined as pydantic models so the JSON Schemas in ``schemas/`` describe exactly what is printed.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["HostPlan", "PlanReport", "PlanStatus", "PlannedStep", "ProblemReport", "ValidationReport"]


class PlanStatus(StrEnum):
    """What the planner decided for a host."""

    CONVERGED = "converged"  # already at the desired state: nothing to do
    PLANNED = "planned"
    BLOCKED = "blocked"
    UNMANAGED = "unmanaged"


class PlannedStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mutation: str = Field(description="Mutation id, <namespace>.<collection>.<role>:<entry point>")
    context: str = Field(description="child, self or all: who runs the step")
    mutates: dict[str, tuple[str, str]] = Field(description="variable -> [from, to]")


class HostPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: PlanStatus
    steps: list[PlannedStep] = Field(default_factory=list)
    reason: str = Field(default="", description="Why no chain exists (blocked) or why the host is unmanaged")


class PlanReport(BaseModel):
    """``kraken plan --format json``."""

    model_config = ConfigDict(extra="forbid")

    hosts: dict[str, HostPlan]


class ProblemReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    where: str = Field(description="file[:line] (or host) the problem is in")
    key: str = Field(description="key path inside the file, or mutation id / host")
    message: str
    fix: str = ""


class ValidationReport(BaseModel):
    """``kraken validate --format json``."""

    model_config = ConfigDict(extra="forbid")

    ok: bool
    problems: list[ProblemReport] = Field(default_factory=list)
    variables: int = 0
    mutations: int = 0
    probes: int = Field(default=0, description="Report-only entry points, run for agentless nodes")
    graph_states: int = 0
    graph_edges: int = 0
    hosts: int | None = Field(default=None, description="Hosts checked when an inventory was given")
