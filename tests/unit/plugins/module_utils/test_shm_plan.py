# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_plan import build_plan, desired_connection

from shm_fixtures import BROKEN_WARNING, connection, host, plug, slot


def want(plug_ref, slot_ref=None, state="connected", forget=False):
    return desired_connection(plug_ref, slot_ref, state, forget)


def actions(plan):
    return [(a.action, str(a.plug), str(a.slot)) for a in plan.actions]


def refusal(plan):
    [only] = plan.refusals
    return only.code, only.message


def test_unconnected_pair_is_connected():
    plan = build_plan([want("consumer:shmem", "provider:shmem")], host())
    assert actions(plan) == [("connect", "consumer:shmem", "provider:shmem")]
    assert plan.changed


def test_connected_pair_needs_nothing():
    state = host(established=[connection("consumer:shmem", "provider:shmem")])
    assert not build_plan([want("consumer:shmem", "provider:shmem")], state).changed


@pytest.mark.parametrize("spelling", [":shared-memory", "system:shared-memory", "core:shared-memory", "snapd:shared-memory", "system:"])
@pytest.mark.parametrize("system_snap", ["snapd", "core"])
def test_every_system_slot_spelling_is_idempotent(spelling, system_snap):
    state = host(system_snap=system_snap, established=[connection("shm-private:shmem-private", system_snap + ":shared-memory", manual=False)])
    assert not build_plan([want("shm-private:shmem-private", spelling)], state).changed


def test_private_plug_without_slot_means_the_system_slot():
    plan = build_plan([want("shm-private:shmem-private")], host(system_snap="core"))
    assert actions(plan) == [("connect", "shm-private:shmem-private", "core:shared-memory")]


def test_undesired_auto_connection_is_restored_by_connected():
    state = host(undesired=[connection("shm-private:shmem-private", "snapd:shared-memory")])
    plan = build_plan([want("shm-private:shmem-private")], state)
    assert actions(plan) == [("connect", "shm-private:shmem-private", "snapd:shared-memory")]
    assert plan.actions[0].reason == "restore the auto-connection that was manually disconnected"
    assert plan.after_view()["undesired"] == []


def test_disconnecting_an_auto_connection_leaves_it_undesired():
    state = host(established=[connection("shm-private:shmem-private", "snapd:shared-memory", manual=False)])
    plan = build_plan([want("shm-private:shmem-private", state="disconnected")], state)
    assert actions(plan) == [("disconnect", "shm-private:shmem-private", "snapd:shared-memory")]
    assert plan.after_view() == {
        "connections": [],
        "undesired": [{"plug": "shm-private:shmem-private", "slot": "snapd:shared-memory", "manual": True, "gadget": False}],
    }


def test_disconnecting_a_manual_connection_removes_it():
    state = host(established=[connection("consumer:shmem", "provider:shmem")])
    plan = build_plan([want("consumer:shmem", "provider:shmem", "disconnected")], state)
    assert plan.after_view() == {"connections": [], "undesired": []}


def test_disconnected_pair_that_is_not_connected_needs_nothing():
    assert not build_plan([want("consumer:shmem", "provider:shmem", "disconnected")], host()).changed


def test_forget_of_an_established_connection_is_one_forget_action():
    state = host(established=[connection("shm-private:shmem-private", "snapd:shared-memory", manual=False)])
    plan = build_plan([want("shm-private:shmem-private", state="disconnected", forget=True)], state)
    assert actions(plan) == [("forget", "shm-private:shmem-private", "snapd:shared-memory")]
    assert plan.actions[0].request()["forget"] is True
    assert plan.after_view() == {"connections": [], "undesired": []}


def test_forget_of_an_undesired_connection_forgets_it():
    state = host(undesired=[connection("shm-private:shmem-private", "snapd:shared-memory")])
    plan = build_plan([want("shm-private:shmem-private", state="disconnected", forget=True)], state)
    assert actions(plan) == [("forget", "shm-private:shmem-private", "snapd:shared-memory")]


def test_forget_of_a_pair_snapd_does_not_know_needs_nothing():
    # snapd would answer "cannot forget connection ..., it was not connected"
    assert not build_plan([want("consumer:shmem", "provider:shmem", "disconnected", True)], host()).changed


def test_forget_requires_state_disconnected():
    with pytest.raises(ValueError) as error:
        want("consumer:shmem", "provider:shmem", "connected", True)
    assert str(error.value) == "forget: true only makes sense with state: disconnected (plug consumer:shmem)"


def test_exclusive_disconnects_unlisted_connections_but_keeps_private_system_ones():
    state = host(established=[
        connection("logger:shmem", "provider:shmem"),
        connection("shm-private:shmem-private", "snapd:shared-memory", manual=False),
    ])
    plan = build_plan([want("consumer:shmem", "provider:shmem")], state, exclusive=True)
    assert actions(plan) == [
        ("disconnect", "logger:shmem", "provider:shmem"),
        ("connect", "consumer:shmem", "provider:shmem"),
    ]


def test_exclusive_disconnects_a_private_system_connection_listed_as_disconnected():
    state = host(established=[connection("shm-private:shmem-private", "snapd:shared-memory", manual=False)])
    plan = build_plan([want("shm-private:shmem-private", state="disconnected")], state, exclusive=True)
    assert actions(plan) == [("disconnect", "shm-private:shmem-private", "snapd:shared-memory")]


def gadget_host(**extra):
    return host(established=[connection("logger:shmem", "provider:shmem", manual=False, gadget=True),
                             connection("shm-private:shmem-private", "snapd:shared-memory", manual=False)], **extra)


def test_exclusive_keeps_a_connection_the_gadget_made_and_says_why():
    plan = build_plan([want("consumer:shmem", "provider:shmem")], gadget_host(), exclusive=True)
    assert actions(plan) == [("connect", "consumer:shmem", "provider:shmem")]
    assert [(str(item.plug), str(item.slot)) for item in plan.kept] == [
        ("logger:shmem", "provider:shmem"), ("shm-private:shmem-private", "snapd:shared-memory")]
    assert plan.kept[0].reason.startswith("made by the gadget snap, which snapd makes at first boot only")
    assert "manage_gadget_connections" in plan.kept[0].reason
    assert plan.kept[1].reason == "a private plug's connection to the system slot: the snap's own /dev/shm"


def test_exclusive_managing_gadget_connections_disconnects_one_into_undesired():
    plan = build_plan([want("consumer:shmem", "provider:shmem")], gadget_host(), exclusive=True,
                      manage_gadget_connections=True)
    assert actions(plan) == [("disconnect", "logger:shmem", "provider:shmem"), ("connect", "consumer:shmem", "provider:shmem")]
    assert "made by the gadget, which snapd will not make again" in plan.actions[0].reason
    assert [(str(item.plug), item.reason.startswith("a private plug")) for item in plan.kept] == [
        ("shm-private:shmem-private", True)]
    # snapd keeps it undesired, by-gadget still, and reports it manual
    assert plan.after_view()["undesired"] == [{"plug": "logger:shmem", "slot": "provider:shmem", "manual": True,
                                               "gadget": True}]


def test_a_gadget_connection_listed_as_disconnected_is_disconnected_and_the_reason_says_so():
    plan = build_plan([want("logger:shmem", "provider:shmem", "disconnected")], gadget_host())
    assert actions(plan) == [("disconnect", "logger:shmem", "provider:shmem")]
    assert plan.actions[0].reason == "listed as disconnected; made by the gadget, which snapd will not make again"


def test_without_exclusive_nothing_is_kept():
    assert build_plan([want("consumer:shmem", "provider:shmem")], gadget_host()).kept == ()


def test_allow_identifier_mismatch_connects_and_says_so():
    plan = build_plan([desired_connection("stranger:shmem", "provider:shmem", allow_identifier_mismatch=True)], host())
    assert actions(plan) == [("connect", "stranger:shmem", "provider:shmem")]
    assert plan.refusals == ()
    assert plan.actions[0].reason == "listed as connected; identifiers differ, let through by allow_identifier_mismatch"
    assert plan.warnings == ('connecting stranger:shmem to provider:shmem although the plug\'s shared-memory identifier '
                             '"other" differs from the slot\'s "foo" (allow_identifier_mismatch): snapd refuses this for '
                             'store snaps unless a snap declaration allows it',)


def test_allow_identifier_mismatch_does_not_let_a_private_plug_to_an_app_slot_through():
    plan = build_plan([desired_connection("shm-private:shmem-private", "provider:shmem",
                                          allow_identifier_mismatch=True)], host())
    assert refusal(plan)[0] == "private-plug-app-slot"


def test_allow_identifier_mismatch_on_matching_identifiers_changes_nothing_of_the_reason():
    plan = build_plan([desired_connection("consumer:shmem", "provider:shmem", allow_identifier_mismatch=True)], host())
    assert plan.actions[0].reason == "listed as connected" and plan.warnings == ()


def test_exclusive_with_everything_listed_needs_nothing():
    state = host(established=[connection("consumer:shmem", "provider:shmem")])
    assert not build_plan([want("consumer:shmem", "provider:shmem")], state, exclusive=True).changed


def test_disconnects_come_before_connects():
    state = host(established=[connection("logger:shmem", "provider:shmem")])
    plan = build_plan(
        [want("consumer:shmem", "provider:shmem"), want("logger:shmem", "provider:shmem", "disconnected")], state
    )
    assert [a.action for a in plan.actions] == ["disconnect", "connect"]


def test_the_same_item_listed_twice_is_planned_once():
    plan = build_plan([want("consumer:shmem", "provider:shmem"), want("consumer:shmem", "provider:shmem")], host())
    assert len(plan.actions) == 1


def test_before_view_shows_established_and_undesired():
    state = host(
        established=[connection("consumer:shmem", "provider:shmem", manual=False, gadget=True)],
        undesired=[connection("shm-private:shmem-private", "snapd:shared-memory")],
    )
    assert build_plan([], state).before_view() == {
        "connections": [{"plug": "consumer:shmem", "slot": "provider:shmem", "manual": False, "gadget": True}],
        "undesired": [{"plug": "shm-private:shmem-private", "slot": "snapd:shared-memory", "manual": True, "gadget": False}],
    }


REFUSALS = [
    (
        "identifier-mismatch",
        [want("stranger:shmem", "provider:shmem")],
        {},
        'cannot connect stranger:shmem to provider:shmem: the plug\'s shared-memory identifier "other" does not match '
        'the slot\'s "foo"; snapd refuses this for store snaps and lets it through only for --dangerous ones, so make '
        "the shared-memory attributes in the two snap.yaml files agree (or, if a snap declaration of the store allows "
        "this pair, set allow_identifier_mismatch: true on it)",
    ),
    (
        "private-plug-app-slot",
        [want("shm-private:shmem-private", "provider:shmem")],
        {},
        "cannot connect shm-private:shmem-private to provider:shmem: the plug is private (private: true) and may only "
        "connect to the system slot :shared-memory; leave the slot out or write :shared-memory",
    ),
    (
        "system-slot-needs-private-plug",
        [want("consumer:shmem", ":shared-memory")],
        {},
        "cannot connect consumer:shmem to snapd:shared-memory: the system slot serves only private plugs "
        '(private: true), and plug consumer:shmem is not private (identifier "foo"); connect it to the slot of the '
        "snap that shares that memory",
    ),
    (
        "slot-required",
        [want("consumer:shmem")],
        {},
        "plug consumer:shmem needs a slot: only a private plug (private: true) may leave it out to mean the system slot",
    ),
    (
        "unknown-plug",
        [want("shm-broken:shmem", "provider:shmem")],
        {"warnings": [{"message": BROKEN_WARNING}]},
        'snap "shm-broken" has no shared-memory plug named "shmem" because snapd dropped its bad declaration; '
        "snapd warned: " + BROKEN_WARNING,
    ),
    (
        "unknown-slot",
        [want("consumer:shmem", "ghost:shmem")],
        {},
        'snap "ghost" has no shared-memory slot named "shmem"',
    ),
    (
        "unknown-plug",
        [want("provider:shmem", "provider:shmem")],
        {},
        "provider:shmem is a shared-memory slot, not a plug; swap plug and slot",
    ),
    (
        "snapd-too-old",
        [want("consumer:shmem", "provider:shmem")],
        {"version": "2.53.4"},
        "snapd 2.53.4 on this host has no shared-memory interface (it arrived in snapd 2.54); upgrade snapd",
    ),
    (
        "snapd-too-old-for-private",
        [want("shm-private:shmem-private")],
        {"version": "2.55.2"},
        "cannot use shm-private:shmem-private with snapd:shared-memory: snapd 2.55.2 on this host ignores private: true "
        "and has no system shared-memory slot (both arrived in snapd 2.55.3); upgrade snapd",
    ),
    (
        "conflicting-items",
        [want("consumer:shmem", "provider:shmem"), want("consumer:shmem", "provider:shmem", "disconnected")],
        {},
        "consumer:shmem to provider:shmem is listed more than once with different state, forget or "
        "allow_identifier_mismatch; list it once",
    ),
]


@pytest.mark.parametrize("code, desired, host_args, message", REFUSALS, ids=[r[0] + "-" + str(i) for i, r in enumerate(REFUSALS)])
def test_refusal_has_its_code_and_exact_message(code, desired, host_args, message):
    plan = build_plan(desired, host(**host_args))
    assert refusal(plan) == (code, message)
    assert plan.actions == () or code == "conflicting-items"


def test_version_gate_lets_2_55_3_use_private_plugs():
    assert build_plan([want("shm-private:shmem-private")], host(version="2.55.3")).refusals == ()


def answering(interfaces):
    """A snap_interfaces lookup that answers `interfaces` and records what it was asked."""
    asked = []

    def lookup(snaps):
        asked.append(snaps)
        return dict((snap, interfaces[snap]) for snap in snaps)
    return lookup, asked


def test_unknown_snap_is_explained_once_snap_interfaces_are_known():
    desired = [want("consumer:shmem", "ghost:shmem"), want("camera-app:cam", "provider:shmem")]
    first = build_plan(desired, host())
    assert first.unknown_snaps == ("camera-app", "ghost")
    assert [r.message for r in first.refusals] == ['snap "ghost" has no shared-memory slot named "shmem"',
                                                   'snap "camera-app" has no shared-memory plug named "cam"']
    lookup, asked = answering({"ghost": None, "camera-app": {"cam": "camera"}})
    second = build_plan(desired, host(), snap_interfaces=lookup)
    assert asked == [("camera-app", "ghost")]
    assert [r.message for r in second.refusals] == [
        'snap "ghost" is not installed, so it has no slot "shmem"',
        'camera-app:cam is a "camera" plug, not a shared-memory one',
    ]
    assert second.unknown_snaps == ()


def test_snaps_are_looked_up_only_when_the_snapshot_cannot_explain_a_refusal():
    lookup, asked = answering({})
    plan = build_plan([want("consumer:shmem", "provider:shmem"), want("provider:shmem", "consumer:shmem")], host(),
                      snap_interfaces=lookup)
    assert [r.code for r in plan.refusals] == ["unknown-plug"]
    assert asked == []


def test_system_slot_of_another_interface_is_named_as_such():
    desired = [want("consumer:shmem", ":network")]
    first = build_plan(desired, host())
    assert first.unknown_snaps == ("snapd",)
    lookup, asked = answering({"snapd": {"network": "network", "shared-memory": "shared-memory"}})
    second = build_plan(desired, host(), snap_interfaces=lookup)
    assert [r.message for r in second.refusals] == ['snapd:network is a "network" slot, not a shared-memory one']


def test_mismatched_pair_that_is_already_connected_is_left_alone():
    state = host(established=[connection("stranger:shmem", "provider:shmem")])
    plan = build_plan([want("stranger:shmem", "provider:shmem")], state)
    assert (plan.refusals, plan.actions) == ((), ())


def test_instance_named_snaps_are_matched_exactly():
    state = host(
        extra_plugs=[plug("consumer_two", "shmem", **{"shared-memory": "foo"})],
        extra_slots=[slot("provider_b", "shmem", **{"shared-memory": "foo", "write": ["x"]})],
    )
    plan = build_plan([want("consumer_two:shmem", "provider_b:shmem")], state)
    assert actions(plan) == [("connect", "consumer_two:shmem", "provider_b:shmem")]
