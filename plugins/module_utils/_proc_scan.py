# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""Who uses a shared-memory connection: the processes of its snaps holding its objects open or mapped.

shm_connection asks before it disconnects (a disconnect pulls the AppArmor grant from under running
apps), shm_info and shm_verify list them. read_snap_processes() is the edge: it reads /proc under
`root` with plain open/os.readlink/os.listdir, skips processes that vanish, counts those it cannot read
(a caller must not take "none found" for "nobody uses it" then), and never opens, stats or follows
anything under /dev/shm (a fd link's target is only compared as text). Everything else here is a pure
function over a ShmState and the processes read; object names are any local user's, so matching them
against slot paths takes time linear in the name.
"""

from __future__ import annotations

import collections
import errno
import os
import re
import time
from dataclasses import dataclass

from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_quoting import go_quote
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_versions import PRIVATE_SINCE, before

DEV_SHM = "/dev/shm/"
_DELETED = " (deleted)"
_SMALL_READ = 4096
# how many unreadable processes a scan names in its messages; the rest are only counted
UNSEEN_SHOWN = 5
# The scan's bounds, the same over both transports: a process's /dev/shm maps lines (a process past it counts as
# unseen), and the bytes the sh scan may send back for all processes together (past it the scan stops, CUT_BYTES)
PROCESS_SHM_BYTES = 256 * 1024
SCAN_BYTES = 768 * 1024
CUT_TIME = "the time ran out (the task's timeout)"
CUT_BYTES = "the processes' /dev/shm paths passed %d bytes" % SCAN_BYTES
MAPS_TOO_LONG = "maps: more than %d bytes of /dev/shm mappings" % PROCESS_SHM_BYTES
FDS_TOO_LONG = "fd: more than %d bytes of /dev/shm descriptors" % PROCESS_SHM_BYTES
# /proc's process directories: ASCII digits only (str.isdigit() also takes "²", which int() refuses)
PID = re.compile(r"[0-9]{1,19}")
# errors of a /proc file whose process has ended (ESRCH, ENOENT), or that no LSM answers (EINVAL on attr/current)
_GONE = (errno.ENOENT, errno.ESRCH, errno.EINVAL)

SnapProcess = collections.namedtuple("SnapProcess", "pid snap app objects")
SnapProcess.__doc__ = "A process of a snap: app as in snap.SNAP.APP, objects the /dev/shm paths it has open or mapped."

# snap/naming/validate.go: snap instance names (with an optional instance key), app names and hook names
_SNAP = r"[a-z0-9]+(?:-[a-z0-9]+)*(?:_[a-z0-9]{1,10})?"
_APP = r"[A-Za-z0-9](?:-?[A-Za-z0-9])*"
_HOOK = r"hook\.[a-z](?:-?[a-z0-9])*"
# AppArmor labels: snap.SNAP.APP and snap.SNAP.hook.HOOK for apps and hooks, snap-update-ns.SNAP for the
# helper that sets up the snap's mount namespace (interfaces/apparmor/backend.go)
_APP_LABEL = re.compile(r"snap\.(%s)\.(%s|%s)" % (_SNAP, _APP, _HOOK))
_UPDATE_NS_LABEL = re.compile(r"snap-update-ns\.(%s)" % _SNAP)
# the mode AppArmor prints after a label: `snap.foo.app (enforce)`
_LABEL_MODE = re.compile(r"(.+) \(([a-z]+)\)")
# systemd units snapd runs apps in: snap.SNAP.APP-UUID.scope (sandbox/cgroup) and snap.SNAP.APP.service (daemons)
_SCOPE_UNIT = re.compile(r"snap\.(%s)\.(%s|%s)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.scope"
                         % (_SNAP, _APP, _HOOK))
_SERVICE_UNIT = re.compile(r"snap\.(%s)\.(%s)\.service" % (_SNAP, _APP))


@dataclass(frozen=True)
class ProcessScan:
    """What a /proc scan saw: the snaps' processes holding /dev/shm objects, and what it could not see.

    unseen names up to UNSEEN_SHOWN processes (or /proc itself) that could not be read, with why;
    unseen_count counts them all; cut says why the scan stopped before the last process (CUT_TIME, CUT_BYTES).
    A scan with unseen processes or a cut cannot tell that nobody uses an object.
    """

    processes: tuple = ()
    unseen: tuple = ()
    unseen_count: int = 0
    cut: str = None

    @property
    def complete(self):
        return self.unseen_count == 0 and self.cut is None

    def unseen_text(self):
        """`pid 12 (fd: Permission denied), ...`, with how many more were not named."""
        text = ", ".join(self.unseen)
        if self.unseen_count > len(self.unseen):
            text += " and %d more" % (self.unseen_count - len(self.unseen))
        return text


class _Unreadable(Exception):
    """A /proc file of a live process that could not be read (permission, I/O): the process is not seen."""


# --- whose process is it -------------------------------------------------------------------------------------------

def _label_name(label):
    """An AppArmor label without its mode (`snap.x.y (enforce)` gives `snap.x.y`), or None when it is not one.

    None means AppArmor did not answer: no label to read, or another LSM's (an SELinux context).
    """
    label = (label or "").strip()
    match = _LABEL_MODE.fullmatch(label)
    if match:
        return match.group(1)
    if label == "unconfined" or _APP_LABEL.fullmatch(label) or _UPDATE_NS_LABEL.fullmatch(label):
        return label
    return None


def snap_of_label(label):
    """(snap, app) from an AppArmor label such as `snap.shm-consumer.read (enforce)`, else None."""
    name = _label_name(label) or ""
    match = _APP_LABEL.fullmatch(name)
    if match:
        return match.group(1), match.group(2)
    match = _UPDATE_NS_LABEL.fullmatch(name)
    if match:
        return match.group(1), "snap-update-ns"
    return None


def snap_of_cgroup(text):
    """(snap, app) from /proc/PID/cgroup text: the snap's scope or service unit as a cgroup's own name, else None.

    Only the last path component counts: a unit further up holds the cgroup, and below a unit the
    cgroups are delegated to whoever runs in it.
    """
    for line in (text or "").splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        unit = fields[2].rpartition("/")[2]
        match = _SCOPE_UNIT.fullmatch(unit) or _SERVICE_UNIT.fullmatch(unit)
        if match:
            return match.group(1), match.group(2)
    return None


# --- the /proc scan ------------------------------------------------------------------------------------------------

def _read_small(path):
    """The start of a /proc file, None when its process has ended; _Unreadable when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read(_SMALL_READ).decode("utf-8", "replace")
    except OSError as error:
        if error.errno in _GONE:
            return None
        raise _Unreadable("%s: %s" % (os.path.basename(path), error.strerror))


def _list(path):
    """A /proc directory's names, [] when its process has ended; _Unreadable when it cannot be listed."""
    try:
        return os.listdir(path)
    except OSError as error:
        if error.errno in _GONE:
            return []
        raise _Unreadable("%s: %s" % (os.path.basename(path), error.strerror))


def _shm_path(target):
    """The /dev/shm path a fd link or maps line names, without the kernel's ` (deleted)` mark, else None."""
    if target.endswith(_DELETED):
        target = target[:-len(_DELETED)]
    return target if target.startswith(DEV_SHM) and len(target) > len(DEV_SHM) else None


@dataclass(frozen=True)
class ProcessRecord:
    """What a /proc scan read of one process, before it is judged (the Python and the sh scan both give these).

    targets are its fd link targets and the pathnames of its maps lines, raw; problems what could not be
    read of it. A process whose owner could not even be read has ``unreadable`` set instead.
    """

    pid: int
    label: str = None
    cgroup: str = None
    targets: tuple = ()
    problems: tuple = ()
    unreadable: str = None


def process_owner(label, cgroup):
    """(snap, app) of a process, None when it is no snap's.

    The AppArmor label decides whenever there is one: `unconfined` is no snap's process, whatever its
    cgroup is called (any user can name a cgroup of their own like a snap's unit). Only without an
    AppArmor label (another LSM, AppArmor off) does snapd's cgroup tracking name the app.
    """
    if _label_name(label) is not None:
        return snap_of_label(label)
    return snap_of_cgroup(cgroup)


def scan_from_records(records, snaps, proc_error=None, cut=None):
    """ProcessScan of `snaps` from ProcessRecords; `proc_error` says why /proc itself could not be listed, `cut` why
    the scan stopped early."""
    if proc_error is not None:
        return ProcessScan(unseen=("/proc (%s)" % proc_error,), unseen_count=1)
    snaps = set(snaps)
    found = []
    unseen = []
    for record in records:
        if record.unreadable is not None:
            unseen.append("pid %s (%s)" % (record.pid, record.unreadable))
            continue
        owner = process_owner(record.label, record.cgroup)
        if owner is None or owner[0] not in snaps:
            continue
        if record.problems:
            unseen.append("pid %s (%s)" % (record.pid, record.problems[0]))
        objects = set(path for path in (_shm_path(target) for target in record.targets) if path)
        if objects:
            found.append(SnapProcess(record.pid, owner[0], owner[1], tuple(sorted(objects))))
    unseen.sort(key=lambda text: int(text.split()[1]))
    return ProcessScan(tuple(sorted(found)), tuple(unseen[:UNSEEN_SHOWN]), len(unseen), cut)


def _open_targets(task_dir, problems):
    fd_dir = os.path.join(task_dir, "fd")
    try:
        names = _list(fd_dir)
    except _Unreadable as error:
        problems.append(str(error))
        return []
    targets = []
    shm_bytes = 0
    for name in names:
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except OSError as error:
            if error.errno not in _GONE:  # else closed meanwhile
                problems.append("fd: %s" % error.strerror)
            continue
        if target.startswith(DEV_SHM):
            # the same bound as the sh scan's, on the paths alone (that scan counts `ls -l` lines, a little longer)
            shm_bytes += len(target.encode("utf-8", "surrogateescape")) + 1
            if shm_bytes > PROCESS_SHM_BYTES:
                problems.append(FDS_TOO_LONG)
                return [target for target in targets if not target.startswith(DEV_SHM)]
        targets.append(target)
    return targets


def _mapped_targets(task_dir, problems):
    """The pathnames of a task's maps lines, and whether it had an address space at all (an exited one has none)."""
    targets = []
    lines = 0
    shm_bytes = 0
    try:
        with open(os.path.join(task_dir, "maps"), "rb") as handle:
            for line in handle:
                lines += 1
                if b" /dev/shm/" not in line:
                    continue
                # counted as the sh scan's `grep -F` counts them: every matching line, newline included
                shm_bytes += len(line.rstrip(b"\n")) + 1
                if shm_bytes > PROCESS_SHM_BYTES:
                    problems.append(MAPS_TOO_LONG)
                    return [], True
                # address perms offset dev inode pathname; the pathname may hold spaces
                fields = line.rstrip(b"\n").split(None, 5)
                if len(fields) == 6:
                    targets.append(fields[5].decode("utf-8", "surrogateescape"))
    except OSError as error:
        if error.errno not in _GONE:
            problems.append("maps: %s" % error.strerror)
    return targets, lines > 0


def _process_targets(process_dir, problems):
    """Every fd target and mapped pathname of a process, read from each of its threads (/proc/PID/task/TID).

    A process whose main thread has exited while another thread lives on shows nothing in /proc/PID/fd
    and /proc/PID/maps; only its threads' directories do. Threads share one address space (CLONE_THREAD
    needs CLONE_VM), so maps is read until one thread shows it; fd tables may differ, so each is read.
    What cannot be read is added to problems.
    """
    targets = []
    mapped = False
    task_root = os.path.join(process_dir, "task")
    try:
        tids = sorted(_list(task_root))
    except _Unreadable as error:
        problems.append(str(error))
        return targets
    for tid in tids:
        if not PID.fullmatch(tid):
            continue
        task_dir = os.path.join(task_root, tid)
        targets += _open_targets(task_dir, problems)
        if not mapped:
            task_mapped, mapped = _mapped_targets(task_dir, problems)
            targets += task_mapped
    return targets


def _read_record(process_dir, pid, snaps):
    """The ProcessRecord of a process of one of `snaps`, None for any other process."""
    try:
        label = _read_small(os.path.join(process_dir, "attr", "current"))
        cgroup = None if _label_name(label) is not None else _read_small(os.path.join(process_dir, "cgroup"))
    except _Unreadable as error:
        return ProcessRecord(pid, unreadable=str(error))
    owner = process_owner(label, cgroup)
    if owner is None or owner[0] not in snaps:
        return None
    problems = []
    targets = _process_targets(process_dir, problems)
    return ProcessRecord(pid, label, cgroup, tuple(targets), tuple(problems))


def read_snap_processes(root, snaps, deadline=None):
    """ProcessScan: every process of one of `snaps` holding something under /dev/shm open or mapped.

    A private plug's snap sees its own /dev/shm/snap.NAME as /dev/shm in its mount namespace, so the
    paths are as the process sees them. Processes that end mid-scan are skipped; those that cannot be
    read, wholly or in part, and /proc itself when it cannot be listed, are the scan's unseen. At
    `deadline` (time.monotonic()) the scan stops, and says so (CUT_TIME).
    """
    snaps = set(snaps)
    if not snaps:
        return ProcessScan()
    proc = os.path.join(root, "proc")
    try:
        entries = os.listdir(proc)
    except OSError as error:
        return scan_from_records((), snaps, proc_error=error.strerror)
    records = []
    for entry in entries:
        if not PID.fullmatch(entry):
            continue
        if deadline is not None and time.monotonic() >= deadline:
            return scan_from_records(records, snaps, cut=CUT_TIME)
        record = _read_record(os.path.join(proc, entry), int(entry), snaps)
        if record is not None:
            records.append(record)
    return scan_from_records(records, snaps)


# --- which of them use a connection --------------------------------------------------------------------------------

def _component_matches(pieces, name):
    """Whether `name` (no `/`) is pieces[0] * pieces[1] * ... * pieces[-1], each `*` spanning any characters.

    Greedy and without backtracking: the first and last pieces are anchored, and each middle piece is taken
    at its leftmost place after the one before. Taking it later never helps, since the stars on both sides
    span anything; so each piece is searched for once and the time is linear in the name.
    """
    first, last = pieces[0], pieces[-1]
    if len(pieces) == 1:
        return name == first
    if len(first) + len(last) > len(name) or not name.startswith(first) or not name.endswith(last):
        return False
    position, end = len(first), len(name) - len(last)
    for piece in pieces[1:-1]:
        found = name.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def object_matcher(pattern):
    """object_matches(pattern, NAME) as a function of NAME, the pattern taken apart once (for many names)."""
    components = [part.split("*") for part in pattern.split("/")]

    def matches(name):
        # a `*` cannot span a `/`, so pattern and name match component by component
        names = name.split("/")
        return len(names) == len(components) and all(
            _component_matches(pieces, component) for pieces, component in zip(components, names))
    return matches


def object_matches(pattern, name):
    """Whether a slot's read/write path grants /dev/shm/NAME: `*` spans any characters but `/`, as in AppArmor."""
    return object_matcher(pattern)(name)


def connection_is_private(state, connection):
    """Whether snapd treats the connection as private: from the attributes stored with it, as snapd builds the
    profiles from them; a connection stored by 2.54.x, without "private", is not private (isPrivate, snapd 2.60.3+;
    2.55.3-2.60.2 fail on it instead: _verify_checks reports that). snapd 2.54.0-2.55.2 never read "private": nothing
    is private there."""
    return connection.plug_attrs.get("private") is True and not before(state.version, PRIVATE_SINCE)


def _path_list(value):
    return [path for path in value if isinstance(path, str)] if isinstance(value, (list, tuple)) else []


def granted_paths(state, connection):
    """The slot paths a connection grants: those stored with it and the slot's current ones, sorted."""
    paths = set()
    for key in ("read", "write"):
        paths.update(_path_list(connection.slot_attrs.get(key)))
    slot = state.slots.get(connection.slot)
    if slot is not None:
        paths.update(slot.read + slot.write)
    return sorted(paths)


def connection_snaps(state, connections):
    """The snaps whose processes may use these connections (the system snap runs no apps of its own)."""
    snaps = set()
    for connection in connections:
        snaps.update(snap for snap in (connection.plug.snap, connection.slot.snap) if snap != state.system_snap)
    return sorted(snaps)


def connection_users(state, connection, processes):
    """[{pid, snap, app, paths}] of the processes of the plug's and slot's snaps using the connection's objects.

    For a private plug every /dev/shm object of a process of the plug's snap counts: its /dev/shm is the
    connection.
    """
    private = connection_is_private(state, connection)
    snaps = connection_snaps(state, [connection])
    patterns = granted_paths(state, connection)
    users = []
    for process in processes:
        if process.snap not in snaps:
            continue
        paths = [path for path in process.objects
                 if private or any(object_matches(pattern, path[len(DEV_SHM):]) for pattern in patterns)]
        if paths:
            users.append({"pid": process.pid, "snap": process.snap, "app": process.app, "paths": paths})
    return users


def connections_in_use(state, connections, processes):
    """[(connection, users)] for those of `connections` that have users, in the given order."""
    in_use = []
    for connection in connections:
        users = connection_users(state, connection, processes)
        if users:
            in_use.append((connection, users))
    return in_use


def planned_disconnects(state, actions):
    """The established connections that planned disconnect and forget actions take down."""
    connections = []
    for action in actions:
        connection = state.connection(action.plug, action.slot) if action.action != "connect" else None
        if connection is not None:
            connections.append(connection)
    return connections


def shown(path):
    """A /dev/shm path for a message: as is, or Go-quoted when any local user's chosen name could forge a line."""
    return path if path.isprintable() else go_quote(path)


def in_use_message(connection, users):
    """`PLUG - SLOT is in use by SNAP.APP pid N (paths), ...`: the one way modules name a connection's users."""
    return "%s - %s is in use by %s" % (connection.plug, connection.slot, ", ".join(
        "%s.%s pid %d (%s)" % (user["snap"], user["app"], user["pid"], ", ".join(shown(path) for path in user["paths"]))
        for user in users))


def unseen_message(scan):
    """`cannot see every process ...`: the one way modules say that a scan could not read some processes, or
    stopped before the last one."""
    said = []
    if scan.unseen_count:
        said.append("%d could not be read (%s)" % (scan.unseen_count, scan.unseen_text()))
    if scan.cut is not None:
        said.append("the scan stopped early: %s" % scan.cut)
    return "cannot see every process that may use the connections: " + "; ".join(said)
