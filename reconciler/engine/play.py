"""The play a step runs (DESIGN §4): one mutation's or probe's entry point for a batch of hosts, and their inventory.

``ansible_runner``'s ``role=`` cannot choose an entry point, so the play is generated: ``include_role`` with
``tasks_from``. Child-context steps run on the parent (``connection: local``) with the node's hostvars, so a
power role reads ``kraken_bmc_host`` of the node it acts for; self-context steps of agentless nodes run over
the node's ordinary Ansible connection. Facts are never gathered: mutations report what they observe.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from reconciler.model.catalog import Step
from reconciler.model.types import Context

__all__ = ["build_inventory", "build_play"]


def build_play(step: Step) -> list[dict[str, Any]]:
    """A one-play playbook running ``step``'s entry point on every host of the run's inventory."""
    entry = step.tasks_file.name.removesuffix(".yml").removesuffix(".yaml")
    return [{
        "name": f"kraken {step.id}",
        "hosts": "all",
        "gather_facts": False,
        "strategy": "free",  # hosts of a batch do not wait for each other
        "vars": {"kraken_mutation": str(step.id)},
        "tasks": [{
            "name": f"{step.id} ({step.summary()})",
            "ansible.builtin.include_role": {"name": step.role, "tasks_from": entry},
        }],
    }]


def build_inventory(step: Step, hostvars: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The run's inventory: each host with its resolved hostvars; child steps forced onto the parent.

    The interpreter of a child step is the reconciler's own Python, so modules find the libraries
    the reconciler was installed with (pyghmi for IPMI, for instance).
    """
    hosts: dict[str, dict[str, Any]] = {}
    for host, variables in hostvars.items():
        values = dict(variables)
        if step.context is Context.CHILD:
            values["ansible_connection"] = "local"
            values["ansible_python_interpreter"] = sys.executable
        hosts[host] = values
    return {"all": {"hosts": hosts}}
