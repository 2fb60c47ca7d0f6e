"""How ansible-core itself sees an inventory: its hosts, host patterns, variables and where each value came from.

This is the only module of ``reconciler.inventory`` that imports ansible-core; importing it costs about half a
second, so :mod:`reconciler.inventory.desired` imports it lazily. Everything here goes through ansible-core's own
machinery, so that desired state means exactly what ``ansible-inventory --host H`` shows and what
``ansible-playbook`` will see:

* parsing: ``InventoryManager`` with the enabled inventory plugins (YAML, INI, scripts, plugin configs,
  directories of sources), and the vars plugins (``group_vars/``, ``host_vars/``);
* host patterns: ``InventoryManager.subset`` / ``get_hosts`` (``--limit`` semantics, ``@file`` included);
* precedence: the layers of ``VariableManager.get_vars`` in the order ``VARIABLE_PRECEDENCE`` configures.

Three deliberate, documented differences from a bare ``VariableManager``:

1. **Speed, not semantics.** ``VariableManager.get_vars`` recomputes every group's variables for every host
   (about 2 ms a host). :meth:`AnsibleInventory.variables` runs the very same layer calls, in the same order,
   but computes the group part once per distinct *set of groups* (hosts of a rack share it). The unit tests
   prove both give identical results over a varied inventory; :meth:`AnsibleInventory.hostvars` keeps the
   plain path for callers that want every magic variable too.
2. **No playbook-adjacent vars.** ansible-core would also read ``group_vars/`` next to the *current directory*
   (its stand-in for a playbook directory). A daemon's working directory is not configuration, and the
   executor's generated plays live in a private directory without ``group_vars/``, so it is left out.
3. **No fact cache.** Facts are what a node reported, not what git declares; they never become desired state.

Two things ansible-core does not do for a long-running process, and this module does:

* ``host_group_vars`` keeps module-level caches of which ``group_vars/`` files exist (and which folders do
  *not*); a reconciler that reloads on every commit would never see a ``group_vars/`` folder created after its
  first load. They are cleared before each parse.
* Warnings (unparseable sources, skipped keys) are captured instead of printed, and a source that no plugin
  could parse is an error: acting on a partial inventory would silently unmanage hosts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ansible import constants as C
from ansible._internal._datatag._tags import Origin
from ansible._internal._display_utils import DeferredWarningContext, format_message
from ansible.errors import AnsibleError
from ansible.inventory.group import Group
from ansible.inventory.helpers import get_group_vars, sort_groups
from ansible.inventory.host import Host
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.vars import host_group_vars
from ansible.utils.vars import combine_vars
from ansible.vars.manager import VariableManager
from ansible.vars.plugins import get_vars_from_inventory_sources

from reconciler.errors import InventoryError, Problem

__all__ = ["AnsibleInventory", "Layer", "describe_ansible_error", "problem_from_ansible"]

_STAGE = "all"
"""Vars-plugin stage, as ``ansible-inventory`` uses: plugins configured for either stage run."""

_GROUP_ENTRIES = frozenset({"all_inventory", "groups_inventory", "all_plugins_inventory", "all_plugins_play",
                            "groups_plugins_inventory", "groups_plugins_play"})
"""``VARIABLE_PRECEDENCE`` entries the fast path implements (all but ansible's own ``plugins_by_groups``)."""

_PLAY_ENTRIES = frozenset({"all_plugins_play", "groups_plugins_play"})
"""Entries that read playbook-adjacent vars: empty here (no playbook directory, see the module docstring)."""


@dataclass(frozen=True)
class Layer:
    """One source of variables in precedence order, for finding where a value was defined."""

    description: str
    variables: dict[str, Any]


class _FreshLoader(DataLoader):
    """A ``DataLoader`` that does not deep-copy what it has just parsed and nobody else holds.

    ``load_from_file(cache='none')`` parses the file anew and then deep-copies the result "for safety" — a
    copy of an object no one else references, which costs longer than the parse itself (0.35 s for a
    1,000-host YAML inventory, parsed twice by the ``auto`` and ``yaml`` plugins). Cached loads keep
    ansible's copy-on-read, so the plugins cannot alter the cache.
    """

    def load_from_file(self, file_name: str, cache: str = "all", unsafe: bool = False, json_only: bool = False,
                       trusted_as_template: bool = False) -> Any:
        if cache == "none":
            unsafe = True
        return super().load_from_file(file_name, cache=cache, unsafe=unsafe, json_only=json_only,
                                      trusted_as_template=trusted_as_template)


class _RecordingManager(InventoryManager):
    """An ``InventoryManager`` that records which sources no plugin could parse, with the warnings they caused."""

    def __init__(self, loader: DataLoader, sources: list[str], warnings: DeferredWarningContext) -> None:
        self.unparsed: list[tuple[str, list[str]]] = []
        self._warning_context = warnings
        super().__init__(loader=loader, sources=sources)

    def parse_source(self, source: str, cache: bool = False) -> bool:
        before = len(self._warning_context.get_warnings())
        parsed = bool(super().parse_source(source, cache=cache))
        if not parsed and not Path(source).is_dir():
            captured = self._warning_context.get_warnings()[before:]
            self.unparsed.append((source, [_one_line(format_message(w, False)) for w in captured]))
        return parsed


class AnsibleInventory:
    """One parse of an inventory by ansible-core; resolves variables per host, lazily and cached per group set.

    Open it with :meth:`open`. Not thread-safe: use one instance from one thread at a time.
    """

    def __init__(self, source: Path, loader: DataLoader, manager: InventoryManager, warnings: Sequence[str]) -> None:
        self.source = source
        self.warnings: tuple[str, ...] = tuple(warnings)
        self._loader = loader
        self._manager = manager
        self._variable_manager = VariableManager(loader=loader, inventory=manager)
        self._variable_manager.safe_basedir = False  # no playbook-adjacent vars (module docstring, point 2)
        self._group_parts: dict[tuple[str, ...], dict[str, Any]] = {}
        precedence = [entry for entry in C.VARIABLE_PRECEDENCE if entry in VariableManager._ALLOWED]
        self._precedence: tuple[str, ...] = tuple(precedence)
        self._fast = all(entry in _GROUP_ENTRIES for entry in precedence)

    @classmethod
    def open(cls, source: Path) -> AnsibleInventory:
        """Parse ``source`` (a file or a folder of sources); :class:`InventoryError` if it is missing or unparseable."""
        if not source.exists():
            raise InventoryError([Problem(str(source), "", "the inventory does not exist",
                                          "pass the path of an inventory file or folder with -i")])
        _forget_vars_plugin_caches()
        loader = _FreshLoader()
        with _captured_warnings() as context:
            try:
                manager = _RecordingManager(loader, [str(source.absolute())], context)
            except AnsibleError as exc:
                raise InventoryError([problem_from_ansible(str(source), "", exc)]) from exc
            warnings = [_one_line(format_message(w, False)) for w in context.get_warnings()]
        if not manager.unparsed and not manager._inventory.processed_sources:
            raise InventoryError([Problem(str(source), "", "holds no inventory ansible-core can parse",
                                          "add an inventory file (hosts.yml) to the folder")])
        if manager.unparsed:
            raise InventoryError([
                Problem(path, "", "ansible-core could not parse it as an inventory: " + " | ".join(messages),
                        "fix the syntax; ansible-inventory -i PATH --list shows ansible's own view")
                for path, messages in manager.unparsed
            ])
        return cls(source, loader, manager, warnings)

    # -- hosts ----------------------------------------------------------------------------------------

    def host_names(self, limit: str | None = None) -> list[str]:
        """Hosts in inventory order, restricted by an Ansible host pattern as ``--limit`` would.

        Inventory order is the order in which the sources first name each host (files of a folder in name
        order). ``InventoryManager.get_hosts`` decides *which* hosts match, but not their order: it walks
        groups through sets, so its order changes from one parse to the next when groups nest.
        """
        with _captured_warnings():
            try:
                self._manager.subset(limit or None)
                hosts = self._manager.get_hosts("all")
            except AnsibleError as exc:
                raise InventoryError([problem_from_ansible(str(self.source), f"limit {limit!r}", exc)]) from exc
            finally:
                self._manager.subset(None)
        selected = {host.name for host in hosts if not host.implicit}
        return [name for name in self._manager.hosts if name in selected]

    # -- variables --------------------------------------------------------------------------------------

    def variables(self, name: str) -> dict[str, Any]:
        """The host's inventory variables with ansible's precedence (no magic variables, no facts)."""
        host = self._host(name)
        with _captured_warnings():
            if not self._fast:
                plain = self._variable_manager.get_vars(host=host, include_hostvars=False, stage=_STAGE)
                return {k: v for k, v in plain.items() if k not in _magic_names(self._variable_manager, host)}
            merged = self._group_part(host)
            for layer in self._host_layers(host):
                merged = _combine(merged, layer.variables)
            return merged

    def hostvars(self, name: str) -> dict[str, Any]:
        """Everything ``ansible-inventory --host NAME`` shows, from ansible's own ``VariableManager``."""
        host = self._host(name)
        with _captured_warnings():
            found = self._variable_manager.get_vars(host=host, include_hostvars=False, stage=_STAGE)
        for internal in C.INTERNAL_STATIC_VARS:
            found.pop(internal, None)
        return found

    def layers(self, name: str) -> list[Layer]:
        """The sources of the host's variables, lowest precedence first, one per group and vars plugin."""
        host = self._host(name)
        all_group, groups = self._groups_of(host)
        per_entry: dict[str, Callable[[], list[Layer]]] = {
            "all_inventory": lambda: [Layer("vars of group 'all'", all_group.get_vars())],
            "groups_inventory": lambda: [Layer(f"vars of group '{g.name}'", g.get_vars()) for g in groups],
            "all_plugins_inventory": lambda: [self._plugin_layer(all_group)],
            "groups_plugins_inventory": lambda: [self._plugin_layer(g) for g in groups],
        }
        found: list[Layer] = []
        with _captured_warnings():
            for entry in self._precedence:
                found.extend(per_entry.get(entry, list)())
            found.extend(self._host_layers(host))
        return found

    def origin(self, name: str, var: str, value: Any) -> str:
        """Where the host's ``value`` of ``var`` was written: ``file:line``, else the group or host that set it.

        Strings and numbers loaded from YAML carry ansible-core's ``Origin`` tag; booleans and ``None`` cannot
        be tagged, so for them the highest-precedence layer that defines ``var`` is found and the tag of its
        *key* is used (the key of the merged dict may come from a lower layer, so it cannot be used directly).
        """
        tag = Origin.get_tag(value) if value is not None else None
        if tag is not None and tag.path:
            return _format_origin(tag)
        for layer in reversed(self.layers(name)):
            if var in layer.variables:
                key = next(k for k in layer.variables if k == var)
                key_tag = Origin.get_tag(key)
                if key_tag is not None and key_tag.path:
                    return _format_origin(key_tag)
                return str(tag) if tag is not None else layer.description
        return str(tag) if tag is not None else f"host '{name}'"

    # -- internals ----------------------------------------------------------------------------------------

    def _host(self, name: str) -> Host:
        host = self._manager.get_host(name)
        if host is None:
            raise KeyError(name)
        return host

    def _groups_of(self, host: Host) -> tuple[Group, list[Group]]:
        all_group = self._manager.groups["all"]
        return all_group, sort_groups([g for g in host.get_groups() if g.name != "all"])

    def _group_part(self, host: Host) -> dict[str, Any]:
        """The group entries of ``VARIABLE_PRECEDENCE`` merged exactly as ``get_vars`` does, once per group set."""
        all_group, groups = self._groups_of(host)
        key = tuple(g.name for g in groups)
        cached = self._group_parts.get(key)
        if cached is None:
            entries: dict[str, Callable[[], dict[str, Any]]] = {
                "all_inventory": all_group.get_vars,
                "groups_inventory": lambda: get_group_vars(groups),
                "all_plugins_inventory": lambda: self._plugins([all_group]),
                "groups_plugins_inventory": lambda: self._plugins(groups),
            }
            cached = {}
            for entry in self._precedence:
                if entry not in _PLAY_ENTRIES:
                    cached = _combine(cached, entries[entry]())
            self._group_parts[key] = cached
        return cached

    def _host_layers(self, host: Host) -> list[Layer]:
        return [Layer(f"vars of host '{host.name}'", host.get_vars()), self._plugin_layer(host)]

    def _plugin_layer(self, entity: Host | Group) -> Layer:
        kind = "host" if isinstance(entity, Host) else "group"
        return Layer(f"vars plugins (host_vars/, group_vars/) for {kind} '{entity.name}'", self._plugins([entity]))

    def _plugins(self, entities: list[Any]) -> dict[str, Any]:
        return get_vars_from_inventory_sources(self._loader, self._manager._sources, entities, _STAGE)


def _combine(into: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``VariableManager``'s ``_combine_and_track``: skip empty layers, else ``combine_vars`` (a new dict)."""
    return into if new == {} else combine_vars(into, new)


def _magic_names(variable_manager: VariableManager, host: Host) -> set[str]:
    magic = variable_manager._get_magic_variables(play=None, host=host, task=None, include_hostvars=False,
                                                  _hosts=None, _hosts_all=None)
    return set(magic) | {"ansible_facts"}


def _forget_vars_plugin_caches() -> None:
    """Clear ``host_group_vars``' process-wide caches of found and missing ``group_vars``/``host_vars`` paths."""
    host_group_vars.FOUND.clear()
    host_group_vars.NAK.clear()
    host_group_vars.CANONICAL_PATHS.clear()


@contextlib.contextmanager
def _captured_warnings() -> Iterator[DeferredWarningContext]:
    """Collect ansible's warnings instead of letting its ``Display`` print them (library code never prints)."""
    with DeferredWarningContext(variables={}) as context:
        yield context


def _format_origin(tag: Origin) -> str:
    return f"{tag.path}:{tag.line_num}" if tag.line_num else str(tag.path)


def _one_line(text: str) -> str:
    """ansible's multi-line event text as one line: the message and any ``Origin:`` lines."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    kept = [lines[0]] + [line for line in lines[1:] if line.startswith("Origin: ") and line not in lines[:1]]
    return " ".join(dict.fromkeys(kept))


def describe_ansible_error(exc: BaseException) -> tuple[str, str]:
    """``(message, origin)`` of an ansible-core error, following its cause chain for the file it names."""
    messages: list[str] = []
    origin = ""
    current: BaseException | None = exc
    while current is not None:
        text = str(getattr(current, "message", "") or current).strip().splitlines()
        if text and text[0] not in messages and isinstance(current, AnsibleError):
            messages.append(text[0])
        obj = getattr(current, "obj", None)
        tag = obj if isinstance(obj, Origin) else (Origin.get_tag(obj) if obj is not None else None)
        if not origin and tag is not None and tag.path:
            origin = _format_origin(tag)
        current = current.__cause__ or current.__context__
    return "; ".join(messages) or type(exc).__name__, origin


def problem_from_ansible(where: str, key: str, exc: BaseException) -> Problem:
    """A :class:`Problem` for an ansible-core error, located at the file it names (else at ``where``)."""
    message, origin = describe_ansible_error(exc)
    return Problem(origin or where, key, message, "fix what ansible-core reports; "
                   "ansible-inventory -i INVENTORY --list shows its own view")
