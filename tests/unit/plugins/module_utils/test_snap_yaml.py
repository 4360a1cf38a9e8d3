# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""module_utils/_snap_yaml: a snap.yaml read as snapd reads it with go-yaml v2 (structure, scalars, merges), and hostile
YAML refused with one clear error."""

from __future__ import annotations

import datetime
import math

import pytest

from ansible_collections.snapfleet.snapd.plugins.module_utils._declaration_rules import lint_snap
from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import MAX_YAML_BYTES, SnapYamlError, load_snap_yaml


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
