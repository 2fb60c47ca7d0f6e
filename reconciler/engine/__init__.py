"""The reconciler's engine: the per-host work queue and reconcile loop (:mod:`.engine`), the ansible-runner
executor (:mod:`.executor`, :mod:`.play`), SQLite persistence (:mod:`.persistence`), back-pressure policies
(:mod:`.limits`), the event journal, metrics and settings."""
