# -*- coding: utf-8 -*-
"""Action plugin kraken.core.discover: report observed state values to the Kraken reconciler.

The values travel in the task result under ``kraken_discovered``; the ``kraken.core.reconciler`` callback
streams them to the reconciler (or the node agent) with the host's result. Validation here is a courtesy to role authors: the reconciler checks
every reported variable and value against its catalog again and drops (and counts) what is not allowed.
"""

from __future__ import annotations

import os
import re

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

_VALUE = re.compile(r"^[A-Za-z0-9_.:/-]+$")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        values = dict(self._task.args)
        if not values:
            raise AnsibleActionFail("kraken.core.discover needs at least one variable: value pair, e.g. power: POWER_ON")
        problems = []
        for var, value in values.items():
            if isinstance(value, bool):
                problems.append(f"{var}: got the boolean {value}; write the enum value's name (e.g. POWER_ON) in quotes")
            elif not isinstance(value, str) or not _VALUE.match(value):
                problems.append(f"{var}: {value!r} is not an enum value name")
        allowed = self._allowed_variables()
        if allowed is not None:
            problems.extend(f"{var}: this role may not report {var} (it may report {', '.join(sorted(allowed))})"
                            for var in values if var not in allowed)
        if problems:
            raise AnsibleActionFail("kraken.core.discover: " + "; ".join(problems))
        result.update(changed=False, kraken_discovered=values,
                      msg="discovered " + ", ".join(f"{k}={v}" for k, v in values.items()))
        return result

    def _allowed_variables(self):
        """Variables the calling role declares it may report, or None when it has no Kraken metadata."""
        role = getattr(self._task, "_role", None)
        path = getattr(role, "_role_path", None) if role is not None else None
        meta = os.path.join(path, "meta", "kraken.yml") if path else None
        if not meta or not os.path.isfile(meta):
            return None
        import yaml

        with open(meta, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        allowed = set(data.get("discovers") or [])
        for mutation in data.get("mutations") or []:
            allowed.update((mutation.get("mutates") or {}).keys())
        return allowed
