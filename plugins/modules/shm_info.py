#!/usr/bin/python
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: shm_info
short_description: Read snapd's shared-memory plugs, slots, connections and warnings
version_added: 0.1.0
description:
  - Reports, through snapd's REST API, the snapd version and confinement, every C(shared-memory) plug and slot with
    its identifier, C(read)/C(write) paths, C(private) flag, apps and connections, the established and undesired
    connections, and the plugs and slots snapd dropped for a bad declaration, quoting snapd's warning.
  - Lists, for each established connection, the processes of its plug's and slot's snaps that hold the
    connection's objects open or mapped (from C(/proc/PID/fd) and C(/proc/PID/maps), for each thread), the ones a
    disconnect would pull the objects from under.
  - Reading needs no root, but without root only the processes of the same user are seen; the module warns when it
    could not read some processes. Nothing on the host changes, and snapd's warnings are not acknowledged.
author:
  - snapfleet maintainers (@snapfleet)
extends_documentation_fragment:
  - snapfleet.snapd._snapd
  - snapfleet.snapd._snapd.info_module
options:
  snaps:
    description:
      - Only report plugs, slots, connections and dropped declarations that involve these snaps.
      - V(system), V(core) and V(snapd) all name the system snap.
    type: list
    elements: str
seealso:
  - module: snapfleet.snapd.shm_connection
"""

EXAMPLES = r"""
- name: Read every shared-memory plug, slot and connection
  snapfleet.snapd.shm_info:
  register: shm

- name: Fail when snapd dropped a shared-memory declaration
  ansible.builtin.assert:
    that: shm.dropped_declarations | length == 0
    fail_msg: "{{ shm.dropped_declarations | map(attribute='warning') | join('; ') }}"

- name: Only the provider and its consumers
  snapfleet.snapd.shm_info:
    snaps: [provider]
"""

RETURN = r"""
version:
  description: snapd's version, as it reports it.
  returned: success
  type: str
  sample: 2.63+24.04
confinement:
  description: V(strict), or V(partial) when AppArmor is not enforced.
  returned: success
  type: str
  sample: strict
system_snap:
  description: The name snapd gives the system snap in connections, V(snapd) or V(core).
  returned: success
  type: str
  sample: snapd
plugs:
  description: Every shared-memory plug.
  returned: success
  type: list
  elements: dict
  contains:
    snap:
      description: The snap (instance) name.
      type: str
    plug:
      description: The plug name.
      type: str
    identifier:
      description: The C(shared-memory) attribute, which snapd defaults to the plug name; V(null) for a private plug.
      type: str
    private:
      description: 'Whether the plug has C(private: true), a /dev/shm of its own through the system slot.'
      type: bool
    attrs:
      description: The plug's attributes after snapd sanitized them.
      type: dict
    apps:
      description: The apps bound to the plug (hooks are not listed by snapd).
      type: list
      elements: str
    connections:
      description: The slots it is connected to, as V(snap:slot).
      type: list
      elements: str
  sample:
    - {snap: consumer, plug: shmem, identifier: foo, private: false, attrs: {shared-memory: foo, private: false},
       apps: [app], connections: ["provider:shmem"]}
slots:
  description: Every shared-memory slot, including the system slot from snapd 2.55.3.
  returned: success
  type: list
  elements: dict
  contains:
    snap:
      description: The snap (instance) name.
      type: str
    slot:
      description: The slot name.
      type: str
    identifier:
      description: The C(shared-memory) attribute, which snapd defaults to the slot name; V(null) for the system slot.
      type: str
    read:
      description: Names under /dev/shm the plug side may read.
      type: list
      elements: str
    write:
      description: Names under /dev/shm both sides may write.
      type: list
      elements: str
    attrs:
      description: The slot's attributes.
      type: dict
    apps:
      description: The apps bound to the slot.
      type: list
      elements: str
    connections:
      description: The plugs connected to it, as V(snap:plug).
      type: list
      elements: str
  sample:
    - {snap: provider, slot: shmem, identifier: foo, read: [bar-ro], write: [bar], attrs: {}, apps: [app],
       connections: ["consumer:shmem"]}
connections:
  description: Established shared-memory connections.
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
    manual:
      description: Made by hand rather than by auto-connection.
      type: bool
    gadget:
      description: Declared by the gadget snap.
      type: bool
    plug_attrs:
      description: The plug's attributes as stored when it was connected.
      type: dict
    slot_attrs:
      description: The slot's attributes as stored when it was connected (stale before snapd 2.64 if the slot changed).
      type: dict
    users:
      description:
        - The processes of the plug's and the slot's snaps that hold objects the connection grants open or mapped.
          For a private plug, the processes of its snap holding anything in its own C(/dev/shm).
      type: list
      elements: dict
      contains:
        pid:
          description: The process id.
          type: int
        snap:
          description: The snap the process belongs to, from its AppArmor label (from its cgroup only when there is no
            AppArmor label to read).
          type: str
        app:
          description: The app, as in C(snap.SNAP.APP); C(hook.NAME) for a hook.
          type: str
        paths:
          description: The objects it holds, as paths under C(/dev/shm) as the process sees them.
          type: list
          elements: str
  sample:
    - {plug: "consumer:shmem", slot: "provider:shmem", manual: true, gadget: false,
       plug_attrs: {shared-memory: foo, private: false}, slot_attrs: {shared-memory: foo, write: [bar]},
       users: [{pid: 1234, snap: consumer, app: read, paths: [/dev/shm/bar]}]}
undesired:
  description:
    - Auto-connections someone disconnected by hand; snapd does not re-create them. Same keys as RV(connections),
      with empty attributes and no RV(connections[].users).
  returned: success
  type: list
  elements: dict
  sample: []
dropped_declarations:
  description: Shared-memory plugs and slots snapd left out of a snap because their declaration is invalid.
  returned: success
  type: list
  elements: dict
  contains:
    snap:
      description: The snap.
      type: str
    name:
      description: The plug or slot name.
      type: str
    reason:
      description: snapd's reason for this plug or slot.
      type: str
    warning:
      description: snapd's whole warning, as C(snap warnings) shows it.
      type: str
  sample:
    - {snap: shm-broken, name: shmem, reason: "shared memory interface requires at least a valid \"read\" or \"write\" attribute",
       warning: "snap \"shm-broken\" has bad plugs or slots: shmem (shared memory interface requires at least a valid \"read\" or \"write\" attribute)"}
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
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run import run_info
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_specs import shm_info_spec

HOST_ROOT = "/"  # the unit tests point it at a fake host tree


def main():
    run_as_module(AnsibleModule, shm_info_spec(), run_info, HOST_ROOT)


if __name__ == "__main__":
    main()
