# -*- coding: utf-8 -*-
"""Callback plugin kraken.core.reconciler: stream each host's results and discoveries to a local endpoint.

The reconciler (and the node agent) learn what a run did from this stream, not from the run's exit code
or its console output: one JSON object per line on a Unix stream socket, as soon as ansible has the result.
The socket is local and private to the process that reads it (its directory is 0700), so nothing crosses a
network, and results marked ``no_log`` are reported without their output.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: reconciler
type: notification
short_description: stream host results and discoveries to the Kraken reconciler or node agent
description:
  - Sends one JSON line per event to a local Unix stream socket, in this order
    C(start) (run id, playbook, ansible version), C(result) for every task result of every host
    (status ok, failed or unreachable; the values the task reported with M(kraken.core.discover);
    the failure message), and C(stats) (per-host tallies) at the end of the playbook.
  - Enable it by name (C(callbacks_enabled = kraken.core.reconciler)); it does nothing when no socket is set,
    so it can stay enabled for plays that Kraken does not run.
  - If the socket cannot be reached the playbook goes on and a warning says so once; the reader then
    sees no C(start) line and treats the hosts' state as unknown.
  - The line format is the C(CallbackRecord) JSON Schema in the Kraken repository (C(schemas/)).
requirements:
  - a reader listening on the socket (C(kraken serve), C(kraken agent), or anything speaking JSON lines)
options:
  socket:
    description: Path of the Unix stream socket to write to. Unset means the plugin stays silent.
    type: path
    env:
      - name: KRAKEN_CALLBACK_SOCKET
    ini:
      - section: callback_kraken_reconciler
        key: socket
  run_id:
    description: Identifies the run in every line, so a reader serving several runs can tell them apart.
    type: str
    default: ""
    env:
      - name: KRAKEN_RUN_ID
    ini:
      - section: callback_kraken_reconciler
        key: run_id
"""

import json
import socket

from ansible import __version__ as ansible_version
from ansible.plugins.callback import CallbackBase

_MESSAGE_LIMIT = 500  # a failure's first line, enough to act on; the run's stdout keeps the rest
_TALLIES = ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "kraken.core.reconciler"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._socket = None
        self._broken = False
        self._run_id = ""

    # -- ansible's hooks ------------------------------------------------------------------------

    def v2_playbook_on_start(self, playbook):
        path = self.get_option("socket")
        self._run_id = self.get_option("run_id") or ""
        if not path:
            return
        try:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._socket.connect(path)
        except OSError as exc:
            self._give_up(f"cannot connect to {path}: {exc}")
            return
        self._send({"kind": "start", "playbook": getattr(playbook, "_file_name", ""),
                    "ansible_version": ansible_version})

    def v2_runner_on_ok(self, result):
        self._report(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._report(result, "failed", ignored=bool(ignore_errors))

    def v2_runner_on_unreachable(self, result):
        self._report(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        hosts = {}
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            hosts[host] = {key: int(summary.get(key, 0)) for key in _TALLIES}
        self._send({"kind": "stats", "hosts": hosts})
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    # -- the stream -------------------------------------------------------------------------------

    def _report(self, result, status, ignored=False):
        if self._socket is None:
            return
        data = result.result
        hidden = bool(data.get("censored"))
        role = getattr(result.task, "_role", None)
        record = {
            "kind": "result",
            "host": result.host.get_name(),
            "task": result.task.get_name(),
            "role": role.get_name() if role is not None else None,
            "status": status,
            "ignored": ignored,
            "discovered": {str(k): str(v) for k, v in (data.get("kraken_discovered") or {}).items()},
            "message": _message(data, hidden) if status != "ok" else "",
        }
        self._send(record)

    def _send(self, record):
        if self._socket is None:
            return
        record["run"] = self._run_id
        try:
            self._socket.sendall(json.dumps(record, sort_keys=True).encode("utf-8") + b"\n")
        except OSError as exc:
            self._give_up(f"the reader went away: {exc}")

    def _give_up(self, why):
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if not self._broken:
            self._broken = True
            self._display.warning(f"kraken.core.reconciler: {why}; results of this run are not reported")


def _message(data, hidden):
    if hidden:
        return "output hidden (no_log)"
    text = str(data.get("msg") or data.get("stderr") or data.get("reason") or "").strip()
    return text.splitlines()[0][:_MESSAGE_LIMIT] if text else "failed"
