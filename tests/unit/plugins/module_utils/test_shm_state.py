# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import dataclasses

import pytest

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_endpoints import Endpoint
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_versions import parse_version
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_state import (
    read_snap_interfaces,
    state_from_api,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_local import LocalHost
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd import SnapdClient

from shm_fixtures import BROKEN_WARNING, connection, host


@pytest.mark.parametrize(
    "text, expected",
    [("2.63", (2, 63, 0)), ("2.61.3+24.04", (2, 61, 3)), ("2.64-106-gcec484a424", (2, 64, 0)), ("2.55.3", (2, 55, 3)), ("unknown", None)],
)
def test_snapd_version_is_parsed_from_its_leading_numbers(text, expected):
    assert parse_version(text) == expected


def test_a_snapshot_is_exactly_three_gets(snapd):
    client = SnapdClient(snapd.socket_path, 5)
    LocalHost(client).read()
    assert [(m, p) for m, p, q, b in snapd.requests] == [
        ("GET", "/v2/system-info"),
        ("GET", "/v2/connections"),
        ("GET", "/v2/warnings"),
    ]
    assert snapd.requests[1][2] == {"select": "all", "interface": "shared-memory"}
    assert client.request_count == 3


def test_system_snap_is_named_as_the_api_reports_it():
    assert host(system_snap="core").system_snap == "core"
    assert host(system_snap="snapd").system_snap == "snapd"


def test_resolve_names_the_system_snap_like_the_api():
    assert host(system_snap="core").resolve(Endpoint("", "shared-memory")) == Endpoint("core", "shared-memory")


def test_plug_identifier_defaults_to_the_plug_name_and_is_none_when_private():
    state = state_from_api(
        {"version": "2.63"},
        {"plugs": [
            {"snap": "a", "plug": "mem", "interface": "shared-memory", "attrs": {}},
            {"snap": "b", "plug": "mem", "interface": "shared-memory", "attrs": {"private": True}},
        ]},
        [],
    )
    assert state.plugs[("a", "mem")].identifier == "mem"
    assert state.plugs[("b", "mem")].identifier is None
    assert state.plugs[("b", "mem")].private is True


def test_slot_carries_read_and_write_paths():
    slot = host().slots[("provider", "shmem")]
    assert (slot.identifier, slot.read, slot.write) == ("foo", ("bar-ro",), ("bar",))


def test_state_cannot_be_changed_after_it_is_read():
    state = host()
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.version = "1"
    with pytest.raises(TypeError):
        state.plugs[("x", "y")] = None


def test_undesired_connections_are_kept_apart_from_established_ones():
    state = host(undesired=[connection("shm-private:shmem-private", "snapd:shared-memory")])
    assert state.established == ()
    assert [c.undesired for c in state.undesired] == [True]


def test_bad_declaration_warning_becomes_a_dropped_declaration():
    state = host(warnings=[{"message": BROKEN_WARNING, "last-added": "2026-01-01"}])
    [dropped] = state.dropped_declarations
    assert (dropped.snap, dropped.name, dropped.warning) == ("shm-broken", "shmem", BROKEN_WARNING)
    assert dropped.reason == 'shared memory interface requires at least a valid "read" or "write" attribute'


def test_warning_listing_several_reasons_is_split_per_plug_or_slot():
    warning = (
        'snap "multi" has bad plugs or slots: a, b (shared-memory "private" attribute must be a bool, not hello); '
        'cam (unknown interface "camera2"); c (shared-memory interface path should not contain \'/\': "/dev/shm/x")'
    )
    state = host(warnings=[{"message": warning}])
    assert [(d.name, d.reason[:22]) for d in state.dropped_declarations] == [
        ("a", 'shared-memory "private'),
        ("b", 'shared-memory "private'),
        ("c", "shared-memory interfac"),
    ]


def test_warning_about_a_plug_that_now_exists_is_not_a_dropped_declaration():
    warning = 'snap "consumer" has bad plugs or slots: shmem (shared memory interface requires at least a valid "read" or "write" attribute)'
    assert host(warnings=[{"message": warning}]).dropped_declarations == ()


def test_unrelated_warnings_are_ignored():
    assert host(warnings=[{"message": "snapd could not refresh"}]).dropped_declarations == ()


def test_snaps_filter_keeps_only_what_involves_those_snaps():
    state = state_from_api(
        {"version": "2.63"},
        {
            "established": [connection("consumer:shmem", "provider:shmem"), connection("shm-private:shmem-private", "snapd:shared-memory")],
            "plugs": [{"snap": "consumer", "plug": "shmem", "interface": "shared-memory"}],
            "slots": [{"snap": "provider", "slot": "shmem", "interface": "shared-memory"}],
        },
        [],
        snaps=["provider"],
    )
    assert [str(c.plug) for c in state.established] == ["consumer:shmem"]
    assert list(state.plugs) == []
    assert list(state.slots) == [("provider", "shmem")]


def test_snap_interfaces_tell_a_missing_snap_from_another_interface(snapd):
    snapd.installed.add("other")
    snapd.plugs.append({"snap": "other", "plug": "cam", "interface": "camera"})
    found = read_snap_interfaces(SnapdClient(snapd.socket_path, 5), ["other", "ghost"])
    assert found == {"other": {"cam": "camera"}, "ghost": None}
