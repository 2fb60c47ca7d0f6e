"""The lines the ``kraken.core.reconciler`` callback plugin streams while a run goes on.

The plugin lives in the collection and cannot import this package, so the format is fixed here and
published as ``schemas/callback-record.schema.json``; integration tests parse the plugin's real output
with these models. Every line is one JSON object carrying the run id it belongs to.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

__all__ = ["CallbackRecord", "HostTally", "Record", "ResultRecord", "ResultStatus", "StartRecord", "StatsRecord"]


class _Record(BaseModel):
    # Newer plugins may add fields; a reader must not reject a run over them.
    model_config = ConfigDict(extra="ignore", frozen=True)

    run: str = Field(description="the run id (KRAKEN_RUN_ID of the ansible-playbook process), empty if unset")


class StartRecord(_Record):
    """First line of a run: the plugin is loaded and connected."""

    kind: Literal["start"]
    playbook: str = ""
    ansible_version: str = ""


class ResultStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    UNREACHABLE = "unreachable"


class ResultRecord(_Record):
    """One task's result on one host."""

    kind: Literal["result"]
    host: str
    task: str = ""
    role: str | None = Field(None, description="the role the task belongs to, if any")
    status: ResultStatus
    ignored: bool = Field(False, description="a failure under ignore_errors: the play went on for this host")
    discovered: dict[str, str] = Field(default_factory=dict,
                                       description="values the task reported with kraken.core.discover")
    message: str = Field("", description="first line of a failure's message; never output marked no_log")


class HostTally(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    ok: int = 0
    changed: int = 0
    failures: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


class StatsRecord(_Record):
    """Last line of a run: every host the play processed, with its tallies."""

    kind: Literal["stats"]
    hosts: dict[str, HostTally]


Record = StartRecord | ResultRecord | StatsRecord


class CallbackRecord(RootModel[Annotated[Record, Field(discriminator="kind")]]):
    """Any line of the stream."""
