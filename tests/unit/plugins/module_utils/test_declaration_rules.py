# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The declaration rules: one table of snap.yaml fragments and the exact verdict and message each gives."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import FINDING_CODES
from ansible_collections.snapfleet.snapd.plugins.module_utils._declaration_rules import lint_snap
from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import SnapYamlError, load_snap_yaml

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
    # snap.yaml read as go-yaml v2 reads it, not as PyYAML does
    ("plug-private-y-is-a-bool", plug_yaml("private: y"), []),
    ("plug-private-off-is-a-bool", plug_yaml("private: off"), []),
    ("slot-y-is-not-a-path", slot_yaml("write: [y]"), [
        ("paths-not-string-list", "error", SLOT, 'shared-memory "write" attribute must be a list of strings, not "[true]"')]),
    ("slot-sexagesimal-is-a-path", slot_yaml("write: [12:30]"), []),
    ("slot-equals-is-a-path", slot_yaml("write: [=]"), []),
    ("slot-0o-octal-is-an-int", slot_yaml("shared-memory: 0o17\nwrite: [bar]"), [
        ("identifier-not-string", "error", SLOT, 'shared-memory "shared-memory" attribute must be a string, not 15')]),
    ("slot-exponent-is-a-float", slot_yaml("write: [1e3]"), [
        ("paths-not-string-list", "error", SLOT, 'shared-memory "write" attribute must be a list of strings, not "[1000]"')]),
    ("plug-named-y", "name: c\nplugs:\n  y:\n    interface: shared-memory\n    private: true\n", []),
    # what makes snapd refuse the whole snap
    ("plug-and-slot-same-name", "name: s\nplugs:\n  shm:\n    interface: shared-memory\nslots:\n  shm:\n"
     "    interface: shared-memory\n    write: [a]\n", [
         ("plug-slot-same-name", "error", "snap s", 'cannot have plug and slot with the same name: "shm"')]),
    ("plug-name-invalid", "name: s\nplugs:\n  Shm:\n    interface: shared-memory\n", [
        ("name-invalid", "error", "plug s:Shm", 'invalid plug name: "Shm"')]),
    ("slot-name-invalid-other-interface", "name: s\nslots:\n  x--y: content\n", [
        ("name-invalid", "error", "slot s:x--y", 'invalid slot name: "x--y"')]),
    ("interface-name-invalid", "name: s\nplugs:\n  p:\n    interface: shared_memory\n", [
        ("interface-name-invalid", "error", "plug s:p", 'invalid interface name "shared_memory" for plug "p"')]),
    ("hook-slots-are-bound", "name: s\nhooks:\n  configure:\n    slots: [shared-memory]\n", [
        ("paths-missing", "error", "slot s:shared-memory",
         'shared memory interface requires at least a valid "read" or "write" attribute')]),
    ("unsupported-hook-binds-nothing", "name: s\nhooks:\n  not-a-hook:\n    slots: [shared-memory]\n", []),
]


@pytest.mark.parametrize("text, expected", [case[1:] for case in TABLE], ids=[case[0] for case in TABLE])
def test_rule_table(text, expected):
    assert lint(text) == expected


def test_every_declaration_code_is_exercised_by_the_table():
    covered = set(code for case in TABLE for code, dummy, dummy2, dummy3 in case[2])
    declaration_codes = set(code for code, (dummy, family, dummy2) in FINDING_CODES.items() if family == "declarations")
    # declaration-malformed has a table of its own below; snap-yaml-unreadable is shm_verify's, of installed snaps
    assert declaration_codes - covered == {"declaration-malformed", "snap-yaml-unreadable"}


def test_snapd_stops_at_the_first_failing_check_of_a_path():
    # '?' is checked before '**' and '/', as in validateSharedMemoryPath
    assert [code for code, dummy, dummy2, dummy3 in lint(slot_yaml("write: ['/a?**']"))] == ["path-reserved-char"]


def test_each_bad_path_gets_its_own_finding():
    codes = [code for code, dummy, dummy2, dummy3 in lint(slot_yaml("read: [/x]\nwrite: [a**]"))]
    assert codes == ["path-slash", "path-double-star"]


def test_app_plugs_shorthand_declares_a_plug_named_after_the_interface():
    text = "name: app-snap\napps:\n  app:\n    plugs: [shared-memory]\n  other:\n    slots: [shm]\n"
    assert lint(text) == []
    assert [code for code, dummy, subject, dummy2 in lint(text + "slots:\n  shm: shared-memory\n")] == ["paths-missing"]


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
    # snapd's words: snap/info_snap_yaml.go convertToSlotOrPlugData and metautil.NormalizeValue
    ("plugs:\n  x:\n    interface: 3", 'interface name on plug "x" is not a string (found int)'),
    ("plugs:\n  x:\n    interface: y", 'interface name on plug "x" is not a string (found bool)'),
    ("plugs:\n  x:\n    interface: ~", 'interface name on plug "x" is not a string (found <nil>)'),
    ("plugs:\n  x:\n    label: [a]", 'label of plug "x" is not a string (found []interface {})'),
    ("slots:\n  x:\n    1: b", 'slot "x" has attribute key that is not a string (found int)'),
    ("slots:\n  x:\n    on: b", 'slot "x" has attribute key that is not a string (found bool)'),
    ("slots:\n  x:\n    '': b", 'slot "x" has an empty attribute key'),
    ("slots:\n  x:\n    $a: b", 'slot "x" uses reserved attribute "$a"'),
    ("slots:\n  x:\n    write: ~", 'attribute "write" of slot "x": invalid scalar: <nil>'),
    ("slots:\n  x:\n    write: [a, null]", 'attribute "write" of slot "x": invalid scalar: <nil>'),
    ("slots:\n  x:\n    m: {1: a}", 'attribute "m" of slot "x": non-string key: 1'),
    ("slots:\n  x:\n    big: 18446744073709551615", 'attribute "big" of slot "x": invalid scalar: 18446744073709551615'),
    ("apps:\n  a:\n    plugs: shared-memory", 'app "a": plugs must be a list of plug names'),
    ("- a", "the document is not a mapping (found []interface {})"),
    ("just text", "the document is not a mapping (found string)"),
])
def test_malformed_sections_are_reported_not_raised(text, message):
    findings = lint_snap(load_snap_yaml(text))
    assert [(f["code"], f["message"]) for f in findings] == [("declaration-malformed", message)]


def test_snap_name_override_names_the_installed_instance():
    findings = lint_snap(load_snap_yaml(slot_yaml("write: [/x]")), snap="provider_two")
    assert findings[0]["subject"] == "slot provider_two:shmem"


def test_empty_document_has_no_findings():
    assert lint_snap(load_snap_yaml("")) == []


# --- the rules of older snapd releases --------------------------------------------------------------------------

@pytest.mark.parametrize("version, text, expected", [
    ("2.54.3", slot_yaml("write: [bar*]"), [(
        "path-reserved-char", 'shared-memory interface path is invalid: "bar*" contains a reserved apparmor char from '
                              '?*[]{}^"' + NUL)]),
    ("2.54.4", slot_yaml("write: [bar*]"), []),
    ("2.54.3", slot_yaml("write: [bar]\nread: []"), [
        ("paths-not-string-list", 'shared-memory "read" attribute must be a list of strings, not "[]"')]),
    ("2.54.4", slot_yaml("write: [bar]\nread: []"), []),
    ("2.55.2", plug_yaml("private: 'true'"), []),
    ("2.55.2", plug_yaml("private: true\nshared-memory: x"), []),
    ("2.55.3", plug_yaml("private: 'true'"), [("private-not-bool", 'shared-memory "private" attribute must be a bool, not true')]),
])
def test_rules_follow_the_snapd_version(version, text, expected):
    findings = lint_snap(load_snap_yaml(text), snapd_version=version)
    assert [(f["code"], f["message"]) for f in findings] == expected


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
