# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The declaration rules: one table of snap.yaml fragments and the exact verdict and message each gives."""

from __future__ import annotations

import math

import datetime
import math

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


# a field of snapd's snapYaml (summary), which go-yaml v2 decodes; an unknown key it never decodes (see below)
@pytest.mark.parametrize("text", ["? [a]\n: b", "a: [", "summary: !!timestamp ''", "summary: !!bool maybe",
                                  "summary: !!int ''", "summary: !!int 1.5", "summary: !!null x", "summary: !!binary '!!'",
                                  "summary: !!timestamp 2024-02-30", "<<: [a]", "plugs:\n  [a]: b"])
def test_broken_yaml_is_a_parse_error(text):
    with pytest.raises(SnapYamlError) as caught:
        load_snap_yaml(text)
    assert str(caught.value).startswith("cannot parse YAML: ")


PLUG_A = "  a: {interface: shared-memory, private: true}\n"
PLUG_B = "  b: {interface: shared-memory, shared-memory: x}\n"
APP_RUN = "  run: {command: bin/run, plugs: [a]}\n"
SEQ_MERGE = ("x-common: &seq\n  - {interface: shared-memory}\nplugs:\n  a:\n    <<: *seq\n")
MERGE_FAILS = "cannot parse YAML: map merge requires map or sequence of maps as the value (line %d)"


# (snap.yaml text, what snapd's decoder holds, or the SnapYamlError that refuses the whole snap)
STRUCTURE = [
    # repeated top-level keys: go-yaml v2 decodes each into the same map field (decode.go mappingStruct, mapping)
    ("plugs:\n" + PLUG_A + "plugs:\n" + PLUG_B,
     {"plugs": {"a": {"interface": "shared-memory", "private": True},
                "b": {"interface": "shared-memory", "shared-memory": "x"}}}),
    ("slots:\n  s: {write: [a]}\nslots:\n  t: {read: [b]}\n",
     {"slots": {"s": {"write": ["a"]}, "t": {"read": ["b"]}}}),
    ("apps:\n" + APP_RUN + "apps:\n  other: {plugs: [b]}\n",
     {"apps": {"run": {"command": "bin/run", "plugs": ["a"]}, "other": {"plugs": ["b"]}}}),
    ("hooks:\n  install: {plugs: [a]}\nhooks:\n  remove: {plugs: [b]}\n",
     {"hooks": {"install": {"plugs": ["a"]}, "remove": {"plugs": ["b"]}}}),
    # ... and a repeated entry is the last one, whole: an attribute map and a string list are new values each time
    ("plugs:\n" + PLUG_A + "plugs:\n  a: {interface: shared-memory}\n", {"plugs": {"a": {"interface": "shared-memory"}}}),
    ("apps:\n" + APP_RUN + "apps:\n  run: {plugs: [b]}\n", {"apps": {"run": {"plugs": ["b"]}}}),
    ("apps:\n  run:\n    plugs: [a]\n    plugs: [b]\n", {"apps": {"run": {"plugs": ["b"]}}}),
    ("plugs:\n  a:\n    private: true\n    private: false\n", {"plugs": {"a": {"private": False}}}),
    # a null occurrence empties the map field (go-yaml sets the zero value), a later one starts it again
    ("plugs:\n" + PLUG_A + "plugs:\nplugs:\n" + PLUG_B, {"plugs": {"b": {"interface": "shared-memory",
                                                                         "shared-memory": "x"}}}),
    # a merge into the snap's struct adds to its map fields, as a repeated key does
    ("<<: {plugs: {a: x}}\nplugs:\n  b: z\n", {"plugs": {"a": "x", "b": "z"}}),
    ("x-base: &base\n  plugs: {a: x}\n<<: *base\nplugs: {b: z}\n", {"x-base": {"plugs": {"a": "x"}},
                                                                    "plugs": {"a": "x", "b": "z"}}),
    # <<: *alias of a sequence fails, even of maps; a sequence written in place is merged (decode.go merge)
    (SEQ_MERGE, SnapYamlError(MERGE_FAILS % 5)),
    ("x-common: &seq [{a: 1}]\nplugs:\n  p:\n    <<: [*seq]\n", SnapYamlError(MERGE_FAILS % 4)),
    ("x-m: &m {interface: shared-memory}\nplugs:\n  p:\n    <<: [*m, {private: true}]\n",
     {"x-m": {"interface": "shared-memory"}, "plugs": {"p": {"interface": "shared-memory", "private": True}}}),
    ("plugs:\n  p:\n    <<: [{interface: shared-memory}]\n", {"plugs": {"p": {"interface": "shared-memory"}}}),
    ("x-s: &s a\nplugs:\n  p:\n    <<: *s\n", SnapYamlError(MERGE_FAILS % 4)),
    # a key of no field of snapd's struct is never decoded (mappingStruct): nothing in it refuses the snap
    ("x-notes: !!bool maybe\nplugs: {a: x}\n", {"plugs": {"a": "x"}}),
    ("x-notes:\n  <<: *nothing-yet\n", SnapYamlError("refusing YAML with a recursive or undefined alias *nothing-yet")),
    ("x-common: &seq [{a: 1}]\nx-notes:\n  <<: *seq\n", {"x-common": [{"a": 1}]}),
    ("apps:\n  run: {x-note: !!int many, plugs: [a]}\n", {"apps": {"run": {"plugs": ["a"]}}}),
    # double-quoted escapes as go-yaml's scanner takes them (scannerc.go): \' is a quote, \/ unknown; libyaml and
    # PyYAML the other way round. Single-quoted and plain scalars have no escapes at all.
    ('plugs:\n  a: {interface: shared-memory, shared-memory: "it\\\'s"}\n',
     {"plugs": {"a": {"interface": "shared-memory", "shared-memory": "it's"}}}),
    ('slots:\n  s: {write: ["a\\/b"]}\n', SnapYamlError(
        "cannot parse YAML: while scanning a double-quoted scalar: found unknown escape character '/' "
        "(line 2, column 18)")),
    ("slots:\n  s: {write: ['a\\/b', 'c\\']}\n", {"slots": {"s": {"write": ["a\\/b", "c\\"]}}}),
    ('x: "\\\\ \\t\\x41\\u00e9\\N\\_\\e\\0"\n', {"x": "\\ \tA\u00e9\u0085\u00a0\x1b\x00"}),
    ('x: "\\ud800"\n', SnapYamlError("cannot parse YAML: while scanning a double-quoted scalar: found invalid "
                                     "Unicode character escape code (line 1)")),
    ('x: "\\U00110000 \\\'"\n',
     SnapYamlError("cannot parse YAML: while scanning a double-quoted scalar: found invalid Unicode character escape code")),
]


@pytest.mark.parametrize("text, expected", STRUCTURE)
def test_the_structure_is_decoded_as_go_yaml_v2_decodes_it_into_snapds_struct(text, expected):
    if isinstance(expected, SnapYamlError):
        with pytest.raises(SnapYamlError) as caught:
            load_snap_yaml(text)
        assert str(caught.value) == str(expected)
    else:
        assert load_snap_yaml(text) == expected


def test_a_private_plug_dropped_in_a_repeated_plugs_key_is_seen():
    # go-yaml keeps both plugs: snapd drops both for the private plug beside another shared-memory plug
    text = "name: s\nplugs:\n" + PLUG_A + "plugs:\n" + PLUG_B
    assert [(item["code"], item["subject"]) for item in lint_snap(load_snap_yaml(text))] == [
        ("private-with-other-plugs", "plug s:a")]


def test_a_parse_error_is_one_line_that_says_where():
    with pytest.raises(SnapYamlError) as caught:
        load_snap_yaml("a:\n\tb: 1")
    # libyaml leaves the character out of the problem, PyYAML's pure Python parser names it
    assert str(caught.value).startswith("cannot parse YAML: while scanning for the next token: found character")
    assert str(caught.value).endswith("that cannot start any token (line 2, column 1)")


def test_timestamps_stay_strings_as_in_go_yaml():
    assert load_snap_yaml("version: 2024-01-02") == {"version": "2024-01-02"}


# --- scalars as go-yaml v2 (resolve.go, v2.4.0; snapd 2.54 to 2.77) resolves them -----------------------------------

NAN = float("nan")
# (scalar as written after "x: ", the value go-yaml v2 hands snapd, what PyYAML's SafeLoader makes of it)
SCALARS = [
    ("y", True, "y"), ("Y", True, "Y"), ("n", False, "n"), ("N", False, "N"), ("yes", True, True), ("on", True, True),
    ("Off", False, False), ("TRUE", True, True), ("tRUE", "tRUE", "tRUE"),
    ("~", None, None), ("null", None, None), ("", None, None), ("NULL", None, None), ("nULL", "nULL", "nULL"),
    ("12:30", "12:30", 750), ("1:2:3", "1:2:3", 3723), ("190:20:30.15", "190:20:30.15", 685230.15),
    ("=", "=", "error"), ("<<", "<<", "error"),
    ("0o17", 15, "0o17"), ("0O17", 15, "0O17"), ("017", 15, 15), ("0x1F", 31, 31), ("0X1F", 31, "0X1F"),
    ("0b101", 5, 5), ("0B101", 5, "0B101"), ("0b-101", -5, "0b-101"), ("-0b101", -5, -5), ("1_000", 1000, 1000),
    ("+12", 12, 12), ("08", 8.0, "08"), ("09", 9.0, "09"), ("0", 0, 0), ("0o", "0o", "0o"), ("0x", "0x", "0x"),
    ("9223372036854775807", 2 ** 63 - 1, 2 ** 63 - 1), ("9223372036854775808", 2 ** 63, 2 ** 63),
    ("18446744073709551616", 1.8446744073709552e19, 2 ** 64), ("-9223372036854775809", -9.223372036854776e18, -2 ** 63 - 1),
    ("1e3", 1000.0, "1e3"), ("1.5e3", 1500.0, "1.5e3"), ("1.0e+3", 1000.0, 1000.0), ("-.5", -0.5, "-.5"),
    (".5", 0.5, 0.5), (".5_0", ".5_0", 0.5), ("1.", 1.0, 1.0), ("1e400", "1e400", "1e400"), (".inf", float("inf"), float("inf")),
    ("-.Inf", float("-inf"), float("-inf")), (".NaN", NAN, NAN), (".nan", NAN, NAN),
    ("2024-01-02", "2024-01-02", datetime.date(2024, 1, 2)), ("!!str 12", "12", "12"), ("!!float 1", 1.0, 1.0), ("! 12", "12", 12),
    ("!custom 12", "12", "error"), ("!!binary aGVsbG8=", "hello", b"hello"), ('"y"', "y", "y"), ("'12'", "12", "12"),
]


def same_value(found, expected):
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(found, float) and math.isnan(found)
    return type(found) is type(expected) and found == expected


@pytest.mark.parametrize("text, go, dummy", SCALARS, ids=[case[0] or "empty" for case in SCALARS])
def test_scalars_resolve_as_go_yaml_v2_does(text, go, dummy):
    assert same_value(load_snap_yaml("x: " + text)["x"], go)


def test_the_table_holds_what_pyyaml_gets_wrong():
    # the reason the loader resolves scalars itself: PyYAML's YAML 1.1 differs from go-yaml v2's on these
    import yaml

    def pyyaml(text):
        try:
            return yaml.safe_load("x: " + text)["x"]
        except yaml.YAMLError:
            return "error"

    differing = [text for text, go, expected in SCALARS if not same_value(pyyaml(text), go)]
    assert all(same_value(pyyaml(text), expected) for text, go, expected in SCALARS)
    assert {"y", "12:30", "=", "0o17", "1e3", "08", "-.5"} <= set(differing)


def test_names_keep_their_text_as_in_snapds_struct():
    document = load_snap_yaml("name: 1.0\nplugs:\n  y: shared-memory\n  ~: x\napps:\n  on:\n    plugs: [n, 12:30, ~]\n")
    assert document == {"name": "1.0", "plugs": {"y": "shared-memory", "": "x"}, "apps": {"on": {"plugs": ["n", "12:30", ""]}}}


def test_an_unknown_tag_leaves_the_text_and_constructs_nothing():
    assert load_snap_yaml("x: !!python/object/apply:os.system [id]") == {"x": ["id"]}
    assert load_snap_yaml("x: !!python/name:os.system") == {"x": ""}


def test_only_the_first_document_counts_as_for_go_yaml():
    assert load_snap_yaml("a: 1\n---\nb: [") == {"a": 1}


@pytest.mark.parametrize("text, expected", [
    ("<<: {a: 1}\na: 2", {"a": 2}),
    ("a: 2\n<<: {a: 1}", {"a": 1}),       # go-yaml v2 lets a later merge overwrite an earlier key
    ("<<: [{a: 1}, {a: 3}]", {"a": 1}),  # of merged maps, the first wins
    ("x: &m {a: 1}\ny:\n  <<: *m\n  b: 2", {"x": {"a": 1}, "y": {"a": 1, "b": 2}}),
    ('"<<": {a: 1}', {"<<": {"a": 1}}),  # quoted, it is a plain key
])
def test_merge_keys_as_go_yaml_v2_merges_them(text, expected):
    assert load_snap_yaml(text) == expected


def test_aliases_cannot_nest_past_the_depth_limit():
    lines = ["a0: &a0 [x]"] + ["a%d: &a%d [*a%d]" % (level, level, level - 1) for level in range(1, 70)]
    with pytest.raises(SnapYamlError) as caught:
        load_snap_yaml("\n".join(lines))
    assert str(caught.value) == "refusing YAML nested deeper than 64 levels"


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
