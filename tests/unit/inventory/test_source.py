"""DesiredSource: real files, real git repositories made in tmp_path, real watchdog, real ansible-core.

Every wait is a bounded poll for a condition (or for the next update of the stream); nothing asserts on wall-clock
durations. Each test runs its own event loop with ``asyncio.run`` under an overall bound.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from reconciler.errors import InventoryError
from reconciler.inventory.desired import InventoryState, load_inventory
from reconciler.inventory.source import (
    EXPORTS_FOLDER,
    DesiredGeneration,
    DesiredRejected,
    DesiredSource,
    DesiredUpdate,
)
from reconciler.model.catalog import Catalog

T = TypeVar("T")

BOUND = 30.0
"""Seconds any one wait may take before the test fails (generous: CI machines are busy)."""


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 4 * BOUND))


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until it holds; fail after :data:`BOUND` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def next_update(stream: AsyncIterator[DesiredUpdate]) -> DesiredUpdate:
    return await asyncio.wait_for(anext(stream), BOUND)


async def next_generation(stream: AsyncIterator[DesiredUpdate]) -> DesiredGeneration:
    update = await next_update(stream)
    assert isinstance(update, DesiredGeneration), update
    return update


async def next_rejection(stream: AsyncIterator[DesiredUpdate]) -> DesiredRejected:
    update = await next_update(stream)
    assert isinstance(update, DesiredRejected), update
    return update


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=Kraken Tests", "-c", "user.email=tests@example.invalid",
                           "-c", "commit.gpgsign=false", *args],
                          cwd=repo, capture_output=True, text=True, timeout=30, check=True)
    return done.stdout


def head(repo: Path, ref: str = "HEAD") -> str:
    return git(repo, "rev-parse", ref).strip()


def hosts_yml(n1: str = "POWER_ON", n2: str = "POWER_OFF") -> str:
    return f"all:\n  hosts:\n    n1:\n      kraken_power: {n1}\n    n2:\n      kraken_power: {n2}\n"


def powers(generation: DesiredGeneration) -> dict[str, str]:
    return {name: host.desired.get("power", "-") for name, host in generation.state.hosts.items()}


def move_in(staging: Path, target: Path, text: str) -> None:
    """Write ``text`` outside the watched tree and rename it onto ``target``: exactly one file event."""
    staging.mkdir(parents=True, exist_ok=True)
    scratch = staging / target.name
    scratch.write_text(text)
    os.replace(scratch, target)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with the inventory in ``inv/`` (hosts.yml, an empty host_vars/ and a README outside)."""
    root = tmp_path / "repo"
    (root / "inv" / "host_vars").mkdir(parents=True)
    (root / "inv" / "hosts.yml").write_text(hosts_yml())
    (root / "inv" / "host_vars" / ".keep").write_text("")
    (root / "README.md").write_text("the lab\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


# -- loading ------------------------------------------------------------------------------------------------


def test_initial_load_is_generation_one_with_its_commit(repo: Path, lab_catalog: Catalog) -> None:
    async def scenario() -> None:
        async with DesiredSource(repo / "inv", lab_catalog) as source:
            stream = source.updates()
            first = await next_generation(stream)
            assert source.current() is first
            assert (first.generation, first.commit, first.dirty) == (1, head(repo), False)
            assert powers(first) == {"n1": "POWER_ON", "n2": "POWER_OFF"}
            assert first.seconds > 0 and first.loaded_at > 0
            assert source.stats().reloads == 1

    run(scenario())


def test_outside_git_there_is_no_commit(tmp_path: Path, lab_catalog: Catalog) -> None:
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "hosts.yml").write_text(hosts_yml())

    async def scenario() -> None:
        async with DesiredSource(tmp_path / "inv", lab_catalog, debounce=0.05) as source:
            stream = source.updates()
            first = await next_generation(stream)
            assert (first.commit, first.dirty) == (None, None)
            (tmp_path / "inv" / "hosts.yml").write_text(hosts_yml(n2="POWER_ON"))
            second = await next_generation(stream)
            assert (second.generation, second.commit, second.dirty) == (2, None, None)
            assert powers(second)["n2"] == "POWER_ON"

    run(scenario())


def test_edit_then_commit_gives_generations_with_dirty_then_new_commit(repo: Path, lab_catalog: Catalog) -> None:
    async def scenario() -> None:
        async with DesiredSource(repo / "inv", lab_catalog, debounce=0.1) as source:
            stream = source.updates()
            first = await next_generation(stream)
            (repo / "inv" / "hosts.yml").write_text(hosts_yml(n1="POWER_OFF"))
            edited = await next_generation(stream)
            assert (edited.generation, edited.commit, edited.dirty) == (2, first.commit, True)
            assert powers(edited)["n1"] == "POWER_OFF"
            # committing changes no file under the inventory, only the ref: same state, new provenance
            git(repo, "commit", "-q", "-am", "n1 off")
            committed = await next_generation(stream)
            assert (committed.generation, committed.commit, committed.dirty) == (3, head(repo), False)
            assert committed.state == edited.state
            assert source.current() is committed

    run(scenario())


def test_a_burst_of_writes_is_one_reload(repo: Path, lab_catalog: Catalog) -> None:
    hosts = repo / "inv" / "hosts.yml"

    async def scenario() -> None:
        async with DesiredSource(repo / "inv", lab_catalog) as source:  # the default quiet period, 0.5 s
            stream = source.updates()
            await next_generation(stream)
            for i in range(100):  # on the loop's thread: the debounce timer cannot fire in the middle
                hosts.write_text(hosts_yml(n1="POWER_OFF" if i % 2 else "POWER_ON", n2=f"POWER_{'ON' if i else 'OFF'}"))
            final = await next_generation(stream)
            assert final.generation == 2
            assert powers(final) == {"n1": "POWER_OFF", "n2": "POWER_ON"}
            await wait_until(lambda: source.stats().events >= 100 and source.idle, "every event, then quiet")
            stats = source.stats()
            assert (stats.reloads, stats.generations) == (2, 2), stats

    run(scenario())


def test_editor_droppings_reads_and_git_internals_trigger_nothing(tmp_path: Path, lab_catalog: Catalog) -> None:
    repo = tmp_path / "repo"  # the inventory is the whole repository: .git is inside the watched tree
    (repo / "host_vars").mkdir(parents=True)
    (repo / "hosts.yml").write_text(hosts_yml())
    git(repo, "init", "-q", "-b", "main")

    async def scenario() -> None:
        async with DesiredSource(repo, lab_catalog, debounce=0.05) as source:
            stream = source.updates()
            await next_generation(stream)
            for name in (".hosts.yml.swp", "hosts.yml~", ".#hosts.yml", "#hosts.yml#", "4913",
                         ".git/scratch", ".git/info/scratch"):
                (repo / name).write_text("garbage: [\n")
                (repo / name).unlink()
            (repo / "hosts.yml").read_text()
            move_in(tmp_path / "staging", repo / "host_vars" / "n1.yml", "kraken_power: POWER_OFF\n")
            second = await next_generation(stream)
            assert powers(second)["n1"] == "POWER_OFF"
            await wait_until(lambda: source.idle, "quiet")
            assert (source.stats().events, source.stats().reloads) == (1, 2), source.stats()

    run(scenario())


def test_saving_without_a_change_is_not_a_generation(repo: Path, lab_catalog: Catalog) -> None:
    async def scenario() -> None:
        async with DesiredSource(repo / "inv", lab_catalog, debounce=0.05) as source:
            (repo / "inv" / "hosts.yml").write_text(hosts_yml())
            await wait_until(lambda: source.stats().reloads == 2 and source.idle, "the reload of the save")
            current = source.current()
            assert current is not None and current.generation == 1
            assert source.stats().unchanged == 1
            assert await source.reload() is current  # a forced reload of the same state returns what is in force

    run(scenario())


# -- bad edits ----------------------------------------------------------------------------------------------


def test_bad_edit_is_rejected_with_every_problem_and_the_last_good_stays(repo: Path, lab_catalog: Catalog) -> None:
    hosts = repo / "inv" / "hosts.yml"

    async def scenario() -> None:
        async with DesiredSource(repo / "inv", lab_catalog, debounce=0.05) as source:
            stream = source.updates()
            good = await next_generation(stream)
            hosts.write_text("all:\n  hosts:\n    n1:\n      kraken_power: ON\n    n2:\n      kraken_power: POWER_UP\n")
            rejected = await next_rejection(stream)
            assert (rejected.in_force, rejected.commit, rejected.dirty) == (1, good.commit, True)
            assert len(rejected.problems) == 2
            by_host = {p.key: p for p in rejected.problems}
            assert set(by_host) == {"n1", "n2"}
            assert all(p.where.startswith(f"{hosts}:") for p in rejected.problems)
            assert "boolean" in by_host["n1"].message and "POWER_ON" in by_host["n1"].fix
            assert "POWER_UP" in by_host["n2"].message
            assert source.current() is good

            hosts.write_text("all:\n  hosts:\n    n1: [\n")  # not even YAML
            unparseable = await next_rejection(stream)
            assert unparseable.in_force == 1 and unparseable.problems
            assert any(str(hosts) in p.where or str(hosts) in p.message for p in unparseable.problems)
            assert source.current() is good

            hosts.write_text(hosts_yml(n1="POWER_OFF"))
            fixed = await next_generation(stream)
            assert fixed.generation == 2  # rejections never consumed a number
            assert powers(fixed)["n1"] == "POWER_OFF"
            assert source.current() is fixed

    run(scenario())


def test_reverting_a_bad_edit_republishes_the_generation_in_force(repo: Path, lab_catalog: Catalog) -> None:
    hosts = repo / "inv" / "hosts.yml"

    async def scenario() -> None:
        async with DesiredSource(repo / "inv", lab_catalog, debounce=0.05) as source:
            stream = source.updates()
            good = await next_generation(stream)
            hosts.write_text(hosts_yml(n1="OFF"))
            await next_rejection(stream)
            git(repo, "checkout", "--", "inv/hosts.yml")
            assert await next_update(stream) is good  # same number: the error is over, nothing else changed

    run(scenario())


def test_a_late_subscriber_sees_what_is_in_force_then_the_rejection(repo: Path, lab_catalog: Catalog) -> None:
    async def scenario() -> None:
        async with DesiredSource(repo / "inv", lab_catalog, debounce=0.05) as source:
            early = source.updates()
            good = await next_generation(early)
            (repo / "inv" / "hosts.yml").write_text(hosts_yml(n2="NO"))
            rejected = await next_rejection(early)
            late = source.updates()
            assert await next_update(late) is good
            assert await next_update(late) is rejected
        # leaving the source ends every stream
        assert [u async for u in late] == []

    run(scenario())


def test_an_initial_load_that_fails_is_the_first_update(repo: Path, lab_catalog: Catalog) -> None:
    (repo / "inv" / "hosts.yml").write_text(hosts_yml(n1="POWER_SOMETIMES"))

    async def scenario() -> None:
        async with DesiredSource(repo / "inv", lab_catalog, debounce=0.05) as source:
            stream = source.updates()
            rejected = await next_rejection(stream)
            assert rejected.in_force is None and source.current() is None
            (repo / "inv" / "hosts.yml").write_text(hosts_yml())
            assert (await next_generation(stream)).generation == 1

    run(scenario())


def test_configuration_errors_raise_on_enter(tmp_path: Path, lab_catalog: Catalog) -> None:
    async def enter(source: DesiredSource) -> None:
        async with source:
            raise AssertionError("should not start")

    with pytest.raises(InventoryError, match="does not exist"):
        run(enter(DesiredSource(tmp_path / "missing", lab_catalog)))
    (tmp_path / "inv").mkdir()
    with pytest.raises(InventoryError, match="not in a git work tree"):
        run(enter(DesiredSource(tmp_path / "inv", lab_catalog, follow_branch="main")))


# -- following a branch ---------------------------------------------------------------------------------------


def test_following_a_branch_ignores_uncommitted_edits_and_picks_up_commits(repo: Path, tmp_path: Path,
                                                                          lab_catalog: Catalog) -> None:
    state_dir = tmp_path / "state"
    hosts = repo / "inv" / "hosts.yml"

    async def scenario() -> None:
        async with DesiredSource(repo / "inv", lab_catalog, debounce=0.05, follow_branch="main",
                                 state_dir=state_dir) as source:
            stream = source.updates()
            first = await next_generation(stream)
            assert (first.commit, first.dirty) == (head(repo), False)
            assert first.state.source.is_relative_to(state_dir / EXPORTS_FOLDER)

            hosts.write_text("all: [\n")  # broken, but uncommitted: must not matter
            (repo / "inv" / "host_vars" / "n2.yml").write_text("kraken_power: POWER_ON\n")
            git(repo, "add", "inv/host_vars/n2.yml")
            git(repo, "commit", "-q", "-m", "n2 on")  # commits host_vars/n2.yml only
            second = await next_generation(stream)
            assert (second.generation, second.commit, second.dirty) == (2, head(repo), False)
            assert powers(second) == {"n1": "POWER_ON", "n2": "POWER_ON"}  # committed hosts.yml, new host_vars

            git(repo, "commit", "-q", "-am", "break it")  # now the broken hosts.yml is committed
            rejected = await next_rejection(stream)
            assert (rejected.commit, rejected.in_force) == (head(repo), 2)
            assert any(str(hosts) in f"{p.where} {p.message}" for p in rejected.problems), rejected.problems
            assert not any(str(state_dir) in f"{p.where} {p.message}" for p in rejected.problems)

            hosts.write_text(hosts_yml(n1="POWER_OFF"))
            git(repo, "commit", "-q", "-am", "fixed")
            third = await next_generation(stream)
            assert (third.generation, third.commit) == (3, head(repo))
            assert powers(third) == {"n1": "POWER_OFF", "n2": "POWER_ON"}
            await wait_until(lambda: source.idle, "quiet")
            exports = sorted(p.name for p in (state_dir / EXPORTS_FOLDER).iterdir())
            assert exports == sorted({second.commit, third.commit})  # current and previous only

    run(scenario())


def test_following_a_branch_that_is_not_checked_out(repo: Path, lab_catalog: Catalog) -> None:
    main = head(repo)
    git(repo, "checkout", "-q", "-b", "feature")

    async def scenario() -> None:
        async with DesiredSource(repo / "inv", lab_catalog, debounce=0.05, follow_branch="main") as source:
            stream = source.updates()
            assert (await next_generation(stream)).commit == main
            (repo / "inv" / "hosts.yml").write_text(hosts_yml(n1="POWER_OFF"))
            git(repo, "commit", "-q", "-am", "on feature")  # another branch: not followed
            git(repo, "checkout", "-q", "main")
            git(repo, "merge", "-q", "--ff-only", "feature")
            merged = await next_generation(stream)
            assert (merged.commit, powers(merged)["n1"]) == (head(repo, "main"), "POWER_OFF")

    run(scenario())


def test_following_a_branch_that_does_not_exist_yet(repo: Path, lab_catalog: Catalog) -> None:
    async def scenario() -> None:
        async with DesiredSource(repo / "inv", lab_catalog, debounce=0.05, follow_branch="release") as source:
            stream = source.updates()
            rejected = await next_rejection(stream)
            assert "does not exist" in rejected.problems[0].message
            git(repo, "branch", "release")
            created = await next_generation(stream)
            assert created.commit == head(repo, "release")

    run(scenario())


# -- one reload at a time --------------------------------------------------------------------------------------


class HeldLoader:
    """``load_inventory`` that can hold a reload after reading (to request more meanwhile) and counts overlap."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.release.set()
        self.holding = threading.Event()
        self.active = 0
        self.peak = 0
        self.calls = 0

    def __call__(self, path: Path, catalog: Catalog) -> InventoryState:
        with self.lock:
            self.active += 1
            self.calls += 1
            self.peak = max(self.peak, self.active)
        try:
            state = load_inventory(path, catalog)
            if not self.release.is_set():
                self.holding.set()
                assert self.release.wait(BOUND), "never released"
            return state
        finally:
            with self.lock:
                self.active -= 1


def test_reloads_never_overlap_and_requests_during_one_coalesce(repo: Path, tmp_path: Path,
                                                                lab_catalog: Catalog) -> None:
    loader = HeldLoader()

    async def scenario() -> None:
        # a long quiet period: only the forced reloads below run while the test looks
        async with DesiredSource(repo / "inv", lab_catalog, debounce=BOUND, loader=loader) as source:
            first = source.current()
            assert first is not None and loader.calls == 1
            loader.release.clear()
            held = asyncio.create_task(source.reload())
            await wait_until(loader.holding.is_set, "the reload to be held")
            move_in(tmp_path / "staging", repo / "inv" / "hosts.yml", hosts_yml(n1="POWER_OFF"))
            await wait_until(lambda: source.stats().events >= 1, "the edit's event")
            more = [asyncio.create_task(source.reload()) for _ in range(5)]
            await asyncio.sleep(0)  # let them make their requests (ordering, not time)
            assert not source.idle
            loader.release.set()
            assert await held is first  # read before the edit: nothing new
            results = await asyncio.gather(*more)
            assert all(r is results[0] for r in results)  # five requests, one reload
            assert isinstance(results[0], DesiredGeneration) and results[0].generation == 2
            assert powers(results[0])["n1"] == "POWER_OFF"
            assert (loader.calls, loader.peak) == (3, 1)

    run(scenario())


def test_events_during_a_reload_run_one_more_reload_after_it(repo: Path, lab_catalog: Catalog) -> None:
    loader = HeldLoader()
    hosts = repo / "inv" / "hosts.yml"

    async def scenario() -> None:
        async with DesiredSource(repo / "inv", lab_catalog, debounce=0.05, loader=loader) as source:
            stream = source.updates()
            await next_generation(stream)
            loader.release.clear()
            hosts.write_text(hosts_yml(n1="POWER_OFF"))
            await wait_until(loader.holding.is_set, "the edit's reload to be held")
            calls = loader.calls
            for i in range(20):  # more edits while it is held: one more reload, after it
                hosts.write_text(hosts_yml(n2="POWER_ON" if i % 2 else "POWER_OFF"))
            hosts.write_text(hosts_yml(n1="POWER_OFF", n2="POWER_ON"))
            requests = source.stats().requests
            await wait_until(lambda: source.stats().requests > requests, "the edits' quiet period to end")
            loader.release.set()
            assert powers(await next_generation(stream)) == {"n1": "POWER_OFF", "n2": "POWER_OFF"}
            assert powers(await next_generation(stream)) == {"n1": "POWER_OFF", "n2": "POWER_ON"}
            await wait_until(lambda: source.idle, "quiet")
            assert (loader.calls - calls, loader.peak) == (1, 1)

    run(scenario())


def test_a_symlinked_inventory_is_watched_where_it_lives_and_named_as_given(repo: Path, tmp_path: Path,
                                                                           lab_catalog: Catalog) -> None:
    link = tmp_path / "inventory"
    link.symlink_to(repo / "inv")

    async def scenario() -> None:
        async with DesiredSource(link, lab_catalog, debounce=0.05) as source:
            stream = source.updates()
            first = await next_generation(stream)
            assert first.commit == head(repo)
            (repo / "inv" / "hosts.yml").write_text(hosts_yml(n1="FLAT"))
            rejected = await next_rejection(stream)
            assert [p.where.rpartition(":")[0] for p in rejected.problems] == [str(link / "hosts.yml")]

    run(scenario())
