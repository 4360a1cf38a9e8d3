# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""snapd's declaration rules for shared-memory plugs and slots.

shm_lint applies them to a parsed snap.yaml or snapcraft.yaml (lint_snap; the text is loaded by _snap_yaml);
shm_verify applies them through lint_declarations to the plugs and slots of installed snaps as snapd loaded
them, so it needs no YAML parser.

Each rule is one small function with one message. Rules snapd enforces (interfaces/builtin/shared_memory.go,
BeforePreparePlug/BeforePrepareSlot/validateSharedMemoryPath, snapd 2.64) carry snapd's own wording and
severity error: snapd installs the snap anyway but drops the plug or slot. Rules the interface document
states but snapd does not enforce are warnings.
"""

from __future__ import annotations

import collections
import posixpath

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.snapfleet.snapd.plugins.module_utils._go_text import (
    _GO_SPACES,
    _go_type,
    excerpt,
    go_quote,
    go_value,
    quoted,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_endpoints import INTERFACE
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import finding
from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import MAX_YAML_DEPTH

# validateSharedMemoryPath: AppArmor regexp characters except the one '*' glob snapd allows
_AARE_WITHOUT_GLOB = '?[]{}^"' + "\x00"


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
