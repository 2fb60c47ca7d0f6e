"""Documents only the HTTP layer produces: errors, liveness and readiness.

The engine's documents (nodes, events, freezes, plans) live in :mod:`reconciler.model`; these describe
the API itself, so they stay here. Every error response of the API is an :class:`ErrorDoc`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ErrorDoc", "HealthDoc", "ReadyDoc"]


class ErrorDoc(BaseModel):
    """Body of every error response: what went wrong, in one sentence an operator can act on."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="What went wrong and, where possible, how to fix it")
    status: int = Field(description="The HTTP status, repeated for log readers")
    host: str | None = Field(default=None, description="The host the request named, when it is the problem")
    problems: list[dict[str, Any]] = Field(default_factory=list,
                                           description="Each invalid field of a rejected request (422)")


class HealthDoc(BaseModel):
    """``GET /healthz``: the process is alive and serving."""

    model_config = ConfigDict(extra="forbid")

    status: str = "ok"


class ReadyDoc(BaseModel):
    """``GET /readyz``: ready once the first valid desired state is in force."""

    model_config = ConfigDict(extra="forbid")

    ready: bool
    reason: str = ""
    generation: int | None = Field(default=None, description="Generation of desired state in force")
    commit: str | None = Field(default=None, description="Git commit behind that generation, if any")
