# -*- coding: utf-8 -*-
# The work is done by the action plugin of the same name (plugins/action/discover.py), on the controller:
# reporting a value needs no module transfer. This file documents the module for ansible-doc.

DOCUMENTATION = r"""
---
module: discover
short_description: Report the state values a Kraken mutation or probe observed
description:
  - Records what a role really observed, e.g. C(power=POWER_ON), so the Kraken reconciler can tell whether a
    mutation reached its target. A mutation succeeds only when its C(to) values are observed this way.
  - The arguments are a mapping of state variable to enum value.
  - When the role declares Kraken metadata (C(meta/kraken.yml)), only variables the role may report
    (its C(discovers) list and the variables its mutations move) are accepted, so a typo fails the task
    instead of being dropped silently by the reconciler.
  - Runs on the controller; it never contacts the managed node.
options: {}
author:
  - Kraken for Ansible developers
"""

EXAMPLES = r"""
- name: Report the chassis power state
  kraken.core.discover:
    power: "{{ 'POWER_ON' if bmc_power == 'on' else 'POWER_OFF' }}"
"""

RETURN = r"""
kraken_discovered:
  description: The reported values, by variable.
  returned: always
  type: dict
  sample: {"power": "POWER_ON"}
"""
