# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""API answers for a host like the lab's: provider/consumer, a private plug, a mismatched pair, a dropped plug."""

from __future__ import annotations

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_state import state_from_api

BROKEN_WARNING = (
    'snap "shm-broken" has bad plugs or slots: shmem (shared memory interface requires at least a valid "read" or '
    '"write" attribute)'
)


def plug(snap, name, **attrs):
    return {"snap": snap, "plug": name, "interface": "shared-memory", "attrs": attrs, "apps": ["app"]}


def slot(snap, name, **attrs):
    return {"snap": snap, "slot": name, "interface": "shared-memory", "attrs": attrs, "apps": ["app"]}


def connection(plug_ref, slot_ref, manual=True, gadget=False):
    entry = {
        "plug": dict(zip(("snap", "plug"), plug_ref.split(":"))),
        "slot": dict(zip(("snap", "slot"), slot_ref.split(":"))),
        "interface": "shared-memory",
    }
    if manual:
        entry["manual"] = True
    if gadget:
        entry["gadget"] = True
    return entry


def host(version="2.63", system_snap="snapd", established=(), undesired=(), warnings=(), extra_plugs=(), extra_slots=()):
    connections = {
        "established": list(established),
        "undesired": list(undesired),
        "plugs": [
            plug("consumer", "shmem", **{"shared-memory": "foo", "private": False}),
            plug("logger", "shmem", **{"shared-memory": "foo", "private": False}),
            plug("stranger", "shmem", **{"shared-memory": "other", "private": False}),
            plug("shm-private", "shmem-private", private=True),
        ] + list(extra_plugs),
        "slots": [
            slot("provider", "shmem", **{"shared-memory": "foo", "write": ["bar"], "read": ["bar-ro"]}),
            {"snap": system_snap, "slot": "shared-memory", "interface": "shared-memory"},
        ] + list(extra_slots),
    }
    return state_from_api({"version": version, "confinement": "strict"}, connections, list(warnings))


# the lab's shm-broken (tests/lab/snaps/shm-broken): snapd drops both of its declarations
BROKEN_SNAP_YAML = """name: shm-broken
version: '1.0'
plugs:
  bad-private:
    interface: shared-memory
    private: true
    shared-memory: not-allowed-with-private
slots:
  bad-path:
    interface: shared-memory
    write: [/dev/shm/x]
"""


def install_snap_yaml(root, snap, text, revision="x1"):
    """/snap/SNAP/REVISION/meta/snap.yaml under root, with snapd's current -> REVISION link; returns the file."""
    import os

    meta = os.path.join(str(root), "snap", snap, revision, "meta")
    os.makedirs(meta, exist_ok=True)
    current = os.path.join(str(root), "snap", snap, "current")
    if not os.path.lexists(current):
        os.symlink(revision, current)
    path = os.path.join(meta, "snap.yaml")
    with open(path, "w") as handle:
        handle.write(text)
    return path
