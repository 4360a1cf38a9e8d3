# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""One snapshot of a host's shared-memory plugs, slots and connections.

Public names: ``ShmState``, ``ShmPlug``, ``ShmSlot``, ``ShmConnection``,
``DroppedDeclaration``, ``state_from_api`` (builds a ShmState from the answers
of ``STATE_REQUESTS``, whichever transport read them), ``connections_from_api``
and ``read_snap_interfaces``.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing as t

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_endpoints import (
    INTERFACE,
    SYSTEM_SNAP_ALIASES,
    Endpoint,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd import SnapdError

_BAD_DECLARATIONS = re.compile(r'^snap "(?P<snap>[^"]+)" has bad plugs or slots: (?P<summary>.*)$', re.DOTALL)


@dataclasses.dataclass(frozen=True)
class ShmPlug:
    """A shared-memory plug as snapd holds it after sanitizing snap.yaml.

    ``identifier`` is the ``shared-memory`` attribute (snapd defaults it to the
    plug name unless private; None for a private plug). ``connections`` are the
    slots it is connected to.
    """

    endpoint: Endpoint
    identifier: t.Optional[str]
    private: bool
    attrs: t.Mapping[str, t.Any]
    apps: t.Tuple[str, ...]
    connections: t.Tuple[Endpoint, ...]

    def as_dict(self):
        return _declaration_view(self, "plug", private=self.private)


@dataclasses.dataclass(frozen=True)
class ShmSlot:
    """A shared-memory slot. ``identifier`` defaults to the slot name; the system slot has none."""

    endpoint: Endpoint
    identifier: t.Optional[str]
    read: t.Tuple[str, ...]
    write: t.Tuple[str, ...]
    attrs: t.Mapping[str, t.Any]
    apps: t.Tuple[str, ...]
    connections: t.Tuple[Endpoint, ...]

    def as_dict(self):
        return _declaration_view(self, "slot", read=list(self.read), write=list(self.write))


def _declaration_view(declaration, kind, **specific):
    """The user-facing view of a plug or slot: ``kind`` names the key that holds its name."""
    view = {"snap": declaration.endpoint.snap, kind: declaration.endpoint.name, "identifier": declaration.identifier}
    view.update(specific)
    view.update(
        attrs=dict(declaration.attrs),
        apps=list(declaration.apps),
        connections=[str(endpoint) for endpoint in declaration.connections],
    )
    return view


@dataclasses.dataclass(frozen=True)
class ShmConnection:
    """An established or undesired connection.

    ``plug_attrs``/``slot_attrs`` are the attributes stored at connect time
    (undesired entries carry none: snapd wipes them on a manual disconnect).
    """

    plug: Endpoint
    slot: Endpoint
    manual: bool = False
    gadget: bool = False
    undesired: bool = False
    plug_attrs: t.Mapping[str, t.Any] = dataclasses.field(default_factory=dict)
    slot_attrs: t.Mapping[str, t.Any] = dataclasses.field(default_factory=dict)

    @property
    def pair(self):
        return (self.plug, self.slot)

    def as_dict(self, attrs=True):
        """The user-facing view; ``attrs=False`` keeps only what a connect or disconnect decides."""
        view = {"plug": str(self.plug), "slot": str(self.slot), "manual": self.manual, "gadget": self.gadget}
        if attrs:
            view["plug_attrs"] = dict(self.plug_attrs)
            view["slot_attrs"] = dict(self.slot_attrs)
        return view


@dataclasses.dataclass(frozen=True)
class DroppedDeclaration:
    """A shared-memory plug or slot snapd left out of the snap for a bad declaration.

    ``warning`` is snapd's whole warning text, ``reason`` the part about this entry.
    """

    snap: str
    name: str
    reason: str
    warning: str

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ShmState:
    """What snapd reported in one read: never changes after it is built.

    ``plugs``/``slots`` are keyed by ``Endpoint`` (a ``(snap, name)`` tuple) in
    snapd's own names, so the system slot is ``(system_snap, "shared-memory")``.
    Use ``resolve()`` on endpoints parsed from user input.
    """

    version: str
    system_snap: str
    confinement: str
    plugs: t.Mapping[Endpoint, ShmPlug]
    slots: t.Mapping[Endpoint, ShmSlot]
    established: t.Tuple[ShmConnection, ...]
    undesired: t.Tuple[ShmConnection, ...]
    dropped_declarations: t.Tuple[DroppedDeclaration, ...]

    @property
    def system_slot(self):
        """The implicit system slot, in snapd's name for the system snap."""
        return Endpoint(self.system_snap, INTERFACE)

    def is_system(self, endpoint):
        """Whether a plug or slot (as snapd names it, or as a user wrote it) is the system snap's: the one way to ask."""
        return endpoint.snap == self.system_snap or endpoint.is_system

    def resolve(self, endpoint):
        """Name the system snap the way snapd reports it; other endpoints are returned unchanged."""
        if endpoint.is_system:
            return Endpoint(self.system_snap, endpoint.name)
        return endpoint

    def connection(self, plug, slot):
        """The established connection between two resolved endpoints, or None."""
        return next((c for c in self.established if c.pair == (plug, slot)), None)

    def undesired_connection(self, plug, slot):
        """The undesired (manually disconnected auto-) connection between two resolved endpoints, or None."""
        return next((c for c in self.undesired if c.pair == (plug, slot)), None)

    def dropped(self, endpoint):
        """snapd's warnings about ``endpoint`` having been dropped for a bad declaration."""
        return tuple(d for d in self.dropped_declarations if (d.snap, d.name) == tuple(endpoint))


# The GETs one snapshot is made of, as (name, path, query): the socket client and the snap debug api
# transport send exactly these, so both read the same thing.
STATE_REQUESTS = (
    ("system_info", "/v2/system-info", None),
    ("connections", "/v2/connections", (("select", "all"), ("interface", INTERFACE))),
    ("warnings", "/v2/warnings", (("select", "all"),)),
)
CONNECTIONS_REQUEST = STATE_REQUESTS[1]
WARNINGS_REQUEST = STATE_REQUESTS[2]


def state_requests(warnings=True, system_info=True):
    """The GETs of one snapshot; without snapd's warnings or system-info when the caller reads them only if it
    needs them."""
    return tuple(request for request in STATE_REQUESTS
                 if (warnings or request is not WARNINGS_REQUEST) and (system_info or request[0] != "system_info"))


def connections_from_api(result):
    """The connections of a /v2/connections ``result``: established ones first, then undesired ones."""
    established, undesired = _connections(result)
    return established + undesired


def read_snap_interfaces(client, snaps):
    """For snaps whose endpoint the snapshot lacks, tell a missing snap from a plug or slot of another interface.

    Returns ``{snap: None}`` for a snap snapd does not know, else
    ``{snap: {name: interface}}`` over all its plugs and slots (one GET per snap).
    Only called to explain a refusal, never on the normal path.
    """
    found = {}
    for snap in snaps:
        try:
            result = client.get("/v2/connections", {"select": "all", "snap": snap})
        except SnapdError as error:
            if error.kind == "snap-not-found" or error.status_code == 404:
                found[snap] = None
                continue
            raise
        names = {}
        for plug in result.get("plugs") or ():
            if plug.get("snap") == snap:
                names[plug.get("plug")] = plug.get("interface")
        for slot in result.get("slots") or ():
            if slot.get("snap") == snap:
                names[slot.get("slot")] = slot.get("interface")
        found[snap] = names
    return found


def state_from_api(system_info, connections, warnings, snaps=None):
    """Build a ShmState from the ``result`` of the GETs of ``STATE_REQUESTS``; ``system_info`` None when it was not
    read (the version is then "", which every version check takes for a current snapd)."""
    system_info = system_info or {}
    version = str(system_info.get("version", ""))
    warnings = warnings or []
    plugs = [_plug(p) for p in connections.get("plugs") or () if p.get("interface", INTERFACE) == INTERFACE]
    slots = [_slot(s) for s in connections.get("slots") or () if s.get("interface", INTERFACE) == INTERFACE]
    system_snap = _system_snap(connections)
    established, undesired = _connections(connections)
    present = {(p.endpoint.snap, p.endpoint.name) for p in plugs} | {(s.endpoint.snap, s.endpoint.name) for s in slots}
    dropped = [d for d in _dropped_declarations(warnings) if (d.snap, d.name) not in present]

    if snaps is not None:
        wanted = {system_snap if s in SYSTEM_SNAP_ALIASES else s for s in snaps}
        plugs = [p for p in plugs if p.endpoint.snap in wanted]
        slots = [s for s in slots if s.endpoint.snap in wanted]
        established = [c for c in established if c.plug.snap in wanted or c.slot.snap in wanted]
        undesired = [c for c in undesired if c.plug.snap in wanted or c.slot.snap in wanted]
        dropped = [d for d in dropped if d.snap in wanted]

    return ShmState(
        version=version,
        system_snap=system_snap,
        confinement=str(system_info.get("confinement", "")),
        plugs=types.MappingProxyType({p.endpoint: p for p in plugs}),
        slots=types.MappingProxyType({s.endpoint: s for s in slots}),
        established=tuple(established),
        undesired=tuple(undesired),
        dropped_declarations=tuple(dropped),
    )


def _system_snap(connections):
    # connections name the system snap as snapd maps it (CoreSnapdSystemMapper): "snapd", else "core"
    for slot in connections.get("slots") or ():
        if slot.get("snap") in ("snapd", "core") and slot.get("slot") == INTERFACE:
            return slot["snap"]
    for entry in (connections.get("established") or []) + (connections.get("undesired") or []):
        snap = (entry.get("slot") or {}).get("snap")
        if snap in ("snapd", "core"):
            return snap
    # no system slot before 2.55.3; the name then only labels refusals, so use the modern one
    return "snapd"


def _frozen(attrs):
    return types.MappingProxyType(dict(attrs or {}))


def _endpoints(refs, key):
    return tuple(sorted(Endpoint(r.get("snap", ""), r.get(key, "")) for r in refs or ()))


def _plug(raw):
    attrs = raw.get("attrs") or {}
    private = attrs.get("private") is True
    identifier = attrs.get("shared-memory")
    if identifier is None and not private:
        identifier = raw.get("plug")
    return ShmPlug(
        endpoint=Endpoint(raw.get("snap", ""), raw.get("plug", "")),
        identifier=identifier,
        private=private,
        attrs=_frozen(attrs),
        apps=tuple(raw.get("apps") or ()),
        connections=_endpoints(raw.get("connections"), "slot"),
    )


def _slot(raw):
    attrs = raw.get("attrs") or {}
    endpoint = Endpoint(raw.get("snap", ""), raw.get("slot", ""))
    identifier = attrs.get("shared-memory")
    if identifier is None and not endpoint.is_system:
        identifier = endpoint.name
    return ShmSlot(
        endpoint=endpoint,
        identifier=identifier,
        read=tuple(_strings(attrs.get("read"))),
        write=tuple(_strings(attrs.get("write"))),
        attrs=_frozen(attrs),
        apps=tuple(raw.get("apps") or ()),
        connections=_endpoints(raw.get("connections"), "plug"),
    )


def _strings(value):
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def _connection(raw, undesired):
    plug = raw.get("plug") or {}
    slot = raw.get("slot") or {}
    return ShmConnection(
        plug=Endpoint(plug.get("snap", ""), plug.get("plug", "")),
        slot=Endpoint(slot.get("snap", ""), slot.get("slot", "")),
        manual=bool(raw.get("manual")),
        gadget=bool(raw.get("gadget")),
        undesired=undesired,
        plug_attrs=_frozen(raw.get("plug-attrs")),
        slot_attrs=_frozen(raw.get("slot-attrs")),
    )


def _connections(result):
    """``(established, undesired)`` tuples from a /v2/connections result, each sorted by plug then slot."""
    established = (_connection(c, undesired=False) for c in result.get("established") or ())
    undesired = (_connection(c, undesired=True) for c in result.get("undesired") or ())
    return tuple(sorted(established, key=_pair_key)), tuple(sorted(undesired, key=_pair_key))


def _pair_key(connection):
    return (tuple(connection.plug), tuple(connection.slot))


def _dropped_declarations(warnings):
    """Parse snapd's "has bad plugs or slots" warnings (snap.BadInterfacesSummary) for shared-memory entries."""
    latest = {}
    for warning in warnings or ():
        message = str(warning.get("message", ""))
        match = _BAD_DECLARATIONS.match(message)
        if not match:
            continue
        for names, reason in _split_summary(match.group("summary")):
            if "shared-memory" not in reason and "shared memory" not in reason:
                continue
            for name in names:
                key = (match.group("snap"), name)
                stamp = str(warning.get("last-added", ""))
                if key not in latest or stamp >= latest[key][0]:
                    latest[key] = (stamp, DroppedDeclaration(key[0], name, reason, message))
    return [latest[key][1] for key in sorted(latest)]


def _split_summary(summary):
    """Split ``a, b (reason one); c (reason two)`` into ``[(["a", "b"], "reason one"), (["c"], "reason two")]``."""
    groups = []
    depth = 0
    start = 0
    for index, char in enumerate(summary):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == ";" and depth == 0:
            groups.append(summary[start:index])
            start = index + 1
    groups.append(summary[start:])
    parsed = []
    for group in groups:
        group = group.strip()
        names, sep, reason = group.partition(" (")
        if not sep or not reason.endswith(")"):
            continue
        parsed.append(([n.strip() for n in names.split(",") if n.strip()], reason[:-1]))
    return parsed
