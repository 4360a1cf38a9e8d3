# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""snapd's declaration rules for shared-memory plugs and slots.

shm_lint applies them to a parsed snap.yaml or snapcraft.yaml (lint_snap); shm_verify applies them through
lint_declarations to the plugs and slots of installed snaps as snapd loaded them, so it needs no YAML parser.

Each rule is one small function with one message. Rules snapd enforces (interfaces/builtin/shared_memory.go,
BeforePreparePlug/BeforePrepareSlot/validateSharedMemoryPath, snapd 2.64) carry snapd's own wording and
severity error: snapd installs the snap anyway but drops the plug or slot. Rules the interface document
states but snapd does not enforce are warnings.

YAML: ansible ships no YAML parser of its own for targets; ansible.module_utils.common.yaml wraps PyYAML when
it is importable. PyYAML is always there on the controller (ansible-core depends on it), so shm_lint can
always run with delegate_to: localhost; on a target without python3-yaml load_snap_yaml() raises
SnapYamlError with that advice. Input is bounded in size, depth and alias expansion before anything is built.
"""

from __future__ import annotations

import collections
import decimal
import math
import posixpath
import traceback

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import finding

try:
    from yaml import YAMLError
    from yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent
    from ansible.module_utils.common.yaml import SafeLoader
except ImportError:
    HAS_YAML = False
    YAML_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_YAML = True
    YAML_IMPORT_ERROR = None

INTERFACE = "shared-memory"

MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 200000

# Go's unicode.IsSpace, which strings.TrimSpace uses; Python's str.strip() would also trim \x1c-\x1f.
_GO_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
# validateSharedMemoryPath: AppArmor regexp characters except the one '*' glob snapd allows
_AARE_WITHOUT_GLOB = '?[]{}^"' + "\x00"
_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", "\\": "\\\\", '"': '\\"'}
_GO_VALUE_DEPTH = 16
# how much of one value from the file a finding repeats: enough to recognise it, never a whole file (a
# file that parses as one string comes back as the value of a declaration-malformed finding)
EXCERPT_CHARS = 64


class SnapYamlError(Exception):
    """The input cannot be read as a snap.yaml/snapcraft.yaml: too big, not YAML, hostile, or no parser."""


# --- Go formatting, so messages read exactly as snapd prints them ---------------------------------------------

def go_quote(text):
    """Go's %q (strconv.Quote) for a string."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif code < 0x20 or code == 0x7f:
            out.append("\\x%02x" % code)
        elif char.isprintable():
            out.append(char)
        elif code <= 0xffff:
            out.append("\\u%04x" % code)
        else:
            out.append("\\U%08x" % code)
    out.append('"')
    return "".join(out)


def _go_float(number):
    """Go's %v for a float64: shortest digits, exponent form below 1e-4 and from 1e+06 (strconv 'g', -1)."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    sign, digits, exponent = decimal.Decimal(repr(number)).normalize().as_tuple()
    text = "".join(str(digit) for digit in digits)
    power = len(digits) + exponent - 1
    prefix = "-" if sign else ""
    if power < -4 or power >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return "%s%se%s%02d" % (prefix, mantissa, "-" if power < 0 else "+", abs(power))
    return prefix + format(decimal.Decimal(text).scaleb(exponent), "f")


def excerpt(text):
    """Text from the file for a finding: whole up to EXCERPT_CHARS characters, else its start, marked as cut."""
    if len(text) <= EXCERPT_CHARS:
        return text
    return "%s... (cut, %d characters)" % (text[:EXCERPT_CHARS], len(text))


def quoted(text):
    """Go's %q of an excerpt of text, as snapd's messages quote names and paths."""
    return go_quote(excerpt(text))


def _go_text(value, depth):
    if depth > _GO_VALUE_DEPTH:
        return "..."
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, (list, tuple)):
        return "[%s]" % " ".join(_go_text(item, depth + 1) for item in value)
    if isinstance(value, dict):
        items = sorted((to_text(key), item) for key, item in value.items())
        return "map[%s]" % " ".join("%s:%s" % (key, _go_text(item, depth + 1)) for key, item in items)
    return to_text(value, errors="surrogate_or_replace")


def go_value(value):
    """Go's %v for a YAML attribute value as snapd holds it (string, int64, float64, bool, list, map, nil), as an
    excerpt."""
    return excerpt(_go_text(value, 0))


def _go_type(value):
    """Go's %T for what go-yaml v2 decodes into interface{}."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[interface {}]interface {}"
    return type(value).__name__


# --- safe YAML loading --------------------------------------------------------------------------------------------

if HAS_YAML:
    class _SnapYamlLoader(SafeLoader):  # pylint: disable=too-many-ancestors
        """SafeLoader that, like go-yaml v2 decoding into interface{}, leaves timestamps as strings."""

    _SnapYamlLoader.yaml_implicit_resolvers = dict(
        (first, [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"])
        for first, resolvers in SafeLoader.yaml_implicit_resolvers.items()
    )


def _refuse_hostile_events(text):
    """Walk the YAML events once: bound nesting depth, and the nodes and characters after alias expansion.

    Without aliases the byte limit already bounds the characters; an alias repeats its anchor's nodes and
    characters, so a few hundred aliases of one long string would otherwise make every rule and message
    that quotes a path handle gigabytes.
    """
    loader = _SnapYamlLoader(text)
    try:
        open_collections = []  # [anchor, nodes, characters] per open collection
        anchored = {}          # anchor -> (nodes, characters) an alias of it expands to
        nodes = characters = 0
        aliases_used = False
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, CollectionEndEvent):
                anchor, size_nodes, size_characters = open_collections.pop()
                if anchor is not None:
                    anchored[anchor] = (size_nodes, size_characters)
                if open_collections:
                    open_collections[-1][1] += size_nodes
                    open_collections[-1][2] += size_characters
                continue
            if isinstance(event, AliasEvent):
                if event.anchor not in anchored:
                    raise SnapYamlError("refusing YAML with a recursive or undefined alias *%s" % event.anchor)
                size = anchored[event.anchor]
                aliases_used = True
            elif isinstance(event, ScalarEvent):
                size = (1, len(event.value))
                if event.anchor is not None:
                    anchored[event.anchor] = size
            elif isinstance(event, CollectionStartEvent):
                size = (1, 0)
            else:
                continue
            nodes += size[0]
            characters += size[1]
            if nodes > MAX_YAML_NODES:
                if aliases_used:
                    raise SnapYamlError("refusing YAML whose aliases expand to more than %d nodes" % MAX_YAML_NODES)
                raise SnapYamlError("refusing YAML with more than %d nodes" % MAX_YAML_NODES)
            if characters > MAX_YAML_BYTES:
                raise SnapYamlError("refusing YAML whose aliases expand to more than %d characters" % MAX_YAML_BYTES)
            if isinstance(event, CollectionStartEvent):
                open_collections.append([event.anchor, 1, 0])
                if len(open_collections) > MAX_YAML_DEPTH:
                    raise SnapYamlError("refusing YAML nested deeper than %d levels" % MAX_YAML_DEPTH)
            elif open_collections:
                open_collections[-1][1] += size[0]
                open_collections[-1][2] += size[1]
    finally:
        loader.dispose()


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
    """Parse snap.yaml/snapcraft.yaml text (str or bytes) into plain Python data, safely.

    Raises SnapYamlError, and nothing else, for any input it will not or cannot parse.
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
    loader = None
    try:
        _refuse_hostile_events(text)
        loader = _SnapYamlLoader(text)
        return loader.get_single_data()
    except SnapYamlError:
        raise
    except YAMLError as exc:
        raise SnapYamlError("cannot parse YAML: %s" % _yaml_problem(exc))
    except Exception as exc:  # pylint: disable=broad-except
        # PyYAML's constructors let their own errors through for a value that does not fit its tag or type:
        # ValueError for a 10**5-digit integer, AttributeError for an empty !!timestamp, KeyError for !!bool x
        raise SnapYamlError("cannot parse YAML: a value does not fit its type or tag (%s: %s)"
                            % (type(exc).__name__, excerpt(" ".join(to_text(exc).split()))))
    finally:
        if loader is not None:
            loader.dispose()


# --- declarations as snapd reads them (snap/info_snap_yaml.go) ---------------------------------------------------

class Declaration(object):
    """One plug or slot of the document, after snapd's shorthand expansion."""

    __slots__ = ("kind", "name", "interface", "attrs")

    def __init__(self, kind, name, interface, attrs):
        self.kind = kind
        self.name = name
        self.interface = interface
        self.attrs = attrs


def _malformed(snap, kind, name, message, value):
    name = excerpt(name) if name is not None else None
    subject = "%s %s:%s" % (kind, snap, name) if name is not None else "snap %s" % snap
    return finding("declaration-malformed", subject, message, {"snap": snap, kind: name, "value": go_value(value)})


def _attr_problem(value, depth=0):
    """snapd's validateAttr: what may not appear in an attribute value, or None."""
    if depth > MAX_YAML_DEPTH:
        return "attribute nested too deeply"
    if isinstance(value, (str, bool, int, float)):
        return None
    if isinstance(value, list):
        for item in value:
            problem = _attr_problem(item, depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return "non-string key in attribute map: %s" % go_value(key)
            problem = _attr_problem(item, depth + 1)
            if problem:
                return problem
        return None
    return "invalid attribute scalar: %s" % go_value(value)


def _declaration(snap, kind, name, data):
    """One top-level plugs:/slots: entry -> (Declaration or None, findings)."""
    if data is None:
        return Declaration(kind, name, name, {}), []
    if isinstance(data, str):
        return Declaration(kind, name, data, {}), []
    if not isinstance(data, dict):
        return None, [_malformed(snap, kind, name, "%s %s has malformed definition (found %s)"
                                 % (kind, quoted(name), _go_type(data)), data)]
    interface = name
    attrs = {}
    for key, value in data.items():
        if not isinstance(key, str):
            message = "%s %s has attribute that is not a string (found %s)" % (kind, quoted(name), _go_type(key))
            return None, [_malformed(snap, kind, name, message, key)]
        if key.startswith("$"):
            return None, [_malformed(snap, kind, name, "%s %s uses reserved attribute %s"
                                     % (kind, quoted(name), quoted(key)), key)]
        if key in ("interface", "label"):
            if not isinstance(value, str):
                message = "%s of %s %s is not a string (found %s)" % (key, kind, quoted(name), _go_type(value))
                return None, [_malformed(snap, kind, name, message, value)]
            if key == "interface":
                interface = value
            continue
        problem = _attr_problem(value)
        if problem:
            return None, [_malformed(snap, kind, name, "attribute %s of %s %s: %s"
                                     % (quoted(key), kind, quoted(name), problem), value)]
        attrs[key] = value
    return Declaration(kind, name, interface, attrs), []


def _listed_names(snap, owner, section, entries, kind, findings):
    """Names in an app's or hook's plugs:/slots: list (the `plugs: [shared-memory]` shorthand)."""
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(isinstance(entry, str) for entry in entries):
        findings.append(_malformed(snap, kind, None, "%s %s: %s must be a list of %s names"
                                   % (section, quoted(owner), kind + "s", kind), entries))
        return []
    return entries


def collect_declarations(document, snap=None):
    """All plugs and slots of a parsed snap.yaml/snapcraft.yaml, shorthand forms expanded like snapd does.

    Returns (snap name, list of Declaration, findings for entries snapd could not read at all); the
    snap name is `snap` when given (an installed instance name), else the document's name.
    """
    findings = []
    if document is None:
        document = {}
    if not isinstance(document, dict):
        snap = snap or "snap"
        message = "the document is not a mapping (found %s)" % _go_type(document)
        return snap, [], [_malformed(snap, "plug", None, message, document)]
    if not snap:
        snap = document.get("name")
        snap = excerpt(snap) if isinstance(snap, str) and snap else "snap"
    declared = {"plug": {}, "slot": {}}
    for kind in ("plug", "slot"):
        section = document.get(kind + "s")
        if section is None:
            continue
        if not isinstance(section, dict):
            findings.append(_malformed(snap, kind, None, "top-level %ss must be a mapping of %s names, not %s"
                                       % (kind, kind, _go_type(section)), section))
            continue
        for name, data in section.items():
            if not isinstance(name, str):
                findings.append(_malformed(snap, kind, to_text(name), "%s name %s is not a string"
                                           % (kind, go_value(name)), name))
                continue
            declaration, problems = _declaration(snap, kind, name, data)
            findings.extend(problems)
            declared[kind][name] = declaration
    owners = []
    for section in ("apps", "hooks"):
        entries = document.get(section)
        if isinstance(entries, dict):
            owners.extend((section, owner, body) for owner, body in entries.items() if isinstance(body, dict))
    for section, owner, body in owners:
        kinds = ("plug", "slot") if section == "apps" else ("plug",)
        for kind in kinds:
            for name in _listed_names(snap, to_text(owner), section[:-1], body.get(kind + "s"), kind, findings):
                # a listed name with no top-level entry is an implicit plug/slot whose interface is its name
                declared[kind].setdefault(name, Declaration(kind, name, name, {}))
    declarations = [item for kind in ("plug", "slot") for name, item in sorted(declared[kind].items())
                    if item is not None]
    return snap, declarations, findings


# --- the rules --------------------------------------------------------------------------------------------------

def _is_private(plug):
    return plug.attrs.get("private") is True


def rule_private_not_bool(plug, siblings):
    value = plug.attrs.get("private")
    if "private" in plug.attrs and not isinstance(value, bool):
        yield 'shared-memory "private" attribute must be a bool, not %s' % go_value(value), {"value": go_value(value)}


def rule_identifier_not_string(endpoint, siblings):
    value = endpoint.attrs.get("shared-memory")
    if "shared-memory" in endpoint.attrs and not isinstance(value, str):
        yield ('shared-memory "shared-memory" attribute must be a string, not %s' % go_value(value),
               {"value": go_value(value)})


def rule_private_with_identifier(plug, siblings):
    if _is_private(plug) and "shared-memory" in plug.attrs:
        yield ('shared-memory "shared-memory" attribute must not be set together with "private: true"',
               {"shared-memory": go_value(plug.attrs["shared-memory"])})


def rule_private_with_other_plugs(plug, siblings):
    others = [item.name for item in siblings if item.kind == "plug" and item is not plug]
    if _is_private(plug) and others:
        yield 'shared-memory plug with "private: true" set cannot be used with other shared-memory plugs', {
            "other_plugs": [excerpt(name) for name in others]}


def rule_private_with_slots(plug, siblings):
    slots = [item.name for item in siblings if item.kind == "slot"]
    if _is_private(plug) and slots:
        yield 'shared-memory plug with "private: true" set cannot be used with shared-memory slots', {
            "slots": [excerpt(name) for name in slots]}


def rule_plug_paths_ignored(plug, siblings):
    for attribute in ("read", "write"):
        if attribute in plug.attrs:
            yield ('shared-memory plug attribute "%s" is ignored by snapd: the connected slot\'s "read" and '
                   '"write" decide the access' % attribute, {"attribute": attribute})


def _string_list(slot, attribute):
    """snapd's stringListAttribute: the list, or None when the attribute is not a list of strings."""
    value = slot.attrs.get(attribute, [])
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def rule_paths_not_string_list(slot, siblings):
    for attribute in ("read", "write"):
        if _string_list(slot, attribute) is None:
            value = go_value(slot.attrs[attribute])
            yield ('shared-memory "%s" attribute must be a list of strings, not "%s"' % (attribute, value),
                   {"attribute": attribute, "value": value})


def rule_paths_missing(slot, siblings):
    read, write = _string_list(slot, "read"), _string_list(slot, "write")
    if read is not None and write is not None and not read + write:
        yield 'shared memory interface requires at least a valid "read" or "write" attribute', {}


def path_empty(path):
    if not path:
        return "shared-memory interface path is empty"
    return None


def path_spaces(path):
    if path[0] in _GO_SPACES or path[-1] in _GO_SPACES:
        return "shared-memory interface path has leading or trailing spaces: %s" % quoted(path)
    return None


def path_reserved_char(path):
    if any(char in _AARE_WITHOUT_GLOB for char in path):
        return ("shared-memory interface path is invalid: %s contains a reserved apparmor char from %s"
                % (quoted(path), _AARE_WITHOUT_GLOB))
    return None


def path_double_star(path):
    if "**" in path:
        return "shared-memory interface path is invalid: %s contains ** which is unsupported" % quoted(path)
    return None


def path_slash(path):
    if "/" in path:
        return "shared-memory interface path should not contain '/': %s" % quoted(path)
    return None


def path_not_clean(path):
    # content.go cleanSubPath; with no '/' left only ".." can fail it
    if posixpath.normpath(path) != path or path == ".." or path.startswith("../"):
        return "shared-memory interface path is not clean: %s" % quoted(path)
    return None


# validateSharedMemoryPath, in snapd's order; snapd stops at the first failure of a path
PATH_RULES = (
    ("path-empty", path_empty),
    ("path-spaces", path_spaces),
    ("path-reserved-char", path_reserved_char),
    ("path-double-star", path_double_star),
    ("path-slash", path_slash),
    ("path-not-clean", path_not_clean),
)


def slot_paths(slot):
    """(attribute, path) for every string path of a slot, read first as snapd appends them."""
    pairs = []
    for attribute in ("read", "write"):
        pairs.extend((attribute, path) for path in (_string_list(slot, attribute) or []))
    return pairs


def path_problem(path):
    """(code, snapd's message) for the first rule a path breaks, or None."""
    for code, rule in PATH_RULES:
        message = rule(path)
        if message:
            return code, message
    return None


def too_broad_message(path):
    """The path-too-broad warning for a lone '*' or '.', or None; shm_verify words it the same."""
    if path == "*":
        return 'shared-memory path "*" grants every top-level object in /dev/shm to both snaps'
    if path == ".":
        return 'shared-memory path "." names /dev/shm itself'
    return None


def rule_path_duplicate(slot, siblings):
    read, write = _string_list(slot, "read") or [], _string_list(slot, "write") or []
    for attribute, paths in (("read", read), ("write", write)):
        for path in sorted(path for path, count in collections.Counter(paths).items() if count > 1):
            yield 'shared-memory path %s is listed more than once in "%s"' % (quoted(path), attribute), {
                "path": excerpt(path), "attribute": attribute}
    for path in sorted(set(read) & set(write)):
        yield ('shared-memory path %s is in both "read" and "write": the plug gets write access to it'
               % quoted(path), {"path": excerpt(path)})


def rule_path_too_broad(slot, siblings):
    for attribute, path in slot_paths(slot):
        message = too_broad_message(path)
        if message:
            yield message, {"path": path, "attribute": attribute}


def rule_slot_private_ignored(slot, siblings):
    if "private" in slot.attrs:
        yield 'shared-memory slot attribute "private" is ignored by snapd: only a plug can be private', {
            "value": go_value(slot.attrs["private"])}


# (code, kind, rule) in snapd's order of checks; path rules run per path from PATH_RULES
RULES = (
    ("private-not-bool", "plug", rule_private_not_bool),
    ("identifier-not-string", "plug", rule_identifier_not_string),
    ("private-with-identifier", "plug", rule_private_with_identifier),
    ("private-with-other-plugs", "plug", rule_private_with_other_plugs),
    ("private-with-slots", "plug", rule_private_with_slots),
    ("plug-paths-ignored", "plug", rule_plug_paths_ignored),
    ("identifier-not-string", "slot", rule_identifier_not_string),
    ("paths-not-string-list", "slot", rule_paths_not_string_list),
    ("paths-missing", "slot", rule_paths_missing),
    (None, "slot", None),  # PATH_RULES run here, in snapd's place for them
    ("path-duplicate", "slot", rule_path_duplicate),
    ("path-too-broad", "slot", rule_path_too_broad),
    ("slot-private-ignored", "slot", rule_slot_private_ignored),
)


def _path_findings(slot, subject, base):
    findings = []
    for attribute, path in slot_paths(slot):
        problem = path_problem(path)
        if problem:
            evidence = dict(base, attribute=attribute, path=excerpt(path))
            findings.append(finding(problem[0], subject, problem[1], evidence))
    return findings


def lint_declarations(snap, declarations):
    """Findings for the shared-memory plugs and slots among declarations."""
    siblings = [item for item in declarations if item.interface == INTERFACE]
    findings = []
    for endpoint in siblings:
        subject = "%s %s:%s" % (endpoint.kind, snap, excerpt(endpoint.name))
        base = {"snap": snap, endpoint.kind: excerpt(endpoint.name)}
        for code, kind, rule in RULES:
            if kind != endpoint.kind:
                continue
            if rule is None:
                findings.extend(_path_findings(endpoint, subject, base))
                continue
            for message, evidence in rule(endpoint, siblings):
                findings.append(finding(code, subject, message, dict(base, **evidence)))
    return findings


def lint_snap(document, snap=None):
    """Lint a parsed snap.yaml or snapcraft.yaml; returns the list of findings (empty when clean).

    snap names the snap in subjects (default: the document's name).
    """
    snap, declarations, findings = collect_declarations(document, snap)
    return findings + lint_declarations(snap, declarations)
