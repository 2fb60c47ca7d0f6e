"""Heartbeats between the reconciler and node agents (DESIGN §5): not written yet."""
