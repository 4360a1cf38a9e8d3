# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""The edge of shm_verify: read the host facts the pure checks in _verify_checks need, and nothing else.

/dev/shm is hostile ground (any local user can create entries there): nothing here writes anywhere,
every /dev/shm entry is lstat'ed and never opened or followed, files are opened with O_NOFOLLOW and
read up to a bound, and no shell or other program runs. Every path is taken under `root` so tests
can point the reader at a fake tree.
"""

from __future__ import annotations

import collections
import ctypes
import errno
import os
import re
import select
import signal
import stat
import time
import typing as t
from dataclasses import dataclass, field

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_endpoints import EndpointError, parse_snap
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_facts import HostFacts, PrivateSetup, facts_needed
from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import MAX_YAML_BYTES

from ansible_collections.snapfleet.snapd.plugins.module_utils._proc_scan import (
    object_matcher,
    read_snap_processes,
)

FileFacts = collections.namedtuple("FileFacts", "kind uid gid mode")
FileFacts.__doc__ = "What lstat says about a path: kind is dir, symlink, file or other; mode is the permission bits."

MountEntry = collections.namedtuple("MountEntry", "device root mount_point options fstype source super_options")
MountEntry.__doc__ = "One /proc/<pid>/mountinfo line; options are the per-mount ones, super_options the filesystem's."

MAX_TEXT_BYTES = 4 * 1024 * 1024
# objects shm_verify lists per slot (the first by name); the rest are only counted, however many a user made
OBJECTS_LISTED = 20
CLONE_NEWNS = 0x00020000
NAMESPACE_TIMEOUT = 10.0

_PROFILES_DIR = "var/lib/snapd/apparmor/profiles"


class HostReadError(Exception):
    """A host fact that could not be read for a reason other than its absence."""


def host_path(root, path):
    """`path` (absolute) under `root`."""
    return os.path.join(root, path.lstrip("/"))


def file_facts(mode, uid, gid):
    """FileFacts of an st_mode, uid and gid (from lstat here, from stat and ls -l on the snap debug api path)."""
    if stat.S_ISLNK(mode):
        kind = "symlink"
    elif stat.S_ISDIR(mode):
        kind = "dir"
    elif stat.S_ISREG(mode):
        kind = "file"
    else:
        kind = "other"
    return FileFacts(kind, uid, gid, stat.S_IMODE(mode))


def _facts_from_stat(info):
    return file_facts(info.st_mode, info.st_uid, info.st_gid)


def lstat_facts(path):
    """FileFacts for path without following a symlink, or None when it does not exist."""
    try:
        info = os.lstat(path)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise HostReadError("cannot lstat %s: %s" % (path, error.strerror))
    return _facts_from_stat(info)


def read_text(path, limit=MAX_TEXT_BYTES):
    """A regular file's text (bounded, symlink at the end refused), or None when it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise HostReadError("cannot open %s: %s" % (path, error.strerror))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise HostReadError("%s is not a regular file" % path)
        chunks = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise HostReadError("%s is larger than %d bytes" % (path, limit))
        return to_text(b"".join(chunks), errors="surrogate_or_replace")
    except OSError as error:
        raise HostReadError("cannot read %s: %s" % (path, error.strerror))
    finally:
        os.close(fd)


def _unescape(field):
    # mountinfo escapes space, tab, newline and backslash as \ooo
    out = []
    index = 0
    while index < len(field):
        if field[index] == "\\" and field[index + 1:index + 4].isdigit() and len(field[index + 1:index + 4]) == 3:
            out.append(chr(int(field[index + 1:index + 4], 8)))
            index += 4
        else:
            out.append(field[index])
            index += 1
    return "".join(out)


def parse_mountinfo(text):
    """MountEntry list from /proc/<pid>/mountinfo text; lines it cannot read are skipped."""
    entries = []
    for line in (text or "").splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        separator = fields.index("-")
        if separator < 6 or len(fields) < separator + 3:
            continue
        entries.append(MountEntry(
            device=fields[2],
            root=_unescape(fields[3]),
            mount_point=_unescape(fields[4]),
            options=tuple(fields[5].split(",")),
            fstype=fields[separator + 1],
            source=_unescape(fields[separator + 2]),
            super_options=tuple(fields[separator + 3].split(",")) if len(fields) > separator + 3 else (),
        ))
    return entries


def mount_at(entries, mount_point):
    """The mount visible at mount_point: the last one mounted there."""
    found = [entry for entry in entries if entry.mount_point == mount_point]
    return found[-1] if found else None


def _child_read_mountinfo(ns_path, write_fd):
    """In the forked child: enter the mount namespace and send its mountinfo back; never returns."""
    status = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(ns_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        if libc.setns(fd, CLONE_NEWNS) != 0:
            payload = b"E" + ("setns: %s" % os.strerror(ctypes.get_errno())).encode()
        else:
            mountinfo = os.open("/proc/self/mountinfo", os.O_RDONLY | os.O_CLOEXEC)
            chunks = [b"O"]
            chunk = os.read(mountinfo, 65536)
            while chunk and sum(len(item) for item in chunks) < MAX_TEXT_BYTES:
                chunks.append(chunk)
                chunk = os.read(mountinfo, 65536)
            payload = b"".join(chunks)
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view):]
        status = 0
    except OSError as error:
        try:
            os.write(write_fd, b"E" + to_text(error.strerror or error).encode())
        except OSError:
            pass
    finally:
        os._exit(status)  # pylint: disable=protected-access


def read_namespace_mountinfo(ns_path, timeout=NAMESPACE_TIMEOUT):
    """The mountinfo of the mount namespace preserved at ns_path (/run/snapd/ns/NAME.mnt).

    Needs no binary inside the snap (a base may have none): a forked child setns()es into the
    namespace through libc (os.setns needs Python 3.12) and pipes /proc/self/mountinfo back.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child_read_mountinfo(ns_path, write_fd)
    os.close(write_fd)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([read_fd], [], [], remaining)[0]:
                os.kill(pid, signal.SIGKILL)
                raise HostReadError("reading the mount namespace %s took longer than %ss" % (ns_path, timeout))
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    payload = b"".join(chunks)
    if not payload.startswith(b"O"):
        raise HostReadError("cannot enter the mount namespace %s: %s"
                            % (ns_path, to_text(payload[1:], errors="surrogate_or_replace") or "no answer"))
    return to_text(payload[1:], errors="surrogate_or_replace")


def kernel_apparmor(root):
    """(enabled, {profile: mode}) from the kernel; enabled is False when the module is absent or off.

    The profile map is None when securityfs cannot be read.
    """
    enabled = read_text(host_path(root, "/sys/module/apparmor/parameters/enabled"), 64)
    if (enabled or "").strip() != "Y":
        return False, None
    try:
        listing = read_text(host_path(root, "/sys/kernel/security/apparmor/profiles"))
    except HostReadError:
        return True, None
    if listing is None:
        return True, None
    return True, parse_kernel_profiles(listing)


def parse_kernel_profiles(listing):
    """{profile: mode} from /sys/kernel/security/apparmor/profiles (``name (mode)`` lines)."""
    profiles = {}
    for line in listing.splitlines():
        name, sep, mode = line.rstrip().rpartition(" (")
        if sep and mode.endswith(")"):
            profiles[name] = mode[:-1]
    return profiles


def snap_profile(root, snap, app):
    """The generated AppArmor profile text of snap.SNAP.APP (APP hook.NAME for a hook), or None when there is none."""
    return read_text(host_path(root, "%s/snap.%s.%s" % (_PROFILES_DIR, snap, app)))


def update_ns_profile(root, snap):
    """The generated snap-update-ns.SNAP profile text (it holds the private /dev/shm mount rules), or None."""
    return read_text(host_path(root, "%s/snap-update-ns.%s" % (_PROFILES_DIR, snap)))


# snap/naming/validate.go validHook
HOOK_NAME = re.compile(r"[a-z](?:-?[a-z0-9])*")


def hook_profiles(root, snaps):
    """(snap, "hook.NAME") of the generated hook profiles of `snaps`: /v2/connections does not list hooks."""
    try:
        names = os.listdir(host_path(root, _PROFILES_DIR))
    except OSError:
        return []
    found = []
    for snap in snaps:
        prefix = "snap.%s.hook." % snap
        found.extend((snap, "hook." + name[len(prefix):]) for name in names
                     if name.startswith(prefix) and HOOK_NAME.fullmatch(name[len(prefix):]))
    return sorted(found)


def _open_dev_shm(root):
    """An O_NOFOLLOW directory fd on /dev/shm, or None when it is missing, a symlink or not a directory.

    Entries are then looked up relative to this fd, so a /dev/shm swapped for a symlink is never followed.
    """
    try:
        return os.open(host_path(root, "/dev/shm"), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise HostReadError("cannot open /dev/shm: %s" % error.strerror)


def _lstat_in(directory_fd, name):
    """FileFacts of the entry NAME of the directory, None when there is none; OSError when lstat fails otherwise."""
    try:
        return _facts_from_stat(os.stat(name, dir_fd=directory_fd, follow_symlinks=False))
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def dev_shm_entry(root, name):
    """FileFacts of /dev/shm/NAME from lstat, or None (also when /dev/shm itself is not a real directory)."""
    directory_fd = _open_dev_shm(root)
    if directory_fd is None:
        return None
    try:
        return _lstat_in(directory_fd, name)
    except OSError as error:
        raise HostReadError("cannot lstat /dev/shm/%s: %s" % (name, error.strerror))
    finally:
        os.close(directory_fd)


@dataclass(frozen=True)
class DevShmListing:
    """The top-level /dev/shm entries that slots' paths name, as far as shm_verify lists them.

    objects holds lstat's FileFacts and unreadable why lstat failed (strerror: a user's FUSE mount there
    answers root with EACCES), for at most OBJECTS_LISTED entries per path, the first by name; matches counts
    every entry each path names, listed or not.
    """

    objects: dict = field(default_factory=dict)
    unreadable: dict = field(default_factory=dict)
    matches: dict = field(default_factory=dict)


def build_listing(names, paths, examine, limit=OBJECTS_LISTED):
    """DevShmListing of /dev/shm's entry `names` for slot `paths`: each name is matched once, and only the first
    `limit` names of each path by name are examined with ``examine(name) -> (FileFacts or None, error or None)``.

    Pure but for `examine`: the Python reader lstats relative to /dev/shm's fd, the snap debug api transport
    looks the name up in what `ls -l` said.
    """
    paths = sorted(set(paths))
    # (path, its literal start, its matcher): most entries start with none of them and cost one call
    matchers = [(path, path.partition("*")[0], object_matcher(path)) for path in paths]
    starts = tuple(matcher[1] for matcher in matchers)
    first = dict((path, []) for path in paths)
    matches = dict((path, 0) for path in paths)
    for name in names:
        if not name.startswith(starts):
            continue
        for path, start, matcher in matchers:
            if name.startswith(start) and matcher(name):
                matches[path] += 1
                listed = first[path]
                listed.append(name)
                if len(listed) > 2 * limit:
                    listed.sort()
                    del listed[limit:]
    objects, unreadable = {}, {}
    for name in sorted(set(name for listed in first.values() for name in sorted(listed)[:limit])):
        facts, error = examine(name)
        if error is not None:
            unreadable[name] = error
        elif facts is not None:
            objects[name] = facts
    return DevShmListing(objects, unreadable, dict((path, count) for path, count in matches.items() if count))


def list_dev_shm(root, paths, limit=OBJECTS_LISTED):
    """DevShmListing of the top level of /dev/shm for slot paths, from lstat only (never following a symlink).

    Any local user can fill /dev/shm with entries a slot's path matches: each name is matched once while
    the directory is read, and only the first `limit` names of each path by name are lstat'ed and kept.
    """
    directory_fd = _open_dev_shm(root) if paths else None
    if directory_fd is None:
        return DevShmListing()

    def examine(name):
        try:
            return _lstat_in(directory_fd, name), None
        except OSError as error:
            return None, error.strerror

    try:
        with os.scandir(directory_fd) as entries:
            return build_listing((entry.name for entry in entries), paths, examine, limit)
    except OSError as error:
        raise HostReadError("cannot list /dev/shm: %s" % error.strerror)
    finally:
        os.close(directory_fd)


def private_setup_facts(root, snap, ns_reader=read_namespace_mountinfo):
    """The PrivateSetup of one snap (instance) name: everything the private checks look at."""
    ns_file = host_path(root, "/run/snapd/ns/%s.mnt" % snap)
    namespace = lstat_facts(ns_file) is not None
    directory = dir_error = None
    try:
        directory = dev_shm_entry(root, "snap.%s" % snap)
    except HostReadError as error:
        # a user's FUSE mount on /dev/shm/snap.NAME answers root's lstat with EACCES: a finding, not a failure
        dir_error = str(error)
    applied_fstab = namespace_mounts = namespace_error = None
    if namespace:
        applied_fstab = read_text(host_path(root, "/run/snapd/ns/snap.%s.fstab" % snap))
        try:
            namespace_mounts = parse_mountinfo(ns_reader(ns_file))
        except HostReadError as error:
            namespace_error = str(error)
    return PrivateSetup(
        desired_fstab=read_text(host_path(root, "/var/lib/snapd/mount/snap.%s.fstab" % snap)),
        namespace=namespace, applied_fstab=applied_fstab, namespace_mounts=namespace_mounts,
        namespace_error=namespace_error, dir=directory, dir_error=dir_error)


def installed_snaps(root):
    """The snap instances mounted under /snap, or None when /snap cannot be listed."""
    try:
        return sorted(os.listdir(host_path(root, SNAP_MOUNT_DIR)))
    except OSError:
        return None


# --- installed snaps' meta/snap.yaml ----------------------------------------------------------------------------

SNAP_MOUNT_DIR = "/snap"
# snapd's revisions: a store revision, or x1, x2... for a snap installed from a file
_REVISION = re.compile(r"x?[0-9]+")
# why an installed snap's meta/snap.yaml was not read; the snap debug api transport reports the same words
SNAP_YAML_PROBLEMS = {
    "not-a-revision": "its current link does not name a revision",
    "symlink": "a symbolic link stands where snapd mounts the snap, and is not followed",
    "not-regular": "it is not a regular file",
    "too-large": "it is larger than %d bytes" % MAX_YAML_BYTES,
    "unreadable": "it cannot be read",
}


@dataclass(frozen=True)
class SnapYamlText:
    """What was read of an installed snap's meta/snap.yaml: its text, or why not (a SNAP_YAML_PROBLEMS key)."""

    text: t.Optional[str] = None
    problem: t.Optional[str] = None


def snap_instance_name(name):
    """Whether a /snap entry is named like a snap instance (the system snap's aliases left out)."""
    try:
        return bool(parse_snap(name))
    except EndpointError:
        return False


def may_declare_shared_memory(raw):
    """Whether snap.yaml bytes can declare a shared-memory plug or slot: they hold the interface's name, or a
    backslash, with which a double-quoted YAML scalar can spell it. The other snaps' files are not kept."""
    return b"shared-memory" in raw or b"\\" in raw


def _snap_yaml_of(snap_fd):
    """SnapYamlText of meta/snap.yaml below the /snap/NAME directory open on snap_fd, or None when there is none
    or it cannot declare shared-memory. Only snapd's own current -> REVISION link is read, never followed."""
    directory_flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        revision = os.readlink("current", dir_fd=snap_fd)
    except OSError as error:
        if error.errno == errno.ENOENT:
            return None
        return SnapYamlText(problem="not-a-revision" if error.errno == errno.EINVAL else "unreadable")
    if not _REVISION.fullmatch(revision):
        return SnapYamlText(problem="not-a-revision")
    fds = []
    try:
        current = snap_fd
        for name, flags in ((revision, directory_flags), ("meta", directory_flags),
                            ("snap.yaml", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)):
            try:
                if stat.S_ISLNK(os.stat(name, dir_fd=current, follow_symlinks=False).st_mode):
                    return SnapYamlText(problem="symlink")
                fds.append(os.open(name, flags, dir_fd=current))
            except OSError as error:
                if error.errno == errno.ENOENT:
                    return None
                return SnapYamlText(problem={errno.ELOOP: "symlink", errno.ENOTDIR: "unreadable"}.get(error.errno,
                                                                                                      "unreadable"))
            current = fds[-1]
        if not stat.S_ISREG(os.fstat(current).st_mode):
            return SnapYamlText(problem="not-regular")
        raw = b""
        while len(raw) <= MAX_YAML_BYTES:
            chunk = os.read(current, MAX_YAML_BYTES + 1 - len(raw))
            if not chunk:
                break
            raw += chunk
    except OSError:
        return SnapYamlText(problem="unreadable")
    finally:
        for fd in fds:
            os.close(fd)
    if not may_declare_shared_memory(raw):
        return None
    if len(raw) > MAX_YAML_BYTES:
        return SnapYamlText(problem="too-large")
    return SnapYamlText(text=to_text(raw, errors="surrogate_or_replace"))


def read_snap_yamls(root):
    """{snap: SnapYamlText} of the installed snaps whose meta/snap.yaml may declare shared-memory plugs or slots.

    /snap/NAME/current is snapd's link to the mounted revision: it is read, checked to name a revision, and
    the file below it is opened one component at a time without following any link, and read up to a bound.
    """
    base = host_path(root, SNAP_MOUNT_DIR)
    found = {}
    for snap in installed_snaps(root) or ():
        if not snap_instance_name(snap):
            continue
        try:
            snap_fd = os.open(os.path.join(base, snap), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue  # a file, a link or gone: not a snap snapd mounted
        try:
            text = _snap_yaml_of(snap_fd)
        finally:
            os.close(snap_fd)
        if text is not None:
            found[snap] = text
    return found


def gather_facts(root, families, apps=(), private_snaps=(), ns_reader=read_namespace_mountinfo, user_snaps=(),
                 slot_paths=(), deadline=None):
    """The HostFacts the chosen check families need (_shm_facts.FACTS_BY_FAMILY), each read once.

    apps are the (snap, app) pairs whose generated profiles to read (_verify_checks.profile_apps; app None for a snap
    with no app to read, only its hooks' and snap-update-ns profiles);
    private_snaps the snaps whose private setup to inspect; user_snaps the snaps whose processes
    may use a connection's objects (_proc_scan.connection_snaps); slot_paths the slots' read and write
    paths to list /dev/shm's objects for (_verify_checks.object_paths).
    """
    snaps = sorted(set(snap for snap, app in apps))
    kernel = []  # kernel_apparmor()'s answer, read once whichever AppArmor fact asks first

    def apparmor():
        if not kernel:
            kernel.append(kernel_apparmor(root))
        return kernel[0]

    readers = {
        "dev_shm": lambda: lstat_facts(host_path(root, "/dev/shm")),
        "mounts": lambda: parse_mountinfo(read_text(host_path(root, "/proc/self/mountinfo"))),
        "apparmor_enabled": lambda: apparmor()[0],
        "kernel_profiles": lambda: apparmor()[1],
        "profiles": lambda: dict(((snap, app), snap_profile(root, snap, app))
                                 for snap, app in list(apps) + hook_profiles(root, snaps)
                                 if app is not None) if apparmor()[0] else {},
        "update_ns_profiles": lambda: dict((snap, update_ns_profile(root, snap))
                                           for snap in snaps) if apparmor()[0] else {},
        "private": lambda: dict((snap, private_setup_facts(root, snap, ns_reader)) for snap in private_snaps),
        "dev_shm_listing": lambda: list_dev_shm(root, slot_paths),
        "processes": lambda: read_snap_processes(root, user_snaps, deadline),
        "installed_snaps": lambda: installed_snaps(root),
        "snap_yamls": lambda: read_snap_yamls(root),
    }
    return HostFacts(**dict((name, readers[name]()) for name in facts_needed(families)))
