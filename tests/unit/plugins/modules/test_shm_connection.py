# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import shutil

import pytest

from fake_proc import add_process
from module_run import run_module
from ansible_collections.snapfleet.snapd.plugins.module_utils import _shm_local
from ansible_collections.snapfleet.snapd.plugins.module_utils import _proc_scan as shm_connection_users
from ansible_collections.snapfleet.snapd.plugins.modules import shm_connection


@pytest.fixture(autouse=True)
def proc_root(tmp_path, monkeypatch):
    """A fake host root whose /proc the in-use guard reads (empty: no snap process holds anything)."""
    (tmp_path / "proc").mkdir()
    monkeypatch.setattr(shm_connection, "HOST_ROOT", str(tmp_path))
    return tmp_path


@pytest.fixture
def host(snapd):
    """The fake with provider/consumer/logger, a private plug whose auto-connection was disconnected, and a dropped plug."""
    snapd.add_slot("provider", "shmem", {"shared-memory": "foo", "write": ["bar"]})
    snapd.add_plug("consumer", "shmem", {"shared-memory": "foo", "private": False})
    snapd.add_plug("logger", "shmem", {"shared-memory": "foo", "private": False})
    snapd.add_system_slot()
    snapd.add_plug("shm-private", "shmem-private", {"private": True})
    snapd.add_connection("shm-private:shmem-private", "snapd:shared-memory", undesired=True)
    snapd.warnings.append({"message": 'snap "shm-broken" has bad plugs or slots: shmem (shared memory interface '
                                      'requires at least a valid "read" or "write" attribute)'})
    return snapd


def run(capsys, fake, check_mode=False, **args):
    args.update(socket=fake.socket_path, timeout=5, _ansible_check_mode=check_mode, _ansible_diff=True)
    return run_module(capsys, shm_connection, **args)


def posts(fake):
    return [r for r in fake.requests if r[0] == "POST"]


PAIR = {"plug": "consumer:shmem", "slot": "provider:shmem"}


def test_connect_reports_changed_and_the_resulting_connection(capsys, host):
    result = run(capsys, host, **PAIR)
    assert result["changed"] is True
    assert result["actions"] == [{"action": "connect", "plug": "consumer:shmem", "slot": "provider:shmem", "reason": "listed as connected"}]
    assert {"plug": "consumer:shmem", "slot": "provider:shmem", "manual": True, "gadget": False} in result["connections"]


def test_check_mode_predicts_the_same_actions_and_connections_as_apply(capsys, host):
    items = {"connections": [dict(PAIR), {"plug": "shm-private:shmem-private"}]}
    predicted = run(capsys, host, check_mode=True, **items)
    assert posts(host) == []
    applied = run(capsys, host, **items)
    assert (predicted["changed"], predicted["actions"]) == (applied["changed"], applied["actions"])
    assert predicted["diff"]["after"] == applied["diff"]["after"]
    assert predicted["connections"] == applied["connections"]


def test_second_apply_is_unchanged_and_sends_nothing(capsys, host):
    run(capsys, host, **PAIR)
    sent = len(posts(host))
    again = run(capsys, host, **PAIR)
    assert (again["changed"], again["actions"], len(posts(host))) == (False, [], sent)


def test_system_slot_alias_is_idempotent_after_connecting(capsys, host):
    run(capsys, host, plug="shm-private:shmem-private")
    again = run(capsys, host, plug="shm-private:shmem-private", slot="system:shared-memory")
    assert again["changed"] is False


def test_undesired_private_connection_is_restored(capsys, host):
    result = run(capsys, host, plug="shm-private:shmem-private")
    assert result["actions"][0]["reason"] == "restore the auto-connection that was manually disconnected"
    assert result["undesired"] == []


def test_diff_has_one_line_per_connection_before_and_after_with_headers(capsys, host):
    result = run(capsys, host, **PAIR)
    undesired = ("undesired     shm-private:shmem-private -> snapd:shared-memory (disconnected by hand: snapd does not "
                 "auto-connect it again)\n")
    assert result["diff"] == {
        "before_header": "shared-memory connections", "after_header": "shared-memory connections",
        "before": undesired, "after": "connected     consumer:shmem -> provider:shmem (manual)\n" + undesired}
    predicted = run(capsys, host, check_mode=True, connections=[dict(PAIR, state="disconnected")])
    assert predicted["diff"]["after_header"] == "shared-memory connections (predicted: check mode)"
    assert predicted["diff"]["before"] == "connected     consumer:shmem -> provider:shmem (manual)\n" + undesired
    assert predicted["diff"]["after"] == undesired


def test_refusal_fails_before_any_post_and_lists_its_code(capsys, host):
    result = run(capsys, host, plug="shm-private:shmem-private", slot="provider:shmem")
    assert result["failed"] is True
    assert [r["code"] for r in result["refusals"]] == ["private-plug-app-slot"]
    assert result["msg"].startswith("refused before changing anything: cannot connect shm-private:shmem-private to provider:shmem")
    assert posts(host) == []


def test_dropped_plug_refusal_quotes_snapds_warning(capsys, host):
    result = run(capsys, host, plug="shm-broken:shmem", slot="provider:shmem")
    assert 'snapd warned: snap "shm-broken" has bad plugs or slots: shmem' in result["msg"]


def test_unknown_snap_refusal_says_it_is_not_installed(capsys, host):
    result = run(capsys, host, plug="ghost:shmem", slot="provider:shmem")
    assert result["refusals"] == [{"code": "unknown-plug", "message": 'snap "ghost" is not installed, so it has no plug "shmem"'}]


def test_failure_part_way_through_a_list_reports_done_and_pending(capsys, host):
    host.fail_post_number = 2
    result = run(capsys, host, connections=[dict(PAIR), {"plug": "logger:shmem", "slot": "provider:shmem"}, {"plug": "shm-private:shmem-private"}])
    assert result["failed"] is True
    assert [a["plug"] for a in result["actions"]] == ["consumer:shmem"]
    assert [a["plug"] for a in result["pending"]] == ["logger:shmem", "shm-private:shmem-private"]
    assert result["msg"].startswith("connect logger:shmem to provider:shmem failed after 1 of 3 changes: snapd change 2")
    assert result["changed"] is True


def test_non_root_is_told_to_use_become_before_anything_is_sent(capsys, host, monkeypatch):
    monkeypatch.setattr(_shm_local.os, "geteuid", lambda: 1000)
    result = run(capsys, host, **PAIR)
    assert result["msg"] == "changing snapd connections needs root: run the task with become: true (1 change(s) planned)"
    assert posts(host) == []


def test_non_root_may_run_check_mode(capsys, host, monkeypatch):
    monkeypatch.setattr(_shm_local.os, "geteuid", lambda: 1000)
    assert run(capsys, host, check_mode=True, **PAIR)["changed"] is True


def test_forget_with_connected_is_a_clear_error(capsys, host):
    result = run(capsys, host, forget=True, **PAIR)
    assert result["msg"] == "forget: true only makes sense with state: disconnected (plug consumer:shmem)"


def test_plug_and_connections_together_are_rejected(capsys, host):
    result = run(capsys, host, connections=[], **PAIR)
    assert "mutually exclusive" in result["msg"]


def test_exclusive_list_disconnects_unlisted_connections(capsys, host):
    host.add_connection("logger:shmem", "provider:shmem")
    result = run(capsys, host, connections=[dict(PAIR)], exclusive=True)
    assert [(a["action"], a["plug"]) for a in result["actions"]] == [("disconnect", "logger:shmem"), ("connect", "consumer:shmem")]


def test_exclusive_keeps_a_gadget_connection_check_mode_and_apply_alike(capsys, host):
    host.add_connection("logger:shmem", "provider:shmem", manual=False, gadget=True)
    for check_mode in (True, False):
        result = run(capsys, host, check_mode=check_mode, connections=[dict(PAIR)], exclusive=True)
        assert [(a["action"], a["plug"]) for a in result["actions"]] == [("connect", "consumer:shmem")]
        assert [k["plug"] for k in result["kept"]] == ["logger:shmem"]
        assert "connected     logger:shmem -> provider:shmem (made by the gadget)\n" in result["diff"]["after"]
    assert [p[3]["plugs"][0]["snap"] for p in posts(host)] == ["consumer"]
    assert run(capsys, host, connections=[dict(PAIR)], exclusive=True)["changed"] is False


def test_manage_gadget_connections_lets_exclusive_disconnect_one_into_undesired(capsys, host):
    host.add_connection("logger:shmem", "provider:shmem", manual=False, gadget=True)
    result = run(capsys, host, connections=[dict(PAIR)], exclusive=True, manage_gadget_connections=True)
    assert [(a["action"], a["plug"]) for a in result["actions"]] == [
        ("disconnect", "logger:shmem"), ("connect", "consumer:shmem")]
    assert {"plug": "logger:shmem", "slot": "provider:shmem", "manual": True, "gadget": True} in result["undesired"]
    assert result["kept"] == []


def test_identifier_mismatch_is_refused_unless_allowed_and_then_said(capsys, host, monkeypatch):
    warned = []
    monkeypatch.setattr(shm_connection.AnsibleModule, "warn", lambda self, text, *args, **kwargs: warned.append(text))
    host.add_plug("stranger", "shmem", {"shared-memory": "other", "private": False})
    refused = run(capsys, host, plug="stranger:shmem", slot="provider:shmem")
    assert [r["code"] for r in refused["refusals"]] == ["identifier-mismatch"] and posts(host) == []
    allowed = run(capsys, host, connections=[{"plug": "stranger:shmem", "slot": "provider:shmem",
                                              "allow_identifier_mismatch": True}])
    assert allowed["changed"] is True
    assert allowed["actions"][0]["reason"].endswith("identifiers differ, let through by allow_identifier_mismatch")
    assert any("allow_identifier_mismatch" in warning for warning in warned)


def test_api_requests_counts_the_reads_and_the_changes(capsys, host):
    result = run(capsys, host, **PAIR)
    # 2 reads (warnings only on a refusal), 1 POST, 1 change poll, 1 re-read of the connections
    assert result["api_requests"] == 5


# --- the in-use guard: processes holding a connection's objects ----------------------------------------------------

@pytest.fixture
def in_use(host, proc_root):
    """consumer:shmem - provider:shmem and logger:shmem - provider:shmem connected; consumer.app pid 1234 holds bar."""
    host.add_connection("consumer:shmem", "provider:shmem")
    host.add_connection("logger:shmem", "provider:shmem")
    add_process(proc_root, 1234, "snap.consumer.app (enforce)", fds=["/dev/null", "/dev/shm/bar"])
    return host


IN_USE_MESSAGE = ("consumer:shmem - provider:shmem is in use by consumer.app pid 1234 (/dev/shm/bar): "
                  "stop those apps, or set force: true")


def established_plugs(fake):
    return sorted("%s:%s" % (c["plug"]["snap"], c["plug"]["plug"]) for c in fake.established)


def test_disconnect_of_a_connection_in_use_is_refused_before_any_post(capsys, in_use):
    result = run(capsys, in_use, state="disconnected", **PAIR)
    assert result["failed"] is True
    assert result["msg"] == "refused before changing anything: " + IN_USE_MESSAGE
    assert result["refusals"] == [{
        "code": "connection-in-use", "plug": "consumer:shmem", "slot": "provider:shmem", "message": IN_USE_MESSAGE,
        "users": [{"pid": 1234, "snap": "consumer", "app": "app", "paths": ["/dev/shm/bar"]}],
    }]
    assert posts(in_use) == []
    assert established_plugs(in_use) == ["consumer:shmem", "logger:shmem"]


def test_one_disconnect_in_use_refuses_the_whole_list(capsys, in_use):
    items = [dict(PAIR, state="disconnected"), {"plug": "logger:shmem", "slot": "provider:shmem", "state": "disconnected"},
             {"plug": "shm-private:shmem-private"}]
    result = run(capsys, in_use, connections=items)
    assert result["failed"] is True and result["actions"] == []
    assert posts(in_use) == []


def test_exclusive_does_not_disconnect_a_connection_in_use(capsys, in_use):
    result = run(capsys, in_use, connections=[{"plug": "logger:shmem", "slot": "provider:shmem"}], exclusive=True)
    assert result["msg"] == "refused before changing anything: " + IN_USE_MESSAGE
    assert posts(in_use) == []


def test_check_mode_refuses_a_disconnect_in_use_like_apply(capsys, in_use):
    result = run(capsys, in_use, check_mode=True, state="disconnected", **PAIR)
    assert result["refusals"][0]["code"] == "connection-in-use"


def test_a_process_of_another_snap_or_holding_other_objects_does_not_block(capsys, in_use, proc_root):
    # logger holds bar too, but logger is not part of consumer's connection; consumer 1234 holds bar
    add_process(proc_root, 77, "snap.logger.app (enforce)", fds=["/dev/shm/bar"])
    result = run(capsys, in_use, state="disconnected", plug="logger:shmem", slot="provider:shmem")
    assert result["msg"].startswith("refused before changing anything: logger:shmem - provider:shmem is in use by "
                                    "logger.app pid 77")
    shutil.rmtree(str(proc_root / "proc" / "77"))
    add_process(proc_root, 78, "snap.logger.app (enforce)", fds=["/dev/shm/snap.logger.own"])
    result = run(capsys, in_use, state="disconnected", plug="logger:shmem", slot="provider:shmem")
    assert result["changed"] is True and [a["action"] for a in result["actions"]] == ["disconnect"]
    assert established_plugs(in_use) == ["consumer:shmem"]


def test_force_disconnects_a_connection_in_use_and_warns(capsys, in_use, monkeypatch):
    # where a warning goes depends on what the test process imported before (result or controller display)
    warned = []
    monkeypatch.setattr(shm_connection.AnsibleModule, "warn", lambda self, text, *args, **kwargs: warned.append(text))
    result = run(capsys, in_use, state="disconnected", force=True, **PAIR)
    assert result["changed"] is True and len(posts(in_use)) == 1
    assert established_plugs(in_use) == ["logger:shmem"]
    assert warned == ["disconnecting with force: consumer:shmem - provider:shmem is in use by consumer.app pid 1234 "
                      "(/dev/shm/bar)"]


def test_a_connect_is_never_refused_for_users(capsys, host, proc_root):
    add_process(proc_root, 1234, "snap.consumer.app (enforce)", fds=["/dev/shm/bar"])
    result = run(capsys, host, **PAIR)
    assert result["changed"] is True and len(posts(host)) == 1


def test_disconnecting_a_private_plug_is_refused_while_its_snap_holds_anything_in_its_dev_shm(capsys, host, proc_root):
    host.undesired = []
    host.add_connection("shm-private:shmem-private", "snapd:shared-memory", manual=False)
    add_process(proc_root, 300, "snap.shm-private.app (enforce)", maps=["/dev/shm/any-name (deleted)"])
    result = run(capsys, host, state="disconnected", plug="shm-private:shmem-private")
    assert result["msg"] == ("refused before changing anything: shm-private:shmem-private - snapd:shared-memory is in "
                             "use by shm-private.app pid 300 (/dev/shm/any-name): stop those apps, or set force: true")
    assert posts(host) == []


def test_a_thread_holding_the_object_after_the_main_thread_exited_blocks_the_disconnect(capsys, host, proc_root):
    # /proc/1234/fd and /proc/1234/maps are empty then; only /proc/1234/task/1240 shows the mapping
    host.add_connection("consumer:shmem", "provider:shmem")
    add_process(proc_root, 1234, "snap.consumer.app (enforce)", leader_exited=True,
                threads={1240: ((), ["/dev/shm/bar"])})
    result = run(capsys, host, state="disconnected", **PAIR)
    assert result["msg"] == "refused before changing anything: " + IN_USE_MESSAGE
    assert posts(host) == []


UNSEEN_MESSAGE = ("cannot see every process that may use the connections: 1 could not be read (/proc (No such file or "
                  "directory)): run the task as root (become: true), or set force: true")


def test_a_disconnect_is_refused_when_proc_cannot_be_read(capsys, host, proc_root):
    # before, nothing found meant nobody uses it: the guard failed open
    host.add_connection("consumer:shmem", "provider:shmem")
    shutil.rmtree(str(proc_root / "proc"))
    result = run(capsys, host, state="disconnected", **PAIR)
    assert result["failed"] is True
    assert result["msg"] == "refused before changing anything: " + UNSEEN_MESSAGE
    assert result["refusals"] == [{"code": "users-unknown", "message": UNSEEN_MESSAGE}]
    assert posts(host) == [] and established_plugs(host) == ["consumer:shmem"]


def test_a_disconnect_is_refused_when_a_process_of_its_snaps_cannot_be_read(capsys, host, proc_root, monkeypatch):
    host.add_connection("consumer:shmem", "provider:shmem")
    add_process(proc_root, 1234, "snap.consumer.app (enforce)", fds=["/dev/shm/other"])
    real_listdir = shm_connection_users.os.listdir

    def listdir(path):
        if path.endswith("1234/task/1234/fd"):
            raise PermissionError(13, "Permission denied")
        return real_listdir(path)

    monkeypatch.setattr(shm_connection_users.os, "listdir", listdir)
    result = run(capsys, host, state="disconnected", **PAIR)
    assert result["msg"] == ("refused before changing anything: cannot see every process that may use the connections: "
                             "1 could not be read (pid 1234 (fd: Permission denied)): run the task as root (become: "
                             "true), or set force: true")
    assert posts(host) == []


def test_force_disconnects_without_seeing_every_process_and_warns(capsys, host, proc_root, monkeypatch):
    warned = []
    monkeypatch.setattr(shm_connection.AnsibleModule, "warn", lambda self, text, *args, **kwargs: warned.append(text))
    host.add_connection("consumer:shmem", "provider:shmem")
    shutil.rmtree(str(proc_root / "proc"))
    result = run(capsys, host, state="disconnected", force=True, **PAIR)
    assert result["changed"] is True and len(posts(host)) == 1
    assert warned == ["disconnecting with force: cannot see every process that may use the connections: 1 could not "
                      "be read (/proc (No such file or directory))"]


def test_a_connect_does_not_look_at_proc(capsys, host, proc_root):
    shutil.rmtree(str(proc_root / "proc"))
    result = run(capsys, host, **PAIR)
    assert result["changed"] is True and len(posts(host)) == 1
