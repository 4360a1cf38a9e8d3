# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""shm_verify's read plan: what a run reads of the host, written as data, and the one decoder of what was read.

``plan_for`` says which records a run needs for its check families; two executors read them:
``_shm_host.run_plan`` with Python on the device, and ``plugin_utils/_sh_read_plan``, which compiles the plan
to one sh script for the snap debug api transport and turns the script's frames back into the same raw values.
Each executor gives ``{record.key: raw value}``, the raw value of each record kind being the one its docstring
says; ``facts_from_results`` builds ``HostFacts`` from them, whichever executor read them. Which facts a family
needs, how a PrivateSetup or the profiles are assembled, and every ``HostReadError`` wording live here only.

The AppArmor gate: a plan reads the kernel's flag and the profiles all at once, whatever the flag says (the sh
executor reads them in one script, the Python one in one pass), and the decoder drops the profiles where the
kernel does not enforce AppArmor: the facts are those of a read that looked at the flag first.

Pure: nothing here reads the host, so the module and the controller import it alike.
"""

from __future__ import annotations

import collections
import re
import stat
import typing as t
from dataclasses import dataclass, field

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_endpoints import EndpointError, parse_snap
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_facts import HostFacts, PrivateSetup, facts_needed
from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import MAX_YAML_BYTES
from ansible_collections.snapfleet.snapd.plugins.module_utils._proc_scan import ProcessScan, object_matcher

MAX_TEXT_BYTES = 4 * 1024 * 1024
# the /dev/shm listing (up to ~100,000 entries a user made) and the /snap listing, each, as the sh executor sends it
LISTING_BYTES = 8 * 1024 * 1024
# objects shm_verify lists per slot (the first by name); the rest are only counted, however many a user made
OBJECTS_LISTED = 20
PROFILES_DIR = "/var/lib/snapd/apparmor/profiles"
SNAP_MOUNT_DIR = "/snap"
# snap/naming/validate.go validHook
HOOK_NAME = re.compile(r"[a-z](?:-?[a-z0-9])*")
# the hook profile files an executor reads (snap.SNAP.hook.NAME): a name the sh executor can pass unquoted;
# the decoder keeps only those HOOK_NAME allows
HOOK_FILE_NAME = re.compile(r"[a-z0-9-]+")
# why an installed snap's meta/snap.yaml was not read (the reason of its ReadProblem)
SNAP_YAML_PROBLEMS = {
    "not-a-revision": "its current link does not name a revision",
    "symlink": "a symbolic link stands where snapd mounts the snap, and is not followed",
    "not-regular": "it is not a regular file",
    "too-large": "it is larger than %d bytes" % MAX_YAML_BYTES,
    "unreadable": "it cannot be read",
}


class HostReadError(Exception):
    """A host fact that could not be read for a reason other than its absence."""


FileFacts = collections.namedtuple("FileFacts", "kind uid gid mode")
FileFacts.__doc__ = "What lstat says about a path: kind is dir, symlink, file or other; mode is the permission bits."

MountEntry = collections.namedtuple("MountEntry", "device root mount_point options fstype source super_options")
MountEntry.__doc__ = "One /proc/<pid>/mountinfo line; options are the per-mount ones, super_options the filesystem's."


def file_facts(mode, uid, gid):
    """FileFacts of an st_mode, uid and gid (from lstat in Python, from stat and ls -l in sh)."""
    if stat.S_ISLNK(mode):
        kind = "symlink"
    elif stat.S_ISDIR(mode):
        kind = "dir"
    elif stat.S_ISREG(mode):
        kind = "file"
    else:
        kind = "other"
    return FileFacts(kind, uid, gid, stat.S_IMODE(mode))


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


@dataclass(frozen=True)
class SnapYamlText:
    """What was read of an installed snap's meta/snap.yaml: its text, or why not (a SNAP_YAML_PROBLEMS key)."""

    text: t.Optional[str] = None
    problem: t.Optional[str] = None


# --- the raw values executors give --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReadProblem:
    """Why a record was not read: ``symlink``, ``not-regular``, ``too-large``, ``unreadable`` (detail: the system's
    words), ``no-process`` (no process runs in a namespace to read it from), ``time`` (the deadline passed), or for
    a snap.yaml one of SNAP_YAML_PROBLEMS."""

    reason: str
    detail: t.Optional[str] = None


TIME_UP = ReadProblem("time")


@dataclass(frozen=True)
class Listing:
    """A directory listing: every entry's name; ``entries`` {name: FileFacts, or why lstat failed} of the names
    the record asks to examine; ``cut`` when the executor stopped at the record's byte bound."""

    names: tuple = ()
    entries: dict = field(default_factory=dict)
    cut: bool = False


# --- the record kinds ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Lstat:
    """lstat of ``path``, a symlink at its end not followed. Raw: FileFacts, None when absent, or a ReadProblem."""

    key: str
    path: str


@dataclass(frozen=True)
class DevShmEntry:
    """lstat of /dev/shm/NAME, looked up only in a /dev/shm that is a real directory (a symlink there is never
    followed). Raw: as Lstat's, None also when /dev/shm is not a directory."""

    key: str
    name: str

    @property
    def path(self):
        return "/dev/shm/" + self.name


@dataclass(frozen=True)
class Text:
    """A regular file's text, a symlink at its end not followed, read up to ``limit`` + 1 bytes (so that a larger
    file shows). Raw: the text (UTF-8, surrogateescape), None when absent, or a ReadProblem."""

    key: str
    path: str
    limit: int = MAX_TEXT_BYTES


@dataclass(frozen=True)
class HookProfiles:
    """The generated profiles of ``snap``'s hooks (/v2/connections lists apps only). Raw: {NAME: raw Text value, each
    up to ``limit`` + 1 bytes} of the files snap.SNAP.hook.NAME whose NAME matches HOOK_FILE_NAME, or TIME_UP."""

    snap: str
    limit: int = MAX_TEXT_BYTES

    @property
    def key(self):
        return "hooks:" + self.snap

    def profile(self, hook):
        """The Text record of one hook's profile."""
        return Text("profile:%s.hook.%s" % (self.snap, hook), "%s/snap.%s.hook.%s" % (PROFILES_DIR, self.snap, hook),
                    self.limit)


@dataclass(frozen=True)
class NamespaceMounts:
    """The mountinfo of the mount namespace snapd preserved for ``snap``. Raw: its text (up to ``limit`` + 1 bytes),
    None when there is no such namespace, or a ReadProblem (``unreadable`` with the executor's own words,
    ``no-process``, ``time``)."""

    snap: str
    limit: int = MAX_TEXT_BYTES

    @property
    def key(self):
        return "ns-mounts:" + self.snap

    @property
    def path(self):
        return "/run/snapd/ns/%s.mnt" % self.snap


@dataclass(frozen=True)
class DevShmNames:
    """The top level of /dev/shm for the slots' ``paths``: a Listing of every name, whose entries hold lstat of the
    names ``examined_names`` picks (no more: a user may make 100,000 of them), or None when /dev/shm is not a real
    directory, or ReadProblem ``unreadable``. The sh executor cuts what it sends at ``max_bytes`` of ``ls -l`` lines
    (``cut``); the Python one sends nothing, and lists every name."""

    paths: tuple
    max_bytes: int = LISTING_BYTES
    key = "dev_shm_listing"
    path = "/dev/shm"


@dataclass(frozen=True)
class InstalledSnaps:
    """The entries of /snap. Raw: a Listing of their names (no entries; cut past ``max_bytes`` by the sh executor),
    or None when /snap cannot be listed."""

    max_bytes: int = LISTING_BYTES
    key = "installed_snaps"
    path = SNAP_MOUNT_DIR


@dataclass(frozen=True)
class SnapYamls:
    """meta/snap.yaml of each installed snap, through snapd's current -> REVISION link only, no other link
    followed, kept only when it may declare shared-memory (the interface's name, or a backslash that can spell
    it). Raw: {snap: its text up to MAX_YAML_BYTES + 1 bytes, or a ReadProblem with a SNAP_YAML_PROBLEMS reason},
    or TIME_UP."""

    key = "snap.yaml"


@dataclass(frozen=True)
class Processes:
    """The /proc scan of ``snaps``' processes. Raw: the _proc_scan.ProcessScan (from _proc_scan.scan_from_records)."""

    snaps: tuple
    key = "processes"


def _profile(snap, app):
    return Text("profile:%s.%s" % (snap, app), "%s/snap.%s.%s" % (PROFILES_DIR, snap, app))


def _update_ns_profile(snap):
    return Text("update-ns:" + snap, "%s/snap-update-ns.%s" % (PROFILES_DIR, snap))


def _desired_fstab(snap):
    return Text("fstab:" + snap, "/var/lib/snapd/mount/snap.%s.fstab" % snap)


def _applied_fstab(snap):
    return Text("applied:" + snap, "/run/snapd/ns/snap.%s.fstab" % snap)


def _namespace_file(snap):
    return Lstat("ns:" + snap, NamespaceMounts(snap).path)


def _private_dir(snap):
    return DevShmEntry("dir:" + snap, "snap." + snap)


DEV_SHM = Lstat("dev_shm", "/dev/shm")
MOUNTINFO = Text("mountinfo", "/proc/self/mountinfo")
APPARMOR_ENABLED = Text("aa_enabled", "/sys/module/apparmor/parameters/enabled", 64)
KERNEL_PROFILES = Text("aa_profiles", "/sys/kernel/security/apparmor/profiles")
# the facts read only where the kernel enforces AppArmor
_APPARMOR_FACTS = ("apparmor_enabled", "kernel_profiles", "profiles", "update_ns_profiles")


def plan_for(families, apps=(), private_snaps=(), user_snaps=(), slot_paths=()):
    """The records a shm_verify run reads for its check ``families``, in order, each once.

    apps are the (snap, app) pairs whose generated profiles to read (_verify_checks.profile_apps; app None for a
    snap with no app to read, only its hooks' and snap-update-ns profiles); private_snaps the snaps whose private
    setup to inspect; user_snaps the snaps whose processes may use a connection's objects; slot_paths the slots'
    paths to list /dev/shm's objects for. Every name is one snapd allows (the caller checks).
    """
    wanted = set(facts_needed(families))
    snaps = sorted(set(snap for snap, app in apps))
    plan = []
    if "dev_shm" in wanted:
        plan.append(DEV_SHM)
    if "mounts" in wanted:
        plan.append(MOUNTINFO)
    if wanted.intersection(_APPARMOR_FACTS):
        plan.append(APPARMOR_ENABLED)
    if "kernel_profiles" in wanted:
        plan.append(KERNEL_PROFILES)
    if "profiles" in wanted:
        plan += [_profile(snap, app) for snap, app in apps if app is not None]
        plan += [HookProfiles(snap) for snap in snaps]
    if "update_ns_profiles" in wanted:
        plan += [_update_ns_profile(snap) for snap in snaps]
    if "private" in wanted:
        for snap in private_snaps:
            plan += [_desired_fstab(snap), _namespace_file(snap), _applied_fstab(snap), _private_dir(snap),
                     NamespaceMounts(snap)]
    if "dev_shm_listing" in wanted and slot_paths:
        plan.append(DevShmNames(tuple(sorted(set(slot_paths)))))
    if "processes" in wanted and user_snaps:
        plan.append(Processes(tuple(sorted(set(user_snaps)))))
    if "installed_snaps" in wanted:
        plan.append(InstalledSnaps())
    if "snap_yamls" in wanted:
        plan.append(SnapYamls())
    return tuple(dict.fromkeys(plan))


# --- pure helpers of the decoder and the executors ------------------------------------------------------------------

def snap_instance_name(name):
    """Whether a /snap entry is named like a snap instance (the system snap's aliases left out)."""
    try:
        return bool(parse_snap(name))
    except EndpointError:
        return False


def _unescape(text):
    # mountinfo escapes space, tab, newline and backslash as \ooo
    out = []
    index = 0
    while index < len(text):
        if text[index] == "\\" and text[index + 1:index + 4].isdigit() and len(text[index + 1:index + 4]) == 3:
            out.append(chr(int(text[index + 1:index + 4], 8)))
            index += 4
        else:
            out.append(text[index])
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


def parse_kernel_profiles(listing):
    """{profile: mode} from /sys/kernel/security/apparmor/profiles (``name (mode)`` lines)."""
    profiles = {}
    for line in listing.splitlines():
        name, sep, mode = line.rstrip().rpartition(" (")
        if sep and mode.endswith(")"):
            profiles[name] = mode[:-1]
    return profiles


def _first_names(names, paths, limit):
    """({path: its first `limit` names by name}, {path: how many names it matches}) of /dev/shm entry ``names``."""
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
    return dict((path, sorted(listed)[:limit]) for path, listed in first.items()), matches


def examined_names(names, paths, limit=OBJECTS_LISTED):
    """The /dev/shm entries of ``names`` an executor lstats for slot ``paths``: the first ``limit`` of each by name."""
    first, matches = _first_names(names, paths, limit)
    return sorted(set(name for listed in first.values() for name in listed))


def build_listing(names, paths, examine, limit=OBJECTS_LISTED):
    """DevShmListing of /dev/shm's entry `names` for slot `paths`: each name is matched once, and only the first
    `limit` names of each path by name are examined with ``examine(name) -> (FileFacts or None, error or None)``."""
    first, matches = _first_names(names, paths, limit)
    objects, unreadable = {}, {}
    for name in sorted(set(name for listed in first.values() for name in listed)):
        facts, error = examine(name)
        if error is not None:
            unreadable[name] = error
        elif facts is not None:
            objects[name] = facts
    return DevShmListing(objects, unreadable, dict((path, count) for path, count in matches.items() if count))


# --- the decoder ---------------------------------------------------------------------------------------------------

_TEXT_PROBLEMS = {
    # ELOOP's words: what opening the file with O_NOFOLLOW says
    "symlink": "cannot open %(path)s: Too many levels of symbolic links",
    "not-regular": "%(path)s is not a regular file",
    "too-large": "%(path)s is larger than %(limit)d bytes",
    "unreadable": "cannot read %(path)s: %(detail)s",
}


def _size(text):
    return len(text.encode("utf-8", "surrogateescape"))


def decoded_text(record, value):
    """The text of a Text or NamespaceMounts record from its raw value, None when absent; HostReadError otherwise."""
    if isinstance(value, ReadProblem):
        raise HostReadError(_TEXT_PROBLEMS.get(value.reason, "cannot read %(path)s: %(reason)s") % dict(
            path=record.path, limit=record.limit, detail=value.detail or "unknown error", reason=value.reason))
    if value is not None and _size(value) > record.limit:
        raise HostReadError(_TEXT_PROBLEMS["too-large"] % dict(path=record.path, limit=record.limit))
    return value


def _text(results, record):
    return decoded_text(record, results.get(record.key))


def _lstat(results, record):
    value = results.get(record.key)
    if isinstance(value, ReadProblem):
        raise HostReadError("cannot lstat %s: %s" % (record.path, value.detail or "unknown error"))
    return value


def _namespace_mounts(results, snap):
    record = NamespaceMounts(snap)
    value = results.get(record.key)
    if value == ReadProblem("no-process"):
        raise HostReadError("no process of %s runs in its mount namespace %s to read its mounts from (the python "
                            "transport enters the namespace itself)" % (snap, record.path))
    if isinstance(value, ReadProblem) and value.reason == "unreadable":
        raise HostReadError(value.detail)
    return parse_mountinfo(decoded_text(record, value))


def _private_setup(results, snap):
    """The PrivateSetup of one snap (instance) name: everything the private checks look at."""
    namespace = _lstat(results, _namespace_file(snap)) is not None
    directory = dir_error = None
    try:
        directory = _lstat(results, _private_dir(snap))
    except HostReadError as error:
        # a user's FUSE mount on /dev/shm/snap.NAME answers root's lstat with EACCES: a finding, not a failure
        dir_error = str(error)
    applied_fstab = namespace_mounts = namespace_error = None
    if namespace:
        applied_fstab = _text(results, _applied_fstab(snap))
        try:
            namespace_mounts = _namespace_mounts(results, snap)
        except HostReadError as error:
            namespace_error = str(error)
    return PrivateSetup(
        desired_fstab=_text(results, _desired_fstab(snap)),
        namespace=namespace, applied_fstab=applied_fstab, namespace_mounts=namespace_mounts,
        namespace_error=namespace_error, dir=directory, dir_error=dir_error)


def _kernel_profiles(results):
    try:
        listing = _text(results, KERNEL_PROFILES)
    except HostReadError:
        return None
    return None if listing is None else parse_kernel_profiles(listing)


def _profiles(results, apps, snaps):
    """{(snap, app): text} of the apps' generated profiles and of the hooks' found for `snaps`."""
    profiles = dict(((snap, app), _text(results, _profile(snap, app))) for snap, app in apps if app is not None)
    for snap in snaps:
        record = HookProfiles(snap)
        found = results.get(record.key) or {}
        for hook in sorted(hook for hook in found if HOOK_NAME.fullmatch(hook)):
            profiles[(snap, "hook." + hook)] = decoded_text(record.profile(hook), found[hook])
    return profiles


def _uncut(listing, record):
    if listing.cut:
        raise HostReadError("the listing of %s is larger than %d bytes; it was not read (remove what floods it)"
                            % (record.path, record.max_bytes))
    return listing


def _dev_shm_listing(results, slot_paths):
    record = DevShmNames(tuple(sorted(set(slot_paths))))
    value = results.get(record.key)
    if isinstance(value, ReadProblem):
        raise HostReadError("cannot list /dev/shm: %s" % (value.detail or "unknown error"))
    if value is None:
        return DevShmListing()
    entries = _uncut(value, record).entries

    def examine(name):
        found = entries.get(name)
        return (None, found) if isinstance(found, str) else (found, None)

    return build_listing(value.names, slot_paths, examine)


def _installed_snaps(results):
    record = InstalledSnaps()
    value = results.get(record.key)
    if value is None:
        return None
    return sorted(name for name in _uncut(value, record).names if name not in (".", ".."))


def _snap_yamls(results):
    found = {}
    raw = results.get(SnapYamls.key) or {}
    for snap in sorted(raw):
        value = raw[snap]
        if not snap_instance_name(snap):
            continue
        if isinstance(value, ReadProblem):
            found[snap] = SnapYamlText(problem=value.reason if value.reason in SNAP_YAML_PROBLEMS else "unreadable")
        elif _size(value) > MAX_YAML_BYTES:
            found[snap] = SnapYamlText(problem="too-large")
        else:
            found[snap] = SnapYamlText(text=value)
    return found


def facts_from_results(results, families, apps=(), private_snaps=(), user_snaps=(), slot_paths=()):
    """The HostFacts of ``families`` from ``results`` ({record key: raw value}) of ``plan_for``'s records for the same
    arguments, whichever executor read them. HostReadError says what could not be read, in one line."""
    late = sorted(key for key, value in results.items() if value == TIME_UP)
    if late:
        raise HostReadError("the time ran out while reading %s on the host; raise the timeout option" % ", ".join(late))
    snaps = sorted(set(snap for snap, app in apps))
    kernel = []  # whether the kernel enforces AppArmor, decided once whichever AppArmor fact asks first

    def enabled():
        if not kernel:
            kernel.append((_text(results, APPARMOR_ENABLED) or "").strip() == "Y")
        return kernel[0]

    readers = {
        "dev_shm": lambda: _lstat(results, DEV_SHM),
        "mounts": lambda: parse_mountinfo(_text(results, MOUNTINFO)),
        "apparmor_enabled": enabled,
        "kernel_profiles": lambda: _kernel_profiles(results) if enabled() else None,
        "profiles": lambda: _profiles(results, apps, snaps) if enabled() else {},
        "update_ns_profiles": lambda: dict((snap, _text(results, _update_ns_profile(snap)))
                                           for snap in snaps) if enabled() else {},
        "private": lambda: dict((snap, _private_setup(results, snap)) for snap in private_snaps),
        "dev_shm_listing": lambda: _dev_shm_listing(results, slot_paths),
        "processes": lambda: results.get(Processes.key, ProcessScan()),
        "installed_snaps": lambda: _installed_snaps(results),
        "snap_yamls": lambda: _snap_yamls(results),
    }
    return HostFacts(**dict((name, readers[name]()) for name in facts_needed(families)))
