# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import shutil

import pytest

from fake_proc import add_process
from module_run import run_module
from ansible_collections.snapfleet.snapd.plugins.modules import shm_info

WARNING = 'snap "shm-broken" has bad plugs or slots: shmem (shared memory interface requires at least a valid "read" or "write" attribute)'


@pytest.fixture
def host(snapd):
    snapd.add_slot("provider", "shmem", {"shared-memory": "foo", "write": ["bar"], "read": ["bar-ro"]})
    snapd.add_plug("consumer", "shmem", {"shared-memory": "foo", "private": False})
    snapd.add_system_slot()
    snapd.add_plug("shm-private", "shmem-private", {"private": True})
    snapd.add_connection("consumer:shmem", "provider:shmem")
    snapd.add_connection("shm-private:shmem-private", "snapd:shared-memory", undesired=True)
    snapd.warnings.append({"message": WARNING})
    return snapd


@pytest.fixture(autouse=True)
def proc_root(tmp_path, monkeypatch):
    """A fake host root whose /proc shm_info reads for the users of each connection."""
    (tmp_path / "proc").mkdir()
    monkeypatch.setattr(shm_info, "HOST_ROOT", str(tmp_path))
    return tmp_path


def run(capsys, fake, **args):
    args.update(socket=fake.socket_path, timeout=5, _ansible_check_mode=True)
    return run_module(capsys, shm_info, **args)


def test_info_reports_version_confinement_and_system_snap(capsys, host):
    result = run(capsys, host)
    assert (result["version"], result["confinement"], result["system_snap"], result["changed"]) == ("2.63", "strict", "snapd", False)


def test_info_reports_slot_identifier_and_paths(capsys, host):
    slot = next(s for s in run(capsys, host)["slots"] if s["snap"] == "provider")
    assert (slot["identifier"], slot["read"], slot["write"], slot["connections"]) == ("foo", ["bar-ro"], ["bar"], ["consumer:shmem"])


def test_info_reports_private_plugs(capsys, host):
    plug = next(p for p in run(capsys, host)["plugs"] if p["snap"] == "shm-private")
    assert (plug["private"], plug["identifier"]) == (True, None)


def test_info_reports_established_and_undesired_connections(capsys, host):
    result = run(capsys, host)
    assert [(c["plug"], c["manual"]) for c in result["connections"]] == [("consumer:shmem", True)]
    assert [c["slot"] for c in result["undesired"]] == ["snapd:shared-memory"]


def test_info_quotes_snapds_warning_for_dropped_declarations(capsys, host):
    assert run(capsys, host)["dropped_declarations"] == [{
        "snap": "shm-broken", "name": "shmem", "warning": WARNING,
        "reason": 'shared memory interface requires at least a valid "read" or "write" attribute',
    }]


def test_info_snaps_filter_keeps_only_those_snaps(capsys, host):
    result = run(capsys, host, snaps=["shm-private", "system"])
    assert [p["snap"] for p in result["plugs"]] == ["shm-private"]
    assert [s["snap"] for s in result["slots"]] == ["snapd"]
    assert result["connections"] == []


def test_info_rejects_an_invalid_snap_name(capsys, host):
    assert "is not a valid snap name" in run(capsys, host, snaps=["Bad Name"])["msg"]


def test_info_makes_three_requests_and_sends_nothing(capsys, host):
    assert run(capsys, host)["api_requests"] == 3
    assert all(r[0] == "GET" for r in host.requests)


def test_info_lists_the_processes_using_each_connection(capsys, host, proc_root):
    add_process(proc_root, 1234, "snap.consumer.app (enforce)", fds=["/dev/shm/bar"])
    add_process(proc_root, 99, None, cgroup="0::/system.slice/snap.provider.daemon.service\n", maps=["/dev/shm/bar-ro"])
    add_process(proc_root, 5, "snap.stranger.app (enforce)", fds=["/dev/shm/bar"])
    connection = run(capsys, host)["connections"][0]
    assert connection["users"] == [
        {"pid": 99, "snap": "provider", "app": "daemon", "paths": ["/dev/shm/bar-ro"]},
        {"pid": 1234, "snap": "consumer", "app": "app", "paths": ["/dev/shm/bar"]},
    ]


def test_info_connection_without_users_has_an_empty_list_and_undesired_ones_none(capsys, host):
    result = run(capsys, host)
    assert result["connections"][0]["users"] == []
    assert "users" not in result["undesired"][0]


def test_info_warns_when_it_cannot_see_every_process(capsys, host, proc_root, monkeypatch):
    warned = []
    monkeypatch.setattr(shm_info.AnsibleModule, "warn", lambda self, text, *args, **kwargs: warned.append(text))
    shutil.rmtree(str(proc_root / "proc"))
    result = run(capsys, host)
    assert result["connections"][0]["users"] == []
    assert warned == ["the users may be incomplete, cannot see every process that may use the connections: 1 could "
                      "not be read (/proc (No such file or directory)); run the task as root (become: true)"]
