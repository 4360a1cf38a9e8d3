# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""The host facts shm_verify's checks judge, and which check family needs which of them.

One decoder fills ``HostFacts``: ``_read_plan.facts_from_results``, from what either executor of the read plan
read (``_shm_host.run_plan``, Python on the device, or ``plugin_utils/_sh_read_plan``, a sh script over snap debug
api). The plan reads exactly the facts ``facts_needed`` names for the chosen families, and ``_verify_checks.verify`` refuses facts that lack
one its families need: ``FACTS_BY_FAMILY`` is the only place that knowledge is written. A fact no chosen
family needs stays ``NOT_GATHERED``, which no real value (None included) can be mistaken for.

Pure records: nothing here reads the host, so the module and the controller import it alike.
"""

from __future__ import annotations

import dataclasses
import typing as t


class _NotGathered:
    """The value of a fact the gatherer was not asked for (its family was not chosen)."""

    def __repr__(self):
        return "NOT_GATHERED"

    def __reduce__(self):
        return "NOT_GATHERED"


NOT_GATHERED = _NotGathered()


@dataclasses.dataclass(frozen=True)
class PrivateSetup:
    """What the private checks look at for one snap (instance) with a private plug.

    desired_fstab is /var/lib/snapd/mount/snap.NAME.fstab (None: absent); namespace whether snapd preserved
    the snap's mount namespace (/run/snapd/ns/NAME.mnt); applied_fstab (/run/snapd/ns/snap.NAME.fstab) and
    namespace_mounts (the namespace's MountEntry list) are read only when there is a namespace, and
    namespace_error says why its mounts could not be; dir is lstat's FileFacts of /dev/shm/snap.NAME (None:
    absent) and dir_error why lstat failed on it.
    """

    desired_fstab: t.Optional[str] = None
    namespace: bool = False
    applied_fstab: t.Optional[str] = None
    namespace_mounts: t.Optional[t.Sequence[t.Any]] = None
    namespace_error: t.Optional[str] = None
    dir: t.Any = None
    dir_error: t.Optional[str] = None


@dataclasses.dataclass(frozen=True)
class HostFacts:
    """The host facts of one shm_verify run; each is NOT_GATHERED unless a chosen family needs it.

    dev_shm: lstat's FileFacts of /dev/shm (None: absent). mounts: the host's MountEntry list.
    apparmor_enabled: whether the kernel enforces AppArmor; kernel_profiles {profile: mode} from securityfs
    (None: unreadable); profiles {(snap, app): generated profile text or None}, hooks as (snap, "hook.NAME");
    update_ns_profiles {snap: snap-update-ns profile text or None} (both empty when AppArmor is off).
    private: {snap: PrivateSetup}. dev_shm_listing: _read_plan.DevShmListing of the slots' paths.
    processes: _proc_scan.ProcessScan of the connections' snaps. installed_snaps: the /snap entries (None:
    unlisted). snap_yamls: {snap: _read_plan.SnapYamlText} of the snap.yaml files that may declare shared-memory.
    """

    dev_shm: t.Any = NOT_GATHERED
    mounts: t.Any = NOT_GATHERED
    apparmor_enabled: t.Any = NOT_GATHERED
    kernel_profiles: t.Any = NOT_GATHERED
    profiles: t.Any = NOT_GATHERED
    update_ns_profiles: t.Any = NOT_GATHERED
    private: t.Any = NOT_GATHERED
    dev_shm_listing: t.Any = NOT_GATHERED
    processes: t.Any = NOT_GATHERED
    installed_snaps: t.Any = NOT_GATHERED
    snap_yamls: t.Any = NOT_GATHERED

    def gathered(self, name):
        """Whether the fact `name` was gathered."""
        return getattr(self, name) is not NOT_GATHERED

    def missing(self, families):
        """The facts the check `families` need that were not gathered, in field order."""
        return [name for name in facts_needed(families) if not self.gathered(name)]


# check family (the shm_verify `checks` choices, _shm_findings.FAMILIES) -> the HostFacts fields its checks read
FACTS_BY_FAMILY = {
    "dev-shm": ("dev_shm", "mounts"),
    "connections": (),
    "apparmor": ("apparmor_enabled", "kernel_profiles", "profiles", "update_ns_profiles"),
    # the host's mounts tell which device /dev/shm is, which the namespace's bind must be of
    "private": ("mounts", "private"),
    "objects": ("dev_shm_listing", "processes"),
    "warnings": ("installed_snaps",),
    "declarations": ("snap_yamls",),
}


def facts_needed(families):
    """The HostFacts fields the check `families` need, in field order (the order the gatherers read them in)."""
    needed = set(name for family in families for name in FACTS_BY_FAMILY[family])
    return [item.name for item in dataclasses.fields(HostFacts) if item.name in needed]
