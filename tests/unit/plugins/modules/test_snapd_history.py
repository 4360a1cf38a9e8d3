# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The corners of snapd's history, each through shm_verify against a FAKE snapd of the versions on either side.

The lab's snapd releases (2.57, 2.68) fall on none of these edges: module_utils/_snapd_versions.py cites the
snapd commits each one rests on.
"""

from __future__ import annotations

import os

import pytest

from fake_proc import add_process
from fake_snapd import FakeSnapd
from module_run import run_module
from shm_fixtures import install_snap_yaml
from ansible_collections.snapfleet.snapd.plugins.module_utils import _shm_local
from ansible_collections.snapfleet.snapd.plugins.modules import shm_connection, shm_verify

MOUNTINFO = "25 24 0:23 / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw\n"


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A fake host tree: /dev/shm, the host's mounts, AppArmor on; the module reads it as root."""
    monkeypatch.setattr(_shm_local.os, "geteuid", lambda: 0)
    monkeypatch.setattr(shm_verify, "HOST_ROOT", str(tmp_path))
    write(tmp_path, "proc/self/mountinfo", MOUNTINFO)
    write(tmp_path, "sys/module/apparmor/parameters/enabled", "Y\n")
    os.makedirs(str(tmp_path / "dev" / "shm"))
    os.chmod(str(tmp_path / "dev" / "shm"), 0o1777)
    return tmp_path


def write(root, path, text):
    full = os.path.join(str(root), path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)


def verify_on(capsys, version, build, **args):
    fake = FakeSnapd(version=version)
    build(fake)
    with fake:
        result = run_module(capsys, shm_verify, socket=fake.socket_path, timeout=5, **args)
    assert result["rc"] == 0, result
    return [(f["code"], f["severity"], f["message"]) for f in result["findings"]]


def nothing(fake):
    pass


# --- 2.54.4: a '*' in a path, and empty read/write lists -----------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    ("write: [bar*]", 'shared-memory interface path is invalid: "bar*" contains a reserved apparmor char from '
                      '?*[]{}^"\x00'),
    ("write: [bar]\n    read: []", 'shared-memory "read" attribute must be a list of strings, not "[]"'),
])
def test_2_54_3_drops_what_2_54_4_keeps(capsys, root, body, message):
    install_snap_yaml(root, "provider", "name: provider\nslots:\n  shmem:\n    interface: shared-memory\n    %s\n" % body)
    old = verify_on(capsys, "2.54.3", nothing, checks=["declarations"])
    assert old == [("declaration-dropped", "error", "snapd dropped provider:shmem: " + message)]

    def kept(fake):
        fake.add_slot("provider", "shmem", {"shared-memory": "shmem", "write": ["bar*"]})
    assert verify_on(capsys, "2.54.4", kept, checks=["declarations"]) == []


# --- 2.56.1: rwk became mrwlk ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("version, form", [("2.56", "rwk"), ("2.56.1", "mrwlk"), ("2.57.6", "mrwlk")])
def test_the_write_rule_form_follows_the_version(capsys, root, version, form):
    def connected(fake):
        fake.add_slot("provider", "shmem", {"shared-memory": "foo", "write": ["bar"]}, apps=())
        fake.add_plug("consumer", "shmem", {"shared-memory": "foo", "private": False})
        fake.add_connection("consumer:shmem", "provider:shmem")
    write(root, "sys/kernel/security/apparmor/profiles", "snap.consumer.app (enforce)\n")
    write(root, "var/lib/snapd/apparmor/profiles/snap.consumer.app", '  "/{dev,run}/shm/bar" %s,\n' % form)
    assert verify_on(capsys, version, connected, checks=["apparmor"]) == []
    other = "mrwlk" if form == "rwk" else "rwk"
    write(root, "var/lib/snapd/apparmor/profiles/snap.consumer.app", '  "/{dev,run}/shm/bar" %s,\n' % other)
    assert [code for code, dummy, dummy2 in verify_on(capsys, version, connected, checks=["apparmor"])] == [
        "apparmor-rule-missing", "apparmor-rule-unexpected"]


# --- 2.55.5: the private directory's mode -------------------------------------------------------------------------

def private_plug(fake):
    fake.add_system_slot()
    fake.add_plug("shm-private", "shared-memory", {"private": True})
    fake.add_connection("shm-private:shared-memory", "snapd:shared-memory", manual=False)


@pytest.mark.parametrize("version, mode, expected", [
    ("2.55.4", 0o755, [("private-dir-umask", "warning")]),
    ("2.55.3", 0o775, [("private-dir-umask", "warning")]),
    ("2.55.4", 0o1777, []),
    ("2.55.4", 0o2755, [("private-dir-mode", "error")]),
    ("2.55.5", 0o755, [("private-dir-mode", "error")]),
])
def test_a_private_dir_without_the_sticky_bit_is_snapds_own_doing_on_2_55_3_and_2_55_4(
        capsys, root, version, mode, expected):
    write(root, "var/lib/snapd/mount/snap.shm-private.fstab", "/dev/shm/snap.shm-private /dev/shm none bind,rw 0 0\n")
    os.mkdir(str(root / "dev" / "shm" / "snap.shm-private"))
    os.chmod(str(root / "dev" / "shm" / "snap.shm-private"), mode)
    found = verify_on(capsys, version, private_plug, checks=["private"])
    assert [(code, severity) for code, severity, dummy in found if code != "private-namespace-pending"] == expected


UMASK_FIX = ("upgrade snapd, then remove the directory while the snap is stopped so that it is made again")


@pytest.mark.parametrize("version, mode, meaning", [
    ("2.55.4", 0o755, "0755 is snap-update-ns's work under snapd's umask 0022: only root may create objects in the "
                      "snap's private /dev/shm, so the snap's apps running as any other user cannot"),
    ("2.55.3", 0o777, "0777 is snap-confine's work under umask 0000: any user may create objects in the snap's "
                      "private /dev/shm and, with no sticky bit, delete or replace any other user's"),
    ("2.55.3", 0o775, "0775 is 0777 under umask 0002: only root and group 0 may create objects in the snap's "
                      "private /dev/shm"),
    ("2.55.4", 0o700, "0700 is 0777 under umask 0077: only root may create objects in the snap's private /dev/shm"),
    ("2.55.4", 0o773, "0773 is 0777 under umask 0004: any user may create objects in the snap's private /dev/shm "
                      "and, with no sticky bit, delete or replace any other user's"),
])
def test_the_umask_finding_says_the_mode_found_and_what_it_means(capsys, root, version, mode, meaning):
    write(root, "var/lib/snapd/mount/snap.shm-private.fstab", "/dev/shm/snap.shm-private /dev/shm none bind,rw 0 0\n")
    os.mkdir(str(root / "dev" / "shm" / "snap.shm-private"))
    os.chmod(str(root / "dev" / "shm" / "snap.shm-private"), mode)
    found = [item for item in verify_on(capsys, version, private_plug, checks=["private"])
             if item[0] == "private-dir-umask"]
    assert found == [("private-dir-umask", "warning", "/dev/shm/snap.shm-private has mode %04o, not 1777: snapd %s "
                      "makes it 0777 minus the umask of the process that creates it, without the sticky bit (fixed in "
                      "2.55.5); %s; %s" % (mode, version, meaning, UMASK_FIX))]


# --- 2.60.3: a connection stored by 2.54 without "private" -----------------------------------------------------------

def stored_by_2_54(fake):
    private_plug(fake)
    fake.add_slot("provider", "shmem", {"shared-memory": "foo", "write": ["bar"]})
    fake.add_plug("consumer", "shmem", {"shared-memory": "foo", "private": False})
    fake.add_connection("consumer:shmem", "provider:shmem")
    for entry in fake.established:
        entry["plug-attrs"].pop("private")


def test_2_55_3_to_2_60_2_fail_on_any_connection_stored_without_private(capsys, root):
    found = verify_on(capsys, "2.60.2", stored_by_2_54, checks=["connections"])
    assert [code for code, dummy, dummy2 in found] == ["connection-private-unset", "connection-private-unset"]
    assert all("plug is not sanitized" in message and "2.60.3" in message for dummy, dummy2, message in found)


def test_from_2_60_3_it_is_not_private_which_only_matters_to_a_private_plug(capsys, root):
    found = verify_on(capsys, "2.60.3", stored_by_2_54, checks=["connections"])
    assert [(code, message.split(":")[0]) for code, dummy, message in found] == [
        ("connection-private-unset", "shm-private")]
    assert "treats it as not private" in found[0][2] and "no private /dev/shm" in found[0][2]


def test_before_2_55_3_nothing_was_private(capsys, root):
    assert verify_on(capsys, "2.54.4", stored_by_2_54, checks=["connections"]) == [
        ("connection-grants-nothing", "warning", "shm-private:shared-memory is not private but connected to the system "
                                                 "slot snapd:shared-memory, which grants no paths")]


# --- 2.55.3: "private" arrived; before it a private: true plug is an ordinary one -------------------------------------

OLD_PRIVATE = ("2.54.4", "2.55.2")
PROFILES = "var/lib/snapd/apparmor/profiles/"


def private_on_app_slot(fake):
    """A plug declaring private: true connected to an app slot, as 2.54.0-2.55.2 store it: the raw attribute kept,
    the identifier defaulted to the plug's name (BeforePreparePlug of 2.54), no system slot."""
    fake.add_slot("provider", "shmem", {"shared-memory": "shmem", "write": ["bar"], "read": ["bar-ro"]})
    fake.add_plug("consumer", "shmem", {"private": True, "shared-memory": "shmem"})
    fake.add_connection("consumer:shmem", "provider:shmem")


def rwk_profiles(root):
    """The profiles 2.54-2.55.2 write for that connection: slot paths on both sides, rwk, no mount rule."""
    write(root, "sys/kernel/security/apparmor/profiles", "snap.consumer.app (enforce)\nsnap.provider.app (enforce)\n"
          "snap-update-ns.consumer (enforce)\n")
    write(root, PROFILES + "snap.consumer.app", '  "/{dev,run}/shm/bar" rwk,\n  "/{dev,run}/shm/bar-ro" r,\n')
    write(root, PROFILES + "snap.provider.app", '  "/{dev,run}/shm/bar" rwk,\n  "/{dev,run}/shm/bar-ro" rwk,\n')
    write(root, PROFILES + "snap-update-ns.consumer", "profile snap-update-ns.consumer {\n}\n")


CONNECTED = [{"plug": "consumer:shmem", "slot": "provider:shmem"}]


@pytest.mark.parametrize("version", OLD_PRIVATE)
def test_connections_a_private_true_plug_on_an_app_slot_is_an_ordinary_connection(capsys, root, version):
    assert verify_on(capsys, version, private_on_app_slot, checks=["connections"], connections=CONNECTED) == []
    assert [code for code, dummy, dummy2 in verify_on(capsys, "2.55.3", private_on_app_slot, checks=["connections"],
                                                      connections=CONNECTED)] == ["private-to-app-slot"]


@pytest.mark.parametrize("version", OLD_PRIVATE)
def test_apparmor_a_private_true_plug_gets_the_slot_paths_rwk_and_r_and_no_mount(capsys, root, version):
    rwk_profiles(root)
    assert verify_on(capsys, version, private_on_app_slot, checks=["apparmor"]) == []
    # the private forms would be wrong there: the plug's rules are missing, its private rule and mount rule unexpected
    write(root, PROFILES + "snap.consumer.app", '  "/dev/shm/*" mrwlkix,\n')
    write(root, PROFILES + "snap-update-ns.consumer", "  mount options=(bind, rw) /dev/shm/snap.consumer/ -> /dev/shm/,\n")
    assert [(code, message) for code, dummy, message in verify_on(capsys, version, private_on_app_slot,
                                                                  checks=["apparmor"])] == [
        ("apparmor-rule-missing", 'profile snap.consumer.app lacks "/{dev,run}/shm/bar" rwk,'),
        ("apparmor-rule-missing", 'profile snap.consumer.app lacks "/{dev,run}/shm/bar-ro" r,'),
        ("apparmor-rule-unexpected", 'profile snap.consumer.app has "/dev/shm/*" mrwlkix,, which no connection grants'),
        ("apparmor-rule-unexpected", "profile snap-update-ns.consumer has mount options=(bind, rw) "
                                     "/dev/shm/snap.consumer/ -> /dev/shm/,, which no private connection grants"),
    ]


@pytest.mark.parametrize("version", OLD_PRIVATE)
def test_private_no_snap_is_checked_for_a_private_dev_shm_and_one_named_is_unsupported(capsys, root, version):
    # the snap's own directory under /dev/shm is no private setup there, whatever its mode
    os.mkdir(str(root / "dev" / "shm" / "snap.consumer"))
    os.chmod(str(root / "dev" / "shm" / "snap.consumer"), 0o755)
    assert verify_on(capsys, version, private_on_app_slot, checks=["private"]) == []
    assert verify_on(capsys, version, private_on_app_slot, checks=["private"], private_snaps=["consumer"]) == [
        ("private-unsupported", "error",
         "snapd %s ignores private and has no system shared-memory slot (needs 2.55.3)" % version)]


@pytest.mark.parametrize("version", OLD_PRIVATE)
def test_objects_only_the_slot_paths_make_a_private_true_plugs_snap_a_user(capsys, root, version):
    add_process(root, 40, "snap.consumer.app (enforce)", fds=["/dev/shm/unrelated"])
    assert [code for code, dummy, dummy2 in verify_on(capsys, version, private_on_app_slot, checks=["objects"])] == []
    add_process(root, 41, "snap.consumer.app (enforce)", fds=["/dev/shm/bar"])
    assert [(code, message) for code, dummy, message in verify_on(capsys, version, private_on_app_slot,
                                                                  checks=["objects"])
            if code == "connection-in-use"] == [
        ("connection-in-use", "consumer:shmem - provider:shmem is in use by consumer.app pid 41 (/dev/shm/bar)")]


@pytest.mark.parametrize("version", OLD_PRIVATE)
def test_declarations_and_the_installed_snap_yaml_a_private_true_plug_with_an_identifier_is_kept(capsys, root, version):
    install_snap_yaml(root, "consumer", "name: consumer\nplugs:\n  shmem:\n    interface: shared-memory\n"
                                        "    private: true\n    shared-memory: shmem\n")
    assert verify_on(capsys, version, private_on_app_slot, checks=["declarations", "warnings"]) == []
    # from 2.55.3 on, snapd drops such a plug (the fake still holds it, so only the declaration is judged)
    assert [code for code, dummy, dummy2 in verify_on(capsys, "2.55.3", private_on_app_slot,
                                                      checks=["declarations", "warnings"])] == ["private-with-identifier"]


@pytest.mark.parametrize("version", OLD_PRIVATE)
def test_planning_a_private_true_plug_connects_to_an_app_slot_and_not_to_the_system_slot(capsys, version):
    fake = FakeSnapd(version=version)
    private_on_app_slot(fake)
    fake.established = []
    with fake:
        planned = run_module(capsys, shm_connection, socket=fake.socket_path, timeout=5, connections=CONNECTED,
                             _ansible_check_mode=True)
        refused = run_module(capsys, shm_connection, socket=fake.socket_path, timeout=5,
                             connections=[{"plug": "consumer:shmem"}], _ansible_check_mode=True)
    assert [(a["action"], a["plug"], a["slot"]) for a in planned["actions"]] == [
        ("connect", "consumer:shmem", "provider:shmem")]
    assert refused["failed"] is True and refused["msg"] == (
        "refused before changing anything: cannot use consumer:shmem with snapd:shared-memory: snapd %s on this host ignores private: true and has no "
        "system shared-memory slot (both arrived in snapd 2.55.3); upgrade snapd" % version)
