"""The long-running processes: ``kraken serve`` (the reconciler) wires catalog, inventory, engine and API."""
