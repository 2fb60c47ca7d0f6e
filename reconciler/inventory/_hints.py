"""Hints for values an operator got wrong: the enum value they probably meant, and what they literally wrote.

YAML turns ``ON`` into ``true`` before anyone sees it; reading the source line back at the value's origin
recovers the ``ON``, which points at ``POWER_ON``. Shared by the inventory and observed-state loaders.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = ["literal_at", "suggest_value"]


def suggest_value(text: str, choices: Iterable[str]) -> str | None:
    """The value an operator probably meant by ``text``: same name in another case, a name part, or close.

    >>> suggest_value("ON", ["POWER_OFF", "POWER_ON"]), suggest_value("active", ["IDLE", "ACTIVE"])
    ('POWER_ON', 'ACTIVE')
    >>> suggest_value("YES", ["POWER_OFF", "POWER_ON"]) is None, suggest_value("IPMII", ["ipmi", "redfish"])
    (True, 'ipmi')
    """
    wanted = text.strip().strip("'\"").upper()
    options = {option.upper(): option for option in choices}
    if not wanted:
        return None
    if wanted in options:
        return options[wanted]
    by_part = [v for key, v in options.items() if wanted in key.split("_")]
    if len(by_part) == 1:
        return by_part[0]
    close = difflib.get_close_matches(wanted, list(options), n=1, cutoff=0.75)
    return options[close[0]] if close else None


def literal_at(origin: str, key: str) -> str | None:
    """What was literally written after ``key`` at ``origin`` (``file:line``), e.g. ``ON`` for a YAML boolean."""
    path, _, line = origin.rpartition(":")
    if not line.isdigit():
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            text = next((row for number, row in enumerate(handle, 1) if number == int(line)), "")
    except (OSError, UnicodeDecodeError):
        return None
    match = re.search(rf"(?<![\w]){re.escape(key)}['\"]?\s*[:=]\s*([^\s#,}}]+)", text)
    return match.group(1) if match else None
