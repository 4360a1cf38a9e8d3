# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The sh executor of the read plan: what each record's frames turn into (expected values written out), what it
refuses, what reaches the script, and the same raw values as the Python executor for the same tree (the compiled
script run by /bin/sh, sent on stdin as the action plugin sends it, against a fake tree under tmp_path)."""

from __future__ import annotations

import base64
import os
import subprocess

import pytest

from fake_proc import add_process
from shm_fixtures import BROKEN_SNAP_YAML, install_snap_yaml
from ansible_collections.snapfleet.snapd.plugins.module_utils._read_plan import (
    MAX_TEXT_BYTES,
    DevShmEntry,
    DevShmNames,
    FileFacts,
    HookProfiles,
    InstalledSnaps,
    Listing,
    Lstat,
    NamespaceMounts,
    ReadProblem,
    SnapYamls,
    Text,
    TIME_UP,
    plan_for,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import FAMILIES
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_host import run_plan
from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import MAX_YAML_BYTES
from ansible_collections.snapfleet.snapd.plugins.plugin_utils import _snap_debug_api
from ansible_collections.snapfleet.snapd.plugins.plugin_utils._sh_frames import MalformedOutput, Output
from ansible_collections.snapfleet.snapd.plugins.plugin_utils._sh_read_plan import (
    parse_ls_listing,
    plan_script,
    results_from_output,
)
from ansible_collections.snapfleet.snapd.plugins.plugin_utils._snap_debug_api import DebugApiHost

NONCE = "6e6f6e6365"


def frames(*lines):
    """An Output of frame lines (NONCE added) and other lines as they are."""
    return Output("\n".join(NONCE + " " + line if not line.startswith("=") else line[1:] for line in lines) + "\n",
                  NONCE)


def encoded(key, text):
    return ["begin text " + key, "=" + base64.b64encode(text.encode()).decode(), "end text " + key]


def no_scan(lines, snaps):
    raise AssertionError("no process scan was planned")


# record, the frames the script printed for it, the raw value expected
DECODED = {
    "a directory": (Lstat("dev_shm", "/dev/shm"), ["stat dev_shm 43ff 0 0"], FileFacts("dir", 0, 0, 0o1777)),
    "an absent path": (Lstat("dev_shm", "/dev/shm"), ["stat dev_shm absent"], None),
    "lstat refused": (DevShmEntry("dir:p", "snap.p"), ["stat dir:p error Permission denied"],
                      ReadProblem("unreadable", "Permission denied")),
    "a text": (Text("fstab:p", "/x"), encoded("fstab:p", "a b\n"), "a b\n"),
    "a symlink": (Text("fstab:p", "/x"), ["text fstab:p symlink"], ReadProblem("symlink")),
    "not a regular file": (Text("fstab:p", "/x"), ["text fstab:p not-regular"], ReadProblem("not-regular")),
    "not readable": (Text("fstab:p", "/x"), ["text fstab:p unreadable"], ReadProblem("unreadable", "Permission denied")),
    "no text": (Text("fstab:p", "/x"), ["text fstab:p absent"], None),
    "hook profiles": (HookProfiles("p"), encoded("hooks:p:configure", "r") + ["text hooks:p:remove symlink"],
                      {"configure": "r", "remove": ReadProblem("symlink")}),
    "hooks cut at the deadline": (HookProfiles("p"), ["cut hooks:p"], TIME_UP),
    "namespace mounts": (NamespaceMounts("p"), encoded("ns-mounts:p", "mounts\n"), "mounts\n"),
    "no process in the namespace": (NamespaceMounts("p"), ["text ns-mounts:p no-process"], ReadProblem("no-process")),
    "no namespace": (NamespaceMounts("p"), [], None),
    "a /dev/shm listing": (DevShmNames(("bar*",)), [
        "begin listing", '=drwxrwxrwt 2 0 0 80 1 "."', '=-rw------- 1 1000 1000 0 1 "bar"',
        "=ls: cannot access '/dev/shm/bar-fuse': Permission denied", '=l????????? ? ? ? ? ? "bar-fuse"',
        '=-rw------- 1 0 0 0 1 "other"', "end listing"],
        Listing(("bar", "bar-fuse", "other"), {"bar": FileFacts("file", 1000, 1000, 0o600), "bar-fuse": "Permission denied"})),
    "a /dev/shm listing cut": (DevShmNames(("bar",)), ["begin listing", '=-rw------- 1 0 0 0 1 "bar"', "=!cut",
                                                       "end listing"],
                               Listing(("bar",), {"bar": FileFacts("file", 0, 0, 0o600)}, cut=True)),
    "no /dev/shm": (DevShmNames(("bar",)), [], None),
    "the installed snaps": (InstalledSnaps(), ["begin snaps", '="zed"', '="core"', '="a\\nb"', "end snaps"],
                            Listing(("a\nb", "core", "zed"))),
    "snap.yaml files": (SnapYamls(), encoded("yaml:sly", "name: sly\n") + ["text yaml:odd not-a-revision"],
                        {"sly": "name: sly\n", "odd": ReadProblem("not-a-revision")}),
    "snap.yaml files cut at the deadline": (SnapYamls(), ["cut snap.yaml"], TIME_UP),
}


@pytest.mark.parametrize("case", sorted(DECODED))
def test_each_records_frames_give_its_raw_value(case):
    record, lines, expected = DECODED[case]
    assert results_from_output(frames(*lines), (record,), no_scan) == {record.key: expected}


MALFORMED = {
    "a stat frame missing": (Lstat("dev_shm", "/dev/shm"), [], "no stat frame for dev_shm"),
    "a stat frame that is no stat": (Lstat("dev_shm", "/dev/shm"), ["stat dev_shm 43ff 0 \u00b2"], "a gid"),
    "a mode that is no hex": (Lstat("dev_shm", "/dev/shm"), ["stat dev_shm -1 0 0"], "the stat frame for dev_shm"),
    "a text frame missing": (Text("fstab:p", "/x"), [], "no text frame for fstab:p"),
    "a text state the script never prints": (Text("fstab:p", "/x"), ["text fstab:p no-process"], "the state"),
    "a snap.yaml state the script never prints": (SnapYamls(), ["text yaml:x absent"], "the snap.yaml of x"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_frames_the_script_never_prints_are_malformed_output(case):
    record, lines, said = MALFORMED[case]
    with pytest.raises(MalformedOutput) as raised:
        results_from_output(frames(*lines), (record,), no_scan)
    assert said in str(raised.value) and "\n" not in str(raised.value)


def test_ls_listing_gives_lstat_facts_for_hostile_names():
    lines = [
        "total 0",
        'drwxrwxrwt  3 0    0      80 1796181302 "."',
        'drwxr-xr-x 18 0    0    3940 1796181302 ".."',
        'lrwxrwxrwx  1 1000 1000    4 1796181302 "snap.shm-private" -> "/etc"',
        r'-rw-r-----  1 1000 1000    0 1796181302 "a\nb \"q\" \377"',
        'drwsr-S--T  2 0    0      40 1796181302 "odd"',
        'crw-rw-rw-  1 0    0    1, 3 1796181302 "null"',
    ]
    listing, errors = parse_ls_listing(lines + ["ls: cannot access '/dev/shm/fuse': Permission denied",
                                                'l????????? ? ?    ?       ?          ? "fuse"'])
    assert errors == {"fuse": "Permission denied"}
    assert listing["snap.shm-private"] == FileFacts("symlink", 1000, 1000, 0o777)
    assert listing[b'a\nb "q" \xff'.decode("utf-8", "surrogateescape")] == FileFacts("file", 1000, 1000, 0o640)
    assert listing["odd"] == FileFacts("dir", 0, 0, 0o7740 | 0o100)
    assert listing["null"].kind == "other"
    assert "." not in listing and ".." not in listing


def test_only_checked_names_and_quoted_paths_reach_the_script():
    # slot paths and user names are never put in the script: the listing is matched on the controller
    script = plan_script(plan_for(FAMILIES, [("logger", "app")], ["shm-private"], ["logger"], ["$(touch /pwned)", "`x`"]))
    assert "pwned" not in script and "`x`" not in script
    assert "text profile:logger.app 4194305 \"$ROOT\"/var/lib/snapd/apparmor/profiles/snap.logger.app" in script


def sh_run(script):
    done = subprocess.run(["/bin/sh", "-c", _snap_debug_api.STDIN_COMMAND], input=script, capture_output=True,
                          text=True, timeout=120, check=False)
    return done.returncode, done.stdout, done.stderr


MOUNTINFO = "25 24 0:23 / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw\n"
NS_MOUNTINFO = "30 29 0:23 /snap.shm-private /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw\n"
PROFILES = "var/lib/snapd/apparmor/profiles/"


def hostile_tree(root):
    """One tree with something of every record kind, hostile where it can be."""
    files = {
        "proc/self/mountinfo": MOUNTINFO,
        "sys/module/apparmor/parameters/enabled": "Y" * 70,
        "sys/kernel/security/apparmor/profiles": "snap.logger.app (enforce)\n",
        PROFILES + "snap.logger.app": '  "/{dev,run}/shm/bar" mrwlk,\n',
        PROFILES + "snap.logger.hook.configure": '  "/{dev,run}/shm/bar" mrwlk,\n',
        PROFILES + "snap.logger.hook.9-bad": "x",
        PROFILES + "snap.logger.hook.Upper": "x",
        PROFILES + "snap-update-ns.logger": "x" * (MAX_TEXT_BYTES + 10),
        "var/lib/snapd/mount/snap.shm-private.fstab": "/dev/shm/snap.shm-private /dev/shm none bind,rw 0 0\n",
        "run/snapd/ns/shm-private.mnt": "",
        "proc/4242/mountinfo": NS_MOUNTINFO,
        "dev/shm/bar": "x",
        "dev/shm/bar-\n\"q\" \xe9": "x",
        "dev/shm/unrelated": "x",
        "secret": "shared-memory\n",
    }
    for path, text in files.items():
        full = os.path.join(str(root), path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write(text)
    os.chmod(os.path.join(str(root), "dev/shm"), 0o1777)
    os.mkfifo(os.path.join(str(root), "dev/shm/bar-fifo"))
    os.symlink("/etc", os.path.join(str(root), "dev/shm/bar-link"))
    os.mkdir(os.path.join(str(root), "dev/shm/snap.shm-private"), 0o700)
    os.symlink(os.path.join(str(root), "secret"), os.path.join(str(root), "run/snapd/ns/snap.shm-private.fstab"))
    os.makedirs(os.path.join(str(root), "proc/4242/ns"))
    os.symlink(os.path.join(str(root), "run/snapd/ns/shm-private.mnt"), os.path.join(str(root), "proc/4242/ns/mnt"))
    add_process(root, 4343, "snap.logger.app (enforce)", fds=["/dev/shm/bar"], maps=["/dev/shm/bar-1"])
    install_snap_yaml(root, "shm-broken", BROKEN_SNAP_YAML, revision="7")
    install_snap_yaml(root, "plain", "name: plain\n")
    install_snap_yaml(root, "huge", "# shared-memory\n" + "x" * MAX_YAML_BYTES)
    install_snap_yaml(root, "linked", "")
    os.unlink(os.path.join(str(root), "snap/linked/x1/meta/snap.yaml"))
    os.symlink(os.path.join(str(root), "secret"), os.path.join(str(root), "snap/linked/x1/meta/snap.yaml"))


@pytest.mark.skipif(os.geteuid() != 0, reason="shm_verify reads as root")
def test_the_python_and_the_sh_executor_give_the_same_raw_values_for_the_same_tree(tmp_path):
    hostile_tree(tmp_path)
    plan = plan_for(FAMILIES, [("logger", "app"), ("hooky", None)], ["shm-private"], ["logger"], ["bar", "bar-*"])
    # the sh executor reads a namespace's mounts from a process in it; the Python one enters it (here, a fake entry)
    python = run_plan(str(tmp_path), plan, ns_reader=lambda path: NS_MOUNTINFO)
    sh = DebugApiHost(sh_run, 20, root=str(tmp_path)).run_plan(plan)
    assert sorted(sh) == sorted(python) == sorted(record.key for record in plan)
    for key in sorted(python):
        assert sh[key] == python[key], key
    # and what they both gave is what the tree holds
    assert python["dir:shm-private"] == FileFacts("dir", 0, 0, 0o700)
    assert python["applied:shm-private"] == ReadProblem("symlink")
    assert python["ns-mounts:shm-private"] == NS_MOUNTINFO
    assert python["hooks:logger"] == {"configure": '  "/{dev,run}/shm/bar" mrwlk,\n', "9-bad": "x"}
    assert python["update-ns:logger"] == "x" * (MAX_TEXT_BYTES + 1)
    listing = python["dev_shm_listing"]
    assert sorted(listing.entries) == ["bar", "bar-\n\"q\" \xe9", "bar-fifo", "bar-link"] and not listing.cut
    assert (listing.entries["bar-fifo"].kind, listing.entries["bar-link"].kind) == ("other", "symlink")
    assert python["installed_snaps"] == Listing(("huge", "linked", "plain", "shm-broken"))
    assert python["snap.yaml"] == {"shm-broken": BROKEN_SNAP_YAML, "linked": ReadProblem("symlink"),
                                   "huge": ("# shared-memory\n" + "x" * MAX_YAML_BYTES)[:MAX_YAML_BYTES + 1]}
    assert [(p.pid, p.objects) for p in python["processes"].processes] == [(4343, ("/dev/shm/bar", "/dev/shm/bar-1"))]


@pytest.mark.skipif(os.geteuid() != 0, reason="shm_verify reads as root")
def test_a_dev_shm_that_is_a_symlink_is_never_followed_by_either_executor(tmp_path):
    os.makedirs(str(tmp_path / "elsewhere" / "snap.shm-private"))
    open(str(tmp_path / "elsewhere" / "bar"), "w").close()
    os.makedirs(str(tmp_path / "dev"))
    os.symlink(str(tmp_path / "elsewhere"), str(tmp_path / "dev" / "shm"))
    plan = (DevShmEntry("dir:shm-private", "snap.shm-private"), DevShmNames(("bar",)))
    expected = {"dir:shm-private": None, "dev_shm_listing": None}
    assert run_plan(str(tmp_path), plan) == expected
    assert DebugApiHost(sh_run, 20, root=str(tmp_path)).run_plan(plan) == expected


@pytest.mark.skipif(os.geteuid() != 0, reason="shm_verify reads as root")
def test_a_namespace_no_process_runs_in_is_said_by_the_sh_executor(tmp_path):
    os.makedirs(str(tmp_path / "run" / "snapd" / "ns"))
    open(str(tmp_path / "run" / "snapd" / "ns" / "shm-private.mnt"), "w").close()
    os.makedirs(str(tmp_path / "proc"))
    plan = (NamespaceMounts("shm-private"),)
    assert DebugApiHost(sh_run, 20, root=str(tmp_path)).run_plan(plan) == {"ns-mounts:shm-private": ReadProblem("no-process")}


def test_an_empty_plan_sends_no_remote_command():
    def refuse(script):
        raise AssertionError("a remote command was sent")
    host = DebugApiHost(refuse, 20)
    assert host.run_plan(()) == {}
    assert host.facts(["connections"], [("logger", "app")], [], ["logger"], ["bar"]).gathered("dev_shm") is False
    assert host.remote_commands == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="shm_verify reads as root")
def test_a_dev_shm_listing_past_its_bound_is_cut_on_the_device_and_said(tmp_path):
    os.makedirs(str(tmp_path / "dev" / "shm"))
    for number in range(50):
        open(str(tmp_path / "dev" / "shm" / ("bar-%02d" % number)), "w").close()
    sent = []

    def recording(script):
        rc, stdout, stderr = sh_run(script)
        sent.append(len(stdout))
        return rc, stdout, stderr

    raw = DebugApiHost(recording, 20, root=str(tmp_path)).run_plan((DevShmNames(("bar-*",), max_bytes=600),))
    listing = raw["dev_shm_listing"]
    assert listing.cut is True and 0 < len(listing.names) < 50
    assert sent[0] < 600 + 200  # the bound, and the frames around it
