# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""The Python executor of shm_verify's read plan (_read_plan): it reads each record on the device and gives the raw
value the record's kind defines; ``gather_facts`` is that, decoded by ``_read_plan.facts_from_results``.

/dev/shm is hostile ground (any local user can create entries there): nothing here writes anywhere,
every /dev/shm entry is lstat'ed and never opened or followed, files are opened with O_NOFOLLOW and
read up to a bound, and no shell or other program runs. Every path is taken under `root` so tests
can point the reader at a fake tree.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import select
import signal
import stat
import time

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import MAX_YAML_BYTES
from ansible_collections.snapfleet.snapd.plugins.module_utils._proc_scan import read_snap_processes
from ansible_collections.snapfleet.snapd.plugins.module_utils._read_plan import (
    HOOK_FILE_NAME,
    MAX_TEXT_BYTES,
    PROFILES_DIR,
    SNAP_MOUNT_DIR,
    TIME_UP,
    DevShmEntry,
    DevShmNames,
    HookProfiles,
    HostReadError,
    InstalledSnaps,
    Listing,
    Lstat,
    NamespaceMounts,
    Processes,
    ReadProblem,
    SnapYamls,
    Text,
    examined_names,
    facts_from_results,
    file_facts,
    plan_for,
    snap_instance_name,
)

CLONE_NEWNS = 0x00020000
NAMESPACE_TIMEOUT = 10.0
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# snapd's revisions: a store revision, or x1, x2... for a snap installed from a file
_REVISION = re.compile(r"x?[0-9]+")


def host_path(root, path):
    """`path` (absolute) under `root`."""
    return os.path.join(root, path.lstrip("/"))


def _facts_from_stat(info):
    return file_facts(info.st_mode, info.st_uid, info.st_gid)


def lstat_facts(path):
    """Lstat's raw value for path: FileFacts without following a symlink, None when absent, or a ReadProblem."""
    try:
        return _facts_from_stat(os.lstat(path))
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        return ReadProblem("unreadable", error.strerror)


def read_text(path, limit=MAX_TEXT_BYTES):
    """Text's raw value for path: a regular file's text up to limit + 1 bytes (symlink at the end refused), None
    when absent, or a ReadProblem."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        if error.errno == errno.ELOOP:
            return ReadProblem("symlink")
        return ReadProblem("unreadable", error.strerror)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ReadProblem("not-regular")
        return to_text(_read_up_to(fd, limit + 1), errors="surrogate_or_replace")
    except OSError as error:
        return ReadProblem("unreadable", error.strerror)
    finally:
        os.close(fd)


def _read_up_to(fd, size):
    raw = b""
    while len(raw) < size:
        chunk = os.read(fd, min(65536, size - len(raw)))
        if not chunk:
            break
        raw += chunk
    return raw


def _child_read_mountinfo(ns_path, write_fd, limit):
    """In the forked child: enter the mount namespace and send its mountinfo back; never returns."""
    status = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(ns_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        if libc.setns(fd, CLONE_NEWNS) != 0:
            payload = b"E" + ("setns: %s" % os.strerror(ctypes.get_errno())).encode()
        else:
            payload = b"O" + _read_up_to(os.open("/proc/self/mountinfo", os.O_RDONLY | os.O_CLOEXEC), limit + 1)
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


def read_namespace_mountinfo(ns_path, timeout=NAMESPACE_TIMEOUT, limit=MAX_TEXT_BYTES):
    """The mountinfo of the mount namespace preserved at ns_path (/run/snapd/ns/NAME.mnt), up to limit + 1 bytes;
    HostReadError when it cannot be entered.

    Needs no binary inside the snap (a base may have none): a forked child setns()es into the
    namespace through libc (os.setns needs Python 3.12) and pipes /proc/self/mountinfo back.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child_read_mountinfo(ns_path, write_fd, limit)
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


def _open_dev_shm(root):
    """An O_NOFOLLOW directory fd on /dev/shm, None when it is missing, a symlink or not a directory, or a
    ReadProblem. Entries are then looked up relative to this fd, so a /dev/shm swapped for a symlink is never
    followed."""
    try:
        return os.open(host_path(root, "/dev/shm"), _DIRECTORY)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        return ReadProblem("unreadable", error.strerror)


def _lstat_in(directory_fd, name):
    """Lstat's raw value of the entry NAME of the directory open on directory_fd."""
    try:
        return _facts_from_stat(os.stat(name, dir_fd=directory_fd, follow_symlinks=False))
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        return ReadProblem("unreadable", error.strerror)


def dev_shm_entry(root, name):
    """DevShmEntry's raw value of /dev/shm/NAME."""
    directory_fd = _open_dev_shm(root)
    if not isinstance(directory_fd, int):
        return directory_fd
    try:
        return _lstat_in(directory_fd, name)
    finally:
        os.close(directory_fd)


def list_dev_shm(root, paths):
    """DevShmNames' raw value: the names of /dev/shm's top level, lstat (never following a symlink) of only those
    _read_plan.examined_names picks for the slot paths: any local user can fill /dev/shm with entries they match."""
    directory_fd = _open_dev_shm(root)
    if not isinstance(directory_fd, int):
        return directory_fd
    try:
        with os.scandir(directory_fd) as entries:
            names = tuple(sorted(entry.name for entry in entries))
        examined = {}
        for name in examined_names(names, paths):
            facts = _lstat_in(directory_fd, name)
            if facts is not None:
                examined[name] = facts.detail if isinstance(facts, ReadProblem) else facts
        return Listing(names, examined)
    except OSError as error:
        return ReadProblem("unreadable", error.strerror)
    finally:
        os.close(directory_fd)


def _late(deadline):
    return deadline is not None and time.monotonic() >= deadline


def hook_profiles(root, record, deadline=None):
    """HookProfiles' raw value: {NAME: Text's raw value} of the generated hook profiles of the record's snap, or
    TIME_UP when `deadline` (time.monotonic()) passed before the last."""
    try:
        names = os.listdir(host_path(root, PROFILES_DIR))
    except OSError:
        return {}
    prefix = "snap.%s.hook." % record.snap
    found = {}
    for hook in [name[len(prefix):] for name in sorted(names) if name.startswith(prefix)]:
        if _late(deadline):
            return TIME_UP
        if HOOK_FILE_NAME.fullmatch(hook):
            found[hook] = read_text(host_path(root, record.profile(hook).path), record.limit)
    return found


def namespace_mounts(root, record, ns_reader):
    """NamespaceMounts' raw value, read by entering the namespace (``ns_reader``)."""
    ns_file = host_path(root, record.path)
    if lstat_facts(ns_file) is None:
        return None
    try:
        return ns_reader(ns_file)
    except HostReadError as error:
        return ReadProblem("unreadable", str(error))


def installed_snaps(root):
    """InstalledSnaps' raw value: the /snap entries, or None when /snap cannot be listed."""
    try:
        return Listing(tuple(sorted(os.listdir(host_path(root, SNAP_MOUNT_DIR)))))
    except OSError:
        return None


def may_declare_shared_memory(raw):
    """Whether snap.yaml bytes can declare a shared-memory plug or slot: they hold the interface's name, or a
    backslash, with which a double-quoted YAML scalar can spell it. The other snaps' files are not kept."""
    return b"shared-memory" in raw or b"\\" in raw


def _snap_yaml_of(snap_fd):
    """A SnapYamls raw value of meta/snap.yaml below the /snap/NAME directory open on snap_fd, or None when there
    is none or it cannot declare shared-memory. Only snapd's own current -> REVISION link is read, never followed."""
    try:
        revision = os.readlink("current", dir_fd=snap_fd)
    except OSError as error:
        if error.errno == errno.ENOENT:
            return None
        return ReadProblem("not-a-revision" if error.errno == errno.EINVAL else "unreadable")
    if not _REVISION.fullmatch(revision):
        return ReadProblem("not-a-revision")
    fds = []
    try:
        current = snap_fd
        for name, flags in ((revision, _DIRECTORY), ("meta", _DIRECTORY),
                            ("snap.yaml", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)):
            try:
                if stat.S_ISLNK(os.stat(name, dir_fd=current, follow_symlinks=False).st_mode):
                    return ReadProblem("symlink")
                fds.append(os.open(name, flags, dir_fd=current))
            except OSError as error:
                if error.errno == errno.ENOENT:
                    return None
                return ReadProblem("symlink" if error.errno == errno.ELOOP else "unreadable")
            current = fds[-1]
        if not stat.S_ISREG(os.fstat(current).st_mode):
            return ReadProblem("not-regular")
        raw = _read_up_to(current, MAX_YAML_BYTES + 1)
    except OSError:
        return ReadProblem("unreadable")
    finally:
        for fd in fds:
            os.close(fd)
    if not may_declare_shared_memory(raw):
        return None
    return to_text(raw, errors="surrogate_or_replace")


def read_snap_yamls(root, deadline=None):
    """SnapYamls' raw value: {snap: text or ReadProblem} of the installed snaps whose meta/snap.yaml may declare
    shared-memory plugs or slots, or TIME_UP when `deadline` (time.monotonic()) passed before the last.

    /snap/NAME/current is snapd's link to the mounted revision: it is read, checked to name a revision, and
    the file below it is opened one component at a time without following any link, and read up to a bound.
    """
    base = host_path(root, SNAP_MOUNT_DIR)
    listing = installed_snaps(root)
    found = {}
    for snap in listing.names if listing else ():
        if _late(deadline):
            return TIME_UP
        if not snap_instance_name(snap):
            continue
        try:
            snap_fd = os.open(os.path.join(base, snap), _DIRECTORY)
        except OSError:
            continue  # a file, a link or gone: not a snap snapd mounted
        try:
            text = _snap_yaml_of(snap_fd)
        finally:
            os.close(snap_fd)
        if text is not None:
            found[snap] = text
    return found


def _raw_value(root, record, ns_reader, deadline):
    if isinstance(record, Lstat):
        return lstat_facts(host_path(root, record.path))
    if isinstance(record, DevShmEntry):
        return dev_shm_entry(root, record.name)
    if isinstance(record, Text):
        return read_text(host_path(root, record.path), record.limit)
    if isinstance(record, HookProfiles):
        return hook_profiles(root, record, deadline)
    if isinstance(record, NamespaceMounts):
        return namespace_mounts(root, record, ns_reader)
    if isinstance(record, DevShmNames):
        return list_dev_shm(root, record.paths)
    if isinstance(record, InstalledSnaps):
        return installed_snaps(root)
    if isinstance(record, SnapYamls):
        return read_snap_yamls(root, deadline)
    if isinstance(record, Processes):
        return read_snap_processes(root, record.snaps, deadline)
    raise ValueError("no Python reader for %r" % (record,))


def run_plan(root, plan, ns_reader=read_namespace_mountinfo, deadline=None):
    """{record key: raw value} of each record of `plan` (_read_plan.plan_for), read under `root`; ``ns_reader(path)``
    gives a preserved mount namespace's mountinfo; ``deadline`` (time.monotonic()) is looked at in every loop, as the
    sh executor looks at it: the /proc scan's, the hooks' and the snap.yaml files'."""
    return dict((record.key, _raw_value(root, record, ns_reader, deadline)) for record in plan)


def gather_facts(root, families, apps=(), private_snaps=(), ns_reader=read_namespace_mountinfo, user_snaps=(),
                 slot_paths=(), deadline=None):
    """The HostFacts the chosen check families need (_shm_facts.FACTS_BY_FAMILY), each read once: the read plan
    of _read_plan.plan_for run here, and decoded by _read_plan.facts_from_results."""
    plan = plan_for(families, apps, private_snaps, user_snaps, slot_paths)
    return facts_from_results(run_plan(root, plan, ns_reader, deadline), families, apps, private_snaps, user_snaps,
                              slot_paths)
