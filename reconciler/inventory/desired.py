"""Desired state from an Ansible inventory: every host's ``kraken_<var>`` values, checked against the catalog.

DESIGN §3: the desired value of variable ``v`` on host ``h`` is the Ansible variable ``kraken_v`` exactly as
ansible-core resolves it for ``h`` (inventory plugins, ``group_vars/``, ``host_vars/``, precedence), and a
variable that is not set for a host is not managed there. ansible-core does the resolving
(:mod:`reconciler.inventory.resolver`); this module owns what the values *mean*:

* an enum variable some mutation moves → ``desired`` (the value must be one of its enum, not the unknown value);
* a config-only variable → ``config`` (stringified; restricted to ``values:`` if the variable declares them);
* an enum variable no mutation moves (``busy``) → an error: it is only ever discovered;
* a :data:`RESERVED_SETTINGS` name → a product setting, not state (``kraken_agent`` must be a boolean);
* any other ``kraken_<name>`` → an error, with a did-you-mean.

Every problem of every host is collected and raised at once as one :class:`~reconciler.errors.InventoryError`,
each located at the ``file:line`` that set the value (ansible-core's data tags), so an operator fixes the
inventory in one pass. A value inherited by many hosts is one problem listing those hosts, not one per host.
The reconciler reloads the inventory on every commit: a bad commit raises and leaves the last good state in force.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from reconciler.errors import InventoryError, Problem
from reconciler.inventory._hints import literal_at, suggest_value
from reconciler.model.catalog import Catalog, StateVariable
from reconciler.model.types import BOOLEAN_HINT

if TYPE_CHECKING:
    from reconciler.inventory.resolver import AnsibleInventory

__all__ = ["PREFIX", "RESERVED_SETTINGS", "HostDesired", "InventoryState", "is_reserved", "load_inventory"]

PREFIX: Final = "kraken_"
"""Inventory variables with this prefix are Kraken's: ``kraken_power`` holds the desired value of ``power``."""

RESERVED_SETTINGS: Final[tuple[str, ...]] = (
    "kraken_agent",
    "kraken_bmc_*",
    "kraken_redfish_*",
    "kraken_mac*",
    "kraken_parent*",
    "kraken_key*",
)
"""``kraken_`` names that are product settings, not state variables (exact names, or prefixes ending in ``*``).

* ``kraken_agent`` — ``false`` makes a node agentless (DESIGN §4); must be a boolean.
* ``kraken_bmc_*``, ``kraken_redfish_*`` — how the power roles reach a node's BMC (address, port, credentials).
* ``kraken_mac*`` — the node's boot MAC address(es), used by the PXE role.
* ``kraken_parent*`` — the node's parent in the heartbeat tree (``kraken_parent``, its address and port).
* ``kraken_key*`` — where the node's heartbeat key lives (``kraken_key_file``).

They are not validated here beyond ``kraken_agent``; the roles that read them check them.
"""

_TEMPLATE = re.compile(r"\{\{|\{%")


def is_reserved(name: str) -> bool:
    """Whether ``name`` (with its ``kraken_`` prefix) is a :data:`RESERVED_SETTINGS` setting.

    >>> is_reserved("kraken_bmc_address"), is_reserved("kraken_agent"), is_reserved("kraken_power")
    (True, True, False)
    """
    return name in _RESERVED_EXACT or name.startswith(_RESERVED_PREFIXES)


_RESERVED_EXACT: Final = frozenset(p for p in RESERVED_SETTINGS if not p.endswith("*"))
_RESERVED_PREFIXES: Final = tuple(p.removesuffix("*") for p in RESERVED_SETTINGS if p.endswith("*"))


@dataclass(frozen=True)
class HostDesired:
    """What the inventory declares for one host.

    ``desired`` maps mutated enum variables to values, ``config`` config-only variables to strings;
    ``origins`` says where each of them (and ``agent``) was set (``file:line``, else the group or host);
    ``agent`` is ``kraken_agent`` (None when the inventory does not set it).
    """

    name: str
    desired: dict[str, str] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    agent: bool | None = None


@dataclass(frozen=True)
class InventoryState:
    """The desired state of every host of an inventory, as one validated snapshot.

    ``hosts`` is in inventory order: the order in which the sources first name each host (ansible-core's own
    ``get_hosts`` order is not stable between parses); ``warnings`` are ansible-core's own (skipped keys …).

    :meth:`hostvars` gives a host's full resolved variables (BMC address, connection settings …) for the
    executor; they are computed on demand, not for every host at load time.
    """

    source: Path
    hosts: dict[str, HostDesired]
    warnings: tuple[str, ...] = ()
    ansible: AnsibleInventory | None = field(default=None, repr=False, compare=False)

    def hostvars(self, host: str) -> dict[str, Any]:
        """Everything ``ansible-inventory --host HOST`` shows; ``KeyError`` for a host not in this state."""
        if host not in self.hosts:
            raise KeyError(host)
        return self.ansible.hostvars(host) if self.ansible is not None else {}


def load_inventory(source: Path, catalog: Catalog, *, limit: str | None = None) -> InventoryState:
    """Read ``source`` with ansible-core and validate every host's ``kraken_*`` variables against ``catalog``.

    ``limit`` is an Ansible host pattern (``web*``, ``g1:&g2``, ``!h``, ``~regex``, ``a,b``), applied as
    ``--limit`` is. Raises :class:`InventoryError` listing every problem (a missing or unparseable inventory,
    a limit that matches nothing, and every bad value with the file and line that set it).
    """
    from reconciler.inventory.resolver import AnsibleInventory

    inventory = AnsibleInventory.open(source)
    names = inventory.host_names(limit)
    if limit is not None and not names:
        raise InventoryError([Problem(str(source), f"limit {limit!r}", "the pattern matches no host",
                                      "check it with: ansible-inventory -i INVENTORY --limit PATTERN --graph")])
    rules = _Rules(catalog)
    issues = _Issues()
    hosts: dict[str, HostDesired] = {}
    for name in names:
        host = _read_host(inventory, name, rules, issues)
        if host is not None:
            hosts[name] = host
    if issues:
        raise InventoryError(issues.problems())
    return InventoryState(source=source, hosts=hosts, warnings=inventory.warnings, ansible=inventory)


# -- one host ---------------------------------------------------------------------------------------------


def _read_host(inventory: AnsibleInventory, name: str, rules: _Rules, issues: _Issues) -> HostDesired | None:
    from ansible.errors import AnsibleError

    from reconciler.inventory.resolver import problem_from_ansible

    try:
        variables = inventory.variables(name)
    except AnsibleError as exc:
        problem = problem_from_ansible(str(inventory.source), name, exc)
        issues.add(name, problem.where, problem.message, problem.fix)
        return None
    slots: dict[str, dict[str, Any]] = {"desired": {}, "config": {}, "agent": {}}
    origins: dict[str, str] = {}
    for key in sorted(k for k in variables if isinstance(k, str) and k.startswith(PREFIX)):
        value = variables[key]
        origin = inventory.origin(name, key, value)

        def report(message: str, fix: str, where: str = origin) -> None:
            issues.add(name, where, message, fix)

        accepted = rules.check(key, value, origin, report)
        if accepted is not None:
            slot, var, checked = accepted
            slots[slot][var] = checked
            origins[var] = origin
    return HostDesired(name, desired=slots["desired"], config=slots["config"], origins=origins,
                       agent=slots["agent"].get("agent"))


_Report = Callable[[str, str], None]
"""``report(message, fix)``: record a problem with the value being checked."""


class _Rules:
    """What the catalog allows for each ``kraken_<var>``, precomputed once per load."""

    def __init__(self, catalog: Catalog) -> None:
        self.variables = catalog.variables
        self.moved = set(catalog.mutation_variables)
        self.role_settings = catalog.role_settings
        self.known = [PREFIX + name for name in catalog.variables] + [p.rstrip("*") for p in RESERVED_SETTINGS]
        self.known += sorted(self.role_settings)

    def check(self, key: str, value: Any, origin: str, report: _Report) -> tuple[str, str, Any] | None:
        """``(slot, var, value)`` to store for ``key: value`` (slot ``desired``, ``config`` or ``agent``).

        None for a reserved setting that is not Kraken's to check, or after reporting why the value is wrong.
        """
        if key == "kraken_agent":
            agent = _boolean(value)
            if agent is None:
                report(f"kraken_agent: {value!r} is not a boolean", "write kraken_agent: true or false (unquoted)")
                return None
            return "agent", "agent", agent
        name = key.removeprefix(PREFIX)
        if is_reserved(key) or (key in self.role_settings and name not in self.variables):
            return None  # a product setting, or a parameter of one of the catalog's roles
        variable = self.variables.get(name)
        if variable is None:
            report(f"unknown variable {key} (value {value!r})", self._unknown_fix(key))
        elif variable.is_enum and name not in self.moved:
            report(f"{key}: {name} is only ever discovered; it cannot be desired",
                   f"remove {key}; the node reports {name} itself")
        elif variable.is_enum:
            checked = self._enum_value(variable, key, value, origin, report)
            return ("desired", name, checked) if checked is not None else None
        else:
            text = self._config_value(variable, key, value, report)
            return ("config", name, text) if text is not None else None
        return None

    def _enum_value(self, variable: StateVariable, key: str, value: Any, origin: str, report: _Report) -> str | None:
        choices = variable.values[1:]  # the zero value means unknown: no mutation can reach it (catalog rule)
        listed = ", ".join(choices)
        if isinstance(value, bool):
            literal = literal_at(origin, key)
            guess = suggest_value(literal or "", choices)
            written = f"{literal} was read as" if literal else "got"
            report(f"{key}: {written} the YAML boolean {str(value).lower()}, not a value of {variable.name}",
                   f"{BOOLEAN_HINT}; {variable.name} takes one of {listed}" + (f"; write {guess}" if guess else ""))
        elif not isinstance(value, str):
            report(f"{key}: {_shown(value)} is not a value of {variable.name}", f"use one of {listed}")
        elif _TEMPLATE.search(value):
            report(f"{key}: {value!r} is a template; desired state is read without templating",
                   f"write the value itself, one of {listed}")
        elif value == variable.zero:
            report(f"{key}: {value} is the unknown value of {variable.name}; it cannot be desired",
                   f"remove {key} to leave {variable.name} unmanaged, or use one of {listed}")
        elif value not in variable.values:
            guess = suggest_value(value, choices)
            report(f"{key}: {value!r} is not a value of {variable.name}",
                   (f"did you mean {guess}? " if guess else "") + f"use one of {listed}")
        else:
            return str(value)
        return None

    def _config_value(self, variable: StateVariable, key: str, value: Any, report: _Report) -> str | None:
        allowed = variable.values
        listed = f"one of {', '.join(allowed)}" if allowed else "a name"
        if isinstance(value, bool):
            report(f"{key}: got the YAML boolean {str(value).lower()} where a {variable.name} name belongs",
                   f"{BOOLEAN_HINT}; {variable.name} takes {listed}")
        elif value is None or isinstance(value, Mapping | list | tuple | set):
            report(f"{key}: {_shown(value)} is not a single value", f"write {listed}")
        elif isinstance(value, str) and _TEMPLATE.search(value):
            report(f"{key}: {value!r} is a template; desired state is read without templating",
                   f"write the value itself ({listed})")
        elif allowed and str(value) not in allowed:
            guess = suggest_value(str(value), allowed)
            report(f"{key}: {str(value)!r} is not a value {variable.name} allows",
                   (f"did you mean {guess}? " if guess else "") + f"use {listed}")
        else:
            return str(value)
        return None

    def _unknown_fix(self, key: str) -> str:
        close = difflib.get_close_matches(key, self.known, n=1, cutoff=0.6)
        if close:
            return f"did you mean {close[0]}?"
        names = ", ".join(PREFIX + name for name in self.variables)
        return (f"kraken_ variables are state variables ({names}), reserved settings, or parameters of the "
                "catalog's roles (their defaults/argument_specs); rename other variables")


class _Issues:
    """Problems of all hosts; identical ones (same origin, message and fix) are merged with their hosts listed."""

    def __init__(self) -> None:
        self._hosts: dict[tuple[str, str, str], list[str]] = {}

    def add(self, host: str, where: str, message: str, fix: str) -> None:
        self._hosts.setdefault((where, message, fix), []).append(host)

    def __len__(self) -> int:
        return sum(len(hosts) for hosts in self._hosts.values())

    def problems(self) -> list[Problem]:
        return [Problem(where, _host_list(hosts), message, fix) for (where, message, fix), hosts in self._hosts.items()]


# -- small helpers -----------------------------------------------------------------------------------------


def _host_list(hosts: list[str], shown: int = 5) -> str:
    """``n1`` / ``n1, n2`` / ``n1, n2, n3, n4, n5 and 995 more hosts``.

    >>> _host_list(["a"]), _host_list(["a", "b", "c"], shown=2)
    ('a', 'a, b and 1 more host')
    """
    if len(hosts) <= shown:
        return ", ".join(hosts)
    rest = len(hosts) - shown
    return f"{', '.join(hosts[:shown])} and {rest} more host{'s' if rest != 1 else ''}"


def _boolean(value: Any) -> bool | None:
    """A boolean as Ansible reads one (``true``, ``"yes"``, ``"0"`` …), else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "yes", "on", "1", "y", "t"}:
            return True
        if lowered in {"false", "no", "off", "0", "n", "f"}:
            return False
    return None


def _shown(value: Any) -> str:
    """``3 (int)``: the value and its plain Python type (ansible-core subclasses loaded values to tag them)."""
    if value is None:
        return "an empty value"
    native = next(t for t in type(value).__mro__ if t.__module__ == "builtins")
    return f"{value!r} ({native.__name__})"
