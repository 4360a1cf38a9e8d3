# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Property-based: whatever text or value a user passes, endpoint parsing and the declaration rules answer
with the module's own error (one line, bounded) or a result, never another exception.

test_shm_rules.py already feeds lint_snap random Python documents and load_snap_yaml random short text; here
the YAML is assembled from YAML's own syntax, and the attribute values include what PyYAML's tags build.
"""

from __future__ import annotations

import datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_endpoints import (
    SYSTEM_SNAP_ALIASES,
    Endpoint,
    EndpointError,
    parse_plug,
    parse_slot,
    parse_snap,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import FINDING_CODES
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_plan import desired_connection
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_quoting import go_quote
from ansible_collections.snapfleet.snapd.plugins.module_utils._declaration_rules import Declaration, lint_declarations, lint_snap, path_problem
from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import SnapYamlError, load_snap_yaml

FAST = settings(max_examples=150, deadline=None)
# an endpoint's message repeats the bad value at most twice, each cut to 80 characters
MAX_MESSAGE = 600

# text near the grammar: the separators, whitespace of every kind, shell and YAML punctuation, non-ASCII
near_endpoints = st.lists(st.sampled_from(list("ab-z09_:：/ \t\n\x00\u00a0\u200b$;|`*é") + ["shm", "system"]),
                          max_size=40).map("".join)
any_text = st.one_of(st.text(max_size=300), near_endpoints)
not_text = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.binary(max_size=8),
                     st.lists(st.text(max_size=4), max_size=3), st.dictionaries(st.text(max_size=3), st.integers()))

snap_names = st.from_regex(r"\A[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}\Z").filter(
    lambda name: 2 <= len(name) <= 40 and any(char.isalpha() for char in name) and name not in SYSTEM_SNAP_ALIASES)
instance_names = st.one_of(snap_names, st.builds("%s_%s".__mod__, st.tuples(snap_names, st.from_regex(
    r"\A[a-z0-9]{1,10}\Z"))))
endpoint_names = st.from_regex(r"\A[a-z](-?[a-z0-9]){0,30}\Z")


def assert_clean(error):
    message = str(error)
    assert message and "\n" not in message and len(message) <= MAX_MESSAGE, message


@FAST
@given(st.one_of(any_text, not_text))
def test_parsing_any_value_raises_only_a_one_line_endpoint_error(text):
    for parse in (parse_plug, parse_slot, parse_snap):
        try:
            result = parse(text)
        except EndpointError as error:
            assert_clean(error)
        else:
            assert isinstance(result, (Endpoint, str))


@FAST
@given(instance_names, endpoint_names)
def test_a_valid_endpoint_parses_and_formats_back_to_the_same_text(snap, name):
    text = "%s:%s" % (snap, name)
    assert parse_plug(text) == parse_slot(text) == Endpoint(snap, name)
    assert str(parse_plug(text)) == text
    assert parse_snap(snap) == snap


@FAST
@given(st.sampled_from(SYSTEM_SNAP_ALIASES), endpoint_names)
def test_every_system_alias_parses_to_the_system_slot(alias, name):
    assert parse_slot("%s:%s" % (alias, name)) == Endpoint("", name)


@FAST
@given(st.one_of(any_text, not_text), st.one_of(st.none(), any_text, not_text),
       st.one_of(st.sampled_from(["connected", "disconnected"]), any_text), st.booleans())
def test_a_desired_connection_from_any_values_raises_only_value_error(plug, slot, state, forget):
    try:
        desired_connection(plug, slot, state, forget)
    except ValueError as error:
        assert "\n" not in str(error)


@FAST
@given(any_text)
def test_a_path_problem_is_a_known_code_with_one_line_message(path):
    problem = path_problem(path)
    if problem is None:
        assert path and "/" not in path and "**" not in path and path not in ("..",)
    else:
        code, message = problem
        assert FINDING_CODES[code][0] == "error"
        assert "\n" not in message
    assert "\n" not in go_quote(path) and go_quote(path).startswith('"')


# what PyYAML's tags can put into an attribute: !!binary, !!set, !!timestamp, !!float .nan, big integers
yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2 ** 80, max_value=2 ** 80),
                         st.floats(allow_nan=True), st.text(max_size=12), st.binary(max_size=6),
                         st.datetimes(min_value=datetime.datetime(1, 1, 1)), st.frozensets(st.integers(), max_size=3))
yaml_values = st.recursive(yaml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), inner, max_size=4)),
    max_leaves=12)


@FAST
@given(st.sampled_from(["plug", "slot"]), st.dictionaries(
    st.sampled_from(["read", "write", "private", "shared-memory", "other"]), yaml_values, max_size=5),
    st.lists(st.sampled_from(["plug", "slot"]), max_size=2))
def test_the_rules_take_any_attribute_values(kind, attrs, other_kinds):
    siblings = [Declaration(other, "other%d" % index, "shared-memory", {}) for index, other in enumerate(other_kinds)]
    for item in lint_declarations("snap", [Declaration(kind, "shmem", "shared-memory", attrs)] + siblings):
        assert item["code"] in FINDING_CODES and item["message"]


# YAML assembled from its own syntax: anchors, aliases, merges, tags, flow and block collections, quoting
yaml_tokens = st.sampled_from([
    "name: provider", "slots:", "plugs:", "  shmem:", "    interface: shared-memory", "    write: [", "    read:",
    "      - ", "]", "[", "{", "}", ", ", "&a ", "*a", "&b ", "*b", "<<: *a", "? ", ": ", "- ", "'", '"', "\\",
    "!!binary ", "!!set ", "!!timestamp ", "!!python/name:os.system ", "!!str ", "|", ">", "#", "---", "...",
    "%YAML 1.1", "\t", "  ", "x", "/dev/shm/x", "**", "é", "\x00", "\ufeff", "1e400", "0x1f", "~",
])
yaml_documents = st.lists(st.lists(yaml_tokens, max_size=6).map("".join), max_size=12).map("\n".join)


@FAST
@given(yaml_documents)
@example("!!timestamp |\n\n  shmem:")  # found by this test: a tagged block scalar's newlines were in the message
def test_yaml_assembled_from_its_syntax_is_linted_or_refused_with_one_line(text):
    try:
        document = load_snap_yaml(text)
    except SnapYamlError as error:
        assert "\n" not in str(error), str(error)
        return
    for item in lint_snap(document):
        assert item["code"] in FINDING_CODES
