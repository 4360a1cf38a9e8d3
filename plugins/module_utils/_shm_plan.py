# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""From desired shared-memory connections and one ShmState to the actions that reconcile them.

Pure functions only: nothing here talks to snapd, so check mode and apply
compute the same plan. Public names: ``DesiredConnection``,
``desired_connection``, ``build_plan``, ``Plan``, ``Action``, ``Refusal``, ``Kept``,
and the version facts they use come from ``_snapd_versions``.
"""

from __future__ import annotations

import dataclasses
import typing as t

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_endpoints import (
    INTERFACE,
    SYSTEM_SLOT,
    Endpoint,
    parse_plug,
    parse_slot,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_state import ShmConnection
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_versions import PRIVATE_SINCE, SHARED_MEMORY_SINCE, before, version_text

CONNECTED = "connected"
DISCONNECTED = "disconnected"
GADGET_KEPT = ("made by the gadget snap, which snapd makes at first boot only: once disconnected it stays "
               "undesired and nothing makes it again (set manage_gadget_connections: true to manage it too)")


@dataclasses.dataclass(frozen=True)
class DesiredConnection:
    """One connection as the user declared it.

    ``slot`` None means the system slot, which only a private plug may leave
    out. ``plug``/``slot`` are parsed endpoints (system snap written ``""``).
    ``allow_identifier_mismatch`` lets the pair connect although the plug's and
    the slot's shared-memory identifiers differ.
    """

    plug: Endpoint
    slot: t.Optional[Endpoint]
    state: str = CONNECTED
    forget: bool = False
    allow_identifier_mismatch: bool = False


def connection_item_spec():
    """Argument spec of one item of a module's ``connections`` list (shm_connection, shm_verify)."""
    return dict(
        plug=dict(type="str", required=True),
        slot=dict(type="str"),
        state=dict(type="str", choices=[CONNECTED, DISCONNECTED], default=CONNECTED),
        forget=dict(type="bool", default=False),
        allow_identifier_mismatch=dict(type="bool", default=False),
    )


def desired_connection(plug, slot=None, state=CONNECTED, forget=False, allow_identifier_mismatch=False):
    """Parse one user item; raises ValueError (EndpointError for bad names) with a message for the user."""
    if state not in (CONNECTED, DISCONNECTED):
        raise ValueError("state must be connected or disconnected, not %r" % (state,))
    endpoint = parse_plug(plug)
    if forget and state != DISCONNECTED:
        raise ValueError("forget: true only makes sense with state: disconnected (plug %s)" % (endpoint,))
    return DesiredConnection(
        plug=endpoint,
        slot=None if slot in (None, "") else parse_slot(slot),
        state=state,
        forget=bool(forget),
        allow_identifier_mismatch=bool(allow_identifier_mismatch),
    )


@dataclasses.dataclass(frozen=True)
class Action:
    """One POST to /v2/interfaces: ``connect``, ``disconnect`` or ``forget`` (a disconnect that also forgets)."""

    action: str
    plug: Endpoint
    slot: Endpoint
    reason: str

    def as_dict(self):
        return {"action": self.action, "plug": str(self.plug), "slot": str(self.slot), "reason": self.reason}

    def request(self):
        """Keyword arguments for ``SnapdClient.interfaces_action``."""
        return {
            "action": "connect" if self.action == "connect" else "disconnect",
            "plug_snap": self.plug.snap,
            "plug": self.plug.name,
            "slot_snap": self.slot.snap,
            "slot": self.slot.name,
            "forget": self.action == "forget",
        }


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Why the run changes nothing; ``code`` is stable and kebab-case, ``message`` names what to fix, ``details``
    the fields a result gives beside them (the in-use guard's plug, slot and users)."""

    code: str
    message: str
    details: t.Mapping[str, t.Any] = dataclasses.field(default_factory=dict)

    def as_dict(self):
        return dict(self.details, code=self.code, message=self.message)


@dataclasses.dataclass(frozen=True)
class Kept:
    """An established connection ``exclusive`` leaves alone although the list does not name it, and why."""

    plug: Endpoint
    slot: Endpoint
    reason: str

    def as_dict(self):
        return {"plug": str(self.plug), "slot": str(self.slot), "reason": self.reason}


@dataclasses.dataclass(frozen=True)
class Plan:
    """Ordered actions (disconnects first, then connects), refusals, what exclusive kept, and the connections
    before and after."""

    actions: t.Tuple[Action, ...]
    refusals: t.Tuple[Refusal, ...]
    before: t.Tuple[ShmConnection, ...]
    after: t.Tuple[ShmConnection, ...]
    unknown_snaps: t.Tuple[str, ...] = ()
    kept: t.Tuple[Kept, ...] = ()
    warnings: t.Tuple[str, ...] = ()

    @property
    def changed(self):
        return bool(self.actions)

    def before_view(self):
        return connections_view(self.before)

    def after_view(self):
        return connections_view(self.after)


def connections_view(connections):
    """``{"connections": [...], "undesired": [...]}``: the diff and return shape of shm_connection."""
    return {
        "connections": [c.as_dict(attrs=False) for c in connections if not c.undesired],
        "undesired": [c.as_dict(attrs=False) for c in connections if c.undesired],
    }


def build_plan(desired, state, exclusive=False, snap_interfaces=None, manage_gadget_connections=False):
    """Plan the reconciliation of ``desired`` (DesiredConnection items) against ``state``.

    ``exclusive`` also disconnects established shared-memory connections the
    items do not name, except a private plug's system connection and, unless
    ``manage_gadget_connections``, a connection the gadget snap made (see ``Plan.kept``).
    ``snap_interfaces``, ``snaps -> read_snap_interfaces(...)``'s answer, only sharpens the messages about
    unknown plugs and slots: it is called once, after every item is planned, with the snaps the snapshot
    cannot explain (``Plan.unknown_snaps``), and not at all when there are none.
    """
    current = state.established + state.undesired
    if before(state.version, SHARED_MEMORY_SINCE):
        refusal = Refusal(
            "snapd-too-old",
            "snapd %s on this host has no shared-memory interface (it arrived in snapd %s); upgrade snapd"
            % (state.version, version_text(SHARED_MEMORY_SINCE)),
        )
        return Plan((), (refusal,), current, current)

    planner = _Planner(state, snap_interfaces)
    for item in desired:
        planner.add(item)
    if exclusive:
        planner.add_exclusive_disconnects(manage_gadget_connections)
    planner.explain_unknown()
    actions = tuple(a for a in planner.actions if a.action != "connect") + tuple(
        a for a in planner.actions if a.action == "connect"
    )
    return Plan(
        actions=actions,
        refusals=tuple(planner.refusals),
        before=current,
        after=_apply(current, actions, state),
        unknown_snaps=tuple(sorted(planner.unknown_snaps)),
        kept=tuple(planner.kept),
        warnings=tuple(planner.warnings),
    )


class _Planner:
    def __init__(self, state, snap_interfaces):
        self.state = state
        self.lookup = snap_interfaces
        self.snap_interfaces = {}
        self.actions = []
        self.refusals = []
        self.unknown_snaps = set()
        self.unexplained = []  # (index in refusals, code, endpoint, kind) of the refusals explain_unknown words again
        self.kept = []
        self.warnings = []
        self.decided = {}  # (plug, slot) -> (state, forget, allow_identifier_mismatch) of the item that named it

    def refuse(self, code, message):
        self.refusals.append(Refusal(code, message))

    def add(self, item):
        plug = self._plug(item.plug)
        slot_endpoint = self._slot_endpoint(item, plug)
        if plug is None or slot_endpoint is None:
            return
        if not self._private_supported(plug, slot_endpoint):
            return
        slot = self._slot(slot_endpoint)
        if slot is None:
            return
        pair = (plug.endpoint, slot.endpoint)
        decision = (item.state, item.forget, item.allow_identifier_mismatch)
        if pair in self.decided:
            if self.decided[pair] != decision:
                self.refuse(
                    "conflicting-items",
                    "%s to %s is listed more than once with different state, forget or allow_identifier_mismatch; "
                    "list it once" % pair,
                )
            return
        self.decided[pair] = decision
        if item.state == CONNECTED:
            self._connect(plug, slot, item.allow_identifier_mismatch)
        else:
            self._disconnect(plug, slot, item.forget)

    def add_exclusive_disconnects(self, manage_gadget_connections):
        for connection in self.state.established:
            if connection.pair in self.decided:
                continue
            plug = self.state.plugs.get(connection.plug)
            if plug is not None and self._private(plug) and self.state.is_system(connection.slot):
                # a private plug's system connection is the snap's own /dev/shm, not a sharing decision
                self.kept.append(Kept(connection.plug, connection.slot,
                                      "a private plug's connection to the system slot: the snap's own /dev/shm"))
                continue
            if connection.gadget and not manage_gadget_connections:
                # snapd makes the gadget's connections at first boot only: one disconnected stays undesired for good
                self.kept.append(Kept(connection.plug, connection.slot, GADGET_KEPT))
                continue
            reason = "not listed (exclusive)"
            if connection.gadget:
                reason += "; made by the gadget, which snapd will not make again (manage_gadget_connections)"
            self.actions.append(Action("disconnect", connection.plug, connection.slot, reason))

    def _connect(self, plug, slot, allow_identifier_mismatch):
        state = self.state
        if state.connection(plug.endpoint, slot.endpoint) is not None:
            return
        if not self._compatible(plug, slot, allow_identifier_mismatch):
            return
        if state.undesired_connection(plug.endpoint, slot.endpoint) is not None:
            reason = "restore the auto-connection that was manually disconnected"
        else:
            reason = "listed as connected"
        if not self._private(plug) and plug.identifier != slot.identifier:
            reason += "; identifiers differ, let through by allow_identifier_mismatch"
            self.warnings.append(
                "connecting %s to %s although the plug's shared-memory identifier %s differs from the slot's %s "
                "(allow_identifier_mismatch): snapd refuses this for store snaps unless a snap declaration allows it"
                % (plug.endpoint, slot.endpoint, _quoted(plug.identifier), _quoted(slot.identifier)))
        self.actions.append(Action("connect", plug.endpoint, slot.endpoint, reason))

    def _disconnect(self, plug, slot, forget):
        state = self.state
        connection = state.connection(plug.endpoint, slot.endpoint)
        if connection is not None:
            gadget = "; made by the gadget, which snapd will not make again" if connection.gadget else ""
            if forget:
                self.actions.append(Action("forget", plug.endpoint, slot.endpoint,
                                           "listed as disconnected with forget" + gadget))
            else:
                self.actions.append(Action("disconnect", plug.endpoint, slot.endpoint, "listed as disconnected" + gadget))
        elif forget and state.undesired_connection(plug.endpoint, slot.endpoint) is not None:
            self.actions.append(Action(
                "forget", plug.endpoint, slot.endpoint, "forget the manual disconnect so auto-connect may restore it"
            ))

    def _compatible(self, plug, slot, allow_identifier_mismatch=False):
        """The base-declaration rules snapd skips for --dangerous snaps (interfaces/builtin/shared_memory.go).

        The identifier rule is $PLUG(shared-memory) in the base declaration, checked in doConnect only when both
        snaps have a snap declaration, and a store rule on either replaces it (interfaces/policy/policy.go): the
        user may vouch for such a pair with allow_identifier_mismatch.
        """
        if self._private(plug) and not self.state.is_system(slot.endpoint):
            self.refuse(
                "private-plug-app-slot",
                "cannot connect %s to %s: the plug is private (private: true) and may only connect to the system slot "
                ":shared-memory; leave the slot out or write :shared-memory" % (plug.endpoint, slot.endpoint),
            )
            return False
        if not self._private(plug) and self.state.is_system(slot.endpoint):
            self.refuse(
                "system-slot-needs-private-plug",
                "cannot connect %s to %s: the system slot serves only private plugs (private: true), and plug %s "
                "is not private (identifier %s); connect it to the slot of the snap that shares that memory"
                % (plug.endpoint, slot.endpoint, plug.endpoint, _quoted(plug.identifier)),
            )
            return False
        if not self._private(plug) and plug.identifier != slot.identifier and not allow_identifier_mismatch:
            self.refuse(
                "identifier-mismatch",
                "cannot connect %s to %s: the plug's shared-memory identifier %s does not match the slot's %s; "
                "snapd refuses this for store snaps and lets it through only for --dangerous ones, so make the "
                "shared-memory attributes in the two snap.yaml files agree (or, if a snap declaration of the store "
                "allows this pair, set allow_identifier_mismatch: true on it)"
                % (plug.endpoint, slot.endpoint, _quoted(plug.identifier), _quoted(slot.identifier)),
            )
            return False
        return True

    def _private(self, plug):
        """Whether snapd treats the plug as private: snapd 2.54.0-2.55.2 never read the attribute, so there a
        plug with private: true is an ordinary one (slot-path rules, no mount, any app slot of its identifier)."""
        return plug.private and not before(self.state.version, PRIVATE_SINCE)

    def _private_supported(self, plug, slot_endpoint):
        """Below 2.55.3 only what needs the system slot is refused: a plug declared private may still connect to an
        app slot there, as the ordinary plug snapd takes it for."""
        if not before(self.state.version, PRIVATE_SINCE):
            return True
        if self.state.is_system(slot_endpoint):
            self.refuse(
                "snapd-too-old-for-private",
                "cannot use %s with %s: snapd %s on this host ignores private: true and has no system shared-memory "
                "slot (both arrived in snapd %s); upgrade snapd"
                % (plug.endpoint, slot_endpoint, self.state.version, version_text(PRIVATE_SINCE)),
            )
            return False
        return True

    def _slot_endpoint(self, item, plug):
        if item.slot is not None:
            return self.state.resolve(item.slot)
        if plug is None:
            return None
        if not plug.private:
            self.refuse(
                "slot-required",
                "plug %s needs a slot: only a private plug (private: true) may leave it out to mean the system slot"
                % (plug.endpoint,),
            )
            return None
        return self.state.resolve(SYSTEM_SLOT)

    def _plug(self, endpoint):
        plug = self.state.plugs.get(endpoint)
        if plug is None:
            self._refuse_unknown("unknown-plug", endpoint, "plug")
        return plug

    def _slot(self, endpoint):
        slot = self.state.slots.get(endpoint)
        if slot is None:
            self._refuse_unknown("unknown-slot", endpoint, "slot")
        return slot

    def _refuse_unknown(self, code, endpoint, kind):
        self.refuse(code, self._unknown(endpoint, kind))
        if endpoint.snap in self.unknown_snaps:
            self.unexplained.append((len(self.refusals) - 1, code, endpoint, kind))

    def explain_unknown(self):
        """Word the refusals of unknown snaps' plugs and slots again with what snapd says of those snaps."""
        if not self.unexplained or self.lookup is None:
            return
        self.snap_interfaces = self.lookup(tuple(sorted(self.unknown_snaps)))
        self.unknown_snaps = set()
        for index, code, endpoint, kind in self.unexplained:
            self.refusals[index] = Refusal(code, self._unknown(endpoint, kind))

    def _unknown(self, endpoint, kind):
        other_kind = "slot" if kind == "plug" else "plug"
        other = self.state.slots if kind == "plug" else self.state.plugs
        if endpoint in other:
            return "%s is a shared-memory %s, not a %s; swap plug and slot" % (endpoint, other_kind, kind)
        dropped = self.state.dropped(endpoint)
        if dropped:
            return 'snap "%s" has no shared-memory %s named "%s" because snapd dropped its bad declaration; snapd warned: %s' % (
                endpoint.snap, kind, endpoint.name, dropped[-1].warning
            )
        if self.state.is_system(endpoint) and endpoint.name == INTERFACE:
            return "this host's snapd (%s) reports no system shared-memory slot %s" % (self.state.version, endpoint)
        if endpoint.snap not in self.snap_interfaces:
            self.unknown_snaps.add(endpoint.snap)
            return 'snap "%s" has no shared-memory %s named "%s"' % (endpoint.snap, kind, endpoint.name)
        interfaces = self.snap_interfaces[endpoint.snap]
        if interfaces is None:
            return 'snap "%s" is not installed, so it has no %s "%s"' % (endpoint.snap, kind, endpoint.name)
        if endpoint.name in interfaces:
            return '%s is a "%s" %s, not a shared-memory one' % (endpoint, interfaces[endpoint.name], kind)
        return 'snap "%s" has no %s named "%s" (is the name misspelt, or the snap disabled?)' % (
            endpoint.snap, kind, endpoint.name
        )


def _quoted(identifier):
    return "none" if identifier is None else '"%s"' % identifier


def _apply(before, actions, state):
    """Predict the connections after ``actions``, the way snapd's ifacestate records them."""
    connections = {(c.pair, c.undesired): c for c in before}
    for action in actions:
        pair = (action.plug, action.slot)
        established = connections.pop((pair, False), None)
        if action.action == "connect":
            connections.pop((pair, True), None)
            plug = state.plugs.get(action.plug)
            slot = state.slots.get(action.slot)
            connections[(pair, False)] = ShmConnection(
                action.plug,
                action.slot,
                manual=True,
                plug_attrs=dict(plug.attrs) if plug else {},
                slot_attrs=dict(slot.attrs) if slot else {},
            )
        elif action.action == "forget":
            connections.pop((pair, True), None)
        elif established is not None and not established.manual:
            # snapd keeps a manually disconnected auto-connection as undesired, without attrs but still by-gadget
            connections[(pair, True)] = ShmConnection(action.plug, action.slot, manual=True,
                                                      gadget=established.gadget, undesired=True)
    return tuple(sorted(connections.values(), key=lambda c: (c.undesired, tuple(c.plug), tuple(c.slot))))
