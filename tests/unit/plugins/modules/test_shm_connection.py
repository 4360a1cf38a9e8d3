# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from module_run import run_module
from ansible_collections.snapfleet.snapd.plugins.modules import shm_connection


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


def test_diff_has_before_and_after_connections(capsys, host):
    result = run(capsys, host, **PAIR)
    assert result["diff"]["before"]["connections"] == []
    assert result["diff"]["after"]["connections"] == [{"plug": "consumer:shmem", "slot": "provider:shmem", "manual": True, "gadget": False}]


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
    monkeypatch.setattr(shm_connection.os, "geteuid", lambda: 1000)
    result = run(capsys, host, **PAIR)
    assert result["msg"] == "changing snapd connections needs root: run the task with become: true (1 change(s) planned)"
    assert posts(host) == []


def test_non_root_may_run_check_mode(capsys, host, monkeypatch):
    monkeypatch.setattr(shm_connection.os, "geteuid", lambda: 1000)
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


def test_api_requests_counts_the_reads_and_the_changes(capsys, host):
    result = run(capsys, host, **PAIR)
    # 3 reads, 1 POST, 1 change poll, 1 re-read of the connections
    assert result["api_requests"] == 6
