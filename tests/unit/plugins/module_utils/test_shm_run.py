# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The runners of shm_connection and shm_info over a stub host that answers from fixed snapd results: what each
asks of the host, and the in-use guard's answer to a scan that saw everything, missed a process, or was cut."""

from __future__ import annotations

import pytest

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run import (
    Applied,
    Host,
    HostReads,
    RunFailure,
    run_connection,
    run_info,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._proc_scan import CUT_TIME, ProcessScan, SnapProcess

CONNECTIONS = {
    "plugs": [{"snap": "consumer", "plug": "shmem", "interface": "shared-memory", "attrs": {"shared-memory": "foo"},
               "apps": ["app"], "connections": [{"snap": "provider", "slot": "shmem"}]}],
    "slots": [{"snap": "provider", "slot": "shmem", "interface": "shared-memory",
               "attrs": {"shared-memory": "foo", "write": ["bar"]}, "apps": ["app"],
               "connections": [{"snap": "consumer", "plug": "shmem"}]}],
    "established": [{"plug": {"snap": "consumer", "plug": "shmem"}, "slot": {"snap": "provider", "slot": "shmem"},
                     "interface": "shared-memory", "manual": True, "plug-attrs": {"shared-memory": "foo"},
                     "slot-attrs": {"shared-memory": "foo", "write": ["bar"]}}],
}


class StubHost(Host):
    """A host that answers from fixed results and records what was asked of it."""

    transport = "stub"

    def __init__(self, scan=ProcessScan()):
        self.scan = scan
        self.asked = []
        self.request_count = 0

    def uid(self):
        return 0

    def read(self, processes=(), warnings=True, system_info=True):
        self.asked.append(("read", processes, warnings))
        return HostReads({"version": "2.68"}, CONNECTIONS, [] if warnings else None, 0)

    def warnings(self):
        return []

    def processes(self, snaps):
        self.asked.append(("processes", tuple(snaps)))
        return self.scan

    def snap_interfaces(self, snaps):
        return {}

    def apply(self, actions):
        self.asked.append(("apply", [a.action for a in actions]))
        return Applied(tuple(actions), connections={})


def disconnect(**args):
    return dict(dict(plug="consumer:shmem", slot="provider:shmem", state="disconnected", forget=False, connections=None,
                     exclusive=False, force=False, manage_gadget_connections=False, allow_identifier_mismatch=False),
                **args)


def test_a_disconnect_of_named_snaps_asks_for_their_processes_with_the_snapshot():
    host = StubHost()
    result = run_connection(disconnect(), host)
    assert result["changed"] is True
    assert host.asked == [("read", ["consumer", "provider"], False), ("processes", ("consumer", "provider")),
                          ("apply", ["disconnect"])]


def test_a_host_must_answer_every_call_of_the_interface():
    class Partial(Host):
        def read(self, processes=(), warnings=True, system_info=True):
            return None

    with pytest.raises(TypeError) as raised:
        object.__new__(Partial)  # what Partial() does first
    assert "apply" in str(raised.value) and "processes" in str(raised.value)


def test_a_connect_asks_for_no_processes():
    host = StubHost()
    assert run_connection(disconnect(state="connected"), host)["changed"] is False
    assert host.asked == [("read", (), False)]


@pytest.mark.parametrize("scan, code", [
    (ProcessScan(processes=(SnapProcess(7, "consumer", "app", ("/dev/shm/bar",)),)), "connection-in-use"),
    (ProcessScan(unseen=("pid 8 (maps: Permission denied)",), unseen_count=1), "users-unknown"),
    (ProcessScan(cut=CUT_TIME), "users-unknown"),
])
def test_the_guard_refuses_unless_forced_when_a_user_is_seen_or_the_scan_is_incomplete(scan, code):
    host = StubHost(scan)
    with pytest.raises(RunFailure) as refused:
        run_connection(disconnect(), host)
    assert [r["code"] for r in refused.value.result["refusals"]] == [code]
    assert ("apply", ["disconnect"]) not in host.asked
    forced = StubHost(scan)
    result = run_connection(disconnect(force=True), forced)
    assert result["changed"] is True and result["warnings"][0].startswith("disconnecting with force: ")


def test_info_warns_when_the_scan_was_cut():
    result = run_info(dict(snaps=None), StubHost(ProcessScan(cut=CUT_TIME)))
    assert result["warnings"] == ["the users may be incomplete, cannot see every process that may use the "
                                  "connections: the scan stopped early: the time ran out (the task's timeout); run the "
                                  "task as root (become: true)"]
