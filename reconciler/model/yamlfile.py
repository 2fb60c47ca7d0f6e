"""Read a YAML file and remember the line of every key, so problems can point at ``file:line``.

Authors fix metadata faster when the message says ``roles/power/meta/kraken.yml:12`` than when it
says "somewhere in mutations[3]". PyYAML's composer keeps marks on nodes; we construct the plain data
with the safe constructor and keep a map from key path to line alongside.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

__all__ = ["FAST_LOADER", "KeyPath", "YamlDocument", "format_key_path", "load_yaml"]

FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it (7x faster; same data, same marks)."""

KeyPath = tuple[str | int, ...]


class YamlDocument:
    """The data of one YAML file plus the 1-based line where each key path starts."""

    def __init__(self, path: Path, data: Any, lines: dict[KeyPath, int]) -> None:
        self.path = path
        self.data = data
        self._lines = lines

    def where(self, key_path: Sequence[str | int]) -> str:
        """``file:line`` of the deepest known prefix of ``key_path`` (the file alone if none)."""
        parts = tuple(key_path)
        while parts:
            line = self._lines.get(parts)
            if line is not None:
                return f"{self.path}:{line}"
            parts = parts[:-1]
        return str(self.path)


def load_yaml(path: Path) -> YamlDocument:
    """Parse ``path``; raises ``yaml.YAMLError`` (with its own line and column) on a syntax error."""
    text = path.read_text(encoding="utf-8")
    node = yaml.compose(text, Loader=FAST_LOADER)
    if node is None:
        return YamlDocument(path, None, {})
    lines: dict[KeyPath, int] = {}
    _record_lines(node, (), lines)
    loader = FAST_LOADER(text)
    try:
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    return YamlDocument(path, data, lines)


def _record_lines(node: yaml.Node, prefix: KeyPath, lines: dict[KeyPath, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            path = (*prefix, key)
            lines[path] = key_node.start_mark.line + 1
            _record_lines(value_node, path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = (*prefix, index)
            lines[path] = item.start_mark.line + 1
            _record_lines(item, path, lines)


def format_key_path(key_path: Sequence[str | int]) -> str:
    """``("mutations", 0, "requires", "power")`` → ``mutations[0].requires.power``.

    >>> format_key_path(("mutations", 0, "mutates", "power", "from"))
    'mutations[0].mutates.power.from'
    """
    text = ""
    for part in key_path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
