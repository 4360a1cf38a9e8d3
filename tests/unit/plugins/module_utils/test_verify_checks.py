# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""shm_verify's checks over hand-built snapshots and fake host trees under tmp_path."""

from __future__ import annotations

import builtins
import json
import os
import re

import pytest

from fake_proc import add_process
from shm_fixtures import BROKEN_SNAP_YAML, BROKEN_WARNING, connection, host, slot

from ansible_collections.snapfleet.snapd.plugins.module_utils import _shm_host
from ansible_collections.snapfleet.snapd.plugins.module_utils._verify_checks import (
    check_apparmor,
    check_connections,
    check_declarations,
    check_dev_shm,
    check_dropped,
    check_objects,
    check_private,
    check_snap_yamls,
    check_users,
    expected_rules,
    held_declarations,
    interface_rules,
    merge_findings,
    object_paths,
    profile_apps,
    verify,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_facts import NOT_GATHERED
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import FAMILIES, FINDING_CODES
from ansible_collections.snapfleet.snapd.plugins.module_utils._read_plan import (
    OBJECTS_LISTED,
    DevShmListing,
    FileFacts,
    HostReadError,
    SnapYamlText,
    parse_mountinfo,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_host import gather_facts, read_namespace_mountinfo
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_plan import desired_connection
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_state import state_from_api
from ansible_collections.snapfleet.snapd.plugins.module_utils._proc_scan import ProcessScan, SnapProcess, object_matches

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
HOST_MOUNTINFO = "25 24 0:23 / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw,size=1024k\n"
ROOT_DIR = FileFacts("dir", 0, 0, 0o1777)
PROVIDER_ATTRS = {"shared-memory": "foo", "write": ["bar"], "read": ["bar-ro"]}


def codes(findings):
    return [item["code"] for item in findings]


def listing_of(state, objects, unreadable=None):
    """The DevShmListing the edge gives for these /dev/shm entries when none is left out."""
    unreadable = unreadable or {}
    matches = dict((path, sum(1 for name in list(objects) + list(unreadable) if object_matches(path, name)))
                   for path in object_paths(state))
    return DevShmListing(objects, unreadable, dict((path, count) for path, count in matches.items() if count))


def provider_connection(**slot_attrs):
    entry = connection("consumer:shmem", "provider:shmem")
    entry["plug-attrs"] = {"shared-memory": "foo", "private": False}
    entry["slot-attrs"] = dict(PROVIDER_ATTRS, **slot_attrs)
    return entry


def private_connection():
    entry = connection("shm-private:shmem-private", "snapd:shared-memory", manual=False)
    entry["plug-attrs"] = {"private": True}
    return entry


def compliant_state(version="2.63"):
    return host(version=version, established=[provider_connection(), private_connection()])


# --- /dev/shm --------------------------------------------------------------------------------------------------

def test_sane_dev_shm_has_no_findings():
    assert check_dev_shm(ROOT_DIR, parse_mountinfo(HOST_MOUNTINFO)) == []


@pytest.mark.parametrize("facts, mountinfo, expected", [
    (None, HOST_MOUNTINFO, ["dev-shm-missing"]),
    (FileFacts("symlink", 0, 0, 0o777), HOST_MOUNTINFO, ["dev-shm-symlink"]),
    (FileFacts("file", 0, 0, 0o644), HOST_MOUNTINFO, ["dev-shm-not-directory"]),
    (FileFacts("dir", 1000, 0, 0o1777), HOST_MOUNTINFO, ["dev-shm-owner"]),
    (FileFacts("dir", 0, 0, 0o755), HOST_MOUNTINFO, ["dev-shm-mode"]),
    (ROOT_DIR, "", ["dev-shm-not-tmpfs"]),
    (ROOT_DIR, "25 24 8:1 /shm /dev/shm rw,nosuid,nodev - ext4 /dev/sda1 rw\n", ["dev-shm-not-tmpfs"]),
    (ROOT_DIR, "25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw\n", ["dev-shm-mount-options"]),
])
def test_dev_shm_faults(facts, mountinfo, expected):
    assert codes(check_dev_shm(facts, parse_mountinfo(mountinfo))) == expected


def test_dev_shm_symlink_quotes_snapd():
    message = check_dev_shm(FileFacts("symlink", 0, 0, 0o777), [])[0]["message"]
    assert 'shared-memory plug with "private: true" cannot be connected if "/dev/shm" is a symlink' in message


# --- connections -----------------------------------------------------------------------------------------------

EXPECTED = [desired_connection("consumer:shmem", "provider:shmem"), desired_connection("shm-private:shmem-private")]


def test_expected_connections_present_give_no_findings():
    assert check_connections(compliant_state(), EXPECTED) == []


def test_expected_connection_missing():
    state = host(established=[private_connection()])
    found = check_connections(state, EXPECTED)
    assert codes(found) == ["connection-missing"]
    assert found[0]["message"] == "consumer:shmem is not connected to provider:shmem"


def test_unexpected_connection():
    logger = connection("logger:shmem", "provider:shmem")
    logger["plug-attrs"], logger["slot-attrs"] = {"shared-memory": "foo"}, dict(PROVIDER_ATTRS)
    state = host(established=[provider_connection(), private_connection(), logger])
    assert codes(check_connections(state, EXPECTED)) == ["connection-unexpected"]


def test_private_system_connection_is_expected_by_default():
    assert check_connections(compliant_state(), EXPECTED[:1]) == []


def gadget_connection(undesired=False):
    entry = connection("logger:shmem", "provider:shmem", manual=undesired, gadget=True)
    if not undesired:
        entry["plug-attrs"], entry["slot-attrs"] = {"shared-memory": "foo", "private": False}, dict(PROVIDER_ATTRS)
    return entry


def test_an_established_gadget_connection_is_the_device_makers_not_unexpected():
    state = host(established=[provider_connection(), private_connection(), gadget_connection()])
    assert check_connections(state, EXPECTED) == []
    assert codes(check_connections(state, EXPECTED, manage_gadget_connections=True)) == ["connection-unexpected"]


def test_a_gadget_connection_disconnected_by_hand_is_an_error_saying_what_to_do():
    state = host(established=[provider_connection(), private_connection()], undesired=[gadget_connection(True)])
    for expected in (None, EXPECTED):
        found = check_connections(state, expected)
        assert codes(found) == ["gadget-connection-undesired"]
        assert found[0]["severity"] == "error"
        assert "snapd keeps it undesired and will never connect it again" in found[0]["message"]
        assert "snap connect logger:shmem provider:shmem" in found[0]["message"]
    assert check_connections(state, EXPECTED, manage_gadget_connections=True) == []


def test_a_gadget_connection_listed_as_disconnected_is_no_finding_and_listed_as_connected_says_gadget():
    state = host(established=[provider_connection(), private_connection()], undesired=[gadget_connection(True)])
    off = EXPECTED + [desired_connection("logger:shmem", "provider:shmem", "disconnected")]
    assert check_connections(state, off) == []
    on = EXPECTED + [desired_connection("logger:shmem", "provider:shmem")]
    found = check_connections(state, on)
    assert codes(found) == ["connection-missing"]
    assert found[0]["message"].endswith("(manually disconnected: undesired; the gadget made it, and snapd will not "
                                        "make it again)")


def test_a_manual_undesired_connection_not_made_by_the_gadget_is_no_connections_finding():
    state = host(established=[provider_connection(), private_connection()],
                 undesired=[connection("logger:shmem", "provider:shmem")])
    assert check_connections(state, None) == []


def test_expected_disconnected_but_connected():
    wanted = [desired_connection("consumer:shmem", "provider:shmem", "disconnected")]
    assert codes(check_connections(compliant_state(), wanted)) == ["connection-unexpected"]


def test_expected_plug_dropped_by_snapd_quotes_the_warning():
    state = host(warnings=[{"message": BROKEN_WARNING}])
    found = check_connections(state, [desired_connection("shm-broken:shmem", "provider:shmem")])
    assert codes(found) == ["endpoint-missing"]
    assert found[0]["evidence"]["warning"] == BROKEN_WARNING


def test_identifier_mismatch():
    entry = connection("stranger:shmem", "provider:shmem")
    entry["plug-attrs"], entry["slot-attrs"] = {"shared-memory": "other"}, dict(PROVIDER_ATTRS)
    found = check_connections(host(established=[entry]))
    assert codes(found) == ["identifier-mismatch"]
    assert found[0]["message"] == "stranger:shmem has identifier 'other' but provider:shmem has 'foo'"


def test_identifier_mismatch_the_expected_item_allows_is_info():
    entry = connection("stranger:shmem", "provider:shmem")
    entry["plug-attrs"], entry["slot-attrs"] = {"shared-memory": "other"}, dict(PROVIDER_ATTRS)
    allowed = [desired_connection("stranger:shmem", "provider:shmem", allow_identifier_mismatch=True)]
    found = check_connections(host(established=[entry]), allowed)
    assert [(f["code"], f["severity"]) for f in found] == [("identifier-mismatch-allowed", "info")]
    plain = [desired_connection("stranger:shmem", "provider:shmem")]
    assert codes(check_connections(host(established=[entry]), plain)) == ["identifier-mismatch"]


def test_private_plug_on_app_slot_and_plain_plug_on_system_slot():
    private = connection("shm-private:shmem-private", "provider:shmem")
    private["plug-attrs"] = {"private": True}
    plain = connection("consumer:shmem", "snapd:shared-memory")
    plain["plug-attrs"] = {"shared-memory": "foo", "private": False}
    assert codes(check_connections(host(established=[private, plain]))) == [
        "connection-grants-nothing", "private-to-app-slot"]


def test_stale_slot_attributes():
    state = host(established=[provider_connection(write=["old"])])
    found = check_connections(state)
    assert codes(found) == ["slot-attrs-stale"]
    assert found[0]["evidence"]["stored"] == {"read": ["bar-ro"], "write": ["old"]}


# --- AppArmor --------------------------------------------------------------------------------------------------

def profiles_for(rules_by_app):
    return dict((key, "profile x {\n%s\n}\n" % "\n".join("  " + rule for rule in rules))
                for key, rules in rules_by_app.items())


GOOD_PROFILES = {
    ("consumer", "app"): ['"/{dev,run}/shm/bar" mrwlk,', '"/{dev,run}/shm/bar-ro" r,',
                          "/{dev,run}/shm/snap.@{SNAP_INSTANCE_NAME}.** mrwlkix,"],
    ("provider", "app"): ['"/{dev,run}/shm/bar" mrwlk,', '"/{dev,run}/shm/bar-ro" mrwlk,'],
    ("shm-private", "app"): ['"/dev/shm/**" mrwlkix,'],
}
ENFORCED = {"snap.consumer.app": "enforce", "snap.provider.app": "enforce", "snap.shm-private.app": "enforce",
            "snap.logger.app": "enforce", "snap.stranger.app": "enforce"}


def test_profiles_with_exactly_the_granted_rules_pass():
    assert check_apparmor(compliant_state(), True, ENFORCED, profiles_for(GOOD_PROFILES)) == []


def test_apparmor_off_in_the_kernel_is_one_info_finding_even_when_confinement_says_strict():
    assert codes(check_apparmor(compliant_state(), False, None, {})) == ["apparmor-disabled"]


@pytest.mark.parametrize("version, write, private", [
    ("2.56", '"/{dev,run}/shm/bar" rwk,', '"/dev/shm/*" mrwlkix,'),
    ("2.57.6", '"/{dev,run}/shm/bar" mrwlk,', '"/dev/shm/*" mrwlkix,'),
    ("2.60.2", '"/{dev,run}/shm/bar" mrwlk,', '"/dev/shm/**" mrwlkix,'),
])
def test_expected_rules_follow_the_snapd_version(version, write, private):
    rules = expected_rules(compliant_state(version))
    assert (write,) in rules[("consumer", "app")]
    assert (private,) in rules[("shm-private", "app")]


def test_dropped_rule_and_extra_rule_and_complain_mode():
    profiles = dict(GOOD_PROFILES)
    profiles[("consumer", "app")] = ['"/{dev,run}/shm/bar-ro" r,', '"/{dev,run}/shm/other" mrwlk,']
    kernel = dict(ENFORCED, **{"snap.consumer.app": "complain"})
    found = check_apparmor(compliant_state(), True, kernel, profiles_for(profiles))
    assert [(f["code"], f["evidence"].get("rule")) for f in found] == [
        ("apparmor-rule-missing", '"/{dev,run}/shm/bar" mrwlk,'),
        ("apparmor-rule-unexpected", '"/{dev,run}/shm/other" mrwlk,'),
        ("apparmor-profile-not-enforced", None),
    ]


def test_missing_profile():
    profiles = profiles_for(GOOD_PROFILES)
    profiles[("provider", "app")] = None
    assert codes(check_apparmor(compliant_state(), True, ENFORCED, profiles)) == ["apparmor-profile-missing"]


GOOD_UPDATE_NS = {"shm-private": ("profile snap-update-ns.shm-private {\n  # Private /dev/shm\n  /dev/ r,\n"
                                  "  /dev/shm/{,**} rw,\n  mount options=(bind, rw) /dev/shm/snap.shm-private/ -> /dev/shm/,\n"
                                  "  umount /dev/shm/,\n}\n"),
                  "consumer": "profile snap-update-ns.consumer {\n}\n"}
ENFORCED_UPDATE_NS = dict(ENFORCED, **{"snap-update-ns.shm-private": "enforce", "snap-update-ns.consumer": "enforce"})


def apparmor(state=None, profiles=None, update_ns=None, kernel=None):
    profiles = profiles_for(GOOD_PROFILES) if profiles is None else profiles
    found = check_apparmor(state or compliant_state(), True, kernel or ENFORCED_UPDATE_NS, profiles,
                           GOOD_UPDATE_NS if update_ns is None else update_ns)
    return [(f["code"], f["subject"]) for f in found]


def test_the_update_ns_profile_holds_the_private_mount_rule_exactly_where_a_private_connection_is():
    assert apparmor() == []
    assert apparmor(update_ns=dict(GOOD_UPDATE_NS, **{"shm-private": "profile x {\n}\n"})) == [
        ("apparmor-rule-missing", "update-ns shm-private")]
    assert apparmor(update_ns=dict(GOOD_UPDATE_NS, **{"shm-private": None})) == [
        ("apparmor-profile-missing", "update-ns shm-private")]
    stray = GOOD_UPDATE_NS["shm-private"].replace("snap.shm-private/", "snap.consumer/")
    assert apparmor(update_ns=dict(GOOD_UPDATE_NS, consumer=stray)) == [("apparmor-rule-unexpected", "update-ns consumer")]
    complain = dict(ENFORCED_UPDATE_NS, **{"snap-update-ns.shm-private": "complain"})
    assert apparmor(kernel=complain) == [("apparmor-profile-not-enforced", "update-ns shm-private")]


def hooked(rules, flags=""):
    profiles = profiles_for(GOOD_PROFILES)
    profiles[("consumer", "hook.configure")] = 'profile "snap.consumer.hook.configure"%s {\n%s\n}\n' % (
        flags, "\n".join("  " + rule for rule in rules))
    return profiles


def test_a_hook_profile_may_hold_what_its_snaps_connections_grant_and_nothing_else():
    kernel = dict(ENFORCED_UPDATE_NS, **{"snap.consumer.hook.configure": "enforce"})
    assert apparmor(profiles=hooked(['"/{dev,run}/shm/bar" mrwlk,']), kernel=kernel) == []
    assert apparmor(profiles=hooked([]), kernel=kernel) == []  # bound to no plug: nothing missing
    assert apparmor(profiles=hooked(['"/{dev,run}/shm/other" mrwlk,']), kernel=kernel) == [
        ("apparmor-rule-unexpected", "hook consumer.configure")]
    assert apparmor(profiles=hooked(['"/{dev,run}/shm/bar" mrwlk,'])) == [
        ("apparmor-profile-not-enforced", "hook consumer.configure")]


@pytest.mark.parametrize("flags", ["flags=(attach_disconnected,mediate_deleted,complain)", "flags=(unconfined)",
                                   # snapd 2.57 writes the flags without the word flags=
                                   "(attach_disconnected,mediate_deleted,complain)"])
def test_a_devmode_or_classic_snap_gives_no_apparmor_finding(flags):
    # devmode: the rules, in complain mode; classic: no interface rules at all, complain or unconfined
    profiles = profiles_for(GOOD_PROFILES)
    profiles[("consumer", "app")] = 'profile "snap.consumer.app" %s {\n  /** rwlkm,\n}\n' % flags
    kernel = dict(ENFORCED_UPDATE_NS, **{"snap.consumer.app": "complain"})
    assert apparmor(profiles=profiles, kernel=kernel) == []
    profiles[("consumer", "app")] = 'profile "snap.consumer.app" flags=(attach_disconnected) {\n}\n'
    assert [code for code, dummy in apparmor(profiles=profiles, kernel=kernel)] == [
        "apparmor-rule-missing", "apparmor-rule-missing", "apparmor-profile-not-enforced"]


def test_a_private_plug_on_an_app_slot_is_one_connections_finding_and_no_spurious_apparmor_one():
    wrong = connection("shm-private:shmem-private", "provider:shmem")
    wrong["plug-attrs"], wrong["slot-attrs"] = {"private": True}, dict(PROVIDER_ATTRS)
    state = host(established=[wrong])
    assert codes(check_connections(state)) == ["private-to-app-slot"]
    # the provider's profile has its slot rules and the plug's its private rule, as snapd writes them
    profiles = profiles_for({("provider", "app"): GOOD_PROFILES[("provider", "app")],
                             ("shm-private", "app"): GOOD_PROFILES[("shm-private", "app")]})
    assert apparmor(state, profiles, {"shm-private": GOOD_UPDATE_NS["shm-private"]}) == []


@pytest.mark.parametrize("line, ours", [
    ('"/{dev,run}/shm/bar" r,', True),
    ('"/{dev,run}/shm/bar" rwk,', True),
    ('"/{dev,run}/shm/bar*" mrwlk,', True),
    ('"/dev/shm/*" mrwlkix,', True),
    ('"/dev/shm/**" mrwlkix,', True),
    # system-files (common_files.go formatPath and allowPathAccess): read and write paths
    ('"/dev/shm/foo{,/,/**}" rk,', False),
    ('"/dev/shm/foo{,/,/**}" rwkl,', False),
    ('"/dev/shm/bar{,/,/**}" rwkl,', False),
    # other permissions or forms shared_memory.go never writes
    ('"/{dev,run}/shm/bar" rw,', False),
    ('"/dev/shm/bar" mrwlk,', False),
    ('"/dev/shm/*" mrwlk,', False),
    ('"/{dev,run}/shm/snap.x{,/,/**}" r,', False),
    # the default template's rules are unquoted
    ("/{dev,run}/shm/snap.@{SNAP_INSTANCE_NAME}.** mrwlkix,", False),
])
def test_only_the_rule_forms_of_the_shared_memory_interface_count_as_its_rules(line, ours):
    assert interface_rules("profile x {\n  %s\n}\n" % line) == ({line} if ours else set())


SYSTEM_FILES_RULES = ['"/dev/shm/foo{,/,/**}" rk,', '"/dev/shm/bar{,/,/**}" rwkl,']


def test_system_files_rules_on_dev_shm_beside_a_shared_memory_plug_give_no_apparmor_finding():
    profiles = dict(GOOD_PROFILES)
    for key in (("consumer", "app"), ("shm-private", "app")):
        profiles[key] = GOOD_PROFILES[key] + SYSTEM_FILES_RULES
    assert apparmor(profiles=profiles_for(profiles)) == []
    # and a rule of ours that no connection grants is still found among them
    profiles[("consumer", "app")] = profiles[("consumer", "app")] + ['"/{dev,run}/shm/foo" mrwlk,']
    assert apparmor(profiles=profiles_for(profiles)) == [("apparmor-rule-unexpected", "app consumer.app")]


def hook_only_state(private=False):
    """shm-hooky's plug bound only to its hooks: /v2/connections lists no app for it."""
    if private:
        plug = {"snap": "shm-hooky", "plug": "shmem", "interface": "shared-memory", "attrs": {"private": True},
                "apps": []}
        entry = connection("shm-hooky:shmem", "snapd:shared-memory", manual=False)
        entry["plug-attrs"] = {"private": True}
    else:
        plug = {"snap": "shm-hooky", "plug": "shmem", "interface": "shared-memory",
                "attrs": {"shared-memory": "foo", "private": False}}
        entry = connection("shm-hooky:shmem", "provider:shmem")
        entry["plug-attrs"], entry["slot-attrs"] = {"shared-memory": "foo", "private": False}, dict(PROVIDER_ATTRS)
    return host(established=[provider_connection(), private_connection(), entry], extra_plugs=[plug])


HOOKY_ENFORCED = dict(ENFORCED_UPDATE_NS, **{"snap.shm-hooky.hook.remove": "enforce",
                                             "snap.shm-hooky.hook.configure": "enforce",
                                             "snap-update-ns.shm-hooky": "enforce"})
HOOKY_RULES = ['"/{dev,run}/shm/bar" mrwlk,', '"/{dev,run}/shm/bar-ro" r,']


def hooky(rules_by_hook, update_ns=""):
    rules = dict(GOOD_PROFILES)
    rules.update((("shm-hooky", "hook." + hook), hook_rules) for hook, hook_rules in rules_by_hook.items())
    profiles = profiles_for(rules)
    return profiles, dict(GOOD_UPDATE_NS, **{"shm-hooky": "profile snap-update-ns.shm-hooky {\n%s}\n" % update_ns})


def hooky_findings(state, rules_by_hook, update_ns=""):
    profiles, update_ns_profiles = hooky(rules_by_hook, update_ns)
    return [(f["code"], f["subject"], f["message"])
            for f in check_apparmor(state, True, HOOKY_ENFORCED, profiles, update_ns_profiles)]


MISSING_BAR = ", which a connection of a plug or slot bound to hooks only grants"


@pytest.mark.parametrize("rules_by_hook, expected", [
    ({"remove": HOOKY_RULES}, []),
    ({"remove": HOOKY_RULES, "configure": []}, []),
    ({"remove": HOOKY_RULES[:1]}, [
        ("apparmor-rule-missing", "hook shm-hooky.remove",
         'profile snap.shm-hooky.hook.remove lacks "/{dev,run}/shm/bar-ro" r,' + MISSING_BAR)]),
    ({"remove": [], "configure": HOOKY_RULES[1:]}, [
        ("apparmor-rule-missing", "hooks shm-hooky",
         'no hook profile of shm-hooky (snap.shm-hooky.hook.configure, snap.shm-hooky.hook.remove) has '
         '"/{dev,run}/shm/bar" mrwlk,' + MISSING_BAR)]),
    ({"remove": HOOKY_RULES + ['"/{dev,run}/shm/planted" mrwlk,']}, [
        ("apparmor-rule-unexpected", "hook shm-hooky.remove", 'profile snap.shm-hooky.hook.remove has '
         '"/{dev,run}/shm/planted" mrwlk,, which no connection grants')]),
    # no hook profile at all: nothing is bound to run with the plug
    ({}, []),
])
def test_a_plug_bound_only_to_hooks_has_its_rules_in_a_hook_profile_and_nothing_more(rules_by_hook, expected):
    assert hooky_findings(hook_only_state(), rules_by_hook) == expected


def test_a_private_plug_bound_only_to_a_hook_is_checked_in_the_hook_and_the_update_ns_profiles():
    state = hook_only_state(private=True)
    mount = "  mount options=(bind, rw) /dev/shm/snap.shm-hooky/ -> /dev/shm/,\n"
    assert hooky_findings(state, {"remove": ['"/dev/shm/**" mrwlkix,']}, mount) == []
    assert hooky_findings(state, {"remove": []}) == [
        ("apparmor-rule-missing", "hook shm-hooky.remove",
         'profile snap.shm-hooky.hook.remove lacks "/dev/shm/**" mrwlkix,' + MISSING_BAR),
        ("apparmor-rule-missing", "update-ns shm-hooky", "profile snap-update-ns.shm-hooky lacks mount options=(bind, "
                                                         "rw) /dev/shm/snap.shm-hooky/ -> /dev/shm/,")]


def test_profile_apps_names_a_snap_bound_to_hooks_only_with_no_app():
    assert ("shm-hooky", None) in profile_apps(hook_only_state())
    assert [pair for pair in profile_apps(hook_only_state()) if pair[0] == "shm-hooky"] == [("shm-hooky", None)]
    # a snap with an app bound needs no such entry
    assert [pair for pair in profile_apps(compliant_state()) if pair[1] is None] == []


def test_the_hooks_and_update_ns_profiles_of_a_snap_bound_to_hooks_only_are_gathered(tmp_path):
    root = str(tmp_path)
    profiles, update_ns = hooky({"remove": HOOKY_RULES})
    for (snap, app), text in list(profiles.items()) + [(("shm-hooky", "update-ns"), update_ns["shm-hooky"])]:
        name = "snap-update-ns.shm-hooky" if app == "update-ns" else "snap.%s.%s" % (snap, app)
        path = os.path.join(root, "var/lib/snapd/apparmor/profiles", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
    for path, text in (("sys/module/apparmor/parameters/enabled", "Y\n"),):
        os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
        with open(os.path.join(root, path), "w") as handle:
            handle.write(text)
    facts = gather_facts(root, ["apparmor"], profile_apps(hook_only_state()))
    assert sorted(key for key in facts.profiles if key[0] == "shm-hooky") == [("shm-hooky", "hook.remove")]
    assert facts.profiles[("shm-hooky", "hook.remove")] == profiles[("shm-hooky", "hook.remove")]
    assert facts.update_ns_profiles["shm-hooky"] == update_ns["shm-hooky"]


def test_profile_apps_lists_every_bound_app_but_not_the_system_slot():
    assert profile_apps(compliant_state()) == [("consumer", "app"), ("logger", "app"), ("provider", "app"),
                                               ("shm-private", "app"), ("stranger", "app")]


# --- private setups over a fake host tree ------------------------------------------------------------------------

def make_tree(tmp_path, snap="shm-private", namespace=True, dir_mode=0o1777, applied=True, desired=True):
    root = str(tmp_path)
    entry = "/dev/shm/snap.%s /dev/shm none bind,rw 0 0\n" % snap
    for path, text in (("proc/self/mountinfo", HOST_MOUNTINFO),
                       ("var/lib/snapd/mount/snap.%s.fstab" % snap, entry if desired else ""),
                       ("run/snapd/ns/snap.%s.fstab" % snap, entry if applied else "")):
        os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
        with open(os.path.join(root, path), "w") as handle:
            handle.write(text)
    os.makedirs(os.path.join(root, "dev/shm"))
    os.chmod(os.path.join(root, "dev/shm"), 0o1777)
    if dir_mode is not None:
        os.mkdir(os.path.join(root, "dev/shm/snap.%s" % snap))
        os.chmod(os.path.join(root, "dev/shm/snap.%s" % snap), dir_mode)
    if namespace:
        open(os.path.join(root, "run/snapd/ns/%s.mnt" % snap), "w").close()
    return root


def bound_namespace(ns_file):
    return "30 29 0:23 /snap.shm-private /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw\n"


def private_findings(root, state=None, ns_reader=bound_namespace, snaps=("shm-private",)):
    state = state or compliant_state()
    facts = gather_facts(root, ["private"], private_snaps=snaps, ns_reader=ns_reader).private
    return check_private(state, list(snaps), facts, parse_mountinfo(HOST_MOUNTINFO))


def test_private_setup_applied_and_bound(tmp_path):
    assert private_findings(make_tree(tmp_path)) == []


def test_private_setup_without_namespace_is_pending(tmp_path):
    assert codes(private_findings(make_tree(tmp_path, namespace=False, dir_mode=None))) == ["private-namespace-pending"]


def test_private_mount_not_bound(tmp_path):
    def unbound(ns_file):
        return "30 29 0:23 / /dev/shm rw - tmpfs tmpfs rw\n"
    assert codes(private_findings(make_tree(tmp_path), ns_reader=unbound)) == ["private-mount-missing"]


def test_private_mount_from_another_filesystem(tmp_path):
    def elsewhere(ns_file):
        return "30 29 0:99 /snap.shm-private /dev/shm rw - tmpfs tmpfs rw\n"
    assert codes(private_findings(make_tree(tmp_path), ns_reader=elsewhere)) == ["private-mount-missing"]


def test_namespace_that_cannot_be_entered(tmp_path):
    def refused(ns_file):
        raise HostReadError("cannot enter the mount namespace x: setns: Operation not permitted")
    assert codes(private_findings(make_tree(tmp_path), ns_reader=refused)) == ["private-namespace-unreadable"]


def test_fstab_entries_missing(tmp_path):
    assert codes(private_findings(make_tree(tmp_path, applied=False, desired=False))) == [
        "private-fstab-missing", "private-applied-fstab-missing"]


def test_private_dir_mode_0755(tmp_path):
    found = private_findings(make_tree(tmp_path, dir_mode=0o755))
    assert codes(found) == ["private-dir-mode"]
    assert found[0]["message"] == "/dev/shm/snap.shm-private has mode 0755, not 1777"


def test_private_dir_squatted_by_another_user(tmp_path):
    root = make_tree(tmp_path)
    os.chown(os.path.join(root, "dev/shm/snap.shm-private"), 1000, 1000)
    assert codes(private_findings(root)) == ["private-dir-squatted"]


def test_private_dir_symlink_is_not_followed(tmp_path):
    root = make_tree(tmp_path, dir_mode=None)
    os.symlink("/etc", os.path.join(root, "dev/shm/snap.shm-private"))
    assert codes(private_findings(root)) == ["private-dir-symlink"]


def test_private_dir_that_is_a_file(tmp_path):
    root = make_tree(tmp_path, dir_mode=None)
    open(os.path.join(root, "dev/shm/snap.shm-private"), "w").close()
    assert codes(private_findings(root)) == ["private-dir-not-directory"]


def test_dev_shm_symlink_hides_everything_under_it(tmp_path):
    root = make_tree(tmp_path)
    os.rename(os.path.join(root, "dev/shm"), os.path.join(root, "elsewhere"))
    os.symlink(os.path.join(root, "elsewhere"), os.path.join(root, "dev/shm"))
    facts = gather_facts(root, ["private", "objects"], private_snaps=["shm-private"], ns_reader=bound_namespace,
                         slot_paths=["*"])
    assert (facts.private["shm-private"].dir, facts.private["shm-private"].dir_error) == (None, None)
    assert facts.dev_shm_listing == DevShmListing()


def test_private_undesired_and_not_connected(tmp_path):
    root = make_tree(tmp_path, namespace=False, dir_mode=None)
    undesired = connection("shm-private:shmem-private", "snapd:shared-memory")
    assert codes(private_findings(root, host(established=[provider_connection()], undesired=[undesired]))) == [
        "private-undesired"]
    assert codes(private_findings(root, host(established=[provider_connection()]))) == ["private-not-connected"]


def test_private_unsupported_before_2_55_3(tmp_path):
    root = make_tree(tmp_path, namespace=False, dir_mode=None)
    assert codes(private_findings(root, compliant_state("2.54.4"))) == ["private-unsupported"]


def test_snap_named_private_without_a_private_plug(tmp_path):
    found = private_findings(make_tree(tmp_path, snap="consumer", dir_mode=None, namespace=False), snaps=("consumer",))
    assert codes(found) == ["private-not-connected"]


# --- objects, warnings, declarations, the whole verify -------------------------------------------------------

def test_objects_under_declared_paths_and_too_broad_paths():
    state = host(extra_slots=[{"snap": "wide", "slot": "shm", "interface": "shared-memory",
                               "attrs": {"shared-memory": "w", "write": ["*"]}, "apps": ["app"]}])
    found = check_objects(state, listing_of(state, {"bar": FileFacts("file", 1000, 1000, 0o600),
                                                    "baz": FileFacts("file", 0, 0, 0o644), "snap.shm-private": ROOT_DIR}))
    assert [(f["code"], f["subject"], f["evidence"].get("object")) for f in found] == [
        ("shm-object", "slot provider:shmem", "/dev/shm/bar"),
        ("path-too-broad", "slot wide:shm", None),
        ("shm-object", "slot wide:shm", "/dev/shm/bar"),
        ("shm-object", "slot wide:shm", "/dev/shm/baz"),
        ("shm-object", "slot wide:shm", "/dev/shm/snap.shm-private"),
    ]
    assert found[0]["message"] == "/dev/shm/bar (bar): file uid 1000 gid 1000 mode 0600"


SPAM_SLOTS = [slot("spam", "one", **{"shared-memory": "s1", "write": ["spam-*"]}),
              slot("spam", "two", **{"shared-memory": "s2", "read": ["spam-*-x", "other-*"]})]


def test_objects_are_listed_up_to_a_cap_per_slot_and_the_rest_counted():
    state = host(extra_slots=SPAM_SLOTS)
    names = ["spam-%05d-x" % number for number in range(1000)] + ["other-%d" % number for number in range(5)]
    found = check_objects(state, listing_of(state, dict((name, FileFacts("file", 1000, 1000, 0o600)) for name in names)))
    objects = [(f["subject"], f["evidence"]["object"]) for f in found if f["code"] == "shm-object"]
    assert objects == ([("slot spam:one", "/dev/shm/spam-%05d-x" % number) for number in range(OBJECTS_LISTED)]
                       + [("slot spam:two", "/dev/shm/spam-%05d-x" % number) for number in range(OBJECTS_LISTED)])
    more = [f for f in found if f["code"] == "shm-objects-more"]
    assert [(f["subject"], f["severity"], f["evidence"]) for f in more] == [
        ("slot spam:one", "info", {"listed": OBJECTS_LISTED, "more": 1000 - OBJECTS_LISTED}),
        ("slot spam:two", "info", {"listed": OBJECTS_LISTED, "more": 1005 - OBJECTS_LISTED})]
    assert more[0]["message"] == "980 more objects under the paths of spam:one are not listed (only the first 20 by name are)"


def test_the_listing_lstats_only_the_first_objects_of_each_path_and_counts_all(tmp_path, monkeypatch):
    root = make_tree(tmp_path)
    shm = os.path.join(root, "dev/shm")
    for number in range(600):
        open(os.path.join(shm, "spam-%04d" % (599 - number)), "w").close()
    open(os.path.join(shm, "unrelated"), "w").close()
    lstats = []
    real_stat = os.stat
    monkeypatch.setattr(_shm_host.os, "stat", lambda *args, **kwargs: lstats.append(args[0]) or real_stat(*args, **kwargs))
    listing = gather_facts(root, ["objects"], slot_paths=["spam-*", "spam-00*", "bar"]).dev_shm_listing
    monkeypatch.undo()
    assert listing.matches == {"spam-*": 600, "spam-00*": 100}
    assert sorted(listing.objects) == sorted(lstats) == ["spam-%04d" % number for number in range(OBJECTS_LISTED)]
    assert listing.unreadable == {}


def test_verify_of_a_dev_shm_filled_by_a_user_stays_small(tmp_path):
    root = make_tree(tmp_path)
    for number in range(3000):
        open(os.path.join(root, "dev/shm", "spam-%d-x" % number), "w").close()
    state = host(extra_slots=SPAM_SLOTS)
    facts = gather_facts(root, ["objects"], slot_paths=object_paths(state))
    found = verify(state, facts, ["objects"])
    assert codes(found).count("shm-object") == 2 * OBJECTS_LISTED
    assert [f["evidence"]["more"] for f in found if f["code"] == "shm-objects-more"] == [3000 - 20, 3000 - 20]
    assert len(json.dumps(found)) < 30000


def deny_lstat_in_dev_shm(monkeypatch, name):
    """Make root's lstat of /dev/shm/NAME fail as it does on a user's FUSE mount (without allow_root)."""
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if path == name and kwargs.get("dir_fd") is not None:
            raise PermissionError(13, "Permission denied")
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(_shm_host.os, "stat", stat)


def test_an_object_lstat_cannot_examine_is_a_finding_and_the_rest_is_verified(tmp_path, monkeypatch):
    # it once failed all of shm_verify
    root = make_tree(tmp_path)
    for name in ("bar", "bar-ro"):
        open(os.path.join(root, "dev/shm", name), "w").close()
    deny_lstat_in_dev_shm(monkeypatch, "bar")
    found = [f for f in hostile_verify(root) if f["code"].startswith("shm-object")]
    assert [(f["code"], f["severity"], f["evidence"]["object"]) for f in found] == [
        ("shm-object", "info", "/dev/shm/bar-ro"), ("shm-object-unreadable", "warning", "/dev/shm/bar")]
    assert found[1]["message"] == "/dev/shm/bar (bar) cannot be examined: lstat fails with Permission denied"


def test_a_private_dir_lstat_cannot_examine_is_a_finding_not_a_failure(tmp_path, monkeypatch):
    root = make_tree(tmp_path)
    deny_lstat_in_dev_shm(monkeypatch, "snap.shm-private")
    found = [f for f in hostile_verify(root) if f["code"] == "private-dir-unreadable"]
    assert [(f["severity"], f["subject"], f["message"]) for f in found] == [
        ("error", "private shm-private", "/dev/shm/snap.shm-private cannot be examined (cannot lstat "
                                         "/dev/shm/snap.shm-private: Permission denied): another user may have mounted "
                                         "something there")]


def test_processes_the_scan_could_not_read_are_a_warning():
    scan = ProcessScan((SnapProcess(1234, "consumer", "app", ("/dev/shm/bar",)),), ("pid 7 (fd: Permission denied)",), 1)
    found = check_users(compliant_state(), scan)
    assert [(f["code"], f["severity"]) for f in found] == [("connection-in-use", "info"),
                                                           ("connection-users-unknown", "warning")]
    assert found[1]["message"] == ("cannot see every process that may use the connections: 1 could not be read "
                                   "(pid 7 (fd: Permission denied))")
    assert check_users(host(), scan) == []  # no connection, nobody to miss


def test_connection_in_use_lists_its_users_as_info():
    processes = [SnapProcess(1234, "consumer", "app", ("/dev/shm/bar",)),
                 SnapProcess(20, "shm-private", "app", ("/dev/shm/x",)),
                 SnapProcess(30, "logger", "app", ("/dev/shm/bar",))]
    found = check_users(compliant_state(), ProcessScan(tuple(processes)))
    assert [(f["code"], f["severity"], f["subject"]) for f in found] == [
        ("connection-in-use", "info", "plug consumer:shmem"), ("connection-in-use", "info", "plug shm-private:shmem-private")]
    assert found[0]["message"] == "consumer:shmem - provider:shmem is in use by consumer.app pid 1234 (/dev/shm/bar)"
    assert found[0]["evidence"] == {"plug": "consumer:shmem", "slot": "provider:shmem", "users": [
        {"pid": 1234, "snap": "consumer", "app": "app", "paths": ["/dev/shm/bar"]}]}


def test_connections_nobody_uses_give_no_finding():
    assert check_users(compliant_state(), ProcessScan((SnapProcess(1, "consumer", "app", ("/dev/shm/other",)),))) == []


def test_dropped_declarations_are_quoted():
    found = check_dropped(host(warnings=[{"message": BROKEN_WARNING}]))
    assert [(f["code"], f["subject"]) for f in found] == [("declaration-dropped", "shm-broken:shmem")]
    assert found[0]["evidence"]["warning"] == BROKEN_WARNING


def test_dropped_declarations_of_a_removed_snap_are_not_findings():
    state = host(warnings=[{"message": BROKEN_WARNING}])
    assert check_dropped(state, installed_snaps=["snapd", "shm-private"]) == []
    assert len(check_dropped(state, installed_snaps=["shm-broken"])) == 1


def test_a_dropped_declaration_of_a_snap_the_desired_state_does_not_name_is_a_warning():
    state = host(warnings=[{"message": BROKEN_WARNING}])
    assert [(f["code"], f["severity"]) for f in check_dropped(state, named_snaps=["consumer", "provider"])] == [
        ("unrelated-declaration-dropped", "warning")]
    assert [f["code"] for f in check_dropped(state, named_snaps=["shm-broken"])] == ["declaration-dropped"]


# --- installed snaps' meta/snap.yaml: what snapd dropped, after its warning expired -----------------------------------

def snap_yaml_findings(version="2.68.3", named=None, held=(), **texts):
    yamls = dict((snap.replace("_", "-"), SnapYamlText(text=text)) for snap, text in texts.items())
    return [(f["code"], f["subject"], f["message"]) for f in check_snap_yamls(version, yamls, set(held), named)]


def test_an_installed_snap_yaml_shows_what_snapd_dropped_in_snapds_words():
    assert snap_yaml_findings(shm_broken=BROKEN_SNAP_YAML) == [
        ("declaration-dropped", "shm-broken:bad-private", 'snapd dropped shm-broken:bad-private: shared-memory '
         '"shared-memory" attribute must not be set together with "private: true"'),
        ("declaration-dropped", "shm-broken:bad-path", "snapd dropped shm-broken:bad-path: shared-memory interface "
         "path should not contain '/': \"/dev/shm/x\""),
    ]


def test_of_a_snap_the_desired_state_does_not_name_it_is_a_warning():
    assert [code for code, dummy, dummy2 in snap_yaml_findings(named={"consumer"}, shm_broken=BROKEN_SNAP_YAML)] == [
        "unrelated-declaration-dropped", "unrelated-declaration-dropped"]


def test_only_the_first_rule_a_declaration_breaks_is_why_snapd_dropped_it():
    text = "name: p\nslots:\n  s:\n    interface: shared-memory\n    write: [/a, b**]\n    shared-memory: 3\n"
    assert snap_yaml_findings(p=text) == [
        ("declaration-dropped", "p:s", 'snapd dropped p:s: shared-memory "shared-memory" attribute must be a string, '
                                       'not 3')]


def test_a_declaration_snapd_holds_is_never_reported_dropped():
    assert snap_yaml_findings(held=("shm-broken:bad-path",), shm_broken=BROKEN_SNAP_YAML)[0][1] == "shm-broken:bad-private"
    assert len(snap_yaml_findings(held=("shm-broken:bad-path",), shm_broken=BROKEN_SNAP_YAML)) == 1


def test_the_rules_are_those_of_the_hosts_snapd():
    glob = "name: p\nslots:\n  s:\n    interface: shared-memory\n    write: [bar*]\n"
    assert snap_yaml_findings(p=glob) == []
    assert snap_yaml_findings("2.54.2", p=glob) == [
        ("declaration-dropped", "p:s", 'snapd dropped p:s: shared-memory interface path is invalid: "bar*" contains a '
                                       'reserved apparmor char from ?*[]{}^"\x00')]


def test_warnings_of_the_lint_come_as_they_are():
    text = "name: p\nslots:\n  s:\n    interface: shared-memory\n    write: ['*']\n"
    assert [code for code, dummy, dummy2 in snap_yaml_findings(p=text)] == ["path-too-broad"]


def test_a_snap_yaml_that_was_not_read_or_does_not_parse_is_a_warning():
    found = check_snap_yamls("2.68", {"a": SnapYamlText(problem="symlink"), "b": SnapYamlText(text="a: [")}, set())
    assert [(f["code"], f["severity"], f["subject"]) for f in found] == [
        ("snap-yaml-unreadable", "warning", "snap a"), ("snap-yaml-unreadable", "warning", "snap b")]
    assert "a symbolic link stands where snapd mounts the snap" in found[0]["message"]
    assert "cannot parse YAML" in found[1]["message"]


def test_a_dropped_declaration_seen_in_the_warning_and_the_snap_yaml_is_one_finding_quoting_the_warning():
    state = host(warnings=[{"message": BROKEN_WARNING}])
    warned = check_dropped(state)
    linted = check_snap_yamls("2.68", {"shm-broken": SnapYamlText(
        text="name: shm-broken\nslots:\n  shmem:\n    interface: shared-memory\n")}, set(held_declarations(state)))
    assert [f["subject"] for f in linted] == ["shm-broken:shmem"]
    merged = merge_findings(warned, linted)
    assert merged == warned


def declared(*slots):
    """A snapshot holding only these slots (shm_fixtures.slot answers) and no plugs."""
    return state_from_api({"version": "2.63"}, {"slots": list(slots)}, [])


def test_a_clean_provider_slot_gives_no_declaration_findings():
    state = declared(slot("provider", "shmem", **PROVIDER_ATTRS))
    assert check_declarations(state) == []


def test_a_path_in_both_read_and_write_is_a_duplicate():
    state = declared(slot("provider", "shmem", **{"shared-memory": "foo", "write": ["bar"], "read": ["bar"]}))
    assert [(f["code"], f["subject"]) for f in check_declarations(state)] == [("path-duplicate", "slot provider:shmem")]


def test_a_lone_star_is_too_broad():
    state = declared(slot("wide", "shm", **{"shared-memory": "w", "write": ["*"]}))
    assert [(f["code"], f["subject"]) for f in check_declarations(state)] == [("path-too-broad", "slot wide:shm")]


def test_the_system_slot_is_never_linted():
    # snapd's implicit slot has no read or write: linted, it would be paths-missing
    state = declared({"snap": "core", "slot": "shared-memory", "interface": "shared-memory"})
    assert state.system_snap == "core" and len(state.slots) == 1
    assert check_declarations(state) == []


def test_gather_and_verify_a_compliant_fake_host(tmp_path):
    root = make_tree(tmp_path)
    for path, text in (("sys/module/apparmor/parameters/enabled", "Y\n"),
                       ("sys/kernel/security/apparmor/profiles",
                        "".join("%s (%s)\n" % item for item in sorted(ENFORCED_UPDATE_NS.items())))):
        os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
        with open(os.path.join(root, path), "w") as handle:
            handle.write(text)
    files = dict(("snap.%s.%s" % key, text) for key, text in profiles_for(GOOD_PROFILES).items())
    files.update(("snap-update-ns.%s" % snap, text) for snap, text in GOOD_UPDATE_NS.items())
    for name, text in files.items():
        path = os.path.join(root, "var/lib/snapd/apparmor/profiles", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
    state = compliant_state()
    facts = gather_facts(root, FAMILIES, profile_apps(state), ["shm-private"], ns_reader=bound_namespace)
    found = verify(state, facts, FAMILIES, EXPECTED)
    assert [f for f in found if f["severity"] != "info"] == []
    assert set(codes(found)) <= {"shm-object"}


def test_gather_reads_the_users_of_the_snaps_asked_for_with_the_objects_family(tmp_path):
    root = make_tree(tmp_path)
    add_process(root, 1234, "snap.consumer.app (enforce)", fds=["/dev/shm/bar"])
    add_process(root, 20, "snap.shm-private.app (enforce)", fds=["/dev/shm/x"])
    state = compliant_state()
    facts = gather_facts(root, ["objects"], user_snaps=["consumer", "provider"])
    assert facts.processes == ProcessScan((SnapProcess(1234, "consumer", "app", ("/dev/shm/bar",)),))
    assert [f["subject"] for f in verify(state, facts, ["objects"]) if f["code"] == "connection-in-use"] == [
        "plug consumer:shmem"]
    assert gather_facts(root, ["dev-shm"], user_snaps=["consumer"]).processes is NOT_GATHERED


# --- hostile /dev/shm: trees any local user could have shaped ----------------------------------------------------

HOSTILE_FAMILIES = ("dev-shm", "private", "objects")
PRIVATE_DIR = "dev/shm/snap.shm-private"


def hostile_verify(root, families=HOSTILE_FAMILIES):
    state = compliant_state()
    facts = gather_facts(root, families, profile_apps(state), ["shm-private"], ns_reader=bound_namespace,
                         user_snaps=["consumer", "provider", "shm-private"], slot_paths=object_paths(state))
    return verify(state, facts, families, private_snaps=["shm-private"])


def decoy_dir(root):
    """A root-owned 1777 directory outside /dev/shm: all a symlink would show if it were followed."""
    decoy = os.path.join(root, "decoy")
    os.mkdir(decoy)
    os.chmod(decoy, 0o1777)
    return decoy


def squatted(mode):
    def make(path):
        os.mkdir(path)
        os.chmod(path, mode)
        os.chown(path, 1000, 1000)
    return make


PRIVATE_DIR_SHAPES = {
    "symlink to a sound directory": lambda path: os.symlink(decoy_dir(os.path.dirname(os.path.dirname(os.path.dirname(
        path)))), path),
    "dangling symlink": lambda path: os.symlink("/nonexistent/snap.shm-private", path),
    "symlink to itself": lambda path: os.symlink(os.path.basename(path), path),
    "regular file": lambda path: open(path, "w").close(),
    "fifo": os.mkfifo,
    "directory of uid 1000": squatted(0o1777),
    "directory of uid 1000, mode 0700": squatted(0o700),
}


@pytest.mark.parametrize("shape, expected", [
    ("symlink to a sound directory", ["private-dir-symlink"]),
    ("dangling symlink", ["private-dir-symlink"]),
    ("symlink to itself", ["private-dir-symlink"]),
    ("regular file", ["private-dir-not-directory"]),
    ("fifo", ["private-dir-not-directory"]),
    ("directory of uid 1000", ["private-dir-squatted"]),
    ("directory of uid 1000, mode 0700", ["private-dir-squatted", "private-dir-mode"]),
])
def test_verify_reports_a_hostile_private_dir_as_it_is(tmp_path, shape, expected):
    root = make_tree(tmp_path, dir_mode=None)
    PRIVATE_DIR_SHAPES[shape](os.path.join(root, PRIVATE_DIR))
    found = [f for f in hostile_verify(root) if f["severity"] != "info"]
    assert codes(found) == expected
    assert found[0]["evidence"]["path"] == "/dev/shm/snap.shm-private"


def test_a_private_dir_symlink_is_described_by_the_link_not_its_target(tmp_path):
    root = make_tree(tmp_path, dir_mode=None)
    PRIVATE_DIR_SHAPES["symlink to a sound directory"](os.path.join(root, PRIVATE_DIR))
    os.lchown(os.path.join(root, PRIVATE_DIR), 1000, 1000)
    evidence = hostile_verify(root)[0]["evidence"]
    assert (evidence["kind"], evidence["uid"]) == ("symlink", 1000)


def test_dev_shm_owned_by_another_user(tmp_path):
    root = make_tree(tmp_path)
    os.chown(os.path.join(root, "dev/shm"), 1000, 1000)
    found = [f for f in hostile_verify(root) if f["severity"] != "info"]
    assert codes(found) == ["dev-shm-owner"]
    assert found[0]["message"] == "/dev/shm is owned by uid 1000, not root"


def test_dev_shm_symlink_to_a_sound_tree_is_reported_and_nothing_behind_it_is_read(tmp_path):
    root = make_tree(tmp_path)
    open(os.path.join(root, "dev/shm/bar"), "w").close()
    os.rename(os.path.join(root, "dev/shm"), os.path.join(root, "elsewhere"))
    os.symlink(os.path.join(root, "elsewhere"), os.path.join(root, "dev/shm"))
    assert codes(hostile_verify(root)) == ["dev-shm-symlink"]


def test_an_object_symlink_is_listed_as_the_link_not_its_target(tmp_path):
    root = make_tree(tmp_path)
    secret = os.path.join(root, "secret")
    open(secret, "w").close()
    os.chown(secret, 1000, 1000)
    os.chmod(secret, 0o600)
    os.symlink(secret, os.path.join(root, "dev/shm/bar"))
    objects = [f for f in hostile_verify(root) if f["code"] == "shm-object"]
    assert [(f["evidence"]["object"], f["evidence"]["kind"], f["evidence"]["uid"]) for f in objects] == [
        ("/dev/shm/bar", "symlink", 0)]


def test_an_object_name_cannot_forge_a_line_of_a_message():
    state = host(extra_slots=[slot("wide", "shm", **{"shared-memory": "w", "write": ["bar-*"]})])
    found = check_objects(state, listing_of(state, {"bar-\nALL CLEAR": FileFacts("file", 1000, 1000, 0o600)}))
    assert found[0]["message"] == '"/dev/shm/bar-\\nALL CLEAR" (bar-*): file uid 1000 gid 1000 mode 0600'
    assert found[0]["evidence"]["object"] == "/dev/shm/bar-\nALL CLEAR"


def tree_snapshot(root):
    """Every entry under root as lstat sees it (not atime), and where each symlink points."""
    seen = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            seen[path] = (info.st_mode, info.st_uid, info.st_gid, info.st_size, info.st_mtime_ns,
                          os.readlink(path) if os.path.islink(path) else None)
    return seen


def test_verify_never_writes_nor_follows_anything_under_dev_shm(tmp_path, monkeypatch):
    root = make_tree(tmp_path, dir_mode=None)
    shm = os.path.join(root, "dev/shm")
    PRIVATE_DIR_SHAPES["symlink to a sound directory"](os.path.join(root, PRIVATE_DIR))
    open(os.path.join(root, "secret"), "w").close()
    os.symlink(os.path.join(root, "secret"), os.path.join(shm, "bar"))
    os.mkfifo(os.path.join(shm, "bar-ro"))  # opening it for reading would block
    add_process(root, 1234, "snap.consumer.app (enforce)", fds=["/dev/shm/bar"])
    before = tree_snapshot(root)
    calls = []

    def spy(name, real):
        def call(*args, **kwargs):
            result = real(*args, **kwargs)
            calls.append((name, args, kwargs, result))
            return result
        return call

    for name in ("open", "stat", "lstat", "listdir", "readlink", "scandir"):
        monkeypatch.setattr(os, name, spy(name, getattr(os, name)))
    monkeypatch.setattr(builtins, "open", spy("open()", builtins.open))
    found = hostile_verify(root, FAMILIES)
    monkeypatch.undo()

    def under_shm(path):
        return isinstance(path, str) and (path == shm or path.startswith(shm + os.sep))

    shm_fds = set(call[3] for call in calls if call[0] == "open" and under_shm(call[1][0]))
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    assert shm_fds, "the spy saw /dev/shm opened"
    for name, args, kwargs, dummy in calls:
        if name == "open":
            assert not args[1] & writing, args
            if under_shm(args[0]):
                assert args[1] & os.O_NOFOLLOW, args
        elif name == "open()":
            assert not under_shm(str(args[0])) and set(args[1] if len(args) > 1 else "r") <= set("rb"), args
        elif name == "stat" and (under_shm(args[0]) or kwargs.get("dir_fd") in shm_fds):
            assert kwargs.get("follow_symlinks") is False, (args, kwargs)
        elif name in ("readlink", "scandir"):
            assert not under_shm(args[0]), args
    assert [c for c in calls if c[0] == "stat" and c[2].get("dir_fd") in shm_fds], "entries were lstat'ed in /dev/shm"
    assert tree_snapshot(root) == before
    assert "private-dir-symlink" in codes(found)
    assert ("/dev/shm/bar-ro", "other") in [(f["evidence"].get("object"), f["evidence"].get("kind")) for f in found]


def test_namespace_reader_enters_through_libc_setns_in_a_child(monkeypatch):
    class FakeLibc(object):
        @staticmethod
        def setns(fd, nstype):
            return 0
    monkeypatch.setattr(_shm_host.ctypes, "CDLL", lambda *args, **kwargs: FakeLibc())
    text = read_namespace_mountinfo(os.path.abspath(__file__))
    assert parse_mountinfo(text) == parse_mountinfo(open("/proc/self/mountinfo").read())


def test_namespace_reader_reports_setns_failure_cleanly():
    with pytest.raises(HostReadError) as caught:
        read_namespace_mountinfo(os.path.abspath(__file__))
    assert "setns:" in str(caught.value)


def test_findings_doc_lists_every_code_once():
    with open(os.path.join(REPO, "docs", "findings.md")) as handle:
        documented = re.findall(r"^\| `([a-z0-9-]+)` \| (error|warning|info) \|", handle.read(), re.MULTILINE)
    assert sorted(documented) == sorted((code, entry[0]) for code, entry in FINDING_CODES.items())
