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
BeforePreparePlug/BeforePrepareSlot/validateSharedMemoryPath) carry snapd's own wording and severity error:
snapd installs the snap anyway but drops the plug or slot. Rules the interface document states but snapd does
not enforce are warnings. The rules follow the snapd version they are asked for (2.54.0-2.54.3 refuse any '*'
and empty lists, private arrived in 2.55.3). What makes snapd refuse the whole snap (a plug or slot it cannot
read, invalid names, a plug and a slot of one name: snap/info_snap_yaml.go, snap/validate.go) is checked for
plugs and slots of every interface.
"""

from __future__ import annotations

import collections
import posixpath
import re

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_quoting import (
    _GO_SPACES,
    _go_type,
    excerpt,
    go_value,
    quoted,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_endpoints import INTERFACE
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import finding
from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import MAX_YAML_DEPTH
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_versions import GLOBS_SINCE, PRIVATE_SINCE, before

# validateSharedMemoryPath: AppArmor regexp characters except the one '*' glob snapd allows (from 2.54.4)
_AARE_WITHOUT_GLOB = '?[]{}^"' + "\x00"
# apparmor.ValidateNoAppArmorRegexp's, which 2.54.0-2.54.3 apply to paths
_AARE = '?*[]{}^"' + "\x00"


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


def _normalize_problem(value, depth=0):
    """metautil.NormalizeValue: what snapd refuses in an attribute value, in its words, or None.

    int64, float64, bool, string, lists and string-keyed maps pass; a YAML null and an integer past int64 (a
    uint64 to go-yaml) are "invalid scalar"s.
    """
    if depth > MAX_YAML_DEPTH:
        return "attribute nested too deeply"
    if isinstance(value, (str, bool, float)):
        return None
    if isinstance(value, int):
        return None if -2 ** 63 <= value <= 2 ** 63 - 1 else "invalid scalar: %s" % go_value(value)
    if isinstance(value, list):
        for item in value:
            problem = _normalize_problem(item, depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return "non-string key: %s" % go_value(key)
            problem = _normalize_problem(item, depth + 1)
            if problem:
                return problem
        return None
    return "invalid scalar: %s" % go_value(value)


def _declaration(snap, kind, name, data):
    """One top-level plugs:/slots: entry -> (Declaration or None, findings): convertToSlotOrPlugData."""
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
            message = "%s %s has attribute key that is not a string (found %s)" % (kind, quoted(name), _go_type(key))
            return None, [_malformed(snap, kind, name, message, key)]
        if key.startswith("$"):
            return None, [_malformed(snap, kind, name, "%s %s uses reserved attribute %s"
                                     % (kind, quoted(name), quoted(key)), key)]
        if key == "":
            return None, [_malformed(snap, kind, name, "%s %s has an empty attribute key" % (kind, quoted(name)), key)]
        if key == "interface":
            if not isinstance(value, str):
                message = "interface name on %s %s is not a string (found %s)" % (kind, quoted(name), _go_type(value))
                return None, [_malformed(snap, kind, name, message, value)]
            interface = value
            continue
        if key == "label":
            if not isinstance(value, str):
                message = "label of %s %s is not a string (found %s)" % (kind, quoted(name), _go_type(value))
                return None, [_malformed(snap, kind, name, message, value)]
            continue
        problem = _normalize_problem(value)
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


# snap/hooktypes.go (snapd 2.77): snapd skips a hooks: entry with any other name, and binds nothing to it
_SUPPORTED_HOOK = re.compile(
    r"prepare-device|install-device|prepare-serial-request|default-configure|configure|install|pre-refresh"
    r"|post-refresh|remove|(?:un)?prepare-(?:plug|slot)-[-a-z0-9]+|(?:dis)?connect-(?:plug|slot)-[-a-z0-9]+"
    r"|check-health|fde-setup|gate-auto-refresh|(?:change|save|query|load|observe)-view-.+")


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
    name = document.get("name")
    if not snap:
        snap = excerpt(name) if isinstance(name, str) and name else "snap"
    if name is not None and not isinstance(name, str):
        # go-yaml cannot put it in snapYaml's Name string: snapd fails to parse the whole snap.yaml
        findings.append(_malformed(snap, "plug", None, "name must be a string, not %s" % _go_type(name), name))
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
            owners.extend((section, to_text(owner), body) for owner, body in entries.items() if isinstance(body, dict)
                          and (section == "apps" or _SUPPORTED_HOOK.fullmatch(to_text(owner))))
    for section, owner, body in owners:
        for kind in ("plug", "slot"):
            for name in _listed_names(snap, owner, section[:-1], body.get(kind + "s"), kind, findings):
                # a listed name with no top-level entry is an implicit plug/slot whose interface is its name
                # (setAppsFromSnapYaml, bindPlugsToHook, bindSlotsToHook)
                declared[kind].setdefault(name, Declaration(kind, name, name, {}))
    declarations = [item for kind in ("plug", "slot") for name, item in sorted(declared[kind].items())
                    if item is not None]
    return snap, declarations, findings


# --- what makes snapd refuse the whole snap (snap/validate.go, the same from 2.54 to 2.77) ---------------------------

# snap/naming/validate.go validPlugSlotIface: plug, slot and interface names
_VALID_NAME = re.compile(r"[a-z](?:-?[a-z0-9])*", re.ASCII)


def snap_refusals(snap, declarations):
    """plugsSlotsInterfacesNames and plugsSlotsUniqueNames over every plug and slot, whatever its interface."""
    findings = []
    names = {"plug": set(), "slot": set()}
    for item in declarations:
        names[item.kind].add(item.name)
        subject = "%s %s:%s" % (item.kind, snap, excerpt(item.name))
        evidence = {"snap": snap, item.kind: excerpt(item.name)}
        if not _VALID_NAME.fullmatch(item.name):
            findings.append(finding("name-invalid", subject, "invalid %s name: %s" % (item.kind, quoted(item.name)),
                                    evidence))
        elif not _VALID_NAME.fullmatch(item.interface):
            findings.append(finding("interface-name-invalid", subject, "invalid interface name %s for %s %s"
                                    % (quoted(item.interface), item.kind, quoted(item.name)),
                                    dict(evidence, interface=excerpt(item.interface))))
    for name in sorted(names["plug"] & names["slot"]):
        findings.append(finding("plug-slot-same-name", "snap %s" % snap, "cannot have plug and slot with the same "
                                "name: %s" % quoted(name), {"snap": snap, "name": excerpt(name)}))
    return findings


# --- the rules --------------------------------------------------------------------------------------------------

def _is_private(plug):
    return plug.attrs.get("private") is True


def rule_private_not_bool(plug, siblings, version):
    value = plug.attrs.get("private")
    if "private" in plug.attrs and not isinstance(value, bool):
        yield 'shared-memory "private" attribute must be a bool, not %s' % go_value(value), {"value": go_value(value)}


def rule_identifier_not_string(endpoint, siblings, version):
    value = endpoint.attrs.get("shared-memory")
    if "shared-memory" in endpoint.attrs and not isinstance(value, str):
        yield ('shared-memory "shared-memory" attribute must be a string, not %s' % go_value(value),
               {"value": go_value(value)})


def rule_private_with_identifier(plug, siblings, version):
    if _is_private(plug) and "shared-memory" in plug.attrs:
        yield ('shared-memory "shared-memory" attribute must not be set together with "private: true"',
               {"shared-memory": go_value(plug.attrs["shared-memory"])})


def rule_private_with_other_plugs(plug, siblings, version):
    others = [item.name for item in siblings if item.kind == "plug" and item is not plug]
    if _is_private(plug) and others:
        yield 'shared-memory plug with "private: true" set cannot be used with other shared-memory plugs', {
            "other_plugs": [excerpt(name) for name in others]}


def rule_private_with_slots(plug, siblings, version):
    slots = [item.name for item in siblings if item.kind == "slot"]
    if _is_private(plug) and slots:
        yield 'shared-memory plug with "private: true" set cannot be used with shared-memory slots', {
            "slots": [excerpt(name) for name in slots]}


def rule_plug_paths_ignored(plug, siblings, version):
    for attribute in ("read", "write"):
        if attribute in plug.attrs:
            yield ('shared-memory plug attribute "%s" is ignored by snapd: the connected slot\'s "read" and '
                   '"write" decide the access' % attribute, {"attribute": attribute})


def _string_list(slot, attribute, version=None):
    """snapd's stringListAttribute: the list, or None when the attribute is not a list of strings (nor, before
    2.54.4, an empty list)."""
    value = slot.attrs.get(attribute, [])
    if attribute in slot.attrs and not value and before(version, GLOBS_SINCE):
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def rule_paths_not_string_list(slot, siblings, version):
    for attribute in ("read", "write"):
        if _string_list(slot, attribute, version) is None:
            value = go_value(slot.attrs[attribute])
            yield ('shared-memory "%s" attribute must be a list of strings, not "%s"' % (attribute, value),
                   {"attribute": attribute, "value": value})


def rule_paths_missing(slot, siblings, version):
    read, write = _string_list(slot, "read", version), _string_list(slot, "write", version)
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


def path_reserved_char(path, reserved=_AARE_WITHOUT_GLOB):
    if any(char in reserved for char in path):
        return ("shared-memory interface path is invalid: %s contains a reserved apparmor char from %s"
                % (quoted(path), reserved))
    return None


def path_reserved_char_or_glob(path):
    # 2.54.0-2.54.3 call apparmor.ValidateNoAppArmorRegexp, which also reserves '*'
    return path_reserved_char(path, _AARE)


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
# the same before 2.54.4: no glob at all, so no separate ** rule
PATH_RULES_BEFORE_GLOBS = (
    ("path-empty", path_empty),
    ("path-spaces", path_spaces),
    ("path-reserved-char", path_reserved_char_or_glob),
    ("path-slash", path_slash),
    ("path-not-clean", path_not_clean),
)


def slot_paths(slot, version=None):
    """(attribute, path) for every string path of a slot, read first as snapd appends them."""
    pairs = []
    for attribute in ("read", "write"):
        pairs.extend((attribute, path) for path in (_string_list(slot, attribute, version) or []))
    return pairs


def path_problem(path, version=None):
    """(code, snapd's message) for the first rule a path breaks under snapd `version` (None: the newest), or None."""
    for code, rule in PATH_RULES_BEFORE_GLOBS if before(version, GLOBS_SINCE) else PATH_RULES:
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


def rule_path_duplicate(slot, siblings, version):
    read, write = _string_list(slot, "read", version) or [], _string_list(slot, "write", version) or []
    for attribute, paths in (("read", read), ("write", write)):
        for path in sorted(path for path, count in collections.Counter(paths).items() if count > 1):
            yield 'shared-memory path %s is listed more than once in "%s"' % (quoted(path), attribute), {
                "path": excerpt(path), "attribute": attribute}
    for path in sorted(set(read) & set(write)):
        yield ('shared-memory path %s is in both "read" and "write": the plug gets write access to it'
               % quoted(path), {"path": excerpt(path)})


def rule_path_too_broad(slot, siblings, version):
    for attribute, path in slot_paths(slot, version):
        message = too_broad_message(path)
        if message:
            yield message, {"path": path, "attribute": attribute}


def rule_slot_private_ignored(slot, siblings, version):
    if "private" in slot.attrs:
        yield 'shared-memory slot attribute "private" is ignored by snapd: only a plug can be private', {
            "value": go_value(slot.attrs["private"])}


# (code, kind, rule, since) in snapd's order of checks; path rules run per path from PATH_RULES; a rule applies from
# snapd `since` on (None: every version with the interface)
RULES = (
    ("private-not-bool", "plug", rule_private_not_bool, PRIVATE_SINCE),
    ("identifier-not-string", "plug", rule_identifier_not_string, None),
    ("private-with-identifier", "plug", rule_private_with_identifier, PRIVATE_SINCE),
    ("private-with-other-plugs", "plug", rule_private_with_other_plugs, PRIVATE_SINCE),
    ("private-with-slots", "plug", rule_private_with_slots, PRIVATE_SINCE),
    ("plug-paths-ignored", "plug", rule_plug_paths_ignored, None),
    ("identifier-not-string", "slot", rule_identifier_not_string, None),
    ("paths-not-string-list", "slot", rule_paths_not_string_list, None),
    ("paths-missing", "slot", rule_paths_missing, None),
    (None, "slot", None, None),  # PATH_RULES run here, in snapd's place for them
    ("path-duplicate", "slot", rule_path_duplicate, None),
    ("path-too-broad", "slot", rule_path_too_broad, None),
    ("slot-private-ignored", "slot", rule_slot_private_ignored, None),
)


def _path_findings(slot, subject, base, version):
    findings = []
    for attribute, path in slot_paths(slot, version):
        problem = path_problem(path, version)
        if problem:
            evidence = dict(base, attribute=attribute, path=excerpt(path))
            findings.append(finding(problem[0], subject, problem[1], evidence))
    return findings


def lint_declarations(snap, declarations, snapd_version=None):
    """Findings for the shared-memory plugs and slots among declarations, by the rules of `snapd_version`
    (a version string; None for the newest snapd's)."""
    siblings = [item for item in declarations if item.interface == INTERFACE]
    findings = []
    for endpoint in siblings:
        subject = "%s %s:%s" % (endpoint.kind, snap, excerpt(endpoint.name))
        base = {"snap": snap, endpoint.kind: excerpt(endpoint.name)}
        for code, kind, rule, since in RULES:
            if kind != endpoint.kind or (since is not None and before(snapd_version, since)):
                continue
            if rule is None:
                findings.extend(_path_findings(endpoint, subject, base, snapd_version))
                continue
            for message, evidence in rule(endpoint, siblings, snapd_version):
                findings.append(finding(code, subject, message, dict(base, **evidence)))
    return findings


def lint_snap(document, snap=None, snapd_version=None):
    """Lint a parsed snap.yaml or snapcraft.yaml; returns the list of findings (empty when clean).

    snap names the snap in subjects (default: the document's name); snapd_version picks the rules of that snapd
    release (default: the newest snapd's). Whole-snap refusals come first, then each declaration's findings.
    """
    snap, declarations, findings = collect_declarations(document, snap)
    return findings + snap_refusals(snap, declarations) + lint_declarations(snap, declarations, snapd_version)
