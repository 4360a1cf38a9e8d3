# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The declaration rules: one table of snap.yaml fragments and the exact verdict and message each gives."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import FINDING_CODES
from ansible_collections.snapfleet.snapd.plugins.module_utils._go_text import go_quote, go_value
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_rules import lint_snap
from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import MAX_YAML_BYTES, SnapYamlError, load_snap_yaml

NUL = "\x00"
RESERVED = '?[]{}^"' + NUL


def lint(text):
    return [(f["code"], f["severity"], f["subject"], f["message"]) for f in lint_snap(load_snap_yaml(text))]


def slot_yaml(body):
    return "name: provider\nslots:\n  shmem:\n    interface: shared-memory\n" + "".join(
        "    %s\n" % line for line in body.splitlines())


def plug_yaml(body, extra=""):
    return "name: consumer\nplugs:\n  shmem:\n    interface: shared-memory\n" + "".join(
        "    %s\n" % line for line in body.splitlines()) + extra


SLOT = "slot provider:shmem"
PLUG = "plug consumer:shmem"

# (id, yaml, expected [(code, severity, subject, message)])
TABLE = [
    ("slot-valid", slot_yaml("write: [bar]\nread: [bar-ro]"), []),
    ("slot-one-star-glob", slot_yaml("write: [bar*]"), []),
    ("slot-empty-lists", slot_yaml("read: []\nwrite: []"), [
        ("paths-missing", "error", SLOT, 'shared memory interface requires at least a valid "read" or "write" attribute')]),
    ("slot-no-paths", slot_yaml("shared-memory: foo"), [
        ("paths-missing", "error", SLOT, 'shared memory interface requires at least a valid "read" or "write" attribute')]),
    ("slot-dev-shm-prefix", slot_yaml("write: [/dev/shm/bar]"), [
        ("path-slash", "error", SLOT, "shared-memory interface path should not contain '/': \"/dev/shm/bar\"")]),
    ("slot-dotdot", slot_yaml("read: [..]"), [
        ("path-not-clean", "error", SLOT, 'shared-memory interface path is not clean: ".."')]),
    ("slot-dotdot-inside", slot_yaml("read: [mem/../etc]"), [
        ("path-slash", "error", SLOT, "shared-memory interface path should not contain '/': \"mem/../etc\"")]),
    ("slot-double-star", slot_yaml("write: [mem**]"), [
        ("path-double-star", "error", SLOT, 'shared-memory interface path is invalid: "mem**" contains ** which is unsupported')]),
    ("slot-question-mark", slot_yaml("write: [a?]"), [
        ("path-reserved-char", "error", SLOT,
         'shared-memory interface path is invalid: "a?" contains a reserved apparmor char from ' + RESERVED)]),
    ("slot-brace", slot_yaml("write: ['a{b}']"), [
        ("path-reserved-char", "error", SLOT,
         'shared-memory interface path is invalid: "a{b}" contains a reserved apparmor char from ' + RESERVED)]),
    ("slot-nul", slot_yaml('write: ["a\\0b"]'), [
        ("path-reserved-char", "error", SLOT,
         'shared-memory interface path is invalid: "a\\x00b" contains a reserved apparmor char from ' + RESERVED)]),
    ("slot-empty-path", slot_yaml("write: ['']"), [
        ("path-empty", "error", SLOT, "shared-memory interface path is empty")]),
    ("slot-spaces", slot_yaml("write: [' bar']"), [
        ("path-spaces", "error", SLOT, 'shared-memory interface path has leading or trailing spaces: " bar"')]),
    ("slot-read-not-list", slot_yaml("read: bar"), [
        ("paths-not-string-list", "error", SLOT, 'shared-memory "read" attribute must be a list of strings, not "bar"')]),
    ("slot-read-mixed", slot_yaml("read: [Mixed, 12, False, list]"), [
        ("paths-not-string-list", "error", SLOT,
         'shared-memory "read" attribute must be a list of strings, not "[Mixed 12 false list]"')]),
    ("slot-identifier-int", slot_yaml("shared-memory: 12\nwrite: [bar]"), [
        ("identifier-not-string", "error", SLOT, 'shared-memory "shared-memory" attribute must be a string, not 12')]),
    ("slot-lone-star", slot_yaml("write: ['*']"), [
        ("path-too-broad", "warning", SLOT, 'shared-memory path "*" grants every top-level object in /dev/shm to both snaps')]),
    ("slot-dot", slot_yaml("write: [.]"), [
        ("path-too-broad", "warning", SLOT, 'shared-memory path "." names /dev/shm itself')]),
    ("slot-read-write-duplicate", slot_yaml("write: [bar]\nread: [bar]"), [
        ("path-duplicate", "warning", SLOT,
         'shared-memory path "bar" is in both "read" and "write": the plug gets write access to it')]),
    ("slot-duplicate-in-list", slot_yaml("write: [bar, bar]"), [
        ("path-duplicate", "warning", SLOT, 'shared-memory path "bar" is listed more than once in "write"')]),
    ("slot-private-ignored", slot_yaml("write: [bar]\nprivate: false"), [
        ("slot-private-ignored", "warning", SLOT,
         'shared-memory slot attribute "private" is ignored by snapd: only a plug can be private')]),
    ("plug-valid", plug_yaml("shared-memory: foo"), []),
    ("plug-private-valid", plug_yaml("private: true"), []),
    ("plug-private-string", plug_yaml("private: 'true'"), [
        ("private-not-bool", "error", PLUG, 'shared-memory "private" attribute must be a bool, not true')]),
    ("plug-private-hello", plug_yaml("private: hello"), [
        ("private-not-bool", "error", PLUG, 'shared-memory "private" attribute must be a bool, not hello')]),
    ("plug-identifier-int", plug_yaml("shared-memory: 12"), [
        ("identifier-not-string", "error", PLUG, 'shared-memory "shared-memory" attribute must be a string, not 12')]),
    ("plug-identifier-list", plug_yaml("shared-memory: [a, b]"), [
        ("identifier-not-string", "error", PLUG, 'shared-memory "shared-memory" attribute must be a string, not [a b]')]),
    ("plug-private-with-identifier", plug_yaml("private: true\nshared-memory: foo"), [
        ("private-with-identifier", "error", PLUG,
         'shared-memory "shared-memory" attribute must not be set together with "private: true"')]),
    ("plug-private-with-other-plug", plug_yaml("private: true", "  other:\n    interface: shared-memory\n"), [
        ("private-with-other-plugs", "error", PLUG,
         'shared-memory plug with "private: true" set cannot be used with other shared-memory plugs')]),
    ("plug-private-with-slot", plug_yaml("private: true", "slots:\n  shm-slot:\n    interface: shared-memory\n"
                                         "    write: [x]\n"), [
        ("private-with-slots", "error", PLUG,
         'shared-memory plug with "private: true" set cannot be used with shared-memory slots')]),
    ("plug-paths-ignored", plug_yaml("write: [bar]"), [
        ("plug-paths-ignored", "warning", PLUG,
         'shared-memory plug attribute "write" is ignored by snapd: the connected slot\'s "read" and "write" decide the access')]),
    ("other-interface-ignored", "name: x\nplugs:\n  home: null\nslots:\n  s:\n    interface: content\n    write: [/a]\n", []),
]


@pytest.mark.parametrize("text, expected", [case[1:] for case in TABLE], ids=[case[0] for case in TABLE])
def test_rule_table(text, expected):
    assert lint(text) == expected


def test_every_declaration_code_is_exercised_by_the_table():
    covered = set(code for case in TABLE for code, dummy, dummy2, dummy3 in case[2])
    declaration_codes = set(code for code, (dummy, family, dummy2) in FINDING_CODES.items() if family == "declarations")
    assert declaration_codes - covered == {"declaration-malformed"}


def test_snapd_stops_at_the_first_failing_check_of_a_path():
    # '?' is checked before '**' and '/', as in validateSharedMemoryPath
    assert [code for code, dummy, dummy2, dummy3 in lint(slot_yaml("write: ['/a?**']"))] == ["path-reserved-char"]


def test_each_bad_path_gets_its_own_finding():
    codes = [code for code, dummy, dummy2, dummy3 in lint(slot_yaml("read: [/x]\nwrite: [a**]"))]
    assert codes == ["path-slash", "path-double-star"]


def test_app_plugs_shorthand_declares_a_plug_named_after_the_interface():
    text = "name: app-snap\napps:\n  app:\n    plugs: [shared-memory]\n    slots: [shared-memory]\n"
    assert lint(text) == [("paths-missing", "error", "slot app-snap:shared-memory",
                           'shared memory interface requires at least a valid "read" or "write" attribute')]


def test_string_form_declares_the_interface():
    text = "name: s\nplugs:\n  shm: shared-memory\n  priv:\n    interface: shared-memory\n    private: true\n"
    assert [(code, subject) for code, dummy, subject, dummy2 in lint(text)] == [
        ("private-with-other-plugs", "plug s:priv")]


def test_hook_plugs_declare_implicit_plugs():
    text = ("name: s\nplugs:\n  priv:\n    interface: shared-memory\n    private: true\n"
            "hooks:\n  configure:\n    plugs: [shared-memory]\n")
    assert [code for code, dummy, dummy2, dummy3 in lint(text)] == ["private-with-other-plugs"]


@pytest.mark.parametrize("text, message", [
    ("plugs: [shared-memory]", "top-level plugs must be a mapping of plug names, not []interface {}"),
    ("plugs:\n  x: [a]", 'plug "x" has malformed definition (found []interface {})'),
    ("plugs:\n  x:\n    interface: 3", 'interface of plug "x" is not a string (found int)'),
    ("slots:\n  x:\n    $a: b", 'slot "x" uses reserved attribute "$a"'),
    ("slots:\n  x:\n    write: ~", 'attribute "write" of slot "x": invalid attribute scalar: <nil>'),
    ("apps:\n  a:\n    plugs: shared-memory", 'app "a": plugs must be a list of plug names'),
    ("- a", "the document is not a mapping (found []interface {})"),
])
def test_malformed_sections_are_reported_not_raised(text, message):
    findings = lint_snap(load_snap_yaml(text))
    assert [(f["code"], f["message"]) for f in findings] == [("declaration-malformed", message)]


def test_snap_name_override_names_the_installed_instance():
    findings = lint_snap(load_snap_yaml(slot_yaml("write: [/x]")), snap="provider_two")
    assert findings[0]["subject"] == "slot provider_two:shmem"


def test_empty_document_has_no_findings():
    assert lint_snap(load_snap_yaml("")) == []


@pytest.mark.parametrize("value, text", [
    (None, "<nil>"), (True, "true"), (12, "12"), (1.5, "1.5"), (1e6, "1e+06"), (123456.0, "123456"),
    (["a", 1, False], "[a 1 false]"), ({"b": 1, "a": "x"}, "map[a:x b:1]"), (float("inf"), "+Inf"),
])
def test_go_value_formats_like_go(value, text):
    assert go_value(value) == text


@pytest.mark.parametrize("value, text", [("a", '"a"'), ('a"b', '"a\\"b"'), ("a\nb", '"a\\nb"'),
                                         ("\x00", '"\\x00"'), ("é", '"é"'), ("\u200b", '"\\u200b"')])
def test_go_quote_matches_strconv_quote(value, text):
    assert go_quote(value) == text


# --- hostile input -------------------------------------------------------------------------------------------

def billion_laughs(levels=9):
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lines.append("l%d: &l%d [%s]" % (level, level, ",".join(["*l%d" % (level - 1)] * 9)))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, message", [
    (billion_laughs(), "refusing YAML whose aliases expand to more than 200000 nodes"),
    ("a: &a [*a]", "refusing YAML with a recursive or undefined alias *a"),
    ("a: " + "[" * 100 + "]" * 100, "refusing YAML nested deeper than 64 levels"),
    ("a: 1\n" + "b: " + "x" * MAX_YAML_BYTES, "refusing YAML larger than 1048576 bytes (got 1048584)"),
    ("a: &a '%s'\nb: [%s]" % ("x" * 1000, ", ".join(["*a"] * 1100)),
     "refusing YAML whose aliases expand to more than 1048576 characters"),
    (b"\xff\xfe", "the YAML is not valid UTF-8: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
])
def test_hostile_yaml_is_refused_with_a_clear_error(text, message):
    with pytest.raises(SnapYamlError) as caught:
        load_snap_yaml(text)
    assert str(caught.value) == message


@pytest.mark.parametrize("text", ["x: !!python/object/apply:os.system [id]", "? [a]\n: b", "a: [", "a: 1\n---\nb: 2",
                                  "a: !!timestamp ''", "a: !!bool maybe", "a: !!int ''"])
def test_unsafe_or_broken_yaml_is_a_parse_error(text):
    with pytest.raises(SnapYamlError) as caught:
        load_snap_yaml(text)
    assert str(caught.value).startswith("cannot parse YAML: ")


def test_a_parse_error_is_one_line_that_says_where():
    with pytest.raises(SnapYamlError) as caught:
        load_snap_yaml("a:\n\tb: 1")
    # libyaml leaves the character out of the problem, PyYAML's pure Python parser names it
    assert str(caught.value).startswith("cannot parse YAML: while scanning for the next token: found character")
    assert str(caught.value).endswith("that cannot start any token (line 2, column 1)")


def test_timestamps_stay_strings_as_in_go_yaml():
    assert load_snap_yaml("version: 2024-01-02") == {"version": "2024-01-02"}


# --- property-based: the entry points never raise anything but SnapYamlError ---------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), inner, max_size=4),
    ),
    max_leaves=20,
)
endpoint_bodies = st.one_of(
    values,
    st.fixed_dictionaries({"interface": st.just("shared-memory")}, optional={
        "read": values, "write": values, "private": values, "shared-memory": values, "label": values}),
)
documents = st.one_of(values, st.fixed_dictionaries({}, optional={
    "name": values,
    "plugs": st.one_of(values, st.dictionaries(st.sampled_from(["shmem", "shared-memory", "p"]), endpoint_bodies)),
    "slots": st.one_of(values, st.dictionaries(st.sampled_from(["shmem", "shared-memory", "s"]), endpoint_bodies)),
    "apps": st.one_of(values, st.dictionaries(st.text(max_size=4), st.fixed_dictionaries({}, optional={
        "plugs": st.lists(st.sampled_from(["shared-memory", "shmem", "x"])), "slots": values}))),
}))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_lint_snap_never_raises_and_returns_well_formed_findings(document):
    for item in lint_snap(document):
        assert item["code"] in FINDING_CODES
        assert item["severity"] == FINDING_CODES[item["code"]][0]
        assert isinstance(item["message"], str) and item["message"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200),
                 st.text(alphabet="&*[]{}:-,! \n'\"ab|>?#@%", max_size=120)))
def test_load_and_lint_raise_only_snap_yaml_error(text):
    try:
        document = load_snap_yaml(text)
    except SnapYamlError:
        return
    lint_snap(document)
