# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_endpoints import (
    Endpoint,
    EndpointError,
    parse_plug,
    parse_slot,
    parse_snap,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("consumer:shmem", Endpoint("consumer", "shmem")),
        ("shm-private:shmem-private", Endpoint("shm-private", "shmem-private")),
        ("consumer_a1:shmem", Endpoint("consumer_a1", "shmem")),
        ("0ad:x1", Endpoint("0ad", "x1")),
    ],
)
def test_plug_is_parsed_into_snap_and_name(text, expected):
    assert parse_plug(text) == expected


@pytest.mark.parametrize(
    "text",
    [":shared-memory", "system:shared-memory", "core:shared-memory", "snapd:shared-memory", "system:", "core:", "snapd:"],
)
def test_every_system_slot_spelling_normalises_to_the_same_endpoint(text):
    assert parse_slot(text) == Endpoint("", "shared-memory")
    assert parse_slot(text).is_system


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "slot is empty; write it as <snap>:<slot>"),
        ("   ", "slot is empty; write it as <snap>:<slot>"),
        (":", "slot ':' has no slot name after ':'"),
        ("a:b:c", "slot 'a:b:c' has more than one ':'"),
        ("provider", "slot 'provider' has no ':'"),
        (" provider:shmem", "slot ' provider:shmem' contains whitespace"),
        ("provider:sh mem", "slot 'provider:sh mem' contains whitespace"),
        ("provider:", "slot 'provider:' has no slot name after ':'"),
        ("Provider:shmem", "'Provider' is not a valid snap name"),
        ("p:shmem", "'p' is not a valid snap name"),
        ("-provider:shmem", "'-provider' is not a valid snap name"),
        ("pro--vider:shmem", "'pro--vider' is not a valid snap name"),
        ("123:shmem", "'123' is not a valid snap name"),
        ("%s:shmem" % ("a" * 41), "is not a valid snap name"),
        ("provider_:shmem", "has an invalid instance key ''"),
        ("provider_ABC:shmem", "has an invalid instance key 'ABC'"),
        ("provider:Shmem", "has an invalid slot name 'Shmem'"),
        ("provider:shmem-", "has an invalid slot name 'shmem-'"),
        ("provider:1shmem", "has an invalid slot name '1shmem'"),
        ("provider:sh--mem", "has an invalid slot name 'sh--mem'"),
    ],
)
def test_invalid_slot_is_rejected_with_a_message_saying_why(text, message):
    with pytest.raises(EndpointError) as error:
        parse_slot(text)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "text, message",
    [
        (":shmem", "names the system snap, which has no shared-memory plugs"),
        ("system:shmem", "names the system snap, which has no shared-memory plugs"),
        ("consumer:", "plug 'consumer:' has no plug name after ':'"),
        ("consumer", "plug 'consumer' has no ':'"),
        (None, "plug must be a string like <snap>:<plug>, not None"),
    ],
)
def test_invalid_plug_is_rejected_with_a_message_saying_why(text, message):
    with pytest.raises(EndpointError) as error:
        parse_plug(text)
    assert message in str(error.value)


@pytest.mark.parametrize("text, expected", [("provider", "provider"), ("system", ""), ("core", ""), ("snapd", ""), ("xy_1", "xy_1")])
def test_bare_snap_names_are_accepted_where_a_snap_is_expected(text, expected):
    assert parse_snap(text) == expected


@pytest.mark.parametrize("text, message", [
    ("provider\n", "snap 'provider\\n' is not a valid snap name: use 2 to 40 lowercase letters, digits and single inner "
                   "dashes, with at least one letter"),
    ("provider_x1\n", "snap 'provider_x1\\n' has an invalid instance key 'x1\\n': use 1 to 10 lowercase letters or "
                      "digits"),
])
def test_a_trailing_newline_is_no_part_of_a_valid_name(text, message):
    # `$` also matches before a trailing newline: the name rules must match the whole name
    with pytest.raises(EndpointError) as error:
        parse_snap(text)
    assert str(error.value) == message


def test_an_empty_snap_name_is_refused_not_taken_for_the_system_snap():
    with pytest.raises(EndpointError) as error:
        parse_snap("")
    assert str(error.value) == "snap is empty; write a snap name, or system for the system snap"


def test_a_long_value_is_cut_short_in_the_message():
    with pytest.raises(EndpointError) as error:
        parse_plug("a" * 5000 + ":shmem")
    assert "... (5006 characters)" in str(error.value) and "... (5000 characters)" in str(error.value)
    assert len(str(error.value)) < 400


def test_endpoint_renders_as_snap_colon_name():
    assert str(Endpoint("snapd", "shared-memory")) == "snapd:shared-memory"
