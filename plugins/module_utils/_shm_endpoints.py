# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Plug and slot endpoints as users write them (``snap:plug``, ``:slot``, ``system:slot``).

Public names: ``Endpoint``, ``EndpointError``, ``parse_plug``, ``parse_slot``,
``parse_snap``, ``shown``, ``SYSTEM_SNAP_ALIASES``, ``SYSTEM_SLOT``.
"""

from __future__ import annotations

import re
import typing as t

# snapd accepts all of these for the system snap on POST (ifacestate.RemapSnapFromRequest)
SYSTEM_SNAP_ALIASES = ("", "system", "core", "snapd")
INTERFACE = "shared-memory"

# snap/naming/validate.go: almostValidName plus the dash rules, 2-40 characters. Always fullmatch():
# with match() and ^...$, a name with a trailing newline would pass, as `$` also matches before one.
_SNAP_NAME = re.compile(r"[a-z0-9-]*[a-z][a-z0-9-]*")
_INSTANCE_KEY = re.compile(r"[a-z0-9]{1,10}")
# snap/naming/validate.go: validPlugSlotIface
_PLUG_SLOT_NAME = re.compile(r"[a-z](?:-?[a-z0-9])*")
# how much of a bad value a message repeats: enough to recognise it, never a whole pasted file
SHOWN_LIMIT = 80


class EndpointError(ValueError):
    """A plug, slot or snap name that cannot be what the user meant; str() says why."""


class Endpoint(t.NamedTuple):
    """One plug or slot: ``(snap, name)``.

    As parsed from user input, the system snap is ``""`` whichever alias was
    written; ``ShmState.resolve()`` turns that into the name snapd reports
    (``snapd`` or ``core``). Endpoints read from snapd carry snapd's names.
    """

    snap: str
    name: str

    @property
    def is_system(self):
        return self.snap in SYSTEM_SNAP_ALIASES

    def __str__(self):
        return "%s:%s" % (self.snap, self.name)


SYSTEM_SLOT = Endpoint("", INTERFACE)


def parse_snap(text, what="snap"):
    """Validate a snap (instance) name per snapd's rules and return it; system aliases become ``""``."""
    if not isinstance(text, str):
        raise EndpointError("%s must be a string, not %s" % (what, shown(text)))
    if not text:
        # only the <snap>:<name> forms may leave the system snap unnamed
        raise EndpointError("%s is empty; write a snap name, or system for the system snap" % what)
    if text in SYSTEM_SNAP_ALIASES:
        return ""
    store_name, sep, key = text.partition("_")
    if not _valid_snap_name(store_name):
        raise EndpointError(
            "%s %s is not a valid snap name: use 2 to 40 lowercase letters, digits and single inner dashes, "
            "with at least one letter" % (what, shown(text))
        )
    if sep and not _INSTANCE_KEY.fullmatch(key):
        raise EndpointError("%s %s has an invalid instance key %s: use 1 to 10 lowercase letters or digits"
                            % (what, shown(text), shown(key)))
    return text


def parse_plug(text):
    """Parse ``snap:plug``. The snap is required: the system snap has no shared-memory plugs."""
    endpoint = _parse(text, "plug")
    if endpoint.is_system:
        raise EndpointError(
            "plug %s names the system snap, which has no shared-memory plugs; write it as <snap>:<plug>" % shown(text)
        )
    if not endpoint.name:
        raise EndpointError("plug %s has no plug name after ':'; write it as <snap>:<plug>" % shown(text))
    return endpoint


def parse_slot(text):
    """Parse ``snap:slot``, ``:slot`` or ``system:``/``core:``/``snapd:`` (the system's ``shared-memory`` slot)."""
    endpoint = _parse(text, "slot")
    if not endpoint.name:
        if endpoint.is_system and text != ":":
            # the system snap has exactly one shared-memory slot; snapd picks it for an empty slot name
            return SYSTEM_SLOT
        raise EndpointError(
            "slot %s has no slot name after ':'; write it as <snap>:<slot>, or :shared-memory for the system slot"
            % shown(text)
        )
    return endpoint


def _parse(text, what):
    if not isinstance(text, str):
        raise EndpointError("%s must be a string like <snap>:<%s>, not %s" % (what, what, shown(text)))
    if not text.strip():
        raise EndpointError("%s is empty; write it as <snap>:<%s>" % (what, what))
    if any(c.isspace() for c in text):
        raise EndpointError("%s %s contains whitespace; write it as <snap>:<%s>" % (what, shown(text), what))
    if text.count(":") != 1:
        hint = "has no ':'" if ":" not in text else "has more than one ':'"
        raise EndpointError("%s %s %s; write it as <snap>:<%s>" % (what, shown(text), hint, what))
    snap, dummy, name = text.partition(":")
    if snap:
        snap = parse_snap(snap, "snap of %s %s:" % (what, shown(text)))
    if name and not _PLUG_SLOT_NAME.fullmatch(name):
        raise EndpointError(
            "%s %s has an invalid %s name %s: start with a lowercase letter, then lowercase letters, digits "
            "and single dashes, no trailing dash" % (what, shown(text), what, shown(name))
        )
    return Endpoint(snap, name)


def shown(value, limit=SHOWN_LIMIT):
    """``repr()`` of a value for a message: on one line, and cut short when longer than ``limit`` characters."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return "%s... (%d characters)" % (text[:limit], len(value) if isinstance(value, str) else len(text))


def _valid_snap_name(name):
    return (
        2 <= len(name) <= 40
        and bool(_SNAP_NAME.fullmatch(name))
        and not name.startswith("-")
        and not name.endswith("-")
        and "--" not in name
    )
