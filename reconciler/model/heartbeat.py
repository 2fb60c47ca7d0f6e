"""What a heartbeat says (DESIGN §5): the parent tells a child its desired state, the child tells what it found.

These are the plaintexts inside the sealed datagrams of :mod:`reconciler.sync.packets`; the models are the
format's single source of truth (``schemas/heartbeat-*.schema.json``). Both sides ignore fields they do not
know, so a newer parent and an older agent (or the reverse) still understand each other.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ChildHeartbeat", "ParentHeartbeat"]


class _Heartbeat(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    hello: float = Field(gt=0, description="Seconds until the sender's next heartbeat")


class ParentHeartbeat(_Heartbeat):
    """Parent → child: what the child should become, and how often the parent expects to hear from it."""

    generation: int = Field(ge=0, description="The desired-state generation these values come from")
    desired: dict[str, str] = Field(default_factory=dict, description="Mutation variables: VAR -> VALUE")
    config: dict[str, str] = Field(default_factory=dict, description="Config-only values (image_name …)")
    dead: float = Field(gt=0, description="Silence after which the parent declares the child dead")


class ChildHeartbeat(_Heartbeat):
    """Child → parent: what the child discovered about itself, and what it is doing."""

    discovered: dict[str, str] = Field(default_factory=dict, description="Known values: VAR -> VALUE")
    running: str | None = Field(None, description="The mutation the agent is running, if any")
    generation: int = Field(0, ge=0, description="The newest desired-state generation the child has seen")
