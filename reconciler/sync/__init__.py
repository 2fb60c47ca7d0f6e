"""Heartbeats between the reconciler and node agents (DESIGN §5).

Written so far: :mod:`~reconciler.sync.keys` (per-node keys derived from the reconciler's secret, for the
agent install role and boot files) and :mod:`~reconciler.sync.packets` (sealed, fresh, replay-proof
datagrams and their drop counters). The UDP endpoints, the neighbour table (dead node ⇒ runstate ERROR) and
the agent come next.
"""
