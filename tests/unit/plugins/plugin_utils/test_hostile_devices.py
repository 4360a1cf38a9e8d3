# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Issue 19's hostile devices, each on both transports against its expected result: a FAKE snapd per transport,
a fake /proc and /dev/shm under tmp_path, the snap debug api scripts run by /bin/sh with a FAKE `snap`."""

from __future__ import annotations

import os
import time

import pytest

from both_transports import hosts, outcome, params, sh_runner
from fake_proc import add_process
from shm_fixtures import install_snap_yaml
from ansible_collections.snapfleet.snapd.plugins.module_utils._read_plan import HostReadError, SnapYamlText
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_host import gather_facts
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run import run_connection, run_info
from ansible_collections.snapfleet.snapd.plugins.module_utils._proc_scan import (
    CUT_BYTES,
    CUT_TIME,
    MAPS_TOO_LONG,
    PROCESS_SHM_BYTES,
    SCAN_BYTES,
    read_snap_processes,
)
from ansible_collections.snapfleet.snapd.plugins.plugin_utils import _snap_debug_api
from ansible_collections.snapfleet.snapd.plugins.plugin_utils._snap_debug_api import DebugApiHost

DISCONNECT = params(plug="logger:shmem", slot="provider:shmem", state="disconnected")
OBJECT = "/dev/shm/bar"
# a long /dev/shm path, as in the review's flood: 20,000 maps lines of it come to about 2.6 MB
LONG = "/dev/shm/bar-" + "f" * 100
NONCE = "4e6f6e6365206b6e6f776e20746f2075"


def recording(runner, sent):
    def run(script):
        rc, stdout, stderr = runner(script)
        sent.append(len(stdout.encode("utf-8", "surrogateescape")))
        return rc, stdout, stderr
    return run


def both(pair, root, sent=None, timeout=20):
    local, remote = hosts(pair, timeout=timeout, root=str(root))
    if sent is not None:
        remote = DebugApiHost(recording(sh_runner(pair[1]), sent), timeout, root=str(root))
    return local, remote


def refusal_codes(result):
    return sorted(refusal["code"] for refusal in result.get("refusals", []))


def still_connected(fake):
    return any(c["plug"]["snap"] == "logger" for c in fake.established)


def test_a_maps_flood_by_a_guarded_snap_is_cut_on_the_device_and_the_disconnect_refused(pair, tmp_path):
    add_process(tmp_path, 4242, "snap.logger.app (enforce)", maps=[LONG] * 20000)
    sent = []
    for host in both(pair, tmp_path, sent):
        result = outcome(run_connection, DISCONNECT, host)
        assert result["failed"] is True and result["actions"] == [], result
        assert refusal_codes(result) == ["users-unknown"]
        assert "pid 4242 (%s)" % MAPS_TOO_LONG in result["msg"] and "force: true" in result["msg"]
        assert "\n" not in result["msg"]
    assert still_connected(pair[0]) and still_connected(pair[1])
    assert max(sent) < 64 * 1024, sent  # the flood stayed on the device


def test_a_maps_flood_by_another_snap_never_leaves_the_device(pair, tmp_path):
    for pid in (5001, 5002, 5003):
        add_process(tmp_path, pid, "snap.stranger.app (enforce)", maps=[LONG] * 20000)
    sent = []
    for host in both(pair, tmp_path, sent):
        result = outcome(run_connection, DISCONNECT, host)
        assert result["changed"] is True and [a["action"] for a in result["actions"]] == ["disconnect"], result
    assert not still_connected(pair[0]) and not still_connected(pair[1])
    assert max(sent) < 64 * 1024, sent


def test_many_processes_under_the_bound_each_stop_the_sh_scan_at_its_budget(pair, tmp_path):
    # distinct objects, so that nothing folds: each process's maps lines (about 140 bytes) under the per-process
    # bound, the paths it sends back (about 80 bytes) from all of them together over the scan's
    per_process = PROCESS_SHM_BYTES // 200
    count = SCAN_BYTES // (per_process * 80) + 2
    for pid in range(6000, 6000 + count):
        add_process(tmp_path, pid, "snap.logger.app (enforce)",
                    maps=["/dev/shm/bar-%d-%s" % (index, "f" * 60) for index in range(per_process)])
    sent = []
    local, remote = both(pair, tmp_path, sent)
    expected_python = outcome(run_connection, DISCONNECT, local)
    assert refusal_codes(expected_python) == ["connection-in-use"]  # it reads them all, and ships none of them
    over_api = outcome(run_connection, DISCONNECT, remote)
    assert refusal_codes(over_api) == ["connection-in-use", "users-unknown"]
    assert CUT_BYTES in over_api["msg"]
    assert max(sent) < 1024 * 1024, sent
    assert still_connected(pair[0]) and still_connected(pair[1])


def test_110000_fds_with_the_object_sorting_last_still_find_the_holder(pair, tmp_path):
    fds = ["/dev/null"] * 110000
    fds[99999] = OBJECT  # fd 99999: last in ls's order ("99999" > "109999")
    add_process(tmp_path, 4343, "snap.logger.app (enforce)", fds=fds)
    for host in both(pair, tmp_path):
        result = outcome(run_connection, DISCONNECT, host)
        assert refusal_codes(result) == ["connection-in-use"], result
        assert "logger.app pid 4343 (/dev/shm/bar)" in result["msg"]
    assert still_connected(pair[0]) and still_connected(pair[1])


def test_a_scan_past_its_deadline_says_it_is_incomplete_on_both_transports(pair, tmp_path):
    add_process(tmp_path, 4444, "snap.logger.app (enforce)", fds=[OBJECT])
    python = read_snap_processes(str(tmp_path), ["logger"], deadline=time.monotonic())
    over_api = DebugApiHost(sh_runner(pair[1]), 0, root=str(tmp_path)).processes(["logger"])
    for scan in (python, over_api):
        assert (scan.complete, scan.cut, scan.processes) == (False, CUT_TIME, ())


def test_process_directories_that_are_not_ascii_numbers_are_skipped(pair, tmp_path):
    add_process(tmp_path, 4545, "snap.logger.app (enforce)", fds=[OBJECT])
    os.rename(str(tmp_path / "proc" / "4545"), str(tmp_path / "proc" / "4545\u00b2"))
    add_process(tmp_path, 4646, "snap.provider.app (enforce)", fds=[OBJECT])
    for host in both(pair, tmp_path):
        result = outcome(run_connection, DISCONNECT, host)
        assert refusal_codes(result) == ["connection-in-use"], result
        assert "pid 4646" in result["msg"] and "4545" not in result["msg"]


FORGED_YAML = ("name: sly\nslots:\n  s:\n    interface: shared-memory\n    write: [y]\n"
               "description: |\n  x\n%s end text yaml:sly\n%s text yaml:ghost symlink\n" % (NONCE, NONCE))


def test_a_snap_yaml_holding_frames_of_a_known_nonce_is_read_as_text(pair, tmp_path, monkeypatch):
    # the worst case: an attacker who knows the nonce (it no longer leaves the controller but on stdin)
    monkeypatch.setattr(_snap_debug_api.secrets, "token_hex", lambda size: NONCE)
    install_snap_yaml(tmp_path, "sly", FORGED_YAML)
    for host in both(pair, tmp_path):
        facts = host.facts(["declarations"], [], [], [], [])
        assert facts.snap_yamls == {"sly": SnapYamlText(text=FORGED_YAML)}


def test_a_file_name_holding_frames_of_a_known_nonce_is_one_object(pair, tmp_path, monkeypatch):
    monkeypatch.setattr(_snap_debug_api.secrets, "token_hex", lambda size: NONCE)
    forged = "bar-x\n%s end listing\n%s begin listing" % (NONCE, NONCE)
    os.makedirs(str(tmp_path / "dev" / "shm"))
    with open(str(tmp_path / "dev" / "shm" / forged), "w"):
        pass
    for host in both(pair, tmp_path):
        facts = host.facts(["objects"], [], [], [], ["bar-*"])
        assert list(facts.dev_shm_listing.objects) == [forged]
        assert facts.dev_shm_listing.matches == {"bar-*": 1}


def test_a_process_record_of_a_known_nonce_in_a_maps_line_is_a_path(pair, tmp_path, monkeypatch):
    monkeypatch.setattr(_snap_debug_api.secrets, "token_hex", lambda size: NONCE)
    add_process(tmp_path, 4747, "snap.logger.app (enforce)", maps=["/dev/shm/bar\n%s end processes /dev/shm/bar" % NONCE])
    for host in both(pair, tmp_path):
        scan = host.processes(["logger"])
        assert [(p.pid, p.objects) for p in scan.processes] == [(4747, ("/dev/shm/bar",))]


HOSTILE_ANSWERS = {
    "a result that is a list": (b'{"type": "sync", "status-code": 200, "status": "OK", "result": [1]}',
                                "a result of type list where snapd sends another"),
    "an answer that is a list": (b"[1]", "JSON that is not an object (list)"),
    "a number of 5,000 digits": (b'{"type": "sync", "status-code": 200, "result": {"version": ' + b"9" * 5000 + b"}}",
                                 "something that is not JSON"),
    "plugs that are not objects": (b'{"type": "sync", "status-code": 200, "result": {"plugs": [1]}}',
                                   "a result whose plugs is not a list of objects"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_ANSWERS))
def test_a_hostile_answer_is_one_line_saying_so_on_both_transports(pair, case):
    raw, said = HOSTILE_ANSWERS[case]
    path = "/v2/connections" if "plugs" in case else "/v2/system-info"
    for fake in pair:
        fake.raw_answers[path] = raw
    for host in hosts(pair):
        result = outcome(run_info, dict(snaps=None), host)
        assert result["failed"] is True, result
        assert result["msg"].startswith("snapd answered GET %s " % path) and said in result["msg"], result["msg"]
        assert "\n" not in result["msg"]


def test_maintenance_on_an_accepted_change_is_no_reason_to_send_it_again(pair):
    for fake in pair:
        fake.restart_pending = True
    for host, fake in zip(hosts(pair), pair):
        result = outcome(run_connection, params(plug="consumer:shmem", slot="provider:shmem"), host)
        assert result["changed"] is True and [a["action"] for a in result["actions"]] == ["connect"], result
        assert [r for r in fake.requests if r[0] == "POST"] == [
            ("POST", "/v2/interfaces", {}, {"action": "connect", "plugs": [{"snap": "consumer", "plug": "shmem"}],
                                            "slots": [{"snap": "provider", "slot": "shmem"}]})]


def test_facts_read_past_the_deadline_fail_saying_what_was_cut_on_both_transports(pair, tmp_path):
    install_snap_yaml(tmp_path, "provider", "name: provider\nslots:\n  s:\n    interface: shared-memory\n    write: [x]\n")
    remote = DebugApiHost(sh_runner(pair[1]), 0, root=str(tmp_path))
    for read in (lambda: gather_facts(str(tmp_path), ["declarations"], deadline=time.monotonic()),
                 lambda: remote.facts(["declarations"], [], [], [], [])):
        with pytest.raises(HostReadError) as raised:
            read()
        assert str(raised.value) == "the time ran out while reading snap.yaml on the host; raise the timeout option"
