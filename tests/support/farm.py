"""The repository's collections as Ansible finds installed ones: ``<root>/ansible_collections/kraken/*``.

Ansible resolves FQCNs only under an ``ansible_collections/`` folder; the sources live in
``collections/kraken/``. Symlinks make a collections path of them without copying.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["REPO", "kraken_collections_path"]

REPO = Path(__file__).resolve().parents[2]


def kraken_collections_path(root: Path) -> Path:
    """Link kraken.core and kraken.layercake under ``root``; returns ``root`` (for ANSIBLE_COLLECTIONS_PATH)."""
    farm = root / "ansible_collections" / "kraken"
    farm.mkdir(parents=True, exist_ok=True)
    for name in ("core", "layercake"):
        link = farm / name
        if not link.exists():
            link.symlink_to(REPO / "collections" / "kraken" / name, target_is_directory=True)
    return root
