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
      - The diff shows the shared-memory connections (and undesired auto-connections) before and after, one line
        per connection, so a connect is one added line and a disconnect one removed line.
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
  allow_identifier_mismatch:
    description:
      - Connect the plug to the slot although their C(shared-memory) identifiers differ, which the module refuses
        otherwise.
      - Only for the rare pair whose snap declaration in the store allows it (snapd applies the identifier rule of
        its base declaration, which a store rule on either snap replaces, and skips it for snaps installed with
        C(--dangerous)). The action's reason and a warning in the result say the mismatch was let through.
    type: bool
    default: false
  connections:
    description:
      - A list of connections to reconcile in one run, instead of O(plug), O(slot), O(state), O(forget) and
        O(allow_identifier_mismatch).
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
      allow_identifier_mismatch:
        description: As for the top-level O(allow_identifier_mismatch).
        type: bool
        default: false
  exclusive:
    description:
      - With O(connections), also disconnect every established shared-memory connection on the host that the
        list does not name.
      - A private plug's connection to the system slot is kept unless the list names it with
        O(connections[].state=disconnected).
      - A connection the device's gadget snap made is kept too, unless O(manage_gadget_connections=true), because snapd
        makes those once, at first boot, and keeps one that is disconnected as undesired, so nothing would ever
        make it again. RV(kept) lists what was kept and why.
    type: bool
    default: false
  manage_gadget_connections:
    description:
      - With O(exclusive=true), also disconnect the connections the gadget snap made that the list does not name.
      - Only for fleets that take over the connections the device maker declared; a gadget connection disconnected
        this way stays undesired and is never made again by snapd.
      - A gadget connection the list names with O(connections[].state=disconnected) is disconnected either way.
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
kept:
  description:
    - With O(exclusive=true), the established connections the list does not name that were left alone, and why
      (a private plug's own C(/dev/shm); a connection made by the gadget snap).
  returned: success
  type: list
  elements: dict
  contains:
    plug:
      description: The plug, as V(snap:plug).
      type: str
    slot:
      description: The slot, as V(snap:slot).
      type: str
    reason:
      description: Why it was kept.
      type: str
  sample:
    - {plug: sensor:shmem, slot: provider:shmem, reason: "made by the gadget snap, which snapd makes at first boot only: ..."}
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
transport:
  description: The transport that ran the task, V(python) or V(snap-debug-api) (see O(transport)).
  returned: always
  type: str
  sample: snap-debug-api
remote_commands:
  description: How many commands the V(snap-debug-api) transport ran on the host (one for a run that changes nothing).
  returned: when the transport is V(snap-debug-api)
  type: int
  sample: 1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_local import run_as_module
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run import run_connection
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_specs import shm_connection_spec

HOST_ROOT = "/"  # the unit tests point it at a fake host tree


def main():
    run_as_module(AnsibleModule, shm_connection_spec(), run_connection, HOST_ROOT, modes=True)


if __name__ == "__main__":
    main()
