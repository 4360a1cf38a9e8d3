#!/usr/bin/python
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: shm_connection
short_description: Connect and disconnect snapd shared-memory plugs and slots
version_added: 0.1.0
description:
  - Reconciles snapd C(shared-memory) interface connections through snapd's REST API, from one plug and slot
    or from a list of connections handled in one module run.
  - The module reads the current connections once, plans every change, and refuses the whole request with a
    clear message before sending anything if an item cannot work, for example when the plug's and the slot's
    C(shared-memory) identifiers differ. snapd itself lets such connections through for snaps installed with
    C(--dangerous).
  - Whether something changed is decided from the state read before acting, never from snapd's answer, so the
    system slot's spellings V(:shared-memory), V(system:shared-memory), V(core:shared-memory) and
    V(snapd:shared-memory) are all idempotent.
  - Before disconnecting a connection (O(state=disconnected), or O(exclusive=true)), the module looks for processes
    of the plug's and the slot's snaps that hold the connection's objects open or mapped (from C(/proc/PID/fd) and
    C(/proc/PID/maps), for each thread), and refuses the whole request, changing nothing, if it finds any, unless
    O(force=true). For a private plug, any object in the snap's own C(/dev/shm) counts. It also refuses when it cannot
    read every process it needs to look at (C(/proc) unreadable, a process it may not inspect), unless O(force=true).
  - Use M(snapfleet.snapd.shm_info) to read the plugs, slots and connections without changing anything.
author:
  - snapfleet maintainers (@snapfleet)
extends_documentation_fragment:
  - snapfleet.snapd._snapd
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details:
      - The diff shows the shared-memory connections (and undesired auto-connections) before and after.
  idempotent:
    support: full
options:
  plug:
    description:
      - The plug, as V(snap:plug).
      - Required unless O(connections) is used.
    type: str
  slot:
    description:
      - The slot, as V(snap:slot), or V(:shared-memory) for the system slot. V(system:), V(core:) and V(snapd:)
        also name the system slot.
      - 'May be left out only for a plug with C(private: true); it then means the system slot.'
    type: str
  state:
    description:
      - V(connected) connects the plug to the slot. It also restores an auto-connection that someone disconnected
        by hand (snapd keeps those as undesired).
      - V(disconnected) disconnects them. An auto-connection disconnected this way stays undesired, so snapd does
        not re-create it, unless O(forget=true).
    type: str
    choices: [connected, disconnected]
    default: connected
  forget:
    description:
      - With O(state=disconnected), also make snapd forget the connection, so that auto-connection may
        re-create it at the next refresh. Forgets an undesired auto-connection that is already disconnected.
      - Only valid with O(state=disconnected).
    type: bool
    default: false
  connections:
    description:
      - A list of connections to reconcile in one run, instead of O(plug), O(slot), O(state) and O(forget).
      - Changes are applied disconnects first, then connects. If one fails, the module fails and reports what
        was done (RV(actions)) and what was not (RV(pending)).
    type: list
    elements: dict
    suboptions:
      plug:
        description: The plug, as V(snap:plug).
        type: str
        required: true
      slot:
        description: The slot, as for the top-level O(slot).
        type: str
      state:
        description: As for the top-level O(state).
        type: str
        choices: [connected, disconnected]
        default: connected
      forget:
        description: As for the top-level O(forget).
        type: bool
        default: false
  exclusive:
    description:
      - With O(connections), also disconnect every established shared-memory connection on the host that the
        list does not name.
      - A private plug's connection to the system slot is kept unless the list names it with
        O(connections[].state=disconnected).
    type: bool
    default: false
  force:
    description:
      - Disconnect even when processes of the plug's or the slot's snap hold the connection's objects open or mapped.
      - The risk is to those apps. The disconnect removes their AppArmor grant at once, so their next access to the
        objects fails (an already mapped object may stay usable until it is unmapped), and a private plug's apps
        lose their C(/dev/shm). Stop the apps first where you can; the module warns which ones were in use.
    type: bool
    default: false
notes:
  - 'Changing connections needs root on the target; use C(become: true). Reading does not.'
  - Needs snapd 2.54 or later, and 2.55.3 or later for private plugs and the system slot.
seealso:
  - module: snapfleet.snapd.shm_info
"""

EXAMPLES = r"""
- name: Let the consumer use the memory the provider shares
  snapfleet.snapd.shm_connection:
    plug: consumer:shmem
    slot: provider:shmem
  become: true

- name: Give a private plug its own /dev/shm again after a manual disconnect
  snapfleet.snapd.shm_connection:
    plug: shm-private:shmem-private
  become: true

- name: Disconnect and let auto-connection decide again at the next refresh
  snapfleet.snapd.shm_connection:
    plug: consumer:shmem
    slot: provider:shmem
    state: disconnected
    forget: true
  become: true

- name: Exactly these shared-memory connections, nothing else
  snapfleet.snapd.shm_connection:
    connections:
      - plug: consumer:shmem
        slot: provider:shmem
      - plug: logger:shmem
        slot: provider:shmem
      - plug: legacy:shmem
        slot: provider:shmem
        state: disconnected
    exclusive: true
  become: true
"""

RETURN = r"""
connections:
  description:
    - The established shared-memory connections after the run (predicted in check mode), sorted by plug.
    - System slots carry the name snapd reports, V(snapd) or V(core).
  returned: success
  type: list
  elements: dict
  contains:
    plug:
      description: The plug, as V(snap:plug).
      type: str
      sample: consumer:shmem
    slot:
      description: The slot, as V(snap:slot).
      type: str
      sample: provider:shmem
    manual:
      description: Whether the connection was made by hand rather than by auto-connection.
      type: bool
    gadget:
      description: Whether the gadget snap declared the connection.
      type: bool
  sample:
    - {plug: consumer:shmem, slot: provider:shmem, manual: true, gadget: false}
undesired:
  description:
    - Auto-connections that were disconnected by hand, which snapd will not re-create; same keys as RV(connections).
  returned: success
  type: list
  elements: dict
  sample: []
actions:
  description:
    - The changes made, in order; in check mode, the changes that would be made.
    - On a failure part-way through O(connections), only the changes that were made.
  returned: always
  type: list
  elements: dict
  contains:
    action:
      description: V(connect), V(disconnect), or V(forget) (a disconnect that also forgets).
      type: str
    plug:
      description: The plug, as V(snap:plug).
      type: str
    slot:
      description: The slot, as V(snap:slot).
      type: str
    reason:
      description: Why the change is needed.
      type: str
  sample:
    - {action: connect, plug: consumer:shmem, slot: provider:shmem, reason: listed as connected}
pending:
  description: When a change failed part-way through, the changes that were not made, the failed one first.
  returned: failure
  type: list
  elements: dict
  sample: []
refusals:
  description: When the request was refused before anything was sent, why, one entry per problem.
  returned: failure
  type: list
  elements: dict
  contains:
    code:
      description:
        - A stable kebab-case code, for example V(identifier-mismatch), V(unknown-plug), V(connection-in-use) for a
          disconnect refused because processes use the connection, or V(users-unknown) when some processes that may
          use it could not be read.
      type: str
    message:
      description: What is wrong and what to do about it.
      type: str
    plug:
      description: For V(connection-in-use), the plug of the connection, as V(snap:plug).
      type: str
    slot:
      description: For V(connection-in-use), the slot of the connection, as V(snap:slot).
      type: str
    users:
      description:
        - For V(connection-in-use), the processes using it, each with C(pid), C(snap), C(app) (as in
          C(snap.SNAP.APP)) and the C(paths) under C(/dev/shm) it holds.
      type: list
      elements: dict
  sample:
    - code: connection-in-use
      plug: consumer:shmem
      slot: provider:shmem
      message: "consumer:shmem - provider:shmem is in use by consumer.app pid 1234 (/dev/shm/bar): stop those apps, or set force: true"
      users: [{pid: 1234, snap: consumer, app: app, paths: [/dev/shm/bar]}]
api_requests:
  description: How many HTTP requests were sent to snapd.
  returned: always
  type: int
  sample: 3
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_plan import (
    build_plan,
    connection_item_spec,
    connections_view,
    desired_connection,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_state import (
    read_connections,
    read_snap_interfaces,
    read_state,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_users import (
    connection_snaps,
    connections_in_use,
    in_use_message,
    planned_disconnects,
    read_snap_processes,
    unseen_message,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd import (
    SnapdClient, SnapdError, client_argument_spec, client_params_error)

HOST_ROOT = "/"  # the unit tests point it at a fake host tree


def argument_spec():
    spec = connection_item_spec()
    del spec["plug"]["required"]  # plug or connections: required_one_of in main()
    spec.update(
        connections=dict(type="list", elements="dict", options=connection_item_spec()),
        exclusive=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        **client_argument_spec()
    )
    return spec


def desired_items(params):
    if params["connections"] is None:
        items = [params]
    else:
        items = params["connections"]
    return [desired_connection(i["plug"], i["slot"], i["state"], i["forget"]) for i in items]


def apply_plan(module, client, plan):
    """Send the plan's actions in order; on a failure, report what was done and what was not."""
    done = []
    for index, action in enumerate(plan.actions):
        try:
            client.interfaces_action(**action.request())
        except SnapdError as error:
            pending = [a.as_dict() for a in plan.actions[index:]]
            module.fail_json(
                msg="%s %s to %s failed after %d of %d changes: %s"
                % (action.action, action.plug, action.slot, len(done), len(plan.actions), error),
                changed=bool(done),
                actions=done,
                pending=pending,
                api_requests=client.request_count,
            )
        done.append(action.as_dict())
    return done


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("connections", "plug"), ("connections", "slot"), ("connections", "state"), ("connections", "forget")],
        required_one_of=[("plug", "connections")],
        required_if=[("exclusive", True, ("connections",))],
        supports_check_mode=True,
    )
    problem = client_params_error(module.params)
    if problem:
        module.fail_json(msg=problem)
    try:
        desired = desired_items(module.params)
    except ValueError as error:
        module.fail_json(msg=str(error))

    client = SnapdClient(module.params["socket"], module.params["timeout"])
    try:
        state = read_state(client)
        plan = build_plan(desired, state, module.params["exclusive"])
        if plan.refusals and plan.unknown_snaps:
            plan = build_plan(desired, state, module.params["exclusive"], read_snap_interfaces(client, plan.unknown_snaps))
    except SnapdError as error:
        module.fail_json(msg=str(error), api_requests=client.request_count)

    if plan.refusals:
        module.fail_json(
            msg="refused before changing anything: " + "; ".join(r.message for r in plan.refusals),
            refusals=[{"code": r.code, "message": r.message} for r in plan.refusals],
            actions=[],
            api_requests=client.request_count,
        )

    # before any POST, for the whole plan: a refused disconnect leaves every connection as it was
    disconnects = planned_disconnects(state, plan.actions)
    scan = read_snap_processes(HOST_ROOT, connection_snaps(state, disconnects))
    in_use = connections_in_use(state, disconnects, scan.processes)
    refusals = [dict(code="connection-in-use", plug=str(connection.plug), slot=str(connection.slot), users=users,
                     message="%s: stop those apps, or set force: true" % in_use_message(connection, users))
                for connection, users in in_use]
    if not scan.complete:
        # a process the guard cannot read may hold the objects: not seeing one is no proof that nobody does
        refusals.append(dict(code="users-unknown", message="%s: run the task as root (become: true), or set force: "
                                                           "true" % unseen_message(scan)))
    if refusals and not module.params["force"]:
        module.fail_json(
            msg="refused before changing anything: " + "; ".join(r["message"] for r in refusals),
            refusals=refusals,
            actions=[],
            api_requests=client.request_count,
        )
    for connection, users in in_use:
        module.warn("disconnecting with force: %s" % in_use_message(connection, users))
    if not scan.complete:
        module.warn("disconnecting with force: %s" % unseen_message(scan))

    after = plan.after_view()
    actions = [a.as_dict() for a in plan.actions]
    if plan.changed and not module.check_mode:
        if os.geteuid() != 0:
            module.fail_json(
                msg="changing snapd connections needs root: run the task with become: true (%d change(s) planned)"
                % len(plan.actions),
                actions=[],
                pending=actions,
                api_requests=client.request_count,
            )
        actions = apply_plan(module, client, plan)
        try:
            after = connections_view(read_connections(client))
        except SnapdError as error:
            module.fail_json(
                msg="made every change, then could not re-read the connections: %s" % error,
                changed=True,
                actions=actions,
                api_requests=client.request_count,
            )

    result = dict(
        changed=plan.changed,
        connections=after["connections"],
        undesired=after["undesired"],
        actions=actions,
        api_requests=client.request_count,
    )
    if module._diff:
        result["diff"] = {"before": plan.before_view(), "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
