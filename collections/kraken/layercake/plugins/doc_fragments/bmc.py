# -*- coding: utf-8 -*-
# Copyright: Kraken for Ansible developers
# BSD-3-Clause
"""Options every kraken.layercake BMC module takes (module_utils.bmc.COMMON_ARGUMENT_SPEC documents them)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  username:
    description: BMC user (overrides the one in O(credentials_file)).
    type: str
  password:
    description: BMC password. Prefer O(credentials_file), which keeps it out of task arguments.
    type: str
  credentials_file:
    description:
      - "YAML file C({NODE: {username: U, password: P}}) on the machine running the module; must not be
        readable by group or others."
    type: path
  credentials_key:
    description: The node's key in O(credentials_file), usually its inventory name.
    type: str
  poll_interval:
    description: Seconds between polls.
    type: float
    default: 0.5
"""
