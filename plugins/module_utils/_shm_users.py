# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""Who uses a shared-memory connection: the processes of its snaps holding its objects open or mapped.

shm_connection asks before it disconnects (a disconnect pulls the AppArmor grant from under running
apps), shm_info and shm_verify list them. read_snap_processes() is the edge: it reads /proc under
`root` with plain open/os.readlink/os.listdir, tolerates processes that vanish or cannot be read, and
never opens, stats or follows anything under /dev/shm (a fd link's target is only compared as text).
Everything else here is a pure function over a ShmState and the processes read.
"""

from __future__ import annotations

import collections
import os
import re

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_rules import go_quote

DEV_SHM = "/dev/shm/"
_DELETED = " (deleted)"
_SMALL_READ = 4096

SnapProcess = collections.namedtuple("SnapProcess", "pid snap app objects")
SnapProcess.__doc__ = "A process of a snap: app as in snap.SNAP.APP, objects the /dev/shm paths it has open or mapped."

# AppArmor labels: snap.SNAP.APP and snap.SNAP.hook.HOOK for apps and hooks, snap-update-ns.SNAP for the
# helper that sets up the snap's mount namespace (interfaces/apparmor/backend.go)
_APP_LABEL = re.compile(r"^snap\.([^.]+)\.(.+)$")
_UPDATE_NS_LABEL = re.compile(r"^snap-update-ns\.([^.]+)$")
# systemd units snapd runs apps in: snap.SNAP.APP-UUID.scope (sandbox/cgroup) and snap.SNAP.APP.service (daemons)
_SCOPE_UNIT = re.compile(r"^snap\.([^.]+)\.(.+)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.scope$")
_SERVICE_UNIT = re.compile(r"^snap\.([^.]+)\.(.+)\.service$")


# --- whose process is it -------------------------------------------------------------------------------------------

def snap_of_label(label):
    """(snap, app) from an AppArmor label such as `snap.shm-consumer.read (enforce)`, else None."""
    label = (label or "").strip()
    name, separator, mode = label.rpartition(" (")
    if separator and mode.endswith(")"):
        label = name
    match = _APP_LABEL.match(label)
    if match:
        return match.group(1), match.group(2)
    match = _UPDATE_NS_LABEL.match(label)
    if match:
        return match.group(1), "snap-update-ns"
    return None


def snap_of_cgroup(text):
    """(snap, app) from /proc/PID/cgroup text, from the snap's scope or service unit, else None."""
    for line in (text or "").splitlines():
        for unit in reversed(line.rpartition(":")[2].split("/")):
            match = _SCOPE_UNIT.match(unit) or _SERVICE_UNIT.match(unit)
            if match:
                return match.group(1), match.group(2)
    return None


# --- the /proc scan ------------------------------------------------------------------------------------------------

def _read_small(path):
    try:
        with open(path, "rb") as handle:
            return handle.read(_SMALL_READ).decode("utf-8", "replace")
    except (OSError, ValueError):
        return None


def _shm_path(target):
    """The /dev/shm path a fd link or maps line names, without the kernel's ` (deleted)` mark, else None."""
    if target.endswith(_DELETED):
        target = target[:-len(_DELETED)]
    return target if target.startswith(DEV_SHM) and len(target) > len(DEV_SHM) else None


def _open_objects(process_dir):
    fd_dir = os.path.join(process_dir, "fd")
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return set()
    objects = set()
    for name in names:
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue
        path = _shm_path(target)
        if path:
            objects.add(path)
    return objects


def _mapped_objects(process_dir):
    objects = set()
    try:
        with open(os.path.join(process_dir, "maps"), "rb") as handle:
            for line in handle:
                # address perms offset dev inode pathname; the pathname may hold spaces
                fields = line.rstrip(b"\n").split(None, 5)
                if len(fields) == 6:
                    path = _shm_path(fields[5].decode("utf-8", "surrogateescape"))
                    if path:
                        objects.add(path)
    except OSError:
        pass
    return objects


def _process_snap(process_dir):
    owner = snap_of_label(_read_small(os.path.join(process_dir, "attr", "current")))
    if owner is None:
        # no AppArmor label to read (another LSM, or AppArmor off): snapd's cgroup tracking still names the app
        owner = snap_of_cgroup(_read_small(os.path.join(process_dir, "cgroup")))
    return owner


def read_snap_processes(root, snaps):
    """SnapProcess of every process of one of `snaps` that has something under /dev/shm open or mapped.

    A private plug's snap sees its own /dev/shm/snap.NAME as /dev/shm in its mount namespace, so the
    paths are as the process sees them. Processes that end mid-scan or cannot be read are skipped.
    """
    snaps = set(snaps)
    if not snaps:
        return []
    proc = os.path.join(root, "proc")
    try:
        entries = os.listdir(proc)
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.isdigit():
            continue
        process_dir = os.path.join(proc, entry)
        owner = _process_snap(process_dir)
        if owner is None or owner[0] not in snaps:
            continue
        objects = _open_objects(process_dir) | _mapped_objects(process_dir)
        if objects:
            found.append(SnapProcess(int(entry), owner[0], owner[1], tuple(sorted(objects))))
    return sorted(found)


def snap_processes_from_records(scan, snaps):
    """SnapProcess records of `snaps` from a /proc scan gathered elsewhere (the snap debug api transport's sh scan).

    `scan` is ``{"records": [{pid, label, cgroup, fd_targets, maps}], "seen": count}``: the same facts
    read_snap_processes reads, judged the same way.
    """
    snaps = set(snaps)
    found = []
    for record in scan["records"]:
        owner = snap_of_label(record["label"])
        if owner is None:
            owner = snap_of_cgroup(record["cgroup"])
        if owner is None or owner[0] not in snaps:
            continue
        objects = set()
        for target in record["fd_targets"]:
            path = _shm_path(target)
            if path:
                objects.add(path)
        for line in record["maps"]:
            fields = line.split(None, 5)
            if len(fields) == 6:
                path = _shm_path(fields[5])
                if path:
                    objects.add(path)
        if objects:
            found.append(SnapProcess(record["pid"], owner[0], owner[1], tuple(sorted(objects))))
    return sorted(found)


# --- which of them use a connection --------------------------------------------------------------------------------

def object_matches(pattern, name):
    """Whether a slot's read/write path grants /dev/shm/NAME: `*` spans any characters but `/`, as in AppArmor."""
    regex = "[^/]*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, name) is not None


def connection_is_private(state, connection):
    """Whether the connection's plug is private, from the attributes stored with it, else the plug's."""
    if "private" in connection.plug_attrs:
        return connection.plug_attrs.get("private") is True
    plug = state.plugs.get(connection.plug)
    return bool(plug and plug.private)


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
