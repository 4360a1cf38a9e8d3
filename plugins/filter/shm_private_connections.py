# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: shm_private_connections
short_description: Turn snaps with a private /dev/shm into shm_connection list items
version_added: 0.1.0
description:
  - "Turns each entry of a list of snaps whose private C(/dev/shm) must be set up into an item of
    M(snapfleet.snapd.shm_connection)'s O(snapfleet.snapd.shm_connection#module:connections) with the slot left
    out, which that module reads as the system slot for a C(private: true) plug."
  - An entry is a snap (instance) name, which gets the plug name O(plug), or V(snap:plug).
  - The entries are not validated here; M(snapfleet.snapd.shm_connection) refuses a bad name with its own message.
author:
  - snapfleet maintainers (@snapfleet)
options:
  _input:
    description: Snap names, or V(snap:plug).
    type: list
    elements: str
    required: true
  plug:
    description: The plug name given to an entry that names only the snap.
    type: str
    default: shared-memory
"""

EXAMPLES = r"""
- name: Connect the private plugs of two snaps to the system slot
  snapfleet.snapd.shm_connection:
    connections: "{{ ['robot-arm', 'camera:shm'] | snapfleet.snapd.shm_private_connections }}"
    # [{plug: robot-arm:shared-memory}, {plug: camera:shm}]
"""

RETURN = r"""
_value:
  description: One C({plug}) item per entry, in the order given.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError


def shm_private_connections(snaps, plug="shared-memory"):
    """``['robot-arm', 'camera:shm']`` -> ``[{'plug': 'robot-arm:shared-memory'}, {'plug': 'camera:shm'}]``."""
    if isinstance(snaps, (str, bytes)) or not hasattr(snaps, "__iter__"):
        raise AnsibleFilterError("shm_private_connections expects a list of snap names, got %r" % (snaps,))
    items = []
    for entry in snaps:
        if not isinstance(entry, str):
            raise AnsibleFilterError("shm_private_connections: %r is not a snap name" % (entry,))
        items.append({"plug": entry if ":" in entry else "%s:%s" % (entry, plug)})
    return items


class FilterModule:
    def filters(self):
        return {"shm_private_connections": shm_private_connections}
