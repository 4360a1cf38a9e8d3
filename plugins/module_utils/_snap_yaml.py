# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""Read snap.yaml (or snapcraft.yaml) text the way snapd reads it, bounded, refusing hostile input.

snapd decodes snap.yaml with gopkg.in/yaml.v2 (v2.4.0 in every snapd from 2.54 to 2.77) into its snapYaml
struct (snap/info_snap_yaml.go). That is not what PyYAML builds from the same text: go-yaml v2 resolves plain
scalars by YAML 1.1 rules of its own (resolve.go): ``y``, ``n``, ``on`` and ``off`` are booleans, ``0o17`` and
``0X1F`` are integers, ``1e3`` and ``08`` floats, ``12:30`` (PyYAML's sexagesimal 750) and ``=`` (PyYAML's
``!!value``, which it cannot construct) plain strings, and a tag it does not know leaves the text a string.
And where snapd's struct has a string (the names of plugs, slots, apps and hooks, an app's ``plugs:`` list),
go-yaml keeps the scalar's text whatever it resolves to: a plug named ``y`` is called "y", not true.

So PyYAML only parses here: its event stream (libyaml's or its own) is built into nodes while the input is
bounded in size, nesting and alias expansion, and the values are decided by this module, as go-yaml v2 decides
them. ansible ships no YAML parser of its own for targets (ansible.module_utils.common.yaml wraps PyYAML when it
is importable); PyYAML is always on the controller (ansible-core depends on it), so shm_lint can always run with
delegate_to: localhost, and on a target without python3-yaml load_snap_yaml() raises SnapYamlError saying so.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import math
import re
import traceback

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_quoting import excerpt, quoted

try:
    from yaml import SafeLoader as _PurePythonLoader
    from yaml import YAMLError
    from yaml.events import (
        AliasEvent,
        CollectionEndEvent,
        DocumentEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceStartEvent,
    )
    from ansible.module_utils.common.yaml import SafeLoader
except ImportError:
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_YAML = True
    YAML_IMPORT_ERROR = None

    class _GoEscapesLoader(_PurePythonLoader):
        """PyYAML's own scanner with go-yaml v2's escapes in double-quoted scalars (scannerc.go): \\' is a quote,
        and \\/ an unknown escape; libyaml and PyYAML have them the other way round."""

        ESCAPE_REPLACEMENTS = dict((char, text) for char, text in _PurePythonLoader.ESCAPE_REPLACEMENTS.items()
                                   if char != "/")
        ESCAPE_REPLACEMENTS["'"] = "'"

MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 200000

_TAG = "tag:yaml.org,2002:"
STR, BOOL, INT, FLOAT, NULL = _TAG + "str", _TAG + "bool", _TAG + "int", _TAG + "float", _TAG + "null"
TIMESTAMP, BINARY, MERGE = _TAG + "timestamp", _TAG + "binary", _TAG + "merge"
_RESOLVABLE = ("", STR, BOOL, INT, FLOAT, NULL, TIMESTAMP)

# go-yaml v2 resolve.go: the scalars it looks up before anything else
_KNOWN = {}
for _value, _tag, _words in (
    (True, BOOL, "y Y yes Yes YES true True TRUE on On ON"),
    (False, BOOL, "n N no No NO false False FALSE off Off OFF"),
    (None, NULL, "~ null Null NULL"),
    (float("nan"), FLOAT, ".nan .NaN .NAN"),
    (float("inf"), FLOAT, ".inf .Inf .INF +.inf +.Inf +.INF"),
    (float("-inf"), FLOAT, "-.inf -.Inf -.INF"),
    ("<<", MERGE, "<<"),
):
    for _word in _words.split():
        _KNOWN[_word] = (_tag, _value)
_KNOWN[""] = (NULL, None)

_INT64_MAX = 2 ** 63 - 1
_UINT64_MAX = 2 ** 64 - 1
# go-yaml's yamlStyleFloat, tried on the text without underscores after the integer parsers failed
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?", re.ASCII)
# what Go's strconv.ParseFloat accepts from a text that starts with "." (no hex, no words, no underscores)
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?", re.ASCII)
_DIGITS = {2: re.compile(r"[01]*", re.ASCII), 8: re.compile(r"[0-7]*", re.ASCII),
           10: re.compile(r"[0-9]*", re.ASCII), 16: re.compile(r"[0-9a-fA-F]*", re.ASCII)}
# the time.Parse layouts go-yaml v2 accepts for a !!timestamp (Go's 15, 4 and 5 take one or two digits)
_TIMESTAMP = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?(?:Z|[-+]\d{2}:\d{2}))"
                        r"|(?: (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?))?", re.ASCII)


class SnapYamlError(Exception):
    """The input cannot be read as a snap.yaml/snapcraft.yaml: too big, not YAML, hostile, or no parser."""


# --- scalars, as go-yaml v2 resolves them ---------------------------------------------------------------------------

def _go_parse_uint(text):
    """Go's strconv.ParseUint(text, 0, 64): 0b, 0o, 0x and a leading 0 choose the base; None when it fails."""
    base = 10
    if text[:1] == "0":
        prefix = text[1:2].lower()
        if len(text) >= 3 and prefix in ("b", "o", "x"):
            base, text = {"b": 2, "o": 8, "x": 16}[prefix], text[2:]
        else:
            base, text = 8, text[1:]
    elif not text:
        return None
    if not _DIGITS[base].fullmatch(text) or (base != 8 and not text):
        return None
    number = int(text, base) if text else 0
    return number if number <= _UINT64_MAX else None


def _go_parse_int(text, base=0):
    """Go's strconv.ParseInt(text, base, 64) for base 0 (prefixes) or 2; None when it fails."""
    negative = text[:1] == "-"
    if text[:1] in ("-", "+"):
        text = text[1:]
    if base == 2:
        number = int(text, 2) if text and _DIGITS[2].fullmatch(text) else None
    else:
        number = _go_parse_uint(text)
    if number is None or number > _INT64_MAX + negative:
        return None
    return -number if negative else number


def _go_parse_float(text, pattern):
    """Go's strconv.ParseFloat for a text `pattern` already vouches for; None when it fails (out of range too)."""
    if not pattern.fullmatch(text):
        return None
    number = float(text)
    return None if math.isinf(number) else number


def _is_timestamp(text):
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        return False
    year, month, day = (int(part) for part in match.group(1, 2, 3))
    clock = [int(part) for part in (match.group(4, 5, 6) if match.group(4) else match.group(7, 8, 9)) if part]
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return False
    return not clock or (clock[0] < 24 and clock[1] < 60 and clock[2] < 60)


def _resolve(tag, text):
    """go-yaml v2's resolve(): (tag, value) of a scalar's text under its tag ("" when untagged and plain)."""
    if tag not in _RESOLVABLE:
        return tag, text
    first = text[:1]
    if text == "":
        hint = "N"
    elif first in "+-":
        hint = "S"
    elif first in "0123456789":
        hint = "D"
    elif first in "yYnNtTfFoO~":
        hint = "M"
    elif first == ".":
        hint = "."
    else:
        hint = None
    if hint is None or tag == STR:
        return STR, text
    if text in _KNOWN:
        return _KNOWN[text]
    if hint == ".":
        number = _go_parse_float(text, _DOT_FLOAT)
        if number is not None:
            return FLOAT, number
    elif hint in ("D", "S"):
        if tag in ("", TIMESTAMP) and _is_timestamp(text):
            return TIMESTAMP, text
        plain = text.replace("_", "")
        number = _go_parse_int(plain)
        if number is None and plain[:1] != "+" and plain[:1] != "-":
            number = _go_parse_uint(plain)
        if number is not None:
            return INT, number
        number = _go_parse_float(plain, _YAML_STYLE_FLOAT)
        if number is not None:
            return FLOAT, number
        # after Go's own 0b prefix, ParseInt also takes a sign: go-yaml reads 0b-101 as -5
        if plain.startswith("0b"):
            number = _go_parse_int(plain[2:], 2)
        elif plain.startswith("-0b"):
            number = _go_parse_int("-" + plain[3:], 2)
        if number is not None:
            return INT, number
    return STR, text


def _short(tag):
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def go_scalar(text, tag=None, plain=True):
    """The value go-yaml v2 decodes a scalar into an interface{} with: str, bool, int, float or None.

    ``tag`` is the scalar's explicit tag (``tag:yaml.org,2002:int``, ``!``, ``!custom``) or None; ``plain`` False for
    a quoted scalar. Raises SnapYamlError where go-yaml fails (``!!bool maybe``, invalid ``!!binary``).
    """
    if tag is None and not plain:
        return text
    wanted = tag or ""
    if wanted == BINARY:
        return _binary(text)
    resolved_tag, value = _resolve(wanted, text)
    if wanted not in ("", resolved_tag, STR):
        if wanted == FLOAT and resolved_tag == INT:
            return float(value)
        # the scalar Go-quoted: it may hold newlines, and the message is one line
        raise SnapYamlError("cannot decode %s %s as a %s" % (_short(resolved_tag), quoted(text), _short(wanted)))
    # go-yaml v2 hands a timestamp to an interface{} as its text (decode.go, "for backward compatibility")
    return text if resolved_tag == TIMESTAMP else value


def _binary(text):
    try:
        # Go's base64.StdEncoding skips only \r and \n
        data = base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise SnapYamlError("!!binary value contains invalid base64 data")
    return data.decode("utf-8", "surrogateescape")


# --- nodes, from PyYAML's events, bounded --------------------------------------------------------------------------

class _Node(object):
    """A scalar (``value`` its text), a sequence or a mapping (``items`` its children, keys and values in turn)."""

    __slots__ = ("kind", "tag", "value", "plain", "items", "line", "height", "alias")

    def __init__(self, kind, event, value=None):
        self.kind = kind
        self.tag = event.tag
        self.value = value
        self.plain = bool(event.implicit[0]) if kind == "scalar" else True
        self.items = []
        self.line = event.start_mark.line + 1 if event.start_mark else 0
        self.height = 1
        self.alias = False

    def aliased(self, event):
        """The node as an alias (*name) of it stands for it: the same children, marked as reached by an alias,
        which go-yaml v2's merge tells apart (a sequence alias cannot be merged), at the alias's line."""
        node = _Node.__new__(_Node)
        for name in self.__slots__:
            setattr(node, name, getattr(self, name))
        node.alias = True
        node.line = event.start_mark.line + 1 if event.start_mark else 0
        return node


# what go-yaml v2's scanner says of a \\u or \\U escape of a surrogate or past U+10FFFF, as libyaml does
_SURROGATE = re.compile("[\ud800-\udfff]")
_BAD_CODE = "while scanning a double-quoted scalar: found invalid Unicode character escape code"


def _loader(text):
    """libyaml (or PyYAML) through ansible's SafeLoader, unless the text holds a backslash: then PyYAML's own
    scanner with go-yaml's escapes, which only a double-quoted scalar's backslash can tell apart."""
    return _GoEscapesLoader(text) if "\\" in text else SafeLoader(text)


def _compose(text):
    """The root node of the first document (go-yaml v2's Unmarshal reads no further), or None when it is empty.

    Bounds the nesting depth, and the nodes and characters after alias expansion: an alias repeats its anchor's
    nodes and characters, so a few hundred aliases of one long string would otherwise make every rule and message
    that quotes a path handle gigabytes, and a chain of aliases would nest deeper than any depth limit on the text.
    """
    loader = _loader(text)
    try:
        anchors = {}   # anchor -> (node, nodes, characters) an alias of it expands to
        stack = []     # [node, anchor, nodes, characters] per open collection
        root = None
        nodes = characters = 0
        aliases_used = False
        while True:
            try:
                if not loader.check_event():
                    break
                event = loader.get_event()
            except ValueError:
                # PyYAML's scanner makes chr() of a \\U escape past U+10FFFF
                raise SnapYamlError(_BAD_CODE)
            if isinstance(event, DocumentEndEvent):
                break
            if isinstance(event, CollectionEndEvent):
                node, anchor, size_nodes, size_characters = stack.pop()
                if anchor is not None:
                    anchors[anchor] = (node, size_nodes, size_characters)
                if stack:
                    parent = stack[-1]
                    parent[2] += size_nodes
                    parent[3] += size_characters
                    parent[0].height = max(parent[0].height, node.height + 1)
                continue
            if isinstance(event, AliasEvent):
                if event.anchor not in anchors:
                    raise SnapYamlError("refusing YAML with a recursive or undefined alias *%s" % event.anchor)
                node, size_nodes, size_characters = anchors[event.anchor]
                node = node.aliased(event)
                aliases_used = True
            elif isinstance(event, ScalarEvent):
                if event.style == '"' and _SURROGATE.search(event.value):
                    # only an escape can make one: the text was decoded from UTF-8
                    raise SnapYamlError("%s (line %d)" % (_BAD_CODE, event.start_mark.line + 1))
                node, size_nodes, size_characters = _Node("scalar", event, event.value), 1, len(event.value)
                if event.anchor is not None:
                    anchors[event.anchor] = (node, 1, len(event.value))
            elif isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                kind = "map" if isinstance(event, MappingStartEvent) else "seq"
                node, size_nodes, size_characters = _Node(kind, event), 1, 0
            else:
                continue
            nodes += size_nodes
            characters += size_characters
            if nodes > MAX_YAML_NODES:
                if aliases_used:
                    raise SnapYamlError("refusing YAML whose aliases expand to more than %d nodes" % MAX_YAML_NODES)
                raise SnapYamlError("refusing YAML with more than %d nodes" % MAX_YAML_NODES)
            if characters > MAX_YAML_BYTES:
                raise SnapYamlError("refusing YAML whose aliases expand to more than %d characters" % MAX_YAML_BYTES)
            if node.kind != "scalar" and len(stack) + node.height > MAX_YAML_DEPTH:
                raise SnapYamlError("refusing YAML nested deeper than %d levels" % MAX_YAML_DEPTH)
            if stack:
                parent = stack[-1]
                parent[0].items.append(node)
                if node.kind == "scalar" or isinstance(event, AliasEvent):
                    parent[2] += size_nodes
                    parent[3] += size_characters
                    parent[0].height = max(parent[0].height, node.height + 1)
            elif root is None:
                root = node
            if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                stack.append([node, event.anchor, 1, 0])
        return root
    finally:
        loader.dispose()


# --- values, as go-yaml v2 decodes nodes into snapd's snapYaml ---------------------------------------------------------

def _is_merge(key):
    return key.kind == "scalar" and key.value == "<<" and (key.plain or key.tag == MERGE)


def _value(node):
    """What go-yaml v2 decodes a node into an interface{} with (scalars per go_scalar, lists, dicts)."""
    if node.kind == "scalar":
        return _scalar(node)
    if node.kind == "seq":
        return [_value(item) for item in node.items]
    mapping = {}
    _fill(mapping, node, _map_key, _value)
    return mapping


def _scalar(node):
    try:
        return go_scalar(node.value, node.tag, node.plain)
    except SnapYamlError as error:
        raise SnapYamlError("%s (line %d)" % (error, node.line))


def _map_key(node):
    key = _value(node)
    if isinstance(key, (list, dict)):
        raise SnapYamlError("invalid map key at line %d: a %s" % (node.line, "sequence" if node.kind == "seq" else "mapping"))
    return key


def _text(node):
    """What go-yaml v2 decodes a node into a Go string with: a scalar's text ("" for a null); else its interface{}
    value, which is not a string (go-yaml's type error, which shm_lint reports on the spot)."""
    if node.kind != "scalar":
        return _value(node)
    if node.tag == BINARY:
        return _scalar(node)
    return "" if _scalar(node) is None else node.value


def _name(node):
    """A key of a Go map[string]T or a struct field name: a scalar's text; go-yaml fails the whole document on
    any other key (snapd: "cannot parse snap.yaml: yaml: unmarshal errors")."""
    if node.kind != "scalar":
        raise SnapYamlError("line %d: cannot unmarshal a %s into a name" % (node.line, "sequence" if node.kind == "seq"
                                                                            else "mapping"))
    return _text(node)


def _text_list(node):
    """A Go []string: the texts of a sequence's items; None for a null, as Go leaves a nil slice."""
    if node.kind == "seq":
        return [_text(item) for item in node.items]
    if node.kind == "scalar" and _scalar(node) is None:
        return None
    return _value(node)


def _merged(value):
    """The maps a merge (<<) brings in, in the order go-yaml v2's merge() decodes them: a map, or the maps of a
    sequence written in place, last to first, so that the first wins. A sequence reached through an alias (<<: *s)
    fails as anything else does, and go-yaml's failure refuses the whole document."""
    merged = value.items[::-1] if value.kind == "seq" and not value.alias else [value]
    if any(item.kind != "map" for item in merged):
        raise SnapYamlError("map merge requires map or sequence of maps as the value (line %d)" % value.line)
    return merged


def _pairs(node):
    """(key node, value node) of a mapping node in go-yaml v2's order, each merge's pairs in its place."""
    items = node.items
    for index in range(0, len(items) - 1, 2):
        key, value = items[index], items[index + 1]
        if _is_merge(key):
            for item in _merged(value):
                yield from _pairs(item)
            continue
        yield key, value


def _fill(mapping, node, key_of, value_of):
    """Decode a mapping node into `mapping`, merges (<<) in place: a merged key overwrites the keys before it and
    the keys after it overwrite it, and of a list of merged maps the first one wins (go-yaml v2's mapping())."""
    for key, value in _pairs(node):
        mapping[key_of(key)] = value_of(value)


def _unknown_field(node):
    """A key snapd's struct has no field for: go-yaml v2's mappingStruct never decodes its value, so nothing in it
    can fail the document; it is kept as an interface{} would hold it when that decodes, else left out."""
    try:
        return _value(node)
    except SnapYamlError:
        return _LEFT_OUT


_LEFT_OUT = object()


def _decoded_as(node, fields, known=None):
    """A mapping node decoded as a Go struct, as go-yaml v2's mappingStruct does: field names are the keys' texts,
    and each occurrence of a field, merged (<<) or repeated, is decoded in turn into the same field. A Go map field
    (a decoder of _names_to) keeps what earlier occurrences put in it and takes the new keys over them; any other
    field is replaced. `known` names the struct's other fields (decoded as interface{}); None: every key is one."""
    if node.kind != "map":
        return _value(node)
    body = {}
    for key, value in _pairs(node):
        name = _name(key)
        decode = fields.get(name)
        if decode is None:
            decode = _value if known is None or name in known else _unknown_field
        into = body.get(name)
        if getattr(decode, "into_map", False) and isinstance(into, dict):
            body[name] = decode(value, into)
        else:
            body[name] = decode(value)
    return dict((name, value) for name, value in body.items() if value is not _LEFT_OUT)


def _names_to(decode):
    """A Go map[string]T: keys are texts, values decoded by `decode`; decoded `into` a map already there, the keys
    are added to it (go-yaml v2's mapping() makes a new map only for a nil one)."""
    def decoded(node, into=None):
        if node.kind != "map":
            return _value(node)
        mapping = {} if into is None else into
        _fill(mapping, node, _name, decode)
        return mapping
    decoded.into_map = True
    return decoded


_APP_OR_HOOK = {"plugs": _text_list, "slots": _text_list}
# the other fields of snapd 2.77's appYaml and hookYaml (snap/info_snap_yaml.go); go-yaml skips any other key
_APP_FIELDS = frozenset((
    "aliases", "command", "command-chain", "daemon", "daemon-scope", "stop-command", "reload-command",
    "post-stop-command", "stop-timeout", "start-timeout", "watchdog-timeout", "completer", "refresh-mode", "stop-mode",
    "install-mode", "restart-condition", "restart-delay", "success-exit-status", "bus-name", "activates-on",
    "common-id", "environment", "sockets", "after", "before", "timer", "autostart"))
_HOOK_FIELDS = frozenset(("environment", "command-chain"))
_SNAP_FIELDS = frozenset((
    "version", "type", "architectures", "assumes", "title", "description", "summary", "provenance", "license",
    "epoch", "base", "confinement", "grade", "environment", "layout", "system-usernames", "links", "components",
    "layouts"))
# snap/info_snap_yaml.go snapYaml, as far as the declarations go: name string, plugs and slots
# map[string]interface{}, apps map[string]appYaml and hooks map[string]hookYaml with plugs and slots []string
_SNAP_YAML = {
    "name": _text,
    "plugs": _names_to(_value),
    "slots": _names_to(_value),
    "apps": _names_to(lambda node: _decoded_as(node, _APP_OR_HOOK, _APP_FIELDS)),
    "hooks": _names_to(lambda node: _decoded_as(node, _APP_OR_HOOK, _HOOK_FIELDS)),
}


def _yaml_problem(exc):
    """PyYAML's error on one line: what it was reading, the problem, and where (PyYAML counts from 0)."""
    problem = getattr(exc, "problem", None)
    if not problem:
        # str() of a YAML error may quote the line it stopped at
        return excerpt(" ".join(to_text(exc).split()))
    context = getattr(exc, "context", None)
    text = "%s: %s" % (context, problem) if context else problem
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        text += " (line %d, column %d)" % (mark.line + 1, mark.column + 1)
    return text


def load_snap_yaml(content):
    """Read snap.yaml/snapcraft.yaml text (str or bytes) into plain Python data as snapd's decoder sees it.

    Names of plugs, slots, apps and hooks and the entries of an app's or hook's plugs/slots lists are the texts
    snapd holds; every other value is what go-yaml v2 puts in an interface{}. None for an empty document.
    Raises SnapYamlError, and nothing else, for any input it will not or cannot read.
    """
    if not HAS_YAML:
        raise SnapYamlError("PyYAML is not installed on this host: run shm_lint on the controller "
                            "(delegate_to: localhost) or install python3-yaml")
    if isinstance(content, bytes):
        raw = content
    else:
        raw = to_text(content).encode("utf-8", errors="surrogatepass")
    if len(raw) > MAX_YAML_BYTES:
        raise SnapYamlError("refusing YAML larger than %d bytes (got %d)" % (MAX_YAML_BYTES, len(raw)))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SnapYamlError("the YAML is not valid UTF-8: %s" % to_text(exc))
    try:
        root = _compose(text)
        if root is None:
            return None
        return _decoded_as(root, _SNAP_YAML, _SNAP_FIELDS)
    except YAMLError as exc:
        raise SnapYamlError("cannot parse YAML: %s" % _yaml_problem(exc))
    except SnapYamlError as exc:
        if str(exc).startswith("refusing "):
            raise
        raise SnapYamlError("cannot parse YAML: %s" % exc)
