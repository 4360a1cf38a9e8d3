# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""shm_verify's read plan and its one decoder: which records each check family reads, and what HostFacts each
raw value an executor may give turns into (expected values written out here, whichever executor gave them)."""

from __future__ import annotations

import pytest

from ansible_collections.snapfleet.snapd.plugins.module_utils._read_plan import (
    MAX_TEXT_BYTES,
    DevShmEntry,
    DevShmListing,
    DevShmNames,
    FileFacts,
    HookProfiles,
    HostReadError,
    InstalledSnaps,
    Listing,
    Lstat,
    MountEntry,
    NamespaceMounts,
    Processes,
    ReadProblem,
    SnapYamls,
    SnapYamlText,
    Text,
    TIME_UP,
    examined_names,
    facts_from_results,
    plan_for,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._proc_scan import ProcessScan, SnapProcess
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_facts import NOT_GATHERED, PrivateSetup
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import FAMILIES
from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import MAX_YAML_BYTES

PROFILES = "/var/lib/snapd/apparmor/profiles"
DIR = FileFacts("dir", 0, 0, 0o1777)
MOUNTINFO = "25 24 0:23 / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw\n"
SHM_MOUNT = MountEntry("0:23", "/", "/dev/shm", ("rw", "nosuid", "nodev"), "tmpfs", "tmpfs", ("rw",))
ASKED = dict(apps=[("logger", "app"), ("hooky", None)], private_snaps=["shm-private"], user_snaps=["logger"],
             slot_paths=["bar", "bar-*"])

PLANS = {
    "dev-shm": (Lstat("dev_shm", "/dev/shm"), Text("mountinfo", "/proc/self/mountinfo")),
    "connections": (),
    "apparmor": (
        Text("aa_enabled", "/sys/module/apparmor/parameters/enabled", 64),
        Text("aa_profiles", "/sys/kernel/security/apparmor/profiles"),
        Text("profile:logger.app", PROFILES + "/snap.logger.app"),
        HookProfiles("hooky"), HookProfiles("logger"),
        Text("update-ns:hooky", PROFILES + "/snap-update-ns.hooky"),
        Text("update-ns:logger", PROFILES + "/snap-update-ns.logger")),
    "private": (
        Text("mountinfo", "/proc/self/mountinfo"),
        Text("fstab:shm-private", "/var/lib/snapd/mount/snap.shm-private.fstab"),
        Lstat("ns:shm-private", "/run/snapd/ns/shm-private.mnt"),
        Text("applied:shm-private", "/run/snapd/ns/snap.shm-private.fstab"),
        DevShmEntry("dir:shm-private", "snap.shm-private"),
        NamespaceMounts("shm-private")),
    "objects": (DevShmNames(("bar", "bar-*")), Processes(("logger",))),
    "warnings": (InstalledSnaps(),),
    "declarations": (SnapYamls(),),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_plans_the_records_of_its_facts_and_no_other(family):
    assert plan_for([family], **ASKED) == PLANS[family]


def test_a_record_two_families_need_is_read_once_and_nothing_is_planned_without_names():
    plan = plan_for(["dev-shm", "private"], **ASKED)
    assert [record.key for record in plan].count("mountinfo") == 1
    assert plan_for(["objects", "apparmor"]) == (Text("aa_enabled", "/sys/module/apparmor/parameters/enabled", 64),
                                                 Text("aa_profiles", "/sys/kernel/security/apparmor/profiles"))
    assert plan_for(["apparmor"], apps=[("logger", "app"), ("logger", "app")]).count(
        Text("profile:logger.app", PROFILES + "/snap.logger.app")) == 1


def decoded(family, results, **asked):
    return facts_from_results(results, [family], **dict(ASKED, **asked))


# (family, raw results, HostFacts field, its expected value)
DECODED = {
    "lstat of a directory": ("dev-shm", {"dev_shm": DIR, "mountinfo": MOUNTINFO}, "dev_shm", DIR),
    "lstat of nothing": ("dev-shm", {"dev_shm": None, "mountinfo": MOUNTINFO}, "dev_shm", None),
    "a text parsed as mountinfo": ("dev-shm", {"dev_shm": DIR, "mountinfo": MOUNTINFO}, "mounts", [SHM_MOUNT]),
    "an absent mountinfo": ("dev-shm", {"dev_shm": DIR, "mountinfo": None}, "mounts", []),
    "apparmor off drops every profile read": (
        "apparmor", {"aa_enabled": "N\n", "aa_profiles": ReadProblem("symlink"), "profile:logger.app": "x",
                     "hooks:logger": {"configure": ReadProblem("too-large")}},
        ("apparmor_enabled", "kernel_profiles", "profiles", "update_ns_profiles"), (False, None, {}, {})),
    "apparmor absent": ("apparmor", {"aa_enabled": None}, "apparmor_enabled", False),
    "kernel profiles": ("apparmor", {"aa_enabled": "Y\n", "aa_profiles": "snap.logger.app (enforce)\nbad line\n"},
                        "kernel_profiles", {"snap.logger.app": "enforce"}),
    "kernel profiles unreadable": ("apparmor", {"aa_enabled": "Y\n", "aa_profiles": ReadProblem("unreadable", "EIO")},
                                   "kernel_profiles", None),
    "profiles of apps and of hooks with snapd's hook names only": (
        "apparmor", {"aa_enabled": "Y\n", "profile:logger.app": "app rules",
                     "hooks:logger": {"configure": "hook rules", "9bad": "never", "a--b": "never"},
                     "hooks:hooky": {"remove": None}},
        "profiles", {("logger", "app"): "app rules", ("logger", "hook.configure"): "hook rules",
                     ("hooky", "hook.remove"): None}),
    "update-ns profiles": ("apparmor", {"aa_enabled": "Y\n", "update-ns:logger": "rules"}, "update_ns_profiles",
                           {"logger": "rules", "hooky": None}),
    "a private setup with its namespace": (
        "private", {"fstab:shm-private": "desired", "ns:shm-private": FileFacts("file", 0, 0, 0o444),
                    "applied:shm-private": "applied", "dir:shm-private": DIR, "ns-mounts:shm-private": MOUNTINFO},
        "private", {"shm-private": PrivateSetup(desired_fstab="desired", namespace=True, applied_fstab="applied",
                                                namespace_mounts=[SHM_MOUNT], dir=DIR)}),
    "a private setup without a namespace reads nothing of one": (
        "private", {"ns:shm-private": None, "applied:shm-private": ReadProblem("symlink"),
                    "ns-mounts:shm-private": ReadProblem("no-process")},
        "private", {"shm-private": PrivateSetup()}),
    "a private directory lstat cannot examine (a user's FUSE mount)": (
        "private", {"dir:shm-private": ReadProblem("unreadable", "Permission denied")},
        "private", {"shm-private": PrivateSetup(dir_error="cannot lstat /dev/shm/snap.shm-private: Permission denied")}),
    "a namespace no process runs in": (
        "private", {"ns:shm-private": FileFacts("file", 0, 0, 0o444), "ns-mounts:shm-private": ReadProblem("no-process")},
        "private", {"shm-private": PrivateSetup(namespace=True, namespace_error=(
            "no process of shm-private runs in its mount namespace /run/snapd/ns/shm-private.mnt to read its mounts "
            "from (the python transport enters the namespace itself)"))}),
    "a namespace that cannot be entered": (
        "private", {"ns:shm-private": FileFacts("file", 0, 0, 0o444),
                    "ns-mounts:shm-private": ReadProblem("unreadable", "cannot enter the mount namespace x: setns: EPERM")},
        "private", {"shm-private": PrivateSetup(namespace=True,
                                                namespace_error="cannot enter the mount namespace x: setns: EPERM")}),
    "a listing examined for the slots' paths": (
        "objects", {"dev_shm_listing": Listing(("bar", "bar-1", "bar-2", "other"),
                                               {"bar": FileFacts("file", 0, 0, 0o600), "bar-1": "Permission denied"})},
        "dev_shm_listing", DevShmListing({"bar": FileFacts("file", 0, 0, 0o600)}, {"bar-1": "Permission denied"},
                                         {"bar": 1, "bar-*": 2})),
    "no /dev/shm to list": ("objects", {"dev_shm_listing": None}, "dev_shm_listing", DevShmListing()),
    "a process scan as it came": ("objects", {"processes": ProcessScan((SnapProcess(7, "logger", "app", ("/dev/shm/bar",)),))},
                                  "processes", ProcessScan((SnapProcess(7, "logger", "app", ("/dev/shm/bar",)),))),
    "no process scan planned": ("objects", {}, "processes", ProcessScan()),
    "installed snaps": ("warnings", {"installed_snaps": Listing((".", "..", "zed", "core"))}, "installed_snaps",
                        ["core", "zed"]),
    "/snap unlisted": ("warnings", {"installed_snaps": None}, "installed_snaps", None),
    "snap.yaml texts and problems": (
        "declarations", {"snap.yaml": {"ok": "name: ok\n", "huge": "#" * (MAX_YAML_BYTES + 1),
                                       "linked": ReadProblem("symlink"), "odd": ReadProblem("forged"),
                                       "Not_A_Snap": "x"}},
        "snap_yamls", {"ok": SnapYamlText(text="name: ok\n"), "huge": SnapYamlText(problem="too-large"),
                       "linked": SnapYamlText(problem="symlink"), "odd": SnapYamlText(problem="unreadable")}),
}


@pytest.mark.parametrize("case", sorted(DECODED))
def test_each_raw_value_decodes_to_its_fact(case):
    family, results, fields, expected = DECODED[case]
    facts = decoded(family, results)
    if isinstance(fields, tuple):
        assert tuple(getattr(facts, name) for name in fields) == expected
    else:
        assert getattr(facts, fields) == expected


# (family, raw results, the one line of HostReadError)
REFUSED = {
    "a symlink where a text is read": (
        "dev-shm", {"mountinfo": ReadProblem("symlink")},
        "cannot open /proc/self/mountinfo: Too many levels of symbolic links"),
    "a text that is not a regular file": (
        "apparmor", {"aa_enabled": ReadProblem("not-regular")}, "/sys/module/apparmor/parameters/enabled is not a "
        "regular file"),
    "a text past its bound": (
        "apparmor", {"aa_enabled": "Y" * 65}, "/sys/module/apparmor/parameters/enabled is larger than 64 bytes"),
    "a profile past its bound": (
        "apparmor", {"aa_enabled": "Y", "hooks:logger": {"configure": "x" * (MAX_TEXT_BYTES + 1)}},
        "%s/snap.logger.hook.configure is larger than %d bytes" % (PROFILES, MAX_TEXT_BYTES)),
    "an unreadable text": (
        "private", {"fstab:shm-private": ReadProblem("unreadable", "Input/output error")},
        "cannot read /var/lib/snapd/mount/snap.shm-private.fstab: Input/output error"),
    "lstat failing": ("dev-shm", {"dev_shm": ReadProblem("unreadable", "Permission denied")},
                      "cannot lstat /dev/shm: Permission denied"),
    "a /dev/shm listing cut at its bound": (
        "objects", {"dev_shm_listing": Listing(("bar",), cut=True)},
        "the listing of /dev/shm is larger than 8388608 bytes; it was not read (remove what floods it)"),
    "a /dev/shm that cannot be listed": ("objects", {"dev_shm_listing": ReadProblem("unreadable", "EIO")},
                                         "cannot list /dev/shm: EIO"),
    "a /snap listing cut at its bound": (
        "warnings", {"installed_snaps": Listing(("a",), cut=True)},
        "the listing of /snap is larger than 8388608 bytes; it was not read (remove what floods it)"),
    "the deadline passed reading snap.yaml files": (
        "declarations", {"snap.yaml": TIME_UP}, "the time ran out while reading snap.yaml on the host; raise the "
        "timeout option"),
    "the deadline passed reading hooks": (
        "apparmor", {"aa_enabled": "Y", "hooks:logger": TIME_UP, "hooks:hooky": TIME_UP},
        "the time ran out while reading hooks:hooky, hooks:logger on the host; raise the timeout option"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_raw_value_that_is_no_fact_fails_with_one_line(case):
    family, results, message = REFUSED[case]
    with pytest.raises(HostReadError) as raised:
        decoded(family, results)
    assert str(raised.value) == message


def test_facts_of_families_not_asked_for_stay_not_gathered():
    facts = decoded("warnings", {"installed_snaps": Listing(("core",)), "dev_shm": DIR})
    assert facts.installed_snaps == ["core"] and facts.dev_shm is NOT_GATHERED


def test_only_the_first_names_of_each_path_are_examined():
    names = ["spam-%04d" % number for number in range(600, 0, -1)] + ["bar", "other"]
    assert examined_names(names, ["spam-*", "bar"], limit=3) == ["bar", "spam-0001", "spam-0002", "spam-0003"]
