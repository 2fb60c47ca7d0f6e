"""Find collections on disk the way an operator points at them (DESIGN §5, ``-c PATH``).

A path may be:

* an Ansible collections path: a folder holding ``ansible_collections/<ns>/<name>``, or the
  ``ansible_collections`` folder itself (what ``ansible-galaxy collection install -p`` produces);
* one collection's source folder, holding ``galaxy.yml``;
* a folder of collection sources laid out ``<ns>/<name>/galaxy.yml`` (this repository's ``collections/``).

Without ``-c``, the collections Ansible itself would find are used: ``COLLECTIONS_PATHS`` from
ansible-core's configuration (``ANSIBLE_COLLECTIONS_PATH``, ``ansible.cfg``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from reconciler.errors import Problem
from reconciler.model.yamlfile import FAST_LOADER

__all__ = ["CollectionSource", "ansible_default_paths", "find_collections"]


@dataclass(frozen=True)
class CollectionSource:
    """One collection found on disk: its fully qualified name and root folder."""

    namespace: str
    name: str
    root: Path

    @property
    def fqcn(self) -> str:
        return f"{self.namespace}.{self.name}"


def ansible_default_paths() -> list[Path]:
    """The collections paths ansible-core is configured with (env, ansible.cfg, defaults)."""
    from ansible import constants as C  # imported lazily: loading ansible's config costs ~0.2 s

    return [Path(p).expanduser() for p in C.COLLECTIONS_PATHS]


def find_collections(paths: Sequence[Path]) -> tuple[list[CollectionSource], list[Problem]]:
    """Every collection under ``paths``; the first one found for a name wins, as in Ansible."""
    found: dict[str, CollectionSource] = {}
    problems: list[Problem] = []
    for path in paths:
        sources, problem = _collections_at(Path(path))
        if problem:
            problems.append(problem)
        for source in sources:
            found.setdefault(source.fqcn, source)
    return list(found.values()), problems


def _collections_at(path: Path) -> tuple[list[CollectionSource], Problem | None]:
    if not path.is_dir():
        return [], Problem(str(path), "", "is not a folder", "pass a collections path or a collection's source folder")
    if (path / "galaxy.yml").is_file():
        return [_from_galaxy(path)], None
    if path.name == "ansible_collections":
        return list(_installed(path)), None
    if (path / "ansible_collections").is_dir():
        return list(_installed(path / "ansible_collections")), None
    sources = [_from_galaxy(p.parent) for p in sorted(path.glob("*/*/galaxy.yml"))]
    if sources:
        return sources, None
    return [], Problem(
        str(path),
        "",
        "holds no collection (no galaxy.yml, no ansible_collections/ folder, no <namespace>/<name>/galaxy.yml)",
        "pass a folder that holds ansible_collections/ or a collection's source folder",
    )


def _installed(root: Path) -> Iterable[CollectionSource]:
    for folder in sorted(root.glob("*/*")):
        if folder.is_dir() and ((folder / "MANIFEST.json").is_file() or (folder / "galaxy.yml").is_file()
                                or (folder / "roles").is_dir() or (folder / "meta").is_dir()):
            yield CollectionSource(folder.parent.name, folder.name, folder)


def _from_galaxy(root: Path) -> CollectionSource:
    try:
        data = yaml.load((root / "galaxy.yml").read_text(encoding="utf-8"), Loader=FAST_LOADER) or {}
    except yaml.YAMLError:
        data = {}
    namespace = str(data.get("namespace") or root.parent.name)
    name = str(data.get("name") or root.name)
    return CollectionSource(namespace, name, root)
