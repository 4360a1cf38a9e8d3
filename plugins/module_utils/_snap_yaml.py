# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""A bounded loader for snap.yaml and snapcraft.yaml text, refusing hostile input before anything is built.

ansible ships no YAML parser of its own for targets; ansible.module_utils.common.yaml wraps PyYAML when it is
importable. PyYAML is always there on the controller (ansible-core depends on it), so shm_lint can always run
with delegate_to: localhost; on a target without python3-yaml load_snap_yaml() raises SnapYamlError with that
advice. Input is bounded in size, depth and alias expansion before anything is built.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.snapfleet.snapd.plugins.module_utils._go_text import excerpt

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

MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 200000


class SnapYamlError(Exception):
    """The input cannot be read as a snap.yaml/snapcraft.yaml: too big, not YAML, hostile, or no parser."""



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


