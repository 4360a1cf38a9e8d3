# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The users of a connection: who a process belongs to, the /proc scan over a fake tree, and the matching."""

from __future__ import annotations

import builtins
import os
import shutil

import pytest

from fake_proc import add_process
from shm_fixtures import connection, host

from ansible_collections.snapfleet.snapd.plugins.module_utils import _shm_users
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_plan import build_plan, desired_connection
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_users import (
    SnapProcess,
    connection_users,
    connections_in_use,
    in_use_message,
    object_matches,
    planned_disconnects,
    read_snap_processes,
    snap_of_cgroup,
    snap_of_label,
)

UUID = "06d7de1b-1cfe-43e9-b2bb-b0574949d43a"
CONSUMER_LABEL = "snap.consumer.app (enforce)"


def provider_connection(**slot_attrs):
    entry = connection("consumer:shmem", "provider:shmem")
    entry["plug-attrs"] = {"shared-memory": "foo", "private": False}
    entry["slot-attrs"] = dict({"shared-memory": "foo", "write": ["bar"], "read": ["bar-ro"]}, **slot_attrs)
    return entry


def private_connection():
    entry = connection("shm-private:shmem-private", "snapd:shared-memory", manual=False)
    entry["plug-attrs"] = {"private": True}
    return entry


# --- whose process is it -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("label, owner", [
    ("snap.shm-consumer.read (enforce)", ("shm-consumer", "read")),
    ("snap.shm-consumer.read (complain)\n", ("shm-consumer", "read")),
    ("snap.shm-consumer.hook.configure (enforce)", ("shm-consumer", "hook.configure")),
    ("snap-update-ns.shm-consumer (enforce)", ("shm-consumer", "snap-update-ns")),
    ("snap.foo_dev.my-app (enforce)", ("foo_dev", "my-app")),
    ("snap.shm-consumer.read", ("shm-consumer", "read")),
    ("unconfined", None),
    ("/usr/lib/snapd/snap-confine (enforce)", None),
    ("snap-confine (enforce)", None),
    ("", None),
    (None, None),
])
def test_snap_of_an_apparmor_label(label, owner):
    assert snap_of_label(label) == owner


@pytest.mark.parametrize("text, owner", [
    ("0::/user.slice/user-0.slice/user@0.service/app.slice/snap.shm-consumer.read-%s.scope\n" % UUID,
     ("shm-consumer", "read")),
    ("0::/system.slice/snap.shm-provider.daemon.service\n", ("shm-provider", "daemon")),
    ("0::/user.slice/snap.foo.my-long-app-%s.scope\n" % UUID, ("foo", "my-long-app")),
    ("0::/user.slice/snap.foo.hook.configure-%s.scope\n" % UUID, ("foo", "hook.configure")),
    ("12:pids:/user.slice\n1:name=systemd:/user.slice/snap.foo.app-%s.scope\n0::/\n" % UUID, ("foo", "app")),
    ("0::/user.slice/user-0.slice/session-3.scope\n", None),
    ("0::/system.slice/snapd.service\n", None),
    ("0::/user.slice/snap.foo.app.scope\n", None),
    ("", None),
    (None, None),
])
def test_snap_of_a_cgroup(text, owner):
    assert snap_of_cgroup(text) == owner


# --- the /proc scan ------------------------------------------------------------------------------------------------

def test_scan_finds_open_and_mapped_objects_of_the_asked_snaps(tmp_path):
    add_process(tmp_path, 1234, CONSUMER_LABEL, fds=["/dev/null", "/dev/shm/bar", "socket:[123]"],
                maps=["/usr/lib/libc.so.6", "/dev/shm/sem.snap.consumer.x (deleted)"])
    add_process(tmp_path, 99, "snap.provider.app (enforce)", maps=["/dev/shm/bar-ro"])
    add_process(tmp_path, 7, "snap.logger.app (enforce)", fds=["/dev/shm/bar"])
    add_process(tmp_path, 1, "unconfined", fds=["/dev/shm/bar"])
    add_process(tmp_path, 5, CONSUMER_LABEL, fds=["/dev/null", "/run/shm-lookalike"])
    os.symlink("1", os.path.join(str(tmp_path), "proc", "self"))
    assert read_snap_processes(str(tmp_path), ["consumer", "provider"]) == [
        SnapProcess(99, "provider", "app", ("/dev/shm/bar-ro",)),
        SnapProcess(1234, "consumer", "app", ("/dev/shm/bar", "/dev/shm/sem.snap.consumer.x")),
    ]


def test_scan_falls_back_to_the_cgroup_when_the_label_cannot_be_read(tmp_path):
    add_process(tmp_path, 42, None, cgroup="0::/user.slice/snap.consumer.app-%s.scope\n" % UUID, fds=["/dev/shm/bar"])
    assert read_snap_processes(str(tmp_path), ["consumer"]) == [SnapProcess(42, "consumer", "app", ("/dev/shm/bar",))]


def test_scan_keeps_paths_with_spaces_from_maps(tmp_path):
    add_process(tmp_path, 42, CONSUMER_LABEL, maps=["/dev/shm/a b"])
    assert read_snap_processes(str(tmp_path), ["consumer"])[0].objects == ("/dev/shm/a b",)


def test_scan_without_snaps_or_without_proc_finds_nothing(tmp_path):
    add_process(tmp_path, 42, CONSUMER_LABEL, fds=["/dev/shm/bar"])
    assert read_snap_processes(str(tmp_path), []) == []
    assert read_snap_processes(str(tmp_path / "elsewhere"), ["consumer"]) == []


def test_scan_skips_processes_that_vanish_mid_scan(tmp_path, monkeypatch):
    add_process(tmp_path, 42, CONSUMER_LABEL, fds=["/dev/shm/bar"])
    gone = add_process(tmp_path, 43, CONSUMER_LABEL, fds=["/dev/shm/bar"])
    real_listdir = os.listdir

    def listdir_then_exit(path):
        names = real_listdir(path)
        if path == os.path.join(str(tmp_path), "proc") and os.path.isdir(gone):
            # pid 43 exits right after /proc was listed, and 44 was only ever in the listing
            shutil.rmtree(gone)
            names = names + ["44"]
        return names

    monkeypatch.setattr(_shm_users.os, "listdir", listdir_then_exit)
    assert [process.pid for process in read_snap_processes(str(tmp_path), ["consumer"])] == [42]


def test_scan_tolerates_permission_errors(tmp_path, monkeypatch):
    add_process(tmp_path, 42, CONSUMER_LABEL, fds=["/dev/shm/bar", "/dev/shm/baz"], maps=["/dev/shm/mapped"])
    add_process(tmp_path, 43, CONSUMER_LABEL, fds=["/dev/shm/bar"])
    real_readlink, real_open = os.readlink, builtins.open

    def readlink(path):
        if path.endswith(os.path.join("42", "fd", "0")):
            raise PermissionError(13, "Permission denied")
        return real_readlink(path)

    def open_(path, *args, **kwargs):
        if str(path).endswith(os.path.join("42", "maps")) or str(path).endswith(os.path.join("43", "attr", "current")):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(_shm_users.os, "readlink", readlink)
    monkeypatch.setattr(builtins, "open", open_)
    # 43's label is unreadable and it has no cgroup file: whose it is cannot be told, so it is left out
    assert read_snap_processes(str(tmp_path), ["consumer"]) == [SnapProcess(42, "consumer", "app", ("/dev/shm/baz",))]


def test_scan_reads_only_proc_and_never_follows_a_link_into_dev_shm(tmp_path, monkeypatch):
    # the fd link points at a hostile /dev/shm entry: a symlink to a secret; it must be read as text only
    (tmp_path / "secret").write_text("secret")
    (tmp_path / "dev" / "shm").mkdir(parents=True)
    os.symlink(str(tmp_path / "secret"), str(tmp_path / "dev" / "shm" / "bar"))
    add_process(tmp_path, 42, CONSUMER_LABEL, fds=[str(tmp_path / "dev" / "shm" / "bar"), "/dev/shm/bar"])
    proc = os.path.join(str(tmp_path), "proc")
    touched = []

    def spy(name, real):
        def call(path, *args, **kwargs):
            touched.append((name, str(path), args[:1] or (kwargs.get("mode", "r"),)))
            return real(path, *args, **kwargs)
        return call

    for name in ("open", "stat", "lstat", "listdir", "readlink", "scandir"):
        monkeypatch.setattr(_shm_users.os, name, spy(name, getattr(os, name)))
    monkeypatch.setattr(builtins, "open", spy("open()", builtins.open))
    processes = read_snap_processes(str(tmp_path), ["consumer"])
    monkeypatch.undo()
    assert processes == [SnapProcess(42, "consumer", "app", ("/dev/shm/bar",))]
    assert touched and all(call[1].startswith(proc) for call in touched), touched
    assert [call[2] for call in touched if call[0] == "open()"] == [("rb",), ("rb",)]
    assert [call[0] for call in touched if call[0] in ("open", "stat", "lstat", "scandir")] == []


# --- which processes use a connection ------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern, name, matches", [
    ("bar", "bar", True),
    ("bar", "bar2", False),
    ("bar", "xbar", False),
    ("lab-shm-sem.*", "lab-shm-sem.1", True),
    ("lab-shm-sem.*", "lab-shm-sem.", True),
    ("lab-shm-sem.*", "lab-shm-semX1", False),
    ("*", "anything", True),
    ("*", "snap.x/inside", False),
    ("a*c", "abbbc", True),
    (".", ".", True),
])
def test_object_matches_like_apparmor(pattern, name, matches):
    assert object_matches(pattern, name) is matches


def processes_of(*entries):
    return [SnapProcess(pid, snap, "app", tuple(paths)) for pid, snap, paths in entries]


def test_users_are_the_plug_and_slot_snaps_processes_holding_granted_objects():
    state = host(established=[provider_connection()])
    processes = processes_of((10, "consumer", ["/dev/shm/bar", "/dev/shm/snap.consumer.own"]),
                             (11, "provider", ["/dev/shm/bar-ro"]),
                             (12, "logger", ["/dev/shm/bar"]),
                             (13, "consumer", ["/dev/shm/unrelated"]))
    assert connection_users(state, state.established[0], processes) == [
        {"pid": 10, "snap": "consumer", "app": "app", "paths": ["/dev/shm/bar"]},
        {"pid": 11, "snap": "provider", "app": "app", "paths": ["/dev/shm/bar-ro"]},
    ]


def test_users_of_paths_stored_with_the_connection_count_as_well_as_the_slots_current_ones():
    state = host(established=[provider_connection(write=["old"], read=[])])
    processes = processes_of((10, "consumer", ["/dev/shm/old"]), (11, "consumer", ["/dev/shm/bar-ro"]))
    assert [user["pid"] for user in connection_users(state, state.established[0], processes)] == [10, 11]


def test_every_dev_shm_object_of_a_private_plugs_snap_uses_its_connection():
    state = host(established=[private_connection()])
    processes = processes_of((10, "shm-private", ["/dev/shm/anything"]), (11, "snapd", ["/dev/shm/x"]),
                             (12, "consumer", ["/dev/shm/anything"]))
    assert connection_users(state, state.established[0], processes) == [
        {"pid": 10, "snap": "shm-private", "app": "app", "paths": ["/dev/shm/anything"]}]


def test_planned_disconnects_are_the_established_connections_taken_down():
    undesired = connection("shm-private:shmem-private", "snapd:shared-memory")
    logger = connection("logger:shmem", "provider:shmem")
    state = host(established=[provider_connection(), logger], undesired=[undesired])
    desired = [desired_connection("consumer:shmem", "provider:shmem", "disconnected"),
               desired_connection("shm-private:shmem-private", None, "disconnected", forget=True),
               desired_connection("stranger:shmem", "provider:shmem", "disconnected")]
    plan = build_plan(desired, state, exclusive=True)
    assert sorted(a.action for a in plan.actions) == ["disconnect", "disconnect", "forget"]
    assert [str(c.plug) for c in planned_disconnects(state, plan.actions)] == ["consumer:shmem", "logger:shmem"]


def test_connections_in_use_keeps_only_those_with_users_and_names_them_in_one_message():
    logger = connection("logger:shmem", "provider:shmem")
    state = host(established=[provider_connection(), logger])
    processes = processes_of((10, "consumer", ["/dev/shm/bar"]), (11, "consumer", ["/dev/shm/bar", "/dev/shm/bar-ro"]))
    in_use = connections_in_use(state, state.established, processes)
    assert [(str(c.plug), [u["pid"] for u in users]) for c, users in in_use] == [("consumer:shmem", [10, 11])]
    assert in_use_message(*in_use[0]) == ("consumer:shmem - provider:shmem is in use by consumer.app pid 10 "
                                          "(/dev/shm/bar), consumer.app pid 11 (/dev/shm/bar, /dev/shm/bar-ro)")
