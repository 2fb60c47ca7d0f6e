"""Heartbeats between the reconciler and node agents (DESIGN §5).

Written so far: :mod:`~reconciler.sync.keys` (per-node keys derived from the reconciler's secret, for the
agent install role and boot files). The datagram protocol, the neighbour table and the agent come next.
"""
