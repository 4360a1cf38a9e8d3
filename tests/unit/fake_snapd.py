# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A FAKE snapd, for unit tests only.

It serves the few REST endpoints the collection uses on an AF_UNIX socket in a
temporary directory, with the envelopes and messages snapd's daemon package
uses (see docs/snapd-shared-memory.md, section 2). It is not snapd: it knows
nothing of policy, hooks or profiles, and it must never be used outside
tests/unit. Knobs on the instance script the awkward cases: 409 conflicts,
maintenance answers, dropped connections (before or after acting), slow, failing or endless changes.
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import shutil
import socketserver
import tempfile
import threading
import time
from urllib.parse import parse_qs, urlsplit

SYSTEM_ALIASES = ("", "system", "core", "snapd")


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):  # unix sockets have no client address to log
        pass

    def do_GET(self):
        self.server.fake.handle(self, "GET")

    def do_POST(self):
        self.server.fake.handle(self, "POST")


class FakeSnapd:
    """The fake's state is raw API data: edit ``plugs``, ``slots``, ``established``, ``undesired``, ``warnings``."""

    def __init__(self, version="2.63", system_snap="snapd", confinement="strict"):
        self.version = version
        self.system_snap = system_snap
        self.confinement = confinement
        self.plugs = []
        self.slots = []
        self.established = []
        self.undesired = []
        self.warnings = []
        self.installed = set()
        self.requests = []
        self.changes = {}
        # scripted trouble
        self.conflicts = 0          # answer this many POSTs with 409 snap-change-conflict
        self.maintenance = 0        # answer this many requests with a daemon-restart error
        self.dropped = 0            # close this many connections without answering
        self.acted_then_dropped = 0  # act on this many accepted POSTs, then close the connection without answering
        self.polls_until_ready = 0  # report each change as Doing this many times first
        self.change_error = None    # make the next change end in Error with this err text
        self.never_ready = False    # changes stay Doing forever
        self.fail_post_number = None  # the Nth POST (1-based) ends in an Error change
        self.restart_pending = False  # add `maintenance` to every answer, successes included, as snapd does then
        self.raw_answers = {}       # path -> the raw bytes a GET of it answers with (hostile answers)
        self._posts = 0
        self._lock = threading.Lock()
        self._dir = tempfile.mkdtemp(prefix="fake-snapd-")
        self.socket_path = os.path.join(self._dir, "snapd.socket")
        self._server = None

    # --- building state ----------------------------------------------------------------

    def add_slot(self, snap, slot, attrs=None, apps=("app",)):
        self.installed.add(snap)
        self.slots.append({"snap": snap, "slot": slot, "interface": "shared-memory",
                           "attrs": dict(attrs or {}), "apps": list(apps)})

    def add_system_slot(self):
        self.installed.add(self.system_snap)
        self.slots.append({"snap": self.system_snap, "slot": "shared-memory", "interface": "shared-memory"})

    def add_plug(self, snap, plug, attrs=None, apps=("app",)):
        self.installed.add(snap)
        self.plugs.append({"snap": snap, "plug": plug, "interface": "shared-memory",
                           "attrs": dict(attrs or {}), "apps": list(apps)})

    def add_connection(self, plug, slot, manual=True, gadget=False, undesired=False):
        """Record a connection between ``"snap:plug"`` and ``"snap:slot"`` strings."""
        entry = self._connection(plug.split(":"), slot.split(":"), manual, gadget)
        if undesired:
            # as collectConnections reports one: manual, no attrs, gadget as it was
            entry.pop("plug-attrs", None)
            entry.pop("slot-attrs", None)
            entry["manual"] = True
            self.undesired.append(entry)
        else:
            self.established.append(entry)

    # --- lifecycle ---------------------------------------------------------------------

    def start(self):
        self._server = _Server(self.socket_path, _Handler)
        self._server.fake = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- HTTP --------------------------------------------------------------------------

    def handle(self, handler, method):
        url = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = None
        if method == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            body = json.loads(handler.rfile.read(length) or b"{}")
        with self._lock:
            self.requests.append((method, url.path, query, body))
            if self.dropped:
                self.dropped -= 1
                handler.close_connection = True
                handler.connection.shutdown(2)
                return
            status, payload = self._route(method, url.path, query, body)
            if method == "POST" and status < 400 and self.acted_then_dropped:
                # snapd went away after it took the request: the change is made, the client hears nothing
                self.acted_then_dropped -= 1
                handler.close_connection = True
                handler.connection.shutdown(2)
                return
            if self.restart_pending:
                payload["maintenance"] = {"kind": "daemon-restart", "message": "daemon is restarting"}
            raw = self.raw_answers.get(url.path) if method == "GET" else None
        data = json.dumps(payload).encode() if raw is None else raw
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method, path, query, body):
        if self.maintenance:
            self.maintenance -= 1
            return _error(503, "snapd is about to reboot", "daemon-restart",
                          maintenance={"kind": "daemon-restart", "message": "daemon is restarting"})
        if method == "GET" and path == "/v2/system-info":
            return _sync({"version": self.version, "confinement": self.confinement})
        if method == "GET" and path == "/v2/connections":
            return self._get_connections(query)
        if method == "GET" and path == "/v2/warnings":
            return _sync(copy.deepcopy(self.warnings))
        if method == "GET" and path == "/v2/changes":
            return self._get_changes(query)
        if method == "GET" and path.startswith("/v2/changes/"):
            return self._get_change(path.rsplit("/", 1)[1])
        if method == "POST" and path == "/v2/interfaces":
            return self._post_interfaces(body)
        return _error(404, "not found")

    def _get_connections(self, query):
        snap = query.get("snap")
        if snap in SYSTEM_ALIASES[1:]:
            snap = self.system_snap
        if snap and snap not in self.installed:
            return _error(404, "no state entry for key", "snap-not-found", value=snap)
        interface = query.get("interface")

        def keep(entry, *sides):
            if interface and entry.get("interface") != interface:
                return False
            return not snap or any(entry[side]["snap"] == snap for side in sides)

        plugs = [self._with_links(p, "plug") for p in self.plugs
                 if (not interface or p["interface"] == interface) and (not snap or p["snap"] == snap)]
        slots = [self._with_links(s, "slot") for s in self.slots
                 if (not interface or s["interface"] == interface) and (not snap or s["snap"] == snap)]
        result = {
            "established": [c for c in self.established if keep(c, "plug", "slot")],
            "plugs": plugs,
            "slots": slots,
        }
        if query.get("select") == "all":
            undesired = [c for c in self.undesired if keep(c, "plug", "slot")]
            if undesired:
                result["undesired"] = undesired
        return _sync(copy.deepcopy(result))

    def _with_links(self, entry, side):
        other = "slot" if side == "plug" else "plug"
        linked = [c[other] for c in self.established
                  if c[side]["snap"] == entry["snap"] and c[side][side] == entry[side]]
        entry = dict(entry)
        if linked:
            entry["connections"] = linked
        return entry

    def _get_change(self, change_id):
        change = self.changes.get(change_id)
        if change is None:
            return _error(404, 'cannot find change with id "%s"' % change_id)
        if change["polls_left"] > 0 or self.never_ready:
            change["polls_left"] -= 1
            view = dict(change["final"], status="Doing", ready=False)
            view.pop("err", None)
            return _sync(view)
        return _sync(dict(change["final"]))

    def _get_changes(self, query):
        """GET /v2/changes?select=all&for=SNAP, as snapd lists them: every change that names SNAP, as it is now."""
        listed = []
        for change_id, change in self.changes.items():
            if query.get("for") in (None, *change["snaps"]):
                listed.append(self._get_change(change_id)[1]["result"])
        return _sync(listed)

    def _new_change(self, kind, status="Done", err=None, snaps=()):
        change_id = str(len(self.changes) + 1)
        spawned = time.time_ns()
        final = {"id": change_id, "kind": kind, "summary": kind, "status": status, "ready": True,
                 "spawn-time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(spawned // 10 ** 9))
                 + ".%09dZ" % (spawned % 10 ** 9)}
        if err:
            final["err"] = err
        self.changes[change_id] = {"final": final, "polls_left": self.polls_until_ready, "snaps": tuple(snaps)}
        return {"type": "async", "status-code": 202, "status": "Accepted", "change": change_id, "result": None}

    def _post_interfaces(self, body):
        if self.conflicts:
            self.conflicts -= 1
            return _error(409, 'snap "consumer" has "auto-refresh" change in progress', "snap-change-conflict",
                          value={"snap-name": "consumer", "change-kind": "auto-refresh"})
        self._posts += 1
        action = body.get("action")
        plug = body["plugs"][0]
        slot = body["slots"][0]
        plug_ref = [plug["snap"], plug["plug"]]
        slot_ref = [self.system_snap if slot["snap"] in SYSTEM_ALIASES else slot["snap"], slot["slot"]]
        for snap, name, kind, entries in ((plug_ref[0], plug_ref[1], "plug", self.plugs),
                                          (slot_ref[0], slot_ref[1], "slot", self.slots)):
            if snap not in self.installed:
                return _error(400, 'snap "%s" is not installed' % snap)
            if not any(e["snap"] == snap and e[kind] == name for e in entries):
                return _error(400, 'snap "%s" has no %s named "%s"' % (snap, kind, name))
        kind = action + "-snap"
        snaps = (plug_ref[0], slot_ref[0])
        if self.fail_post_number == self._posts or self.change_error:
            err = self.change_error or "boom"
            self.change_error = None
            failed = "cannot perform the following tasks:\n- %s (%s)" % (kind, err)
            return 202, self._new_change(kind, "Error", failed, snaps)
        established = self._find(self.established, plug_ref, slot_ref)
        undesired = self._find(self.undesired, plug_ref, slot_ref)
        name = "%s:%s to %s:%s" % (plug_ref[0], plug_ref[1], slot_ref[0], slot_ref[1])
        if action == "connect":
            if established is None:
                if undesired is not None:
                    self.undesired.remove(undesired)
                self.established.append(self._connection(plug_ref, slot_ref, manual=True, gadget=False))
            # snapd answers 202 with a Done change even when the pair was already connected
            return 202, self._new_change(kind, snaps=snaps)
        if body.get("forget"):
            if established is None and undesired is None:
                return _error(400, "cannot forget connection %s, it was not connected" % name)
            for entry, entries in ((established, self.established), (undesired, self.undesired)):
                if entry is not None:
                    entries.remove(entry)
            return 202, self._new_change(kind, snaps=snaps)
        if established is None:
            return _error(400, "cannot disconnect %s, it is not connected" % name)
        self.established.remove(established)
        if not established.get("manual"):
            # doDisconnect keeps an auto-connection as undesired, without attrs; by-gadget stays (collectConnections
            # then reports it manual, and gadget as it was)
            entry = {k: v for k, v in established.items() if k not in ("plug-attrs", "slot-attrs")}
            entry["manual"] = True
            self.undesired.append(entry)
        return 202, self._new_change(kind, snaps=snaps)

    def _find(self, entries, plug_ref, slot_ref):
        for entry in entries:
            if [entry["plug"]["snap"], entry["plug"]["plug"]] == plug_ref and [
                entry["slot"]["snap"], entry["slot"]["slot"]
            ] == slot_ref:
                return entry
        return None

    def _connection(self, plug_ref, slot_ref, manual, gadget):
        plug = next((p for p in self.plugs if [p["snap"], p["plug"]] == plug_ref), {})
        slot = next((s for s in self.slots if [s["snap"], s["slot"]] == slot_ref), {})
        entry = {
            "plug": {"snap": plug_ref[0], "plug": plug_ref[1]},
            "slot": {"snap": slot_ref[0], "slot": slot_ref[1]},
            "interface": "shared-memory",
            "plug-attrs": dict(plug.get("attrs") or {}),
        }
        if slot.get("attrs"):
            entry["slot-attrs"] = dict(slot["attrs"])
        if manual:
            entry["manual"] = True
        if gadget:
            entry["gadget"] = True
        return entry


def _sync(result):
    return 200, {"type": "sync", "status-code": 200, "status": "OK", "result": result}


def _error(status, message, kind=None, value=None, maintenance=None):
    result = {"message": message}
    if kind:
        result["kind"] = kind
    if value is not None:
        result["value"] = value
    payload = {"type": "error", "status-code": status, "status": "error", "result": result}
    if maintenance:
        payload["maintenance"] = maintenance
    return status, payload
