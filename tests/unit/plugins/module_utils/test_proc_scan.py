# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The users of a connection: who a process belongs to, the /proc scan over a fake tree, and the matching."""

from __future__ import annotations

import builtins
import functools
import os
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fake_proc import add_process
from shm_fixtures import connection, host

from ansible_collections.snapfleet.snapd.plugins.module_utils import _proc_scan
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_plan import build_plan, desired_connection
from ansible_collections.snapfleet.snapd.plugins.module_utils._proc_scan import (
    ProcessScan,
    SnapProcess,
    _component_matches,
    connection_users,
    connections_in_use,
    in_use_message,
    object_matches,
    planned_disconnects,
    read_snap_processes,
    snap_of_cgroup,
    snap_of_label,
    unseen_message,
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
    ("snap.foo.my app (enforce)", None),
    ("snap.foo.app\x1b[2K (enforce)", None),
    ("snap.foo.app\nALL CLEAR (enforce)", None),
    ("snap.Foo.app (enforce)", None),
    ("system_u:system_r:unconfined_t:s0", None),
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
    # only the cgroup's own name counts: below a unit, cgroups are delegated to whatever runs in it
    ("0::/system.slice/snap.foo.app.service/mine\n", None),
    ("0::/user.slice/snap.foo.app-%s.scope/mine\n" % UUID, None),
    ("0::/user.slice/user-1000.slice/user@1000.service/app.slice/snap.foo.a$(id).service\n", None),
    ("0::/user.slice/user-1000.slice/user@1000.service/app.slice/snap.foo.app\x1b[2K.service\n", None),
    ("0::/odd:name/snap.foo.app.service\n", ("foo", "app")),
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
    assert read_snap_processes(str(tmp_path), ["consumer", "provider"]) == ProcessScan((
        SnapProcess(99, "provider", "app", ("/dev/shm/bar-ro",)),
        SnapProcess(1234, "consumer", "app", ("/dev/shm/bar", "/dev/shm/sem.snap.consumer.x")),
    ))


def test_scan_falls_back_to_the_cgroup_when_the_label_cannot_be_read(tmp_path):
    add_process(tmp_path, 42, None, cgroup="0::/user.slice/snap.consumer.app-%s.scope\n" % UUID, fds=["/dev/shm/bar"])
    assert read_snap_processes(str(tmp_path), ["consumer"]).processes == (
        SnapProcess(42, "consumer", "app", ("/dev/shm/bar",)),)


def test_scan_ignores_the_cgroup_of_a_process_apparmor_calls_unconfined(tmp_path):
    # any user can name a cgroup of their own like a snap's service; AppArmor's label says whose a process is
    add_process(tmp_path, 42, "unconfined", cgroup="0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
                "snap.provider.app.service\n", fds=["/dev/shm/bar"])
    add_process(tmp_path, 43, "/usr/bin/man (enforce)", cgroup="0::/system.slice/snap.provider.app.service\n",
                fds=["/dev/shm/bar"])
    assert read_snap_processes(str(tmp_path), ["provider"]) == ProcessScan()


def test_scan_reads_the_cgroup_when_another_lsm_holds_the_label(tmp_path):
    add_process(tmp_path, 42, "system_u:system_r:unconfined_service_t:s0",
                cgroup="0::/system.slice/snap.provider.app.service\n", fds=["/dev/shm/bar"])
    assert read_snap_processes(str(tmp_path), ["provider"]).processes == (
        SnapProcess(42, "provider", "app", ("/dev/shm/bar",)),)


def test_scan_finds_objects_held_by_a_thread_after_the_main_thread_exited(tmp_path):
    # /proc/PID/fd and /proc/PID/maps are empty then; only /proc/PID/task/TID shows what the process holds
    add_process(tmp_path, 42, CONSUMER_LABEL, leader_exited=True,
                threads={43: ((), ["/dev/shm/bar"]), 44: (["/dev/shm/baz"], ["/dev/shm/bar"])})
    assert read_snap_processes(str(tmp_path), ["consumer"]).processes == (
        SnapProcess(42, "consumer", "app", ("/dev/shm/bar", "/dev/shm/baz")),)


def test_scan_reads_each_threads_fds_but_the_shared_maps_once(tmp_path, monkeypatch):
    add_process(tmp_path, 42, CONSUMER_LABEL, fds=["/dev/shm/bar"], maps=["/dev/shm/bar-ro"],
                threads={43: (["/dev/shm/own-fd-table"], ["/dev/shm/bar-ro"])})
    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda path, *args: opened.append(str(path)) or real_open(path, *args))
    processes = read_snap_processes(str(tmp_path), ["consumer"]).processes
    monkeypatch.undo()
    assert processes == (SnapProcess(42, "consumer", "app", ("/dev/shm/bar", "/dev/shm/bar-ro", "/dev/shm/own-fd-table")),)
    assert [path for path in opened if path.endswith("maps")] == [str(tmp_path / "proc" / "42" / "task" / "42" / "maps")]


def test_unseen_message_names_a_few_processes_and_counts_the_rest():
    scan = ProcessScan((), tuple("pid %d (fd: Permission denied)" % pid for pid in range(1, 6)), 12)
    assert unseen_message(scan) == (
        "cannot see every process that may use the connections: 12 could not be read (pid 1 (fd: Permission denied), "
        "pid 2 (fd: Permission denied), pid 3 (fd: Permission denied), pid 4 (fd: Permission denied), "
        "pid 5 (fd: Permission denied) and 7 more)")


def test_scan_counts_every_unseen_process_and_names_the_first(tmp_path, monkeypatch):
    for pid in range(10, 20):
        add_process(tmp_path, pid, CONSUMER_LABEL, fds=["/dev/shm/bar"])
    real_listdir = os.listdir

    def denied(path):
        if path.endswith("task"):
            raise PermissionError(13, "Permission denied")
        return real_listdir(path)

    monkeypatch.setattr(_proc_scan.os, "listdir", denied)
    scan = read_snap_processes(str(tmp_path), ["consumer"])
    assert scan.unseen_count == 10 and len(scan.unseen) == _proc_scan.UNSEEN_SHOWN
    assert scan.unseen[0] == "pid 10 (task: Permission denied)"


def test_scan_keeps_paths_with_spaces_from_maps(tmp_path):
    add_process(tmp_path, 42, CONSUMER_LABEL, maps=["/dev/shm/a b"])
    assert read_snap_processes(str(tmp_path), ["consumer"]).processes[0].objects == ("/dev/shm/a b",)


def test_scan_without_snaps_reads_nothing_and_sees_all_it_needs(tmp_path):
    add_process(tmp_path, 42, CONSUMER_LABEL, fds=["/dev/shm/bar"])
    assert read_snap_processes(str(tmp_path), []) == ProcessScan()
    assert read_snap_processes(str(tmp_path), []).complete


def test_scan_that_cannot_list_proc_sees_nothing_and_says_so(tmp_path):
    # before, it found nothing and the in-use guard let the disconnect through (failing open)
    scan = read_snap_processes(str(tmp_path / "elsewhere"), ["consumer"])
    assert scan.processes == () and not scan.complete
    assert scan.unseen == ("/proc (No such file or directory)",)


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

    monkeypatch.setattr(_proc_scan.os, "listdir", listdir_then_exit)
    scan = read_snap_processes(str(tmp_path), ["consumer"])
    assert [process.pid for process in scan.processes] == [42]
    assert scan.complete  # a process that ended is no process unseen


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

    monkeypatch.setattr(_proc_scan.os, "readlink", readlink)
    monkeypatch.setattr(builtins, "open", open_)
    # 42 is seen in part (its fd 0 and its maps cannot be read); whose 43 is cannot be told (its label is unreadable)
    scan = read_snap_processes(str(tmp_path), ["consumer"])
    assert scan.processes == (SnapProcess(42, "consumer", "app", ("/dev/shm/baz",)),)
    assert scan.unseen == ("pid 42 (fd: Permission denied)", "pid 43 (current: Permission denied)")
    assert scan.unseen_count == 2 and not scan.complete


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
        monkeypatch.setattr(_proc_scan.os, name, spy(name, getattr(os, name)))
    monkeypatch.setattr(builtins, "open", spy("open()", builtins.open))
    scan = read_snap_processes(str(tmp_path), ["consumer"])
    monkeypatch.undo()
    assert scan.processes == (SnapProcess(42, "consumer", "app", ("/dev/shm/bar",)),)
    assert touched and all(call[1].startswith(proc) for call in touched), touched
    assert [call[2] for call in touched if call[0] == "open()"] == [("rb",), ("rb",)]
    assert [call[0] for call in touched if call[0] in ("open", "stat", "lstat", "scandir")] == []


# --- which processes use a connection ------------------------------------------------------------------------------

def reference_match(pattern, name):
    """The meaning of a slot path, spelt out: `*` spans any characters but `/`; slow, but plainly right."""
    @functools.lru_cache(maxsize=None)
    def match(at_pattern, at_name):
        if at_pattern == len(pattern):
            return at_name == len(name)
        if pattern[at_pattern] == "*":
            return match(at_pattern + 1, at_name) or (
                at_name < len(name) and name[at_name] != "/" and match(at_pattern, at_name + 1))
        return at_name < len(name) and pattern[at_pattern] == name[at_name] and match(at_pattern + 1, at_name + 1)
    return match(0, 0)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="ab*/.", max_size=12), st.text(alphabet="ab/.", max_size=16))
def test_object_matches_agrees_with_the_reference_on_random_paths_and_names(pattern, name):
    assert object_matches(pattern, name) is reference_match(pattern, name)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(alphabet="ab", max_size=3), min_size=1, max_size=6), st.text(alphabet="ab", max_size=20))
def test_object_matches_agrees_with_the_reference_on_star_heavy_paths(pieces, name):
    pattern = "*".join(pieces)
    assert object_matches(pattern, name) is reference_match(pattern, name)


@pytest.mark.parametrize("length", [64, 255, 4096, 100000])
def test_object_matching_takes_linear_time_on_a_pathological_path(length):
    # the path snapd and shm_lint accept; a backtracking regex took 3 s on 50 characters and never ended on 255
    pattern = "a*a*a*a*a*a*a*a*b"
    assert object_matches(pattern, "a" * length) is False
    assert object_matches(pattern, "a" * (length - 1) + "b") is True
    # each piece between stars is searched for once, left to right: never again from another start
    searches = []

    class Name(str):
        def find(self, *args):
            searches.append(args)
            return str.find(self, *args)

    assert _component_matches(pattern.split("*"), Name("a" * (length - 1) + "b")) is True
    assert len(searches) == len(pattern.split("*")) - 2


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
