"""inventory: desired state from an Ansible inventory, observed state from a file.

* :mod:`reconciler.inventory.desired` — ``load_inventory``: every host's ``kraken_*`` values as ansible-core
  resolves them, validated against the catalog (all problems at once, each at its ``file:line``).
* :mod:`reconciler.inventory.observed` — ``load_observed``: ``kraken plan --observed FILE``.
* :mod:`reconciler.inventory.resolver` — the only module that imports ansible-core (lazily, from ``desired``).

Importing this package does not import ansible-core.
"""

from reconciler.inventory.desired import RESERVED_SETTINGS, HostDesired, InventoryState, load_inventory
from reconciler.inventory.observed import load_observed

__all__ = ["RESERVED_SETTINGS", "HostDesired", "InventoryState", "load_inventory", "load_observed"]
