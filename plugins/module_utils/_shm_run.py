# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What shm_connection and shm_info do, whichever way they reach the host (shm_verify's runner,
``_shm_run_verify``, builds on the same host and failure).

Each ``run_*`` function turns validated module parameters into the module's result, over a *host*:
an object that answers a few coarse questions about one device in as few round trips as it can.
Two hosts exist: ``_shm_local.LocalHost`` (the Python module on the device: snapd's unix socket,
/proc and files read directly) and the controller's ``snap debug api`` host
(``plugins/plugin_utils/_snap_debug_api.py``, for devices without Python). Nothing here reads the
device itself, so the same code runs in a module on the device and in an action plugin on the
controller, and both give the same result for the same state.

A host provides:

``read(processes=(), warnings=True, system_info=True) -> HostReads``
    snapd's system-info (unless ``system_info`` is False), shared-memory connections and (unless
    ``warnings`` is False) warnings, read together; with ``processes`` (snap names, or True for any snap)
    the host may gather those snaps' processes holding /dev/shm objects in the same round trip, for
    ``processes()`` to use.
``snapd_since``
    the snapd version the host's transport itself proves (snap debug api came in 2.64), or None: a run
    whose version checks all concern older versions need not read system-info there.
``warnings()``
    snapd's warnings on their own; shm_connection reads them only to word a refusal.
``processes(snaps) -> ProcessScan``
    the processes of ``snaps`` holding /dev/shm objects open or mapped, and those it could not read
    (``_proc_scan``).
``snap_interfaces(snaps)``
    ``_shm_state.read_snap_interfaces``'s answer, only used to word a refusal.
``apply(actions) -> Applied``
    send the actions in order, each waited for, stopping at the first failure, then re-read the
    connections.
``facts(families, apps, private_snaps, user_snaps, slot_paths) -> HostFacts``
    the ``_shm_facts.HostFacts`` the check families need (``FACTS_BY_FAMILY``), for shm_verify's runner
    (``_shm_run_verify``, apart so that shm_connection and shm_info do not ship the checks and the lint rules).
``uid()``
    the effective uid the host's commands run as (known even when snapd could not be read).
``request_count``
    the snapd requests sent so far.

Every expected failure is raised as ``RunFailure`` with the one-line message and the result fields
the module returns with it.
"""

from __future__ import annotations

import abc
import dataclasses
import typing as t

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_diff import connection_diff
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_endpoints import parse_snap
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_plan import (
    DISCONNECTED,
    Refusal,
    build_plan,
    connections_view,
    desired_connection,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_state import (
    connections_from_api,
    state_from_api,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._proc_scan import (
    connection_snaps,
    connection_users,
    connections_in_use,
    in_use_message,
    planned_disconnects,
    unseen_message,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd import SnapdError
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_versions import CONNECTION_GATES


@dataclasses.dataclass(frozen=True)
class HostReads:
    """snapd's answers read together (each the ``result`` of its GET), and the effective uid on the host."""

    system_info: t.Optional[t.Mapping[str, t.Any]]  # None when not read (see Host.snapd_since)
    connections: t.Mapping[str, t.Any]
    warnings: t.Optional[t.Sequence[t.Any]]  # None when not read (shm_connection reads them only to word a refusal)
    uid: int


@dataclasses.dataclass(frozen=True)
class Applied:
    """What ``host.apply`` did: the actions that finished, the error that stopped the rest, the connections after.

    ``connections`` is the re-read ``/v2/connections`` result, or None when ``reread_error`` says why not.
    """

    done: t.Tuple[t.Any, ...]
    error: t.Optional[SnapdError] = None
    connections: t.Optional[t.Mapping[str, t.Any]] = None
    reread_error: t.Optional[SnapdError] = None


class Host(abc.ABC):
    """One device as the runners see it (the module's docstring says what each call answers). Two exist:
    ``_shm_local.LocalHost`` (the module on the device) and ``plugin_utils/_snap_debug_api.DebugApiHost`` (the
    controller over ``snap debug api``); shm_verify's hosts add ``facts``."""

    transport = None
    request_count = 0
    # the snapd version this host's transport proves (snap debug api exists from 2.64 on), None when it proves none
    snapd_since = None

    @abc.abstractmethod
    def uid(self):
        """The effective uid the host's commands run as, known even when snapd could not be read."""

    @abc.abstractmethod
    def read(self, processes=(), warnings=True, system_info=True):
        """HostReads: one snapshot of snapd's state (and, with ``processes``, those snaps' processes)."""

    @abc.abstractmethod
    def warnings(self):
        """snapd's warnings on their own."""

    @abc.abstractmethod
    def processes(self, snaps):
        """The ProcessScan of ``snaps``."""

    @abc.abstractmethod
    def snap_interfaces(self, snaps):
        """``_shm_state.read_snap_interfaces``'s answer, to word a refusal."""

    @abc.abstractmethod
    def apply(self, actions):
        """Applied: the actions sent in order, each waited for, stopping at the first failure."""


class RunFailure(Exception):
    """An expected failure: ``msg`` is the one line for the user, ``result`` the fields returned with it."""

    def __init__(self, msg, **result):
        super().__init__(msg)
        self.msg = msg
        self.result = result


def reports_transport(run):
    """Every result and failure of ``run`` names the transport that produced it (and, over snap debug api, how
    many remote commands it took)."""
    def wrapped(params, host, *args, **kwargs):
        extra = {"transport": host.transport}
        try:
            result = run(params, host, *args, **kwargs)
        except RunFailure as failure:
            failure.result.update(extra, **_remote_commands(host))
            raise
        result.update(extra, **_remote_commands(host))
        return result
    wrapped.__doc__ = run.__doc__
    wrapped.__name__ = run.__name__
    return wrapped


def _remote_commands(host):
    count = getattr(host, "remote_commands", None)
    return {} if count is None else {"remote_commands": count}


def _desired_items(params):
    items = [params] if params["connections"] is None else params["connections"]
    try:
        return [desired_connection(i["plug"], i["slot"], i["state"], i["forget"], i["allow_identifier_mismatch"])
                for i in items]
    except ValueError as error:
        raise RunFailure(str(error))


def _guarded_snaps(params, desired):
    """The snaps whose processes the in-use guard may ask about, when the items name them all: read with the
    snapshot, they cost no round trip of their own. () when nothing is disconnected, or the snaps are known only
    from the snapshot (exclusive, or a plug disconnected from every slot): then the guard scans on its own."""
    disconnected = [item for item in desired if item.state == DISCONNECTED]
    if params["exclusive"] or not disconnected or any(item.slot is None for item in disconnected):
        return ()
    return sorted(set(snap for item in disconnected for snap in (item.plug.snap, item.slot.snap) if snap))


def proven_since(host, gates):
    """Whether the host's transport proves a snapd at least as new as every version in ``gates``."""
    return host.snapd_since is not None and all(tuple(host.snapd_since) >= tuple(gate) for gate in gates)


@reports_transport
def run_connection(params, host, check_mode=False, diff=False):
    """shm_connection: reconcile the desired connections; returns the result dict or raises RunFailure."""
    desired = _desired_items(params)
    try:
        # snapd's warnings only say why a plug or slot is missing (a dropped declaration), and its version matters
        # only when older than every transport but the socket can reach: read them when the plan refuses, not on
        # every run (over snap debug api each read is a `snap` process)
        system_info = not proven_since(host, CONNECTION_GATES)
        reads = host.read(processes=_guarded_snaps(params, desired), warnings=False, system_info=system_info)
        state = state_from_api(reads.system_info, reads.connections, None)
        plan = build_plan(desired, state, params["exclusive"], host.snap_interfaces, params["manage_gadget_connections"])
        if plan.refusals:
            if system_info:
                state = state_from_api(reads.system_info, reads.connections, host.warnings())
            else:
                reads = host.read(warnings=True)
                state = state_from_api(reads.system_info, reads.connections, reads.warnings)
            plan = build_plan(desired, state, params["exclusive"], host.snap_interfaces, params["manage_gadget_connections"])
    except SnapdError as error:
        raise RunFailure(str(error), api_requests=host.request_count)

    if plan.refusals:
        raise _refused(plan.refusals, host)

    warnings = list(plan.warnings) + _in_use_guard(host, state, plan, params["force"])
    after = plan.after_view()
    actions = [a.as_dict() for a in plan.actions]
    if plan.changed and not check_mode:
        if reads.uid != 0:
            raise RunFailure(
                "changing snapd connections needs root: run the task with become: true (%d change(s) planned)"
                % len(plan.actions),
                actions=[],
                pending=actions,
                api_requests=host.request_count,
            )
        applied = host.apply(plan.actions)
        actions = [a.as_dict() for a in applied.done]
        if applied.error is not None:
            failed = plan.actions[len(applied.done)]
            raise RunFailure(
                "%s %s to %s failed after %d of %d changes: %s"
                % (failed.action, failed.plug, failed.slot, len(applied.done), len(plan.actions), applied.error),
                changed=bool(applied.done),
                actions=actions,
                pending=[a.as_dict() for a in plan.actions[len(applied.done):]],
                api_requests=host.request_count,
            )
        if applied.connections is None:
            raise RunFailure(
                "made every change, then could not re-read the connections: %s" % applied.reread_error,
                changed=True,
                actions=actions,
                api_requests=host.request_count,
            )
        after = connections_view(connections_from_api(applied.connections))

    result = dict(
        changed=plan.changed,
        connections=after["connections"],
        undesired=after["undesired"],
        actions=actions,
        kept=[item.as_dict() for item in plan.kept],
        api_requests=host.request_count,
    )
    if warnings:
        result["warnings"] = warnings
    if diff:
        result["diff"] = connection_diff(plan.before_view(), after, check_mode)
    return result


def _refused(refusals, host):
    """The one failure of a run refused before any change, whatever refused it (the plan, the in-use guard)."""
    return RunFailure(
        "refused before changing anything: " + "; ".join(r.message for r in refusals),
        refusals=[r.as_dict() for r in refusals],
        actions=[],
        api_requests=host.request_count,
    )


def _in_use_guard(host, state, plan, force):
    """Refuse the whole plan, before any change, when a disconnect would pull objects from under running apps,
    or when some process that may hold them cannot be read.

    Returns the warnings to show when ``force`` lets such disconnects through.
    """
    disconnects = planned_disconnects(state, plan.actions)
    if not disconnects:
        return []
    scan = host.processes(connection_snaps(state, disconnects))
    in_use = connections_in_use(state, disconnects, scan.processes)
    refusals = [Refusal("connection-in-use", "%s: stop those apps, or set force: true" % in_use_message(connection, users),
                        dict(plug=str(connection.plug), slot=str(connection.slot), users=users))
                for connection, users in in_use]
    if not scan.complete:
        # a process the guard cannot read may hold the objects: not seeing one is no proof that nobody does
        refusals.append(Refusal("users-unknown", "%s: run the task as root (become: true), or set force: true"
                                % unseen_message(scan)))
    if refusals and not force:
        raise _refused(refusals, host)
    warnings = ["disconnecting with force: %s" % in_use_message(connection, users) for connection, users in in_use]
    if not scan.complete:
        warnings.append("disconnecting with force: %s" % unseen_message(scan))
    return warnings


def _snaps_param(names):
    if names is None:
        return None
    try:
        return [parse_snap(name) for name in names]
    except ValueError as error:
        raise RunFailure(str(error))


@reports_transport
def run_info(params, host):
    """shm_info: the host's shared-memory plugs, slots and connections, with who uses each connection."""
    snaps = _snaps_param(params["snaps"])
    try:
        reads = host.read(processes=True)
    except SnapdError as error:
        raise RunFailure(str(error), api_requests=host.request_count)
    state = state_from_api(reads.system_info, reads.connections, reads.warnings, snaps)
    scan = host.processes(connection_snaps(state, state.established))
    result = dict(
        changed=False,
        version=state.version,
        confinement=state.confinement,
        system_snap=state.system_snap,
        plugs=[plug.as_dict() for plug in state.plugs.values()],
        slots=[slot.as_dict() for slot in state.slots.values()],
        connections=[dict(c.as_dict(), users=connection_users(state, c, scan.processes)) for c in state.established],
        undesired=[c.as_dict() for c in state.undesired],
        dropped_declarations=[d.as_dict() for d in state.dropped_declarations],
        api_requests=host.request_count,
    )
    if not scan.complete:
        result["warnings"] = ["the users may be incomplete, %s; run the task as root (become: true)"
                              % unseen_message(scan)]
    return result
