"""``kraken …``: the command line (DESIGN §5). The only place that prints and chooses exit codes.

Exit codes: 0 success, 2 user error (bad input: the message names the file, host and field),
1 internal failure. Every command that prints data has ``--format json``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler.errors import CatalogError, InventoryError, KrakenError, ObservedStateError, Problem, UserError

__all__ = ["main"]

_F = TypeVar("_F", bound=Callable[..., Any])

log = logging.getLogger("kraken")


def _handle_errors(func: _F) -> _F:
    """Map our exceptions to exit codes: 2 for bad input, 1 for anything unexpected."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except KrakenError as exc:
            click.echo(f"internal error: {exc}", err=True)
            sys.exit(1)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # an internal failure must still end with exit code 1 and a message
            log.debug("internal error", exc_info=True)
            click.echo(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


_collections_option = click.option(
    "-c", "--collections", "collection_paths", multiple=True, type=click.Path(path_type=Path),
    help="An Ansible collections path (holding ansible_collections/) or one collection's source folder; "
         "repeatable. Default: the collections Ansible itself finds (ANSIBLE_COLLECTIONS_PATH, ansible.cfg).",
)
_observed_option = click.option(
    "--observed", type=click.Path(path_type=Path, dir_okay=False),
    help="YAML {host: {var: VALUE}} of discovered values; absent hosts or variables are unknown.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Log debug events and show tracebacks of internal errors.")
@click.version_option(package_name="kraken-ansible")
def main(debug: bool) -> None:
    """Kraken for Ansible: a continuous, declarative reconciler for fleets of machines."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


@main.command()
@_collections_option
@click.option("-i", "--inventory", type=click.Path(path_type=Path), help="Also check its kraken_* variables.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_handle_errors
def validate(collection_paths: tuple[Path, ...], inventory: Path | None, fmt: str) -> None:
    """Load the catalog (and inventory) and report every problem, not just the first."""
    from reconciler.graph.checks import load_graph
    from reconciler.model.reports import ProblemReport, ValidationReport

    problems: list[Problem] = []
    report = ValidationReport(ok=False)
    try:
        catalog, graph = load_graph(list(collection_paths) or None)
    except CatalogError as exc:
        problems.extend(exc.problems)
    else:
        report.variables, report.mutations = len(catalog.variables), len(catalog.mutations)
        report.probes = len(catalog.probes)
        report.graph_states, report.graph_edges = graph.graph.number_of_nodes(), graph.graph.number_of_edges()
        if inventory is not None:
            from reconciler.inventory.desired import load_inventory

            try:
                report.hosts = len(load_inventory(inventory, catalog).hosts)
            except InventoryError as exc:
                problems.extend(exc.problems)
    report.ok = not problems
    report.problems = [ProblemReport(where=p.where, key=p.key, message=p.message, fix=p.fix) for p in problems]
    if fmt == "json":
        click.echo(report.model_dump_json(indent=2))
    elif report.ok:
        hosts = f"; inventory: {report.hosts} hosts" if report.hosts is not None else ""
        click.echo(f"ok: {report.variables} variables, {report.mutations} mutations, {report.probes} probes; graph: "
                   f"{report.graph_states} states, {report.graph_edges} edges{hosts}")
    else:
        click.echo(f"{len(problems)} problem{'s' if len(problems) != 1 else ''}:", err=True)
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
    if not report.ok:
        sys.exit(2)


@main.command()
@_collections_option
@click.option("--format", "fmt", type=click.Choice(["json", "dot", "svg", "png"]), default="dot", show_default=True)
@click.option("-i", "--inventory", type=click.Path(path_type=Path), help="Inventory of --host.")
@click.option("--host", help="Highlight this host's path (needs -i).")
@_observed_option
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write here, not stdout.")
@_handle_errors
def graph(collection_paths: tuple[Path, ...], fmt: str, inventory: Path | None, host: str | None,
          observed: Path | None, output: Path | None) -> None:
    """The epistemic state graph; with -i and --host, that host's current path highlighted."""
    from reconciler.graph.checks import load_graph
    from reconciler.graph.export import Highlight, render
    from reconciler.graph.planner import Planner

    catalog, epistemic = load_graph(list(collection_paths) or None)
    highlight = None
    if host is not None or inventory is not None:
        if host is None or inventory is None:
            raise click.UsageError("--host and -i/--inventory go together")
        hosts = _desired_hosts(inventory, catalog, limit=None)
        if host not in hosts:
            raise UserError(f"{inventory}: host {host!r} is not in the inventory")
        planner = Planner(epistemic)
        discovered = _observed(observed, catalog).get(host, {})
        desired_host = hosts[host]
        plan = planner.plan(desired=desired_host.desired, discovered=discovered, config=desired_host.config)
        highlight = Highlight(host, planner.path_states(plan), [s.mutation for s in plan.steps])
    data = render(epistemic, fmt, highlight)
    if output is not None:
        output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


@main.command()
@click.option("-i", "--inventory", type=click.Path(path_type=Path), required=True, help="The Ansible inventory.")
@_collections_option
@_observed_option
@click.option("--limit", "limit", help="Ansible host pattern (e.g. 'compute:!n03').")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_handle_errors
def plan(inventory: Path, collection_paths: tuple[Path, ...], observed: Path | None, limit: str | None,
         fmt: str) -> None:
    """Dry run: the chain of mutations each host would run, or why none exists."""
    from reconciler.graph.checks import load_graph
    from reconciler.graph.planner import Planner
    from reconciler.inventory.desired import load_inventory
    from reconciler.model.reports import HostPlan, PlanReport

    catalog, epistemic = load_graph(list(collection_paths) or None)
    state = load_inventory(inventory, catalog, limit=limit)
    hosts = state.hosts
    discovered = _observed(observed, catalog)
    everyone = set(state.ansible.host_names()) if state.ansible is not None else set(hosts)
    unknown = sorted(set(discovered) - everyone)
    if unknown:
        raise ObservedStateError([Problem(str(observed), h, "host is not in the inventory",
                                          "remove it or add it to the inventory") for h in unknown])
    planner = Planner(epistemic)
    report = PlanReport(hosts={})
    for name, host in hosts.items():
        result = planner.plan(desired=host.desired, discovered=discovered.get(name, {}), config=host.config)
        report.hosts[name] = HostPlan.model_validate(result.to_json())
    if fmt == "json":
        click.echo(report.model_dump_json(indent=2))
    else:
        _print_plan_table(report)


@main.command()
@click.option("-i", "--inventory", type=click.Path(path_type=Path), help="The inventory folder (a git work tree).")
@_collections_option
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False), help="SQLite state and run records.")
@click.option("--listen", help="HOST:PORT of the HTTP API (default 127.0.0.1:3141).")
@click.option("--token-file", type=click.Path(path_type=Path, dir_okay=False), help="0600 file with the API token.")
@click.option("--sync-listen", help="HOST:PORT for UDP heartbeats (default 127.0.0.1:31415).")
@click.option("--secret-file", type=click.Path(path_type=Path, dir_okay=False), help="0600 heartbeat secret.")
@click.option("--hello", type=float, help="Heartbeat interval in seconds (default 10).")
@click.option("--dead", type=float, help="Seconds of silence before a node is dead (default 40).")
@click.option("--follow-branch", help="Apply only what is committed on this branch.")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              help="YAML settings file; flags override it.")
@click.option("--log-format", type=click.Choice(["keyvalue", "json"]), help="One event per line, as key=value or JSON.")
@click.option("--allow-remote-api", is_flag=True, default=None,
              help="Allow --listen on a non-loopback address (writes still need the token).")
@_handle_errors
def serve(inventory: Path | None, collection_paths: tuple[Path, ...], state_dir: Path | None, listen: str | None,
          token_file: Path | None, sync_listen: str | None, secret_file: Path | None, hello: float | None,
          dead: float | None, follow_branch: str | None, config_file: Path | None, log_format: str | None,
          allow_remote_api: bool | None) -> None:
    """The reconciler: watch the inventory and converge every host, forever."""
    import asyncio

    from reconciler.daemon.logs import configure_logging
    from reconciler.daemon.serve import run_serve
    from reconciler.engine.settings import load_settings

    settings = load_settings(config_file, {
        "inventory": inventory, "collections": list(collection_paths) or None, "state_dir": state_dir,
        "api.listen": listen, "api.token_file": token_file, "sync.listen": sync_listen,
        "sync.secret_file": secret_file, "sync.hello": hello, "sync.dead": dead, "follow_branch": follow_branch,
        "log_format": log_format, "api.allow_remote": allow_remote_api,
    })
    configure_logging(fmt=settings.log_format)
    asyncio.run(run_serve(settings))


@main.command()
@click.option("--nodes", type=int, default=6, show_default=True, help="Simulated nodes (half IPMI, half Redfish).")
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False),
              help="Where the cluster lives (default: a new temporary folder, removed afterwards).")
@_collections_option
@click.option("--listen", default="127.0.0.1:3141", show_default=True, help="HOST:PORT of the reconciler's API.")
@click.option("--timeout", type=float, default=600, show_default=True, help="Give up after this many seconds.")
@click.option("--fault", "faults", multiple=True, metavar="NODE:KNOB",
              help="Set a simulator fault knob at the start, e.g. n02:power_stuck (repeatable).")
@click.option("--roll", "roll_to", metavar="IMAGE",
              help="Once converged, roll every node to this image (an inventory edit starts it), e.g. demo-2026.12.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_handle_errors
def demo(nodes: int, workdir: Path | None, collection_paths: tuple[Path, ...], listen: str, timeout: float,
         faults: tuple[str, ...], roll_to: str | None, fmt: str) -> None:
    """A simulated cluster converging end to end on this machine: BMCs, PXE boot, images, the reconciler."""
    import asyncio
    import tempfile

    from reconciler.daemon.demo import run_demo
    from reconciler.daemon.logs import configure_logging

    collections = list(collection_paths) or [_repository_collections()]
    with tempfile.TemporaryDirectory(prefix="kraken-demo-") as scratch:
        root = workdir or Path(scratch)
        configure_logging(level=logging.WARNING)
        progress = _DemoProgress(enabled=fmt == "text")
        with progress:
            result = asyncio.run(run_demo(nodes=nodes, workdir=root, collections=collections, listen=listen,
                                          timeout=timeout, faults=faults, roll_to=roll_to,
                                          on_progress=progress.update))
    if fmt == "json":
        click.echo(json.dumps({"converged": result.converged, "seconds": round(result.seconds, 1),
                               "steps": result.steps, "failures": result.failures, "timeouts": result.timeouts,
                               "rolled": result.rolled, "roll_seconds": round(result.roll_seconds, 1),
                               "nodes": [n.model_dump(mode="json") for n in result.nodes]}, indent=2))
    else:
        verdict = "converged" if result.converged else f"NOT converged after {timeout:g}s"
        click.echo(f"{len(result.nodes)} nodes {verdict} in {result.seconds:.1f}s: {result.steps} steps, "
                   f"{result.failures} failed attempts, {result.timeouts} timeouts (self-healed)")
        if result.rolled is not None:
            click.echo(f"rolling update to {roll_to}: " + (f"every node runs it after {result.roll_seconds:.1f}s"
                                                            if result.rolled else "NOT finished in time"))
    if not result.converged or result.rolled is False:
        sys.exit(1)


def _repository_collections() -> Path:
    """The kraken.core and kraken.layercake sources next to the package (a checkout of this repository)."""
    here = Path(__file__).resolve().parent.parent / "collections"
    if not (here / "kraken" / "core" / "galaxy.yml").is_file():
        raise UserError("kraken demo needs the collections' sources: run it from a checkout, or pass -c PATH")
    return here


class _DemoProgress:
    """A live table of the simulated nodes while the demo runs (nothing when printing JSON)."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._live: Any = None

    def __enter__(self) -> _DemoProgress:
        if self.enabled:
            from rich.live import Live

            self._live = Live(refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def update(self, nodes: Sequence[Any], seconds: float) -> None:
        if self._live is None:
            return
        from rich.table import Table

        table = Table(title=f"kraken demo - {seconds:.0f}s")
        for column in ("node", "status", "power", "pxe", "runstate", "image", "next / reason"):
            table.add_column(column, overflow="fold")
        for node in nodes:
            found = node.discovered
            detail = node.running or node.reason or (node.chain[0].mutation if node.chain else "")
            table.add_row(node.name, node.status.value, found.get("power", "-"), found.get("pxe", "-"),
                          found.get("runstate", "-"), found.get("image", "-"), detail)
        self._live.update(table)


_api_option = click.option("--api", "api_url", default="http://127.0.0.1:3141", show_default=True,
                           envvar="KRAKEN_API", help="Base URL of the reconciler's API.")
_token_option = click.option("--token-file", type=click.Path(path_type=Path, dir_okay=False),
                             envvar="KRAKEN_TOKEN_FILE", help="0600 file with the API token (needed for freeze/thaw).")


def _client(api_url: str, token_file: Path | None) -> Any:
    from reconciler.api.auth import read_token_file
    from reconciler.api.client import ApiClient

    return ApiClient(api_url, token=read_token_file(token_file) if token_file else None)


@main.command()
@_api_option
@click.argument("host", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_handle_errors
def status(api_url: str, host: str | None, fmt: str) -> None:
    """Every node's status (or one node's), from a running reconciler."""
    client = _client(api_url, None)
    nodes = [client.node(host)] if host else client.nodes()
    if fmt == "json":
        click.echo(json.dumps({"nodes": [n.model_dump(mode="json") for n in nodes]}, indent=2))
        return
    _print_status_table(nodes)


@main.command()
@_api_option
@click.option("-f", "--follow", is_flag=True, help="Keep printing events as they happen.")
@click.option("--host", help="Only events about this host.")
@click.option("--after", type=int, default=0, help="Only events after this id.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_handle_errors
def events(api_url: str, follow: bool, host: str | None, after: int, fmt: str) -> None:
    """The reconciler's event journal; -f follows it live."""
    client = _client(api_url, None)
    stream = client.follow_events(after=after, host=host) if follow else client.events(after=after, host=host)
    for event in stream:
        if fmt == "json":
            click.echo(event.model_dump_json())
        else:
            import datetime

            when = datetime.datetime.fromtimestamp(event.time).isoformat(timespec="seconds")
            about = " ".join(x for x in (event.host, event.mutation) if x)
            click.echo(f"{event.id:>7} {when} {event.kind.value:<18} {about} {event.message}".rstrip())


def _freeze_command(name: str, verb: str, doc: str) -> click.Command:
    """``kraken freeze`` and ``kraken thaw``: the same request to two routes."""

    @main.command(name=name, help=doc)
    @_api_option
    @_token_option
    @click.argument("pattern", required=False)
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
    @_handle_errors
    def command(api_url: str, token_file: Path | None, pattern: str | None, fmt: str) -> None:
        client = _client(api_url, token_file)
        _print_freeze(client.freeze(pattern) if name == "freeze" else client.thaw(pattern), verb, fmt)

    return command


freeze = _freeze_command("freeze", "froze", "Stop running steps on hosts matching PATTERN (all hosts if omitted); "
                         "discoveries are still recorded.")
thaw = _freeze_command("thaw", "thawed", "Let hosts matching PATTERN (all if omitted) converge again.")


@main.group()
def key() -> None:
    """Heartbeat keys: each node's key is derived from the reconciler's secret and never sent."""


@key.command()
@click.argument("host")
@click.option("--secret-file", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The reconciler's heartbeat secret (a 0600 file, as `kraken serve --secret-file` reads).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_handle_errors
def derive(host: str, secret_file: Path, fmt: str) -> None:
    """Print HOST's heartbeat key (hex), for its agent's --key-file (install it 0600, on that node only)."""
    from reconciler.sync.keys import derive_node_key, read_secret

    try:
        node_key = derive_node_key(read_secret(secret_file), host).hex()
    except ValueError as exc:
        raise UserError(f"host {exc}; use the node's name as the inventory spells it") from None
    click.echo(json.dumps({"host": host, "key": node_key}) if fmt == "json" else node_key)


def _print_freeze(result: Any, verb: str, fmt: str) -> None:
    if fmt == "json":
        click.echo(result.model_dump_json(indent=2))
    else:
        click.echo(f"{verb} {len(result.hosts)} host(s)" + (f": {', '.join(result.hosts)}" if result.hosts else ""))


def _print_status_table(nodes: Sequence[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    colours = {"converged": "green", "in_progress": "cyan", "blocked": "red", "failed": "bold red",
               "frozen": "blue", "unmanaged": "dim"}
    table = Table(title="kraken status")
    for column in ("host", "status", "desired", "discovered", "next / reason"):
        table.add_column(column, overflow="fold")
    counts: dict[str, int] = {}
    for node in nodes:
        status_name = node.status.value
        counts[status_name] = counts.get(status_name, 0) + 1
        detail = node.reason or (node.chain[0].mutation if node.chain else "")
        table.add_row(node.name, f"[{colours.get(status_name, 'white')}]{status_name}[/]",
                      " ".join(f"{k}={v}" for k, v in node.desired.items()),
                      " ".join(f"{k}={v}" for k, v in node.discovered.items()), detail)
    console = Console()
    console.print(table)
    console.print(", ".join(f"{count} {name}" for name, count in sorted(counts.items())) or "no hosts")


def _desired_hosts(inventory: Path, catalog: Any, *, limit: str | None) -> dict[str, Any]:
    from reconciler.inventory.desired import load_inventory

    return load_inventory(inventory, catalog, limit=limit).hosts


def _observed(path: Path | None, catalog: Any) -> dict[str, dict[str, str]]:
    if path is None:
        return {}
    from reconciler.inventory.observed import load_observed

    return load_observed(path, catalog)


def _print_plan_table(report: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    colours = {"converged": "green", "planned": "cyan", "blocked": "red", "unmanaged": "dim"}
    table = Table(title="kraken plan", show_lines=True)
    table.add_column("host", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("steps / reason")
    counts: dict[str, int] = {}
    for name, host in report.hosts.items():
        status = host.status.value
        counts[status] = counts.get(status, 0) + 1
        if host.steps:
            detail = "\n".join(
                f"{n}. {step.mutation}  ({', '.join(f'{v} {a}→{b}' for v, (a, b) in step.mutates.items())})"
                for n, step in enumerate(host.steps, 1)
            )
        else:
            detail = host.reason
        table.add_row(name, f"[{colours[status]}]{status}[/]", detail)
    console = Console()
    console.print(table)
    console.print(", ".join(f"{count} {status}" for status, count in counts.items()) or "no hosts")


if __name__ == "__main__":  # pragma: no cover
    main()
