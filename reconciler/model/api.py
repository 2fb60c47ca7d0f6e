"""Documents of the reconciler's HTTP API and event stream (DESIGN §5), as pydantic models.

The engine produces them, the API serves them, ``kraken status`` / ``kraken events`` read them; the
OpenAPI document and ``schemas/`` are generated from these classes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reconciler.model.reports import PlannedStep

__all__ = ["EventDoc", "EventKind", "FreezeRequest", "FreezeResult", "NodeDoc", "NodeList", "NodeStatus"]


class NodeStatus(StrEnum):
    """Convergence of one node, as operators see it."""

    CONVERGED = "converged"  # discovered state matches desired state
    IN_PROGRESS = "in_progress"  # a chain is running or waiting for its next step
    BLOCKED = "blocked"  # no chain exists: ``reason`` says what blocks it
    FAILED = "failed"  # a step failed too often: ``reason`` has the last error; retried at the backoff cap
    FROZEN = "frozen"  # an operator froze it: discoveries are recorded, nothing runs
    UNMANAGED = "unmanaged"  # no kraken_<var> is set for it


class NodeDoc(BaseModel):
    """``GET /api/v1/nodes/{host}``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    desired: dict[str, str]
    discovered: dict[str, str]
    status: NodeStatus
    chain: list[PlannedStep] = Field(default_factory=list, description="Remaining steps; the first may be running")
    reason: str = ""
    running: str | None = Field(default=None, description="Mutation id of the step in flight, if any")


class NodeList(BaseModel):
    """``GET /api/v1/nodes``."""

    model_config = ConfigDict(extra="forbid")

    nodes: list[NodeDoc]


class EventKind(StrEnum):
    DESIRED_LOADED = "desired_loaded"  # a new generation of desired state is in force
    DESIRED_REJECTED = "desired_rejected"  # an inventory edit was invalid; the last good one stays
    DISCOVERED = "discovered"  # a node's discovered values changed
    DISCOVERY_REJECTED = "discovery_rejected"  # a role reported a variable or value it may not
    STEP_STARTED = "step_started"
    STEP_SUCCEEDED = "step_succeeded"
    STEP_FAILED = "step_failed"
    STEP_TIMEOUT = "step_timeout"
    PROBE_FAILED = "probe_failed"  # a probe of an agentless node failed; its known values are kept
    NODE_STATUS = "node_status"  # converged / blocked / failed … changed
    FROZEN = "frozen"
    THAWED = "thawed"


class EventDoc(BaseModel):
    """One event of ``GET /api/v1/events`` (SSE) and of the journal."""

    model_config = ConfigDict(extra="forbid")

    id: int
    time: float = Field(description="Unix time in seconds")
    kind: EventKind
    host: str | None = None
    mutation: str | None = None
    run_id: str | None = None
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


class FreezeRequest(BaseModel):
    """Body of ``POST /api/v1/freeze`` and ``/thaw``; no pattern means everything."""

    model_config = ConfigDict(extra="forbid")

    pattern: str | None = Field(default=None, description="Ansible host pattern; absent = every host (global)")


class FreezeResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pattern: str | None
    hosts: list[str] = Field(description="Hosts the request applied to")
