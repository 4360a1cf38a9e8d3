#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: shm_verify
short_description: Audit a host's snapd shared-memory setup and report findings
version_added: 0.1.0
description:
  - Proves, host by host, that the declared shared-memory setup is in force, and reports every deviation as a
    finding with a stable code, a severity, the subject, a message and the evidence. It never changes anything.
  - "C(dev-shm): C(/dev/shm) is a real directory (a symlink breaks every private plug), a tmpfs mount, mode 1777,
    owned by root, mounted nosuid and nodev."
  - "C(connections): each connection of O(connections) is established (or not, for V(disconnected)), no other
    shared-memory connection exists, plug and slot identifiers match, no private plug is connected to an app
    slot, and the read/write stored with each connection equal the slot's current ones (snapd before 2.64 keeps
    stale ones after a refresh). A connection the gadget snap made is the device maker's: expected while it is
    established, and an error (V(gadget-connection-undesired)) once someone disconnected it, since snapd never makes
    it again; O(manage_gadget_connections) treats them like any other, as M(snapfleet.snapd.shm_connection) does."
  - "C(apparmor): the generated profile of every app bound to a shared-memory plug or slot holds exactly the
    rules its connections grant (per snapd version: C(rwk) before 2.56.1, C(mrwlk) after; private C(/dev/shm/*)
    before 2.60.2, C(/dev/shm/**) after; an app slot's rules even for a private plug wrongly connected to it, as
    snapd writes them), and is loaded in enforce mode. The profiles of the snaps' hooks
    (C(snap.NAME.hook.HOOK)) may hold only rules their snap's connections grant (snapd's API does not say which
    hooks a plug is bound to), and C(snap-update-ns.NAME) holds the private C(/dev/shm) mount rule exactly when the
    snap has a private connection. A devmode or classic snap, whose profiles snapd makes complain or unconfined on
    purpose (classic ones without interface rules), gives no AppArmor finding. Whether AppArmor is in force is
    read from the kernel, not from snapd's C(confinement), which Debian's snapd reports as C(partial) while it
    enforces. Where the kernel does not enforce AppArmor, one V(apparmor-disabled) info finding replaces them."
  - "C(private): each snap of O(private_snaps) is connected to the system slot and not undesired; the desired
    mount profile has the C(/dev/shm) bind; when its mount namespace exists, the applied profile has it and
    C(/dev/shm) inside the namespace is the bind of C(/dev/shm/snap.NAME) (read by entering the namespace from a
    forked child, no binary of the snap needed), else the setup is reported pending (info); the host's
    C(/dev/shm/snap.NAME), if present, is a root-owned 1777 directory and not a symlink."
  - "C(objects): objects matching each slot's declared paths, with owner and mode (info), at most 20 per slot (the
    first by name) and a count of the rest (V(shm-objects-more)), since any local user can create them; an object
    lstat cannot examine (V(shm-object-unreadable), warning); C(*) and C(.) paths (warning); for each established
    connection, the processes of its plug's and slot's snaps that hold its objects open or mapped
    (V(connection-in-use), info), found from C(/proc/PID/task/TID/fd) and C(/proc/PID/task/TID/maps); for a
    private plug, any object in the snap's own C(/dev/shm); processes that could not be read
    (V(connection-users-unknown), warning)."
  - "C(warnings): snapd's warnings about shared-memory plugs or slots it dropped, quoted."
  - "C(declarations): the rules of M(snapfleet.snapd.shm_lint), as the host's snapd version applies them, over
    every installed snap's C(meta/snap.yaml) that can declare a shared-memory plug or slot (read on the host through
    snapd's C(/snap/NAME/current) link, no other link followed, at most 1 MiB; parsed and linted on the controller
    when the host has no YAML parser), and over the plugs and slots snapd holds (from its API). snapd warns about a
    declaration it dropped only when it installs or refreshes the snap, and forgets the warning after 28 days, so the
    installed C(snap.yaml) is what still shows it then."
  - "A dropped declaration (V(declaration-dropped)) is an error for a snap the desired state names (the snaps of
    O(connections) and O(private_snaps)), and a warning (V(unrelated-declaration-dropped)) for any other snap, so
    an unrelated broken snap does not fail a compliance gate. When neither option is given, every snap counts as
    named."
  - /dev/shm is treated as hostile ground. Entries there are only lstat'ed relative to an O_NOFOLLOW handle on
    /dev/shm, never opened or followed, and no shell or program is run.
author:
  - snapfleet maintainers (@snapfleet)
extends_documentation_fragment:
  - snapfleet.snapd._snapd
  - snapfleet.snapd._snapd.info_module
options:
  connections:
    description:
      - The connections the host should have, in the item form of M(snapfleet.snapd.shm_connection)'s
        O(snapfleet.snapd.shm_connection#module:connections), so the same list can be used for both.
      - When set, every established shared-memory connection it does not name is reported as
        V(connection-unexpected), except a private plug's connection to the system slot for a snap of
        O(private_snaps).
      - When not set, connections are only checked for soundness (identifiers, private target, stale attributes).
    type: list
    elements: dict
    suboptions:
      plug:
        description: The plug, as V(snap:plug).
        type: str
        required: true
      slot:
        description:
          - The slot, as V(snap:slot), or V(:shared-memory) for the system slot.
          - May be left out for a private plug; it then means the system slot.
        type: str
      state:
        description: Whether the connection should be established (V(connected)) or absent (V(disconnected)).
        type: str
        choices: [connected, disconnected]
        default: connected
      forget:
        description: Accepted so that a list written for M(snapfleet.snapd.shm_connection) works as is; ignored here.
        type: bool
        default: false
      allow_identifier_mismatch:
        description:
          - As in M(snapfleet.snapd.shm_connection), the connection's plug and slot identifiers may differ. Its
            mismatch is then the info finding V(identifier-mismatch-allowed) instead of the error
            V(identifier-mismatch).
        type: bool
        default: false
  manage_gadget_connections:
    description:
      - Treat connections the gadget snap made like any other, as M(snapfleet.snapd.shm_connection) does with the
        same option; use the same value for both.
      - When false, an established gadget connection is never V(connection-unexpected), and a disconnected one is a
        V(gadget-connection-undesired) error unless O(connections) lists it as V(disconnected).
    type: bool
    default: false
  private_snaps:
    description:
      - Snaps (instance names) whose private C(/dev/shm) setup to check.
      - "Default is every snap with a C(private: true) shared-memory plug."
    type: list
    elements: str
  checks:
    description:
      - The check families to run. See the description for what each one checks.
    type: list
    elements: str
    choices: [dev-shm, connections, apparmor, private, objects, warnings, declarations]
    default: [dev-shm, connections, apparmor, private, objects, warnings, declarations]
notes:
  - "Needs root on the target to read AppArmor profiles, mount namespaces, the mount profiles and other users'
    C(/proc/PID) entries; use C(become: true).
    The module fails, with one message, only when it cannot check at all (not root, snapd unreachable, a host file
    unreadable); findings never fail it. Gate on RV(compliant) in a later task or a report."
seealso:
  - module: snapfleet.snapd.shm_lint
  - module: snapfleet.snapd.shm_connection
  - module: snapfleet.snapd.shm_info
"""

EXAMPLES = r"""
- name: Audit the host against the connections we manage
  snapfleet.snapd.shm_verify:
    connections:
      - plug: consumer:shmem
        slot: provider:shmem
      - plug: shm-private:shmem-private
  become: true
  register: shm_audit

- name: Fail the host only after the report has the data
  ansible.builtin.assert:
    that: shm_audit.compliant
    fail_msg: "{{ shm_audit.findings | selectattr('severity', 'equalto', 'error') | map(attribute='message') | list }}"

- name: Only look at /dev/shm and the private setups
  snapfleet.snapd.shm_verify:
    checks: [dev-shm, private]
    private_snaps: [shm-private]
  become: true
"""

RETURN = r"""
compliant:
  description: True when no finding has severity V(error).
  returned: success
  type: bool
  sample: true
snapd_version:
  description: snapd's version, as C(/v2/system-info) reports it.
  returned: success
  type: str
  sample: "2.68.3"
summary:
  description: Number of findings per severity.
  returned: success
  type: dict
  sample: {"error": 0, "warning": 1, "info": 3}
findings:
  description:
    - Everything found, one entry per fact. C(docs/findings.md) is the table of all codes.
    - "Errors: V(dev-shm-missing), V(dev-shm-symlink), V(dev-shm-not-directory), V(dev-shm-not-tmpfs),
      V(dev-shm-mode), V(dev-shm-owner), V(connection-missing), V(connection-unexpected), V(endpoint-missing),
      V(identifier-mismatch), V(private-to-app-slot), V(gadget-connection-undesired), V(slot-attrs-stale),
      V(apparmor-profile-missing),
      V(apparmor-rule-missing), V(apparmor-rule-unexpected), V(apparmor-profile-not-enforced),
      V(private-not-connected), V(private-undesired), V(private-unsupported), V(private-fstab-missing),
      V(private-applied-fstab-missing), V(private-mount-missing), V(private-dir-symlink),
      V(private-dir-not-directory), V(private-dir-squatted), V(private-dir-mode), V(private-dir-unreadable),
      V(connection-private-unset), V(declaration-dropped), and the error codes of M(snapfleet.snapd.shm_lint)."
    - "Warnings: V(dev-shm-mount-options), V(connection-grants-nothing), V(private-namespace-unreadable),
      V(private-dir-umask), V(path-too-broad), V(shm-object-unreadable), V(connection-users-unknown),
      V(unrelated-declaration-dropped), V(snap-yaml-unreadable), and the warning codes of
      M(snapfleet.snapd.shm_lint)."
    - "Info: V(apparmor-disabled), V(private-namespace-pending), V(shm-object), V(shm-objects-more),
      V(connection-in-use), V(identifier-mismatch-allowed)."
    - "A V(connection-in-use) finding's evidence holds the connection's C(plug) and C(slot) and its C(users), each with
      C(pid), C(snap), C(app) (as in C(snap.SNAP.APP); C(hook.NAME) for a hook) and the C(paths) under C(/dev/shm)
      it holds, as the process sees them."
  returned: success
  type: list
  elements: dict
  contains:
    code:
      description: Stable kebab-case code.
      type: str
      sample: private-dir-squatted
    severity:
      description: V(error), V(warning) or V(info).
      type: str
      sample: error
    subject:
      description:
        - What the finding is about, such as C(/dev/shm), C(plug SNAP:PLUG), C(app SNAP.APP), C(hook SNAP.HOOK),
          C(update-ns SNAP), C(private SNAP), C(snap SNAP) or C(SNAP:NAME) for a dropped declaration.
      type: str
      sample: private shm-private
    message:
      description: What is wrong, quoting snapd where snapd said it.
      type: str
      sample: "/dev/shm/snap.shm-private is owned by uid 1000, not root: another user created the snap's private /dev/shm"
    evidence:
      description: The facts the finding rests on (paths, modes, attributes, rules, snapd's warning text).
      type: dict
      sample: {"path": "/dev/shm/snap.shm-private", "kind": "dir", "uid": 1000, "gid": 1000, "mode": "0755"}
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
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run_verify import run_verify
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_specs import shm_verify_spec

HOST_ROOT = "/"  # the unit tests point it at a fake host tree


def main():
    run_as_module(AnsibleModule, shm_verify_spec(), run_verify, HOST_ROOT)


if __name__ == "__main__":
    main()
