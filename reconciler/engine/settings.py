"""Every knob of ``kraken serve``, in one validated settings object of small groups.

Loaded from a YAML file (``--config``), then overridden by command-line flags; unknown keys and bad
values are errors that name the key (``engine.backoff.cap: Input should be greater than 0``). Each
field is defaulted and documented: the defaults are what a 1,000-node cluster wants.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reconciler.errors import Problem, UserError
from reconciler.model.types import Duration

__all__ = ["ApiSettings", "BackoffSettings", "EngineSettings", "Settings", "SettingsError", "SyncSettings",
           "load_settings"]


class SettingsError(UserError):
    """The config file or a flag has a bad value."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("bad settings:\n" + "\n".join(f"  - {p}" for p in problems))


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BackoffSettings(_Group):
    base: Duration = Field(default=2.0, gt=0, description="First retry delay after a failed step")
    factor: float = Field(default=2.0, ge=1.0, description="Multiplier per further failure")
    cap: Duration = Field(default=300.0, gt=0, description="Longest delay; a failed host is retried at this pace")
    jitter: float = Field(default=0.2, ge=0, le=1, description="± fraction of each delay, to spread retries")
    max_attempts: int = Field(default=5, ge=1, description="Failures of one step before the host is marked failed")


class EngineSettings(_Group):
    workers: int = Field(default=16, ge=1, description="Concurrent reconciles (planning is cheap; runs are bounded)")
    batch_window: Duration = Field(default=0.1, ge=0, description="How long a step waits for batch-mates")
    max_batch: int = Field(default=250, ge=1, description="Hosts per ansible-runner run at most")
    timeout_grace: Duration = Field(default=10.0, ge=0, description="Added to every mutation's timeout: the "
                                    "seconds ansible-playbook needs to start before the role runs")
    timeout_grace_per_host: Duration = Field(default=0.5, ge=0, description="Added to a run's deadline per host "
                                             "of the batch: the controller's own work per host and task")
    straggler_wait: Duration = Field(default=5.0, ge=0, description="How long hosts that finished a step wait for "
                                     "slower batch-mates before going on alone (keeps batches together)")
    max_concurrent_runs: int = Field(default=4, ge=1, description="ansible-runner runs at once")
    forks: int = Field(default=50, ge=1, description="Ansible forks per run at most (the batch size if smaller)")
    start_rate: float = Field(default=50.0, ge=0, description="Step starts per second on average (0 = unlimited)")
    start_burst: int = Field(default=200, ge=1, description="Step starts allowed at once before the rate applies")
    resync_interval: Duration = Field(default=600.0, ge=0, description="Full re-reconcile of every host (0 = never)")
    resync_jitter: float = Field(default=0.1, ge=0, le=1, description="± fraction of the resync interval")
    probe_interval: Duration = Field(default=300.0, ge=0, description="Probe rounds of agentless nodes: how often "
                                     "their drift is noticed (0 = only on config changes and new conditions)")
    probe_jitter: float = Field(default=0.1, ge=0, le=1, description="± fraction of the probe interval")
    disruption_budget: dict[str, int | str] = Field(
        default_factory=dict,
        description="Group -> most hosts in a disruptive step at once, absolute (3) or percent ('10%'); "
                    "'all' covers every host",
    )
    keep_runs: int = Field(default=200, ge=1, description="Run records (private data dirs) kept on disk")
    backoff: BackoffSettings = Field(default_factory=BackoffSettings)

    @field_validator("disruption_budget")
    @classmethod
    def _budget(cls, value: dict[str, int | str]) -> dict[str, int | str]:
        for group, limit in value.items():
            if isinstance(limit, bool) or (isinstance(limit, int) and limit < 0):
                raise ValueError(f"{group}: a budget is a count >= 0 or a percentage like '10%'")
            if isinstance(limit, str):
                number = limit.removesuffix("%")
                if not limit.endswith("%") or not number.replace(".", "", 1).isdigit():
                    raise ValueError(f"{group}: {limit!r} is not a percentage like '10%'")
        return value


class ApiSettings(_Group):
    listen: str = Field(default="127.0.0.1:3141", description="HOST:PORT of the HTTP API (loopback by default)")
    allow_remote: bool = Field(default=False, description="Allow a non-loopback listen address (use a token and TLS "
                               "in front)")
    token_file: Path | None = Field(default=None, description="0600 file holding the bearer token for writes")


class SyncSettings(_Group):
    listen: str = Field(default="127.0.0.1:31415", description="HOST:PORT for UDP heartbeats")
    secret_file: Path | None = Field(default=None, description="0600 file with the secret node keys derive from")
    hello: Duration = Field(default=10.0, gt=0, description="Heartbeat interval")
    dead: Duration = Field(default=40.0, gt=0, description="Silence after which a node is dead (runstate ERROR)")


class Settings(_Group):
    """``kraken serve``'s configuration (the YAML file's top level)."""

    inventory: Path | None = Field(default=None, description="The inventory folder (usually a git work tree)")
    collections: list[Path] = Field(default_factory=list, description="Collection paths (see -c)")
    state_dir: Path = Field(default=Path("/var/lib/kraken"), description="SQLite database and run records")
    follow_branch: str | None = Field(default=None, description="Apply only what is committed on this branch")
    debounce: Duration = Field(default=0.2, ge=0, description="Quiet time before a burst of edits is reloaded")
    api: ApiSettings = Field(default_factory=ApiSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    log_format: str = Field(default="keyvalue", pattern="^(keyvalue|json)$", description="One event per line")


def load_settings(path: Path | None, overrides: dict[str, Any] | None = None) -> Settings:
    """Settings from ``path`` (YAML; None = defaults) with dotted-key ``overrides`` from flags applied on top."""
    data: dict[str, Any] = {}
    where = str(path) if path else "(flags)"
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError([Problem(str(path), "", f"cannot be read: {exc}")]) from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise SettingsError([Problem(str(path), "", "the top level must be a mapping of settings")])
        data = loaded or {}
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(where, ".".join(str(p) for p in err["loc"]), err["msg"].removeprefix("Value error, "))
                    for err in exc.errors()]
        raise SettingsError(problems) from exc
