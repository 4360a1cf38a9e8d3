# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_shm_host, the Python executor of the read plan: the raw value of each record kind, and installed snaps'
meta/snap.yaml read through snapd's current link, nothing else followed."""

from __future__ import annotations

import os
import time

from ansible_collections.snapfleet.snapd.plugins.module_utils._read_plan import (
    DevShmEntry,
    FileFacts,
    HookProfiles,
    HostReadError,
    InstalledSnaps,
    Lstat,
    NamespaceMounts,
    ReadProblem,
    SnapYamls,
    Text,
    TIME_UP,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_host import read_snap_yamls, run_plan
from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import MAX_YAML_BYTES

from shm_fixtures import BROKEN_SNAP_YAML, install_snap_yaml

PLAIN = "name: plain\nplugs:\n  home: null\n"


def test_a_snap_declaring_shared_memory_is_read_and_the_others_are_left_out(tmp_path):
    install_snap_yaml(tmp_path, "shm-broken", BROKEN_SNAP_YAML, revision="12")
    install_snap_yaml(tmp_path, "plain", PLAIN)
    assert read_snap_yamls(str(tmp_path)) == {"shm-broken": BROKEN_SNAP_YAML}


def test_a_backslash_that_could_spell_the_interface_is_enough_to_read_it(tmp_path):
    text = 'name: sly\nplugs:\n  p:\n    interface: "shared\\x2dmemory"\n'
    install_snap_yaml(tmp_path, "sly", text)
    assert read_snap_yamls(str(tmp_path)) == {"sly": text}


def test_current_must_be_a_link_to_a_revision(tmp_path):
    install_snap_yaml(tmp_path, "away", BROKEN_SNAP_YAML)
    os.unlink(str(tmp_path / "snap" / "away" / "current"))
    os.symlink("../shm-broken/x1", str(tmp_path / "snap" / "away" / "current"))
    install_snap_yaml(tmp_path, "flat", BROKEN_SNAP_YAML)
    os.unlink(str(tmp_path / "snap" / "flat" / "current"))
    os.mkdir(str(tmp_path / "snap" / "flat" / "current"))
    assert read_snap_yamls(str(tmp_path)) == {"away": ReadProblem("not-a-revision"),
                                              "flat": ReadProblem("not-a-revision")}


def test_no_link_below_the_revision_is_followed(tmp_path):
    secret = tmp_path / "secret.yaml"
    secret.write_text(BROKEN_SNAP_YAML)
    for snap, link in (("meta-link", "x1/meta"), ("file-link", "x1/meta/snap.yaml")):
        install_snap_yaml(tmp_path, snap, "")
        target = tmp_path / "snap" / snap / link
        if target.is_dir():
            os.rename(str(target), str(target) + ".real")
        else:
            target.unlink()
        os.symlink(str(secret) if link.endswith(".yaml") else str(tmp_path), str(target))
    os.makedirs(str(tmp_path / "snap" / "rev-link"))
    os.symlink(str(tmp_path / "snap" / "meta-link" / "x1.real"), str(tmp_path / "snap" / "rev-link" / "x2"))
    os.symlink("x2", str(tmp_path / "snap" / "rev-link" / "current"))
    assert read_snap_yamls(str(tmp_path)) == {"meta-link": ReadProblem("symlink"),
                                              "file-link": ReadProblem("symlink"),
                                              "rev-link": ReadProblem("symlink")}


def test_a_fifo_is_not_waited_on_and_an_oversized_file_is_cut_one_byte_past_the_bound(tmp_path):
    path = install_snap_yaml(tmp_path, "fifo", "")
    os.unlink(path)
    os.mkfifo(path)
    install_snap_yaml(tmp_path, "huge", "# shared-memory\n" + "x" * MAX_YAML_BYTES)
    assert read_snap_yamls(str(tmp_path)) == {"fifo": ReadProblem("not-regular"),
                                              "huge": ("# shared-memory\n" + "x" * MAX_YAML_BYTES)[:MAX_YAML_BYTES + 1]}


def test_entries_not_named_like_snaps_and_unmounted_revisions_are_skipped(tmp_path):
    install_snap_yaml(tmp_path, "Bad_Name", BROKEN_SNAP_YAML)
    install_snap_yaml(tmp_path, "snapd", BROKEN_SNAP_YAML)
    os.makedirs(str(tmp_path / "snap" / "unmounted" / "x3"))
    os.symlink("x3", str(tmp_path / "snap" / "unmounted" / "current"))
    (tmp_path / "snap" / "README").write_text("shared-memory")
    assert read_snap_yamls(str(tmp_path)) == {}
    assert read_snap_yamls(str(tmp_path / "nowhere")) == {}


def test_each_record_kind_gives_its_raw_value_read_with_python(tmp_path):
    for path, text in (("etc/plain", "text\n"), ("etc/big", "x" * 70), ("run/snapd/ns/p.mnt", ""),
                       ("var/lib/snapd/apparmor/profiles/snap.p.hook.configure", "hook\n"),
                       ("var/lib/snapd/apparmor/profiles/snap.p.hook.Odd_Name", "never\n")):
        os.makedirs(os.path.dirname(str(tmp_path / path)), exist_ok=True)
        (tmp_path / path).write_text(text)
    os.symlink(str(tmp_path / "etc" / "plain"), str(tmp_path / "etc" / "link"))
    os.mkfifo(str(tmp_path / "etc" / "fifo"))
    os.makedirs(str(tmp_path / "dev" / "shm" / "snap.p"))
    os.chmod(str(tmp_path / "dev" / "shm" / "snap.p"), 0o750)
    plan = (Text("plain", "/etc/plain"), Text("big", "/etc/big", 64), Text("link", "/etc/link"),
            Text("fifo", "/etc/fifo"), Text("none", "/etc/none"), Lstat("lstat-link", "/etc/link"),
            Lstat("lstat-none", "/etc/none/x"), DevShmEntry("dir:p", "snap.p"), HookProfiles("p"),
            NamespaceMounts("p"), NamespaceMounts("q"), InstalledSnaps())
    me = (os.geteuid(), os.getegid())
    assert run_plan(str(tmp_path), plan, ns_reader=lambda path: "mounts of %s" % os.path.basename(path)) == {
        "plain": "text\n", "big": "x" * 65, "link": ReadProblem("symlink"), "fifo": ReadProblem("not-regular"),
        "none": None, "lstat-link": FileFacts("symlink", me[0], me[1], 0o777), "lstat-none": None,
        "dir:p": FileFacts("dir", me[0], me[1], 0o750), "hooks:p": {"configure": "hook\n"},
        "ns-mounts:p": "mounts of p.mnt", "ns-mounts:q": None, "installed_snaps": None}


def test_a_namespace_that_cannot_be_entered_is_a_problem_in_the_readers_own_words(tmp_path):
    os.makedirs(str(tmp_path / "run" / "snapd" / "ns"))
    (tmp_path / "run" / "snapd" / "ns" / "p.mnt").write_text("")

    def refused(path):
        raise HostReadError("cannot enter the mount namespace %s: setns: Operation not permitted" % path)

    ns_file = str(tmp_path / "run" / "snapd" / "ns" / "p.mnt")
    assert run_plan(str(tmp_path), (NamespaceMounts("p"),), ns_reader=refused) == {"ns-mounts:p": ReadProblem(
        "unreadable", "cannot enter the mount namespace %s: setns: Operation not permitted" % ns_file)}


def test_the_hooks_and_snap_yaml_loops_stop_at_the_deadline(tmp_path):
    install_snap_yaml(tmp_path, "shm-broken", BROKEN_SNAP_YAML)
    os.makedirs(str(tmp_path / "var/lib/snapd/apparmor/profiles"))
    (tmp_path / "var/lib/snapd/apparmor/profiles" / "snap.p.hook.configure").write_text("hook\n")
    plan = (HookProfiles("p"), SnapYamls())
    assert run_plan(str(tmp_path), plan, deadline=time.monotonic()) == {"hooks:p": TIME_UP, "snap.yaml": TIME_UP}
    assert run_plan(str(tmp_path), plan, deadline=time.monotonic() + 60) == {
        "hooks:p": {"configure": "hook\n"}, "snap.yaml": {"shm-broken": BROKEN_SNAP_YAML}}
