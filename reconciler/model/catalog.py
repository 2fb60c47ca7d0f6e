"""The mutation catalog: every state variable and mutation that the installed collections declare.

:meth:`Catalog.load` reads each collection's ``meta/kraken.yml`` (state variables) and each role's
``meta/kraken.yml`` (mutations, probes, discoveries), checks their shape with the pydantic models of
:mod:`reconciler.model.metadata` and their meaning with :mod:`reconciler.model.validation`, and
raises one :class:`~reconciler.errors.CatalogError` listing *every* problem — an author fixing a
collection should not have to rerun the validator once per typo.

>>> from pathlib import Path
>>> catalog = Catalog.load([Path("collections")])
>>> catalog.mutations["kraken.layercake.power_ipmi:power_on"].mutates["power"]
('POWER_OFF', 'POWER_ON')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from reconciler.errors import CatalogError, Problem
from reconciler.model.metadata import CollectionMeta, MutationSpec, ProbeSpec, RoleMeta, StateVariableSpec
from reconciler.model.sources import CollectionSource, ansible_default_paths, find_collections
from reconciler.model.types import BOOLEAN_HINT, Context, MutationId
from reconciler.model.yamlfile import FAST_LOADER, YamlDocument, format_key_path, load_yaml

__all__ = ["Catalog", "Mutation", "Probe", "Role", "StateVariable", "Step"]

_Model = TypeVar("_Model", bound=BaseModel)


@dataclass(frozen=True)
class StateVariable:
    """A declared state variable and where it was declared."""

    name: str
    spec: StateVariableSpec
    collection: str
    where: str

    @property
    def is_enum(self) -> bool:
        return self.spec.is_enum

    @property
    def values(self) -> list[str]:
        return list(self.spec.values or [])

    @property
    def zero(self) -> str:
        return self.spec.zero


@dataclass(frozen=True)
class Mutation:
    """A mutation with names resolved: what the graph, planner and executor work with."""

    id: MutationId
    role: str  # fully qualified role name, e.g. kraken.layercake.power_ipmi
    name: str  # entry point
    tasks_file: Path
    where: str  # file:line of its declaration
    mutates: Mapping[str, tuple[str, str]]
    requires: Mapping[str, str]
    excludes: Mapping[str, str]
    context: Context
    timeout: float
    failto: Mapping[str, str]
    cost: float
    disruptive: bool
    description: str = ""

    @classmethod
    def from_spec(cls, spec: MutationSpec, *, role: str, role_dir: Path, where: str) -> Mutation:
        """Resolve one ``mutations:`` entry of role ``role`` (fully qualified) found in ``role_dir``."""
        return cls(
            id=MutationId(f"{role}:{spec.name}"),
            role=role,
            name=spec.name,
            tasks_file=role_dir / "tasks" / spec.tasks_file,
            where=where,
            mutates={var: (t.from_, t.to) for var, t in spec.mutates.items()},
            requires=dict(spec.requires),
            excludes=dict(spec.excludes),
            context=spec.context,
            timeout=spec.timeout,
            failto=dict(spec.failto),
            cost=spec.cost,
            disruptive=spec.disruptive,
            description=spec.description,
        )

    def summary(self) -> str:
        """``power POWER_OFF→POWER_ON`` for logs and tables."""
        return ", ".join(f"{var} {a}→{b}" for var, (a, b) in self.mutates.items())


@dataclass(frozen=True)
class Probe:
    """A report-only entry point: it observes and reports, changes nothing, and may run at any time.

    Not in the graph. The engine runs the probes of agentless nodes on a schedule, when a node's config
    changes (what a probe reports may depend on it: ``kraken_image_name``) and when ``requires`` starts to
    hold; that is how drift is noticed without an agent.
    """

    id: MutationId
    role: str
    name: str
    tasks_file: Path
    where: str
    context: Context
    timeout: float
    requires: Mapping[str, str]  # what must be known to hold for the probe to mean anything
    reports: frozenset[str]  # the variables its role may report

    def summary(self) -> str:
        """``observes busy`` for logs and tables."""
        return "observes " + ", ".join(sorted(self.reports))


Step = Mutation | Probe
"""What the executor runs: a mutation's or a probe's entry point."""


@dataclass(frozen=True)
class Role:
    """A role that declares mutations or probes, and the variables it may report."""

    fqcn: str
    path: Path
    meta_file: Path
    discovers: frozenset[str]
    mutation_ids: tuple[MutationId, ...] = ()
    probe_ids: tuple[MutationId, ...] = ()


@dataclass
class Catalog:
    """Variables, mutations and roles of a set of collections, validated as a whole."""

    variables: dict[str, StateVariable] = field(default_factory=dict)
    mutations: dict[MutationId, Mutation] = field(default_factory=dict)
    probes: dict[MutationId, Probe] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    collections: list[CollectionSource] = field(default_factory=list)
    role_settings: frozenset[str] = frozenset()
    """Variables the collections' roles take as parameters (``defaults/main.yml``, ``meta/argument_specs.yml``):
    an inventory may set them (``kraken_pxe_boot_wait``) without being mistaken for a misspelt state variable."""

    @classmethod
    def load(cls, paths: Sequence[Path] | None = None) -> Catalog:
        """Load and validate the collections under ``paths`` (Ansible's configured paths if None).

        Raises :class:`CatalogError` with every problem found.
        """
        from reconciler.model.validation import validate_catalog

        search = list(paths) if paths else ansible_default_paths()
        sources, problems = find_collections(search)
        catalog = cls(collections=sources)
        for source in sources:  # all variables first, so role problems can name their values
            catalog._load_state(source, problems)
        role_metas: list[tuple[str, Path, YamlDocument, RoleMeta]] = []
        for source in sources:
            for role_dir in sorted((source.root / "roles").glob("*/")):
                meta_path = role_dir / "meta" / "kraken.yml"
                if meta_path.is_file():
                    parsed = _parse(meta_path, RoleMeta, problems, catalog.variables)
                    if parsed is not None:
                        doc, meta = parsed
                        role_metas.append((f"{source.fqcn}.{role_dir.name}", role_dir, doc, meta))
        if not sources and not problems:
            problems.append(Problem(", ".join(map(str, search)) or "(no path)", "", "no collections found",
                                    "pass -c PATH or set ANSIBLE_COLLECTIONS_PATH"))
        for fqcn, role_dir, doc, meta in role_metas:
            catalog._add_role(fqcn, role_dir, doc, meta, problems)
        catalog.role_settings = frozenset(
            name for source in sources for role_dir in (source.root / "roles").glob("*/")
            for name in _role_parameters(role_dir))
        # With a role's metadata unreadable, whole-catalog checks would only report its absence again.
        problems.extend(validate_catalog(catalog, complete=not problems))
        if problems:
            raise CatalogError(problems)
        return catalog

    # -- queries used across the code base ------------------------------------------------------

    @property
    def mutation_variables(self) -> list[str]:
        """Enum variables moved by at least one mutation, in declaration order: the graph's dimensions."""
        moved = {var for m in self.mutations.values() for var in m.mutates}
        return [name for name, var in self.variables.items() if name in moved and var.is_enum]

    def is_filter(self, var: str) -> bool:
        """A requirement or exclude on ``var`` is a per-host filter (no mutation moves ``var``)."""
        return var not in set(self.mutation_variables)

    # -- loading ----------------------------------------------------------------------------------

    def _load_state(self, source: CollectionSource, problems: list[Problem]) -> None:
        meta_path = source.root / "meta" / "kraken.yml"
        if not meta_path.is_file():
            return
        parsed = _parse(meta_path, CollectionMeta, problems)
        if parsed is None:
            return
        doc, meta = parsed
        for name, spec in meta.state.items():
            where = doc.where(("state", name))
            existing = self.variables.get(name)
            if existing is None:
                self.variables[name] = StateVariable(name, spec, source.fqcn, where)
            elif existing.spec != spec:
                problems.append(Problem(
                    where, f"state.{name}",
                    f"{source.fqcn} declares variable {name} differently from {existing.collection} "
                    f"({existing.where})",
                    "declare each variable in one collection only, or make both declarations identical",
                ))

    def _add_role(self, fqcn: str, role_dir: Path, doc: YamlDocument, meta: RoleMeta,
                  problems: list[Problem]) -> None:
        mutation_ids: list[MutationId] = []
        probe_ids: list[MutationId] = []
        discovers = set(meta.discovers)
        for index, spec in enumerate(meta.mutations):
            mutation = Mutation.from_spec(spec, role=fqcn, role_dir=role_dir, where=doc.where(("mutations", index)))
            if self._claim_id(mutation.id, mutation.where, problems):
                self.mutations[mutation.id] = mutation
                mutation_ids.append(mutation.id)
            discovers.update(spec.mutates)
        for index, probe_spec in enumerate(meta.probes):
            probe = _resolve_probe(fqcn, role_dir, probe_spec, doc.where(("probes", index)), frozenset(discovers))
            if self._claim_id(probe.id, probe.where, problems):
                self.probes[probe.id] = probe
                probe_ids.append(probe.id)
        self.roles[fqcn] = Role(fqcn, role_dir, doc.path, frozenset(discovers), tuple(mutation_ids),
                                tuple(probe_ids))

    def _claim_id(self, ident: MutationId, where: str, problems: list[Problem]) -> bool:
        if ident in self.mutations or ident in self.probes:
            first = self.mutations[ident].where if ident in self.mutations else self.probes[ident].where
            problems.append(Problem(where, ident, f"duplicate id {ident} (first declared at {first})",
                                    "give every mutation and probe of a role its own name"))
            return False
        return True


def _role_parameters(role_dir: Path) -> set[str]:
    """Names a role takes as input: its defaults' keys and every entry point's argument_specs options."""
    names: set[str] = set()
    for relative in ("defaults/main.yml", "defaults/main.yaml", "meta/argument_specs.yml"):
        path = role_dir / relative
        if not path.is_file():
            continue
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=FAST_LOADER) or {}
        except yaml.YAMLError:
            continue  # ansible reports its own files' syntax; here they only widen what an inventory may set
        if not isinstance(data, dict):
            continue
        if relative.startswith("defaults"):
            names.update(str(key) for key in data)
        else:
            for entry in (data.get("argument_specs") or {}).values():
                if isinstance(entry, dict):
                    names.update(str(key) for key in (entry.get("options") or {}))
    return names


def _resolve_probe(fqcn: str, role_dir: Path, spec: ProbeSpec, where: str, reports: frozenset[str]) -> Probe:
    return Probe(MutationId(f"{fqcn}:{spec.name}"), fqcn, spec.name, role_dir / "tasks" / spec.tasks_file, where,
                 spec.context, spec.timeout, dict(spec.requires), reports)


def _parse(path: Path, model: type[_Model], problems: list[Problem],
           variables: Mapping[str, StateVariable] | None = None) -> tuple[YamlDocument, _Model] | None:
    """Parse one metadata file; shape problems are appended (all of them) and None returned.

    ``variables`` (when known) let a boolean-instead-of-enum problem list the values to write instead.
    """
    try:
        doc = load_yaml(path)
    except yaml.YAMLError as exc:
        problems.append(Problem(str(path), "", f"is not valid YAML: {exc}", "fix the YAML syntax"))
        return None
    try:
        return doc, model.model_validate(doc.data if doc.data is not None else {})
    except ValidationError as exc:
        problems.extend(_problems_from(doc, model, exc, variables or {}))
        return None


def _problems_from(doc: YamlDocument, model: type[BaseModel], exc: ValidationError,
                   variables: Mapping[str, StateVariable]) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        key = format_key_path(loc)
        message = error["msg"].removeprefix("Value error, ")
        fix = ""
        if error["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}"
            fix = f"use one of: {', '.join(_known_keys(model, loc[:-1]))}"
        elif "YAML boolean" in message:
            message, _, fix = message.partition("; ")
            fix = fix or BOOLEAN_HINT
            var = next((str(p) for p in reversed(loc) if str(p) in variables), None)
            if var is not None and variables[var].values:
                fix += f"; {var} takes {', '.join(variables[var].values)}"
        elif error["type"] == "missing":
            message = f"required key {loc[-1]!r} is missing"
        problems.append(Problem(doc.where(loc), key, message, fix))
    return problems


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names (by alias) of the model found at ``loc``, for 'unknown key' hints."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", {})
        info = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
        if info is None:
            # dict values: keep the same model for the next level (e.g. state.<name>.)
            continue
        current = _inner_model(info.annotation)
    fields = getattr(current, "model_fields", {}) if current is not None else {}
    return [info.alias or name for name, info in fields.items()]


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside ``list[M]``, ``dict[str, M]`` or ``M``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        inner = _inner_model(arg)
        if inner is not None:
            return inner
    return None
