# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""Finding codes of shm_lint and shm_verify: the one table, and the finding record itself.

docs/findings.md and the modules' RETURN docs list the same codes; a unit test keeps them in step.
"""

from __future__ import annotations

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITIES = (ERROR, WARNING, INFO)

# code -> (severity, family, one-line meaning). Families are the shm_verify `checks` choices;
# "declarations" is also what shm_lint runs.
FINDING_CODES = {
    # declarations: snapd's own rules (error, snapd's wording) and the document's unenforced ones
    "declaration-malformed": (ERROR, "declarations", "a plug or slot snapd cannot read (snapd's words); snapd refuses the whole snap"),
    "name-invalid": (ERROR, "declarations", "a plug or slot name snapd refuses (lowercase letters, digits and single dashes); snapd refuses the whole snap"),
    "interface-name-invalid": (ERROR, "declarations", "a plug or slot whose interface name snapd refuses; snapd refuses the whole snap"),
    "plug-slot-same-name": (ERROR, "declarations", "a plug and a slot with the same name (any interface); snapd refuses the whole snap"),
    "identifier-not-string": (ERROR, "declarations", "the shared-memory attribute is not a string; snapd drops the plug or slot"),
    "private-not-bool": (ERROR, "declarations", "private is not a bool (a quoted \"true\" is a string); snapd drops the plug"),
    "private-with-identifier": (ERROR, "declarations", "private: true together with shared-memory; snapd drops the plug"),
    "private-with-other-plugs": (ERROR, "declarations", "a private plug next to other shared-memory plugs; snapd drops it"),
    "private-with-slots": (ERROR, "declarations", "a private plug next to shared-memory slots; snapd drops it"),
    "paths-not-string-list": (ERROR, "declarations", "read or write is not a list of strings; snapd drops the slot"),
    "paths-missing": (ERROR, "declarations", "a slot with neither read nor write paths; snapd drops it"),
    "path-empty": (ERROR, "declarations", "an empty path; snapd drops the slot"),
    "path-spaces": (ERROR, "declarations", "a path with leading or trailing spaces; snapd drops the slot"),
    "path-reserved-char": (ERROR, "declarations", "a path with an AppArmor reserved character; snapd drops the slot"),
    "path-double-star": (ERROR, "declarations", "a path containing **; snapd drops the slot"),
    "path-slash": (ERROR, "declarations", "a path containing / (such as a /dev/shm/ prefix); snapd drops the slot"),
    "path-not-clean": (ERROR, "declarations", "a path that is not clean (..); snapd drops the slot"),
    "path-duplicate": (WARNING, "declarations", "the same path listed twice, or in both read and write (the write grant wins)"),
    "path-too-broad": (WARNING, "declarations", "a lone * or . grants a whole /dev/shm level to both snaps"),
    "plug-paths-ignored": (WARNING, "declarations", "read/write on a plug: snapd ignores them, the slot's paths apply"),
    "slot-private-ignored": (WARNING, "declarations", "private on a slot: snapd ignores it"),
    # warnings: what snapd itself says it dropped; declarations: what the installed snap.yaml says it dropped
    "declaration-dropped": (ERROR, "warnings", "snapd dropped a shared-memory plug or slot of a snap the desired state names (any snap without one)"),
    "unrelated-declaration-dropped": (WARNING, "warnings", "snapd dropped a shared-memory plug or slot of a snap the desired state leaves out"),
    "snap-yaml-unreadable": (WARNING, "declarations", "an installed snap's meta/snap.yaml could not be read or parsed: only snapd's API and warnings count"),
    # dev-shm
    "dev-shm-missing": (ERROR, "dev-shm", "/dev/shm does not exist"),
    "dev-shm-symlink": (ERROR, "dev-shm", "/dev/shm is a symlink: no private plug can ever connect"),
    "dev-shm-not-directory": (ERROR, "dev-shm", "/dev/shm is not a directory"),
    "dev-shm-not-tmpfs": (ERROR, "dev-shm", "/dev/shm is not a tmpfs mount"),
    "dev-shm-mode": (ERROR, "dev-shm", "/dev/shm mode is not 1777"),
    "dev-shm-owner": (ERROR, "dev-shm", "/dev/shm is not owned by root"),
    "dev-shm-mount-options": (WARNING, "dev-shm", "/dev/shm is mounted without nosuid or nodev"),
    # connections
    "connection-missing": (ERROR, "connections", "an expected connection is not established"),
    "connection-unexpected": (ERROR, "connections", "an established shared-memory connection nobody expected"),
    "endpoint-missing": (ERROR, "connections", "an expected connection names a plug or slot snapd does not have"),
    "identifier-mismatch": (ERROR, "connections", "plug and slot of a connection carry different shared-memory identifiers"),
    "identifier-mismatch-allowed": (INFO, "connections", "plug and slot identifiers differ, as the expected connection's allow_identifier_mismatch lets them"),
    "private-to-app-slot": (ERROR, "connections", "a private plug connected to a slot other than the system slot"),
    "connection-grants-nothing": (WARNING, "connections", "a non-private plug connected to the system slot, which has no paths"),
    "connection-private-unset": (ERROR, "connections", "stored by snapd 2.54 without private: 2.55.3-2.60.2 fail on it, later ones treat it as not private"),
    "gadget-connection-undesired": (ERROR, "connections", "a connection the gadget snap made was disconnected by hand: snapd never makes it again"),
    "slot-attrs-stale": (ERROR, "connections", "the connection's stored read/write differ from the slot's current ones (snapd < 2.64 after a refresh)"),
    # apparmor
    "apparmor-disabled": (INFO, "apparmor", "the kernel does not enforce AppArmor; AppArmor checks skipped"),
    "apparmor-profile-missing": (ERROR, "apparmor", "the generated profile of a connected app is missing"),
    "apparmor-rule-missing": (ERROR, "apparmor", "a rule the connection grants is absent from the generated profile"),
    "apparmor-rule-unexpected": (ERROR, "apparmor", "a shared-memory rule no connection grants is in the generated profile"),
    "apparmor-profile-not-enforced": (ERROR, "apparmor", "the app's profile is not loaded, or loaded in complain mode"),
    # private
    "private-not-connected": (ERROR, "private", "a private plug is not connected to the system slot"),
    "private-undesired": (ERROR, "private", "a private plug's auto-connection was manually disconnected (undesired)"),
    "private-unsupported": (ERROR, "private", "snapd is older than 2.55.3: private is ignored and there is no system slot"),
    "private-fstab-missing": (ERROR, "private", "the desired mount profile lacks the /dev/shm bind entry"),
    "private-namespace-pending": (INFO, "private", "the snap's mount namespace does not exist yet; the bind appears at first run"),
    "private-applied-fstab-missing": (ERROR, "private", "the applied mount profile of the live namespace lacks the bind entry"),
    "private-mount-missing": (ERROR, "private", "/dev/shm inside the snap's namespace is not the bind of /dev/shm/snap.NAME"),
    "private-namespace-unreadable": (WARNING, "private", "the snap's mount namespace could not be entered to read its mounts"),
    "private-dir-symlink": (ERROR, "private", "/dev/shm/snap.NAME is a symlink"),
    "private-dir-not-directory": (ERROR, "private", "/dev/shm/snap.NAME is not a directory (snap-update-ns fails on it)"),
    "private-dir-squatted": (ERROR, "private", "/dev/shm/snap.NAME is owned by another user: a squatted private area"),
    "private-dir-mode": (ERROR, "private", "/dev/shm/snap.NAME mode is not 1777"),
    "private-dir-umask": (WARNING, "private", "/dev/shm/snap.NAME made by snapd 2.55.3-2.55.4 without the sticky bit, under a umask (fixed in 2.55.5)"),
    "private-dir-unreadable": (ERROR, "private", "/dev/shm/snap.NAME cannot be examined (lstat fails): another user's mount there"),
    # objects
    "shm-object": (INFO, "objects", "an object under a declared path, with its owner and mode"),
    "shm-object-unreadable": (WARNING, "objects", "an object under a declared path that lstat cannot examine (a user's FUSE mount)"),
    "shm-objects-more": (INFO, "objects", "more objects under a slot's paths than are listed (20 per slot): how many more"),
    "connection-in-use": (INFO, "objects", "processes of a connection's snaps hold its objects open or mapped"),
    "connection-users-unknown": (WARNING, "objects", "some processes could not be read, so a connection's users may be missing"),
}

FAMILIES = ("dev-shm", "connections", "apparmor", "private", "objects", "warnings", "declarations")


def finding(code, subject, message, evidence=None):
    """Build one finding; the severity comes from the table so it cannot drift per call site."""
    return {
        "code": code,
        "severity": FINDING_CODES[code][0],
        "subject": subject,
        "message": message,
        "evidence": evidence if evidence is not None else {},
    }


def summarize(findings):
    """Counts per severity, as shm_verify returns them."""
    counts = dict((severity, 0) for severity in SEVERITIES)
    for item in findings:
        counts[item["severity"]] += 1
    return counts


def unique(findings):
    """Drop repeats of the same code, subject and message (two families may see one fact)."""
    seen = set()
    result = []
    for item in findings:
        key = (item["code"], item["subject"], item["message"])
        if key not in seen:
            seen.add(key)
            result.append(item)
    return result
