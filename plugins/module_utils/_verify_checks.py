# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""shm_verify's checks: pure functions over one ShmState and the host facts (_read_plan.facts_from_results).

Every function returns a list of findings (see _shm_findings for the codes). Nothing here reads
the host or talks to snapd, so the same snapshot always gives the same findings.
"""

from __future__ import annotations

import re

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_endpoints import INTERFACE
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import FAMILIES, finding, unique
from ansible_collections.snapfleet.snapd.plugins.module_utils._read_plan import (
    OBJECTS_LISTED,
    SNAP_YAML_PROBLEMS,
    MountEntry,
    mount_at,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._declaration_rules import (
    Declaration,
    lint_declarations,
    lint_snap,
    too_broad_message,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import SnapYamlError, load_snap_yaml
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_versions import (
    MRWLK_SINCE,
    PRIVATE_DIR_MODE_SINCE,
    PRIVATE_RECURSIVE_SINCE,
    PRIVATE_SINCE,
    PRIVATE_UNSET_TOLERATED_SINCE,
    before,
    version_text,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._proc_scan import (
    DEV_SHM,
    connection_is_private,
    connections_in_use,
    in_use_message,
    object_matcher,
    shown,
    unseen_message,
)

STICKY_WORLD = 0o1777

# the rule forms shared_memory.go emits, and only those: a slot path's r, rwk (before 2.56.1) or mrwlk on
# "/{dev,run}/shm/X", and a private plug's mrwlkix on "/dev/shm/*" or "/dev/shm/**". The default template's
# unquoted snap.NAME rules never match, nor do other interfaces' /dev/shm rules: system-files writes
# "/dev/shm/X{,/,/**}" rk, or rwkl, (interfaces/builtin/common_files.go)
_INTERFACE_RULE = re.compile(r'^(?:"/\{dev,run\}/shm/[^"{}]+" (?:r|rwk|mrwlk)|"/dev/shm/\*\*?" mrwlkix),$')
# the header of a generated profile: profile "snap.NAME.APP" flags=(attach_disconnected,mediate_deleted,complain) {
# or, as snapd 2.57 writes it (devmode and classic alike), without the optional word: profile "snap.NAME.APP" (...) {
_PROFILE_FLAGS = re.compile(r'^\s*profile\s+\S+[^{(\n]*?(?:\bflags=)?\(([^)]*)\)', re.MULTILINE)


def _mode(mode):
    return "%04o" % mode


def _plug_subject(endpoint):
    return "plug %s" % (endpoint,)


def _slot_subject(endpoint):
    return "slot %s" % (endpoint,)


# --- /dev/shm ---------------------------------------------------------------------------------------------------

def check_dev_shm(dev_shm, mounts):
    """/dev/shm itself: a real, root-owned, 1777 directory on a nosuid,nodev tmpfs mount.

    dev_shm is lstat's FileFacts (None when missing), mounts the host's MountEntry list.
    """
    subject = "/dev/shm"
    if dev_shm is None:
        return [finding("dev-shm-missing", subject, "/dev/shm does not exist")]
    if dev_shm.kind == "symlink":
        # shared_memory.go MountConnectedPlug refuses private plugs with exactly this message
        message = ('/dev/shm is a symlink: snapd refuses every private plug with \'shared-memory plug with '
                   '"private: true" cannot be connected if "/dev/shm" is a symlink\'')
        return [finding("dev-shm-symlink", subject, message, {"kind": dev_shm.kind})]
    if dev_shm.kind != "dir":
        return [finding("dev-shm-not-directory", subject, "/dev/shm is a %s, not a directory" % dev_shm.kind,
                        {"kind": dev_shm.kind})]
    findings = []
    if dev_shm.uid != 0:
        findings.append(finding("dev-shm-owner", subject, "/dev/shm is owned by uid %d, not root" % dev_shm.uid,
                                {"uid": dev_shm.uid, "gid": dev_shm.gid}))
    if dev_shm.mode != STICKY_WORLD:
        findings.append(finding("dev-shm-mode", subject, "/dev/shm has mode %s, not 1777" % _mode(dev_shm.mode),
                                {"mode": _mode(dev_shm.mode)}))
    mount = mount_at(mounts, "/dev/shm")
    if mount is None or mount.fstype != "tmpfs":
        fstype = mount.fstype if mount else None
        message = ("/dev/shm is not a mount point" if mount is None
                   else "/dev/shm is a %s mount, not tmpfs" % mount.fstype)
        findings.append(finding("dev-shm-not-tmpfs", subject, message, {"fstype": fstype}))
    if mount is not None:
        missing = [option for option in ("nosuid", "nodev") if option not in mount.options]
        if missing:
            findings.append(finding("dev-shm-mount-options", subject, "/dev/shm is mounted without %s"
                                    % " and ".join(missing), {"options": ",".join(mount.options)}))
    return findings


# --- connections ------------------------------------------------------------------------------------------------

def _missing_endpoint(state, endpoint, kind):
    dropped = state.dropped(endpoint)
    if dropped:
        message = "%s %s does not exist: snapd dropped it (%s)" % (kind, endpoint, dropped[0].reason)
        evidence = {"warning": dropped[0].warning}
    else:
        message = "%s %s is not a shared-memory %s snapd knows" % (kind, endpoint, kind)
        evidence = {}
    return finding("endpoint-missing", "%s %s" % (kind, endpoint), message, evidence)


def _check_expected(state, item):
    plug = state.resolve(item.plug)
    slot = state.resolve(item.slot) if item.slot is not None else state.system_slot
    if plug not in state.plugs:
        return [_missing_endpoint(state, plug, "plug")]
    if item.slot is not None and not state.is_system(slot) and slot not in state.slots:
        return [_missing_endpoint(state, slot, "slot")]
    connection = state.connection(plug, slot)
    evidence = {"plug": str(plug), "slot": str(slot)}
    if item.state == "connected" and connection is None:
        undesired = state.undesired_connection(plug, slot)
        note = ""
        if undesired is not None:
            note = " (manually disconnected: undesired%s)" % (
                "; the gadget made it, and snapd will not make it again" if undesired.gadget else "")
        message = "%s is not connected to %s%s" % (plug, slot, note)
        return [finding("connection-missing", _plug_subject(plug), message,
                        dict(evidence, undesired=undesired is not None))]
    if item.state == "disconnected" and connection is not None:
        return [finding("connection-unexpected", _plug_subject(plug),
                        "%s is connected to %s, expected disconnected" % (plug, slot), evidence)]
    return []


def _check_established(state, connection, mismatch_allowed=False):
    """Identifier, private-target and stale-attribute checks of one established connection.

    mismatch_allowed: the expected item naming it lets its identifiers differ (allow_identifier_mismatch).
    """
    subject = _plug_subject(connection.plug)
    evidence = {"plug": str(connection.plug), "slot": str(connection.slot)}
    system = state.is_system(connection.slot)
    unset = _private_unset(state, connection)
    if unset:
        return [unset]
    if connection_is_private(state, connection):
        if not system:
            return [finding("private-to-app-slot", subject, "private plug %s is connected to %s, not to the system "
                            "slot" % (connection.plug, connection.slot), evidence)]
        return []
    if system:
        return [finding("connection-grants-nothing", subject, "%s is not private but connected to the system slot "
                        "%s, which grants no paths" % (connection.plug, connection.slot), evidence)]
    findings = []
    plug_id = connection.plug_attrs.get(INTERFACE)
    slot_id = connection.slot_attrs.get(INTERFACE)
    if plug_id != slot_id and mismatch_allowed:
        findings.append(finding("identifier-mismatch-allowed", subject, "%s has identifier %r but %s has %r, as "
                                "allow_identifier_mismatch lets it (snapd allows it only where a snap declaration "
                                "does)" % (connection.plug, plug_id, connection.slot, slot_id),
                                dict(evidence, plug_identifier=plug_id, slot_identifier=slot_id)))
    elif plug_id != slot_id:
        findings.append(finding("identifier-mismatch", subject, "%s has identifier %r but %s has %r"
                                % (connection.plug, plug_id, connection.slot, slot_id),
                                dict(evidence, plug_identifier=plug_id, slot_identifier=slot_id)))
    slot = state.slots.get(connection.slot)
    if slot is not None:
        stored = dict((key, sorted(connection.slot_attrs.get(key) or [])) for key in ("read", "write"))
        current = {"read": sorted(slot.read), "write": sorted(slot.write)}
        if stored != current:
            findings.append(finding("slot-attrs-stale", subject, "the connection %s - %s still grants read %s write %s "
                                    "but the slot now declares read %s write %s: reconnect to refresh it"
                                    % (connection.plug, connection.slot, stored["read"], stored["write"],
                                       current["read"], current["write"]),
                                    dict(evidence, stored=stored, current=current)))
    return findings


def _private_unset(state, connection):
    """A connection stored by snapd 2.54.x, before plugs had "private": 2.55.3-2.60.2 panic ("plug is not
    sanitized") whenever they regenerate its profiles; later snapd treats it as not private, which takes the
    private /dev/shm away from a plug that now declares private: true."""
    if "private" in connection.plug_attrs or before(state.version, PRIVATE_SINCE):
        return None
    evidence = {"plug": str(connection.plug), "slot": str(connection.slot), "stored_plug_attrs": dict(connection.plug_attrs)}
    what = "%s - %s was stored by snapd 2.54 without the private attribute" % (connection.plug, connection.slot)
    fix = "reconnect it (disconnect, then connect) so that snapd stores it again"
    if before(state.version, PRIVATE_UNSET_TOLERATED_SINCE):
        return finding("connection-private-unset", _plug_subject(connection.plug), "%s: snapd %s fails on it (\"plug is not "
                       "sanitized\") whenever it regenerates the snaps' security profiles; %s, or upgrade snapd to %s"
                       % (what, state.version, fix, version_text(PRIVATE_UNSET_TOLERATED_SINCE)), evidence)
    plug = state.plugs.get(connection.plug)
    if plug is not None and plug.private:
        return finding("connection-private-unset", _plug_subject(connection.plug), "%s: snapd %s treats it as not private, "
                       "although the plug now declares private: true, so the snap has no private /dev/shm; %s"
                       % (what, state.version, fix), evidence)
    return None


def check_connections(state, expected=None, private_snaps=None, manage_gadget_connections=False):
    """Expected connections established, nothing else connected, and every connection sound.

    expected: DesiredConnection items (_shm_plan.desired_connection) or None to skip the
    expected/unexpected comparison. A private plug's system connection is expected for the
    snaps in private_snaps (None: every snap with a private plug). Connections the gadget made
    are the device's, as shm_connection keeps them: expected while established, an error once
    disconnected, unless manage_gadget_connections makes them like any other.
    """
    findings = []
    named = set()
    mismatch_allowed = set()
    if expected is not None:
        for item in expected:
            findings.extend(_check_expected(state, item))
            slot = state.resolve(item.slot) if item.slot is not None else state.system_slot
            named.add((state.resolve(item.plug), slot))
            if item.allow_identifier_mismatch:
                mismatch_allowed.add((state.resolve(item.plug), slot))
        for connection in state.established:
            private_ok = (connection_is_private(state, connection) and state.is_system(connection.slot)
                          and (private_snaps is None or connection.plug.snap in private_snaps))
            gadget_ok = connection.gadget and not manage_gadget_connections
            if connection.pair not in named and not private_ok and not gadget_ok:
                findings.append(finding("connection-unexpected", _plug_subject(connection.plug),
                                        "%s is connected to %s, which no expected connection names"
                                        % (connection.plug, connection.slot),
                                        {"plug": str(connection.plug), "slot": str(connection.slot),
                                         "manual": connection.manual}))
    for connection in state.established:
        findings.extend(_check_established(state, connection, connection.pair in mismatch_allowed))
    for connection in state.undesired:
        if connection.gadget and not manage_gadget_connections and connection.pair not in named:
            findings.append(_gadget_undesired(connection))
    return findings


def _gadget_undesired(connection):
    """A gadget-made connection someone disconnected: snapd applies the gadget's connections at first boot only
    (ifacestate addGadgetConnections) and keeps this one undesired (doDisconnect), so it is gone for good."""
    return finding("gadget-connection-undesired", _plug_subject(connection.plug),
                   "%s was connected to %s by the gadget snap at first boot and has since been disconnected by hand: "
                   "snapd keeps it undesired and will never connect it again; connect it again (snap connect %s %s, "
                   "or list it as connected with shm_connection), or list it as disconnected if that is intended"
                   % (connection.plug, connection.slot, connection.plug, connection.slot),
                   {"plug": str(connection.plug), "slot": str(connection.slot), "gadget": True, "undesired": True})


# --- AppArmor -------------------------------------------------------------------------------------------------

def _write_rule_forms(version, path):
    rule = '"/{dev,run}/shm/%s" %s,'
    return (rule % (path, "rwk" if before(version, MRWLK_SINCE) else "mrwlk"),)


def private_rule(version):
    """The AppArmor rule a private plug's apps get."""
    if before(version, PRIVATE_RECURSIVE_SINCE):
        return '"/dev/shm/*" mrwlkix,'
    return '"/dev/shm/**" mrwlkix,'


def _sides(state):
    """(snap, apps, set of alternative-tuples) for each side of each established connection that gets rules.

    Built from the attributes stored with each connection, as snapd builds the profiles. apps are the apps
    /v2/connections binds to the plug or slot; hooks are never listed, so a side with no app is bound to hooks only.
    """
    version = state.version
    sides = []
    for connection in state.established:
        plug = state.plugs.get(connection.plug)
        slot = state.slots.get(connection.slot)
        write = list(connection.slot_attrs.get("write") or [])
        read = list(connection.slot_attrs.get("read") or [])
        if connection_is_private(state, connection):
            plug_rules = {(private_rule(version),)}
        else:
            plug_rules = set(_write_rule_forms(version, path) for path in write)
            plug_rules.update(('"/{dev,run}/shm/%s" r,' % path,) for path in read)
        if not state.is_system(connection.slot):
            # the slot side always gets write access to both lists, whatever the plug: AppArmorConnectedSlot skips
            # only the system snap's slot, so even a private plug wrongly connected to an app slot opens it
            sides.append((connection.slot.snap, slot.apps if slot is not None else None,
                          set(_write_rule_forms(version, path) for path in write + read)))
        sides.append((connection.plug.snap, plug.apps if plug is not None else None, plug_rules))
    return sides


def expected_rules(state):
    """{(snap, app): set of alternative-tuples}: the rules each app's profile must hold, from the connections."""
    expected = {}
    for snap, apps, rules in _sides(state):
        for app in apps or ():
            expected.setdefault((snap, app), set()).update(rules)
    return expected


def hook_rules(state):
    """{snap: set of alternative-tuples} of the plugs and slots bound to no app: what at least one of the snap's
    hook profiles must hold, since snapd binds them to hooks only."""
    rules = {}
    for snap, apps, wanted in _sides(state):
        if apps is not None and not apps:
            rules.setdefault(snap, set()).update(wanted)
    return rules


def profile_apps(state):
    """(snap, app) of every app bound to a shared-memory plug or slot: the profiles worth reading.

    The readers read the hooks' and the snap-update-ns profiles of every snap named here, so a snap whose plugs and
    slots are bound to no app (to hooks only) is named as (snap, None): no app profile of its own to read.
    """
    apps = set()
    for endpoint, declared in list(state.plugs.items()) + list(state.slots.items()):
        if state.is_system(endpoint):
            continue
        apps.update((endpoint.snap, app) for app in declared.apps)
    named = set(snap for snap, app in apps)
    for endpoint, declared in list(state.plugs.items()) + list(state.slots.items()):
        if not state.is_system(endpoint) and endpoint.snap not in named and not declared.apps:
            apps.add((endpoint.snap, None))
    return sorted(apps, key=lambda pair: (pair[0], pair[1] or ""))


def interface_rules(profile_text):
    """The shared-memory interface rules found in a generated profile."""
    rules = set()
    for line in (profile_text or "").splitlines():
        line = line.strip()
        if _INTERFACE_RULE.match(line):
            rules.add(line)
    return rules


def not_enforcing_by_design(profile_text):
    """Whether snapd made a profile complain or unconfined on purpose: a devmode snap's (complain) or a classic
    snap's (complain or unconfined, and no interface rules at all), interfaces/apparmor/backend.go ###FLAGS###."""
    match = _PROFILE_FLAGS.search(profile_text or "")
    return bool(match) and bool({"complain", "unconfined"} & set(flag.strip() for flag in match.group(1).split(",")))


def update_ns_rule(snap):
    """The mount rule a private plug adds to the snap's snap-update-ns profile (AppArmorConnectedPlug, AddUpdateNSf)."""
    return "mount options=(bind, rw) /dev/shm/snap.%s/ -> /dev/shm/," % snap


def _subject(snap, app):
    if app.startswith("hook."):
        return "hook %s.%s" % (snap, app[5:])
    return "app %s.%s" % (snap, app)


def _enforced(findings, kernel_profiles, subject, name):
    mode = kernel_profiles.get(name) if kernel_profiles is not None else "enforce"
    if mode != "enforce":
        findings.append(finding("apparmor-profile-not-enforced", subject, "profile %s is %s"
                                % (name, "not loaded" if mode is None else "in %s mode" % mode),
                                {"profile": name, "mode": mode}))


def check_apparmor(state, apparmor_enabled, kernel_profiles, profiles, update_ns_profiles=None):
    """Generated profiles hold exactly the granted rules and are enforced.

    apparmor_enabled/kernel_profiles come from the kernel (never from system-info's confinement,
    which Debian's snapd reports as partial while it enforces); profiles maps (snap, app) to the
    profile text or None, hooks as (snap, "hook.NAME"); update_ns_profiles maps a snap to its
    snap-update-ns profile text or None. /v2/connections names the apps bound to a plug or slot but
    not the hooks, so a hook's profile is checked for rules none of its snap's connections grants and
    for enforcement, not for missing rules. A snap whose profiles snapd made complain or unconfined on
    purpose (devmode, classic) gives no AppArmor finding at all.
    """
    if not apparmor_enabled:
        return [finding("apparmor-disabled", "apparmor", "the kernel does not enforce AppArmor; the AppArmor checks "
                        "were skipped", {"confinement": state.confinement})]
    expected = expected_rules(state)
    by_design = set(snap for (snap, app), text in profiles.items() if not_enforcing_by_design(text))
    granted = {}
    for snap, dummy, wanted in _sides(state):
        granted.setdefault(snap, set()).update(form for forms in wanted for form in forms)
    findings = []
    for snap, app in sorted(set(profiles) | set(expected)):
        if snap in by_design:
            continue
        name = "snap.%s.%s" % (snap, app)
        subject = _subject(snap, app)
        hook = app.startswith("hook.")
        wanted = set() if hook else expected.get((snap, app), set())
        text = profiles.get((snap, app))
        if text is None:
            if wanted:
                findings.append(finding("apparmor-profile-missing", subject, "the generated profile %s is missing" % name,
                                        {"profile": name}))
            continue
        found = interface_rules(text)
        for forms in sorted(wanted):
            if not found.intersection(forms):
                findings.append(finding("apparmor-rule-missing", subject, "profile %s lacks %s" % (name, forms[-1]),
                                        {"profile": name, "rule": forms[-1]}))
        allowed = granted.get(snap, set()) if hook else set(form for forms in wanted for form in forms)
        for rule in sorted(found - allowed):
            findings.append(finding("apparmor-rule-unexpected", subject, "profile %s has %s, which no connection grants"
                                    % (name, rule), {"profile": name, "rule": rule}))
        if kernel_profiles is not None and (wanted or found):
            _enforced(findings, kernel_profiles, subject, name)
    for snap, wanted in sorted(hook_rules(state).items()):
        if snap not in by_design:
            findings.extend(_check_hooks_hold(snap, wanted, profiles))
    private = set(connection.plug.snap for connection in state.established if connection_is_private(state, connection))
    for snap, text in sorted((update_ns_profiles or {}).items()):
        if snap in by_design:
            continue
        findings.extend(_check_update_ns(snap, text, snap in private, kernel_profiles))
    return findings


def _check_hooks_hold(snap, wanted, profiles):
    """Each rule of a plug or slot bound to hooks only is in at least one of the snap's hook profiles.

    Which hook a plug is bound to is in the snap.yaml, not in snapd's API: one profile holding the rule is enough.
    A snap with no hook profile at all has nothing bound to run with it, and gives no finding.
    """
    hooks = sorted((app, text) for (owner, app), text in profiles.items()
                   if owner == snap and app.startswith("hook.") and text is not None)
    if not hooks:
        return []
    if len(hooks) == 1:
        subject, where = _subject(snap, hooks[0][0]), "profile snap.%s.%s" % (snap, hooks[0][0])
    else:
        subject, where = "hooks %s" % snap, "no hook profile of %s (%s)" % (
            snap, ", ".join("snap.%s.%s" % (snap, app) for app, dummy in hooks))
    found = set()
    for dummy, text in hooks:
        found.update(interface_rules(text))
    findings = []
    for forms in sorted(wanted):
        if not found.intersection(forms):
            message = ("%s lacks %s" if len(hooks) == 1 else "%s has %s") % (where, forms[-1])
            evidence = {"profiles": ["snap.%s.%s" % (snap, app) for app, dummy in hooks], "rule": forms[-1]}
            findings.append(finding("apparmor-rule-missing", subject, message + ", which a connection of a plug or "
                                    "slot bound to hooks only grants", evidence))
    return findings


def _check_update_ns(snap, text, wanted, kernel_profiles):
    """The private /dev/shm mount rule in snap-update-ns.SNAP: there exactly when the snap has a private connection."""
    name = "snap-update-ns.%s" % snap
    subject = "update-ns %s" % snap
    rule = update_ns_rule(snap)
    if text is None:
        if wanted:
            return [finding("apparmor-profile-missing", subject, "the generated profile %s is missing" % name,
                            {"profile": name})]
        return []
    found = rule in set(line.strip() for line in text.splitlines())
    findings = []
    if wanted and not found:
        findings.append(finding("apparmor-rule-missing", subject, "profile %s lacks %s" % (name, rule),
                                {"profile": name, "rule": rule}))
    elif found and not wanted:
        findings.append(finding("apparmor-rule-unexpected", subject, "profile %s has %s, which no private connection "
                                "grants" % (name, rule), {"profile": name, "rule": rule}))
    if kernel_profiles is not None and (wanted or found):
        _enforced(findings, kernel_profiles, subject, name)
    return findings


# --- private /dev/shm -------------------------------------------------------------------------------------------

def private_plugs(state):
    """{snap: plug endpoint} of every snap with a plug snapd treats as private: none below snapd 2.55.3, which
    never reads the attribute."""
    if before(state.version, PRIVATE_SINCE):
        return {}
    return dict((endpoint.snap, endpoint) for endpoint, plug in sorted(state.plugs.items()) if plug.private)


def checked_private_snaps(state, private_snaps=None):
    """The snaps whose private setup shm_verify checks: those of its private_snaps option, by default every snap
    with a private plug."""
    return sorted(private_plugs(state)) if private_snaps is None else private_snaps


def fstab_entry(snap):
    """The mount entry snapd writes for a private plug (osutil.MountEntry.String)."""
    return "/dev/shm/snap.%s /dev/shm none bind,rw 0 0" % snap


def _has_entry(fstab_text, snap):
    wanted = fstab_entry(snap).split()
    return any(line.split() == wanted for line in (fstab_text or "").splitlines())


def _umask_meaning(directory):
    """What a 2.55.3-2.55.4 private directory's mode (0777 minus a umask, no sticky bit) says: who made it, and
    who may create objects in the snap's private /dev/shm."""
    mode = directory.mode
    if mode == 0o755:
        return ("0755 is snap-update-ns's work under snapd's umask 0022: only root may create objects in the snap's "
                "private /dev/shm, so the snap's apps running as any other user cannot")
    if mode == 0o777:
        return ("0777 is snap-confine's work under umask 0000: any user may create objects in the snap's private "
                "/dev/shm and, with no sticky bit, delete or replace any other user's")
    made = "%s is 0777 under umask %s" % (_mode(mode), _mode(0o777 & ~mode))
    if mode & 0o002:
        return ("%s: any user may create objects in the snap's private /dev/shm and, with no sticky bit, delete or "
                "replace any other user's" % made)
    if mode & 0o020:
        return "%s: only root and group %d may create objects in the snap's private /dev/shm" % (made, directory.gid)
    return "%s: only root may create objects in the snap's private /dev/shm" % made


def _check_private_dir(snap, setup, version):
    path = "/dev/shm/snap.%s" % snap
    subject = "private %s" % snap
    if setup.dir_error:
        return [finding("private-dir-unreadable", subject, "%s cannot be examined (%s): another user may have mounted "
                        "something there" % (path, setup.dir_error), {"path": path, "error": setup.dir_error})]
    directory = setup.dir
    if directory is None:
        return []
    evidence = {"path": path, "kind": directory.kind, "uid": directory.uid, "gid": directory.gid,
                "mode": _mode(directory.mode)}
    if directory.kind == "symlink":
        return [finding("private-dir-symlink", subject, "%s is a symlink" % path, evidence)]
    if directory.kind != "dir":
        return [finding("private-dir-not-directory", subject, "%s is a %s, not a directory: snap-update-ns fails with "
                        "'not a directory'" % (path, directory.kind), evidence)]
    findings = []
    if directory.uid != 0:
        findings.append(finding("private-dir-squatted", subject, "%s is owned by uid %d, not root: another user "
                                "created the snap's private /dev/shm" % (path, directory.uid), evidence))
    if directory.mode == STICKY_WORLD:
        return findings
    if (not before(version, PRIVATE_SINCE) and before(version, PRIVATE_DIR_MODE_SINCE)
            and directory.uid == 0 and not directory.mode & ~0o777):
        findings.append(finding("private-dir-umask", subject, "%s has mode %s, not 1777: snapd %s makes it 0777 "
                                "minus the umask of the process that creates it, without the sticky bit (fixed in "
                                "%s); %s; upgrade snapd, then remove the directory while the snap is stopped so that "
                                "it is made again" % (path, _mode(directory.mode), version,
                                                      version_text(PRIVATE_DIR_MODE_SINCE), _umask_meaning(directory)),
                                evidence))
        return findings
    findings.append(finding("private-dir-mode", subject, "%s has mode %s, not 1777" % (path, _mode(directory.mode)),
                            evidence))
    return findings


def _check_namespace(snap, setup, host_mount):
    subject = "private %s" % snap
    if not setup.namespace:
        return [finding("private-namespace-pending", subject, "snap %s has no mount namespace yet: the private "
                        "/dev/shm is bound when one of its apps first runs" % snap, {})]
    findings = []
    if not _has_entry(setup.applied_fstab, snap):
        findings.append(finding("private-applied-fstab-missing", subject, "/run/snapd/ns/snap.%s.fstab lacks '%s'"
                                % (snap, fstab_entry(snap)), {}))
    if setup.namespace_error:
        findings.append(finding("private-namespace-unreadable", subject, setup.namespace_error, {}))
        return findings
    inside = mount_at(setup.namespace_mounts or [], "/dev/shm")
    wanted_root = "%s/snap.%s" % ((host_mount.root if host_mount else "/").rstrip("/"), snap)
    ok = (inside is not None and inside.root == wanted_root and "rw" in inside.options
          and (host_mount is None or inside.device == host_mount.device))
    if not ok:
        seen = dict(inside._asdict()) if isinstance(inside, MountEntry) else None
        findings.append(finding("private-mount-missing", subject, "/dev/shm inside snap %s's namespace is not a rw "
                                "bind of /dev/shm/snap.%s" % (snap, snap),
                                {"expected_root": wanted_root, "found": seen}))
    return findings


def check_private(state, private_snaps, setups, host_mounts):
    """Private setups: connected to the system slot, mount profiles, namespace bind, host directory.

    setups maps each snap of private_snaps to its _shm_facts.PrivateSetup; host_mounts is the
    host's mountinfo (to know /dev/shm's device).
    """
    plugs = private_plugs(state)
    system_slot = state.system_slot
    host_mount = mount_at(host_mounts, "/dev/shm")
    findings = []
    for snap in private_snaps:
        subject = "private %s" % snap
        if before(state.version, PRIVATE_SINCE):
            # nor does it make /dev/shm/snap.NAME: whatever is there is no private setup's to judge
            findings.append(finding("private-unsupported", subject, "snapd %s ignores private and has no system "
                                    "shared-memory slot (needs %s)" % (state.version, version_text(PRIVATE_SINCE)),
                                    {"version": state.version}))
            continue
        setup = setups.get(snap)
        if setup is not None:
            findings.extend(_check_private_dir(snap, setup, state.version))
        plug = plugs.get(snap)
        if plug is None:
            findings.append(finding("private-not-connected", subject, "snap %s has no private shared-memory plug" % snap,
                                    {"dropped": [d.warning for d in state.dropped_declarations if d.snap == snap]}))
            continue
        if state.undesired_connection(plug, system_slot) is not None:
            findings.append(finding("private-undesired", subject, "%s was manually disconnected from %s (undesired): "
                                    "connect it again" % (plug, system_slot), {"plug": str(plug)}))
            continue
        if state.connection(plug, system_slot) is None:
            findings.append(finding("private-not-connected", subject, "%s is not connected to %s" % (plug, system_slot),
                                    {"plug": str(plug)}))
            continue
        if setup is None:
            continue
        if not _has_entry(setup.desired_fstab, snap):
            findings.append(finding("private-fstab-missing", subject, "/var/lib/snapd/mount/snap.%s.fstab lacks '%s'"
                                    % (snap, fstab_entry(snap)), {}))
        findings.extend(_check_namespace(snap, setup, host_mount))
    return findings


# --- objects and their users, snapd's warnings, installed declarations -----------------------------------------------------------

def object_paths(state):
    """The read and write paths of every app slot: what /dev/shm is listed for."""
    return sorted(set(path for endpoint, slot in state.slots.items() if not state.is_system(endpoint)
                      for path in slot.read + slot.write))


def _object_finding(subject, path, name, listing):
    shown_name = shown(DEV_SHM + name)
    if name in listing.unreadable:
        error = listing.unreadable[name]
        return finding("shm-object-unreadable", subject, "%s (%s) cannot be examined: lstat fails with %s"
                       % (shown_name, path, error), {"path": path, "object": DEV_SHM + name, "error": error})
    facts = listing.objects[name]
    return finding("shm-object", subject, "%s (%s): %s uid %d gid %d mode %s"
                   % (shown_name, path, facts.kind, facts.uid, facts.gid, _mode(facts.mode)),
                   {"path": path, "object": DEV_SHM + name, "kind": facts.kind, "uid": facts.uid, "gid": facts.gid,
                    "mode": _mode(facts.mode)})


def check_objects(state, listing):
    """Objects under each slot's declared paths (owner and mode, info) and too-broad paths (warning).

    listing is _read_plan.DevShmListing of /dev/shm's top level, from lstat only. Any local user can make
    entries a slot's path matches, so at most OBJECTS_LISTED of them are listed per slot, the first by name,
    and one shm-objects-more finding counts the rest; an entry lstat cannot examine is a finding of its own.
    """
    findings = []
    names = sorted(set(listing.objects) | set(listing.unreadable))
    for endpoint, slot in sorted(state.slots.items()):
        if state.is_system(endpoint):
            continue
        subject = _slot_subject(endpoint)
        listed = matched = 0
        for attribute, paths in (("read", slot.read), ("write", slot.write)):
            for path in paths:
                message = too_broad_message(path)
                if message:
                    findings.append(finding("path-too-broad", subject, message, {"path": path, "attribute": attribute}))
                matched += listing.matches.get(path, 0)
                matcher = object_matcher(path)
                for name in names:
                    if listed < OBJECTS_LISTED and matcher(name):
                        findings.append(_object_finding(subject, path, name, listing))
                        listed += 1
        if matched > listed:
            findings.append(finding("shm-objects-more", subject, "%d more objects under the paths of %s are not listed "
                                    "(only the first %d by name are)" % (matched - listed, endpoint, listed),
                                    {"listed": listed, "more": matched - listed}))
    return findings


def check_users(state, scan):
    """Processes of a connection's snaps holding its objects open or mapped (info): a disconnect pulls them.

    scan is _proc_scan.read_snap_processes() for the snaps of the established connections; processes it
    could not read are one warning, since any of them may be a user too.
    """
    findings = [finding("connection-in-use", _plug_subject(connection.plug), in_use_message(connection, users),
                        {"plug": str(connection.plug), "slot": str(connection.slot), "users": users})
                for connection, users in connections_in_use(state, state.established, scan.processes)]
    if state.established and not scan.complete:
        findings.append(finding("connection-users-unknown", "processes", unseen_message(scan),
                                {"unseen": list(scan.unseen), "unseen_count": scan.unseen_count}))
    return findings


DROPPED_CODES = ("declaration-dropped", "unrelated-declaration-dropped")


def _dropped(snap, name, reason, named_snaps, evidence):
    """A declaration snapd dropped: an error for a snap the desired state names (every snap when none is given),
    a warning for any other, so that an unrelated broken snap does not fail a fleet's compliance gate."""
    code = DROPPED_CODES[0] if named_snaps is None or snap in named_snaps else DROPPED_CODES[1]
    subject = "%s:%s" % (snap, name) if name is not None else snap
    return finding(code, subject, "snapd dropped %s: %s" % (subject, reason), evidence)


def check_dropped(state, installed_snaps=None, named_snaps=None):
    """snapd's own warnings about shared-memory declarations it dropped, quoted.

    snapd keeps a warning after the snap is removed; with installed_snaps known, only the
    warnings of snaps still installed are findings. named_snaps: see _dropped.
    """
    return [_dropped(item.snap, item.name, item.reason, named_snaps, {"warning": item.warning})
            for item in state.dropped_declarations
            if installed_snaps is None or item.snap in installed_snaps]


def held_declarations(state):
    """"snap:name" of every shared-memory plug and slot snapd holds: the ones it did not drop."""
    return sorted(str(endpoint) for endpoint in list(state.plugs) + list(state.slots))


def check_snap_yamls(snapd_version, snap_yamls, held, named_snaps=None):
    """shm_lint's rules, as snapd `snapd_version` applies them, over installed snaps' meta/snap.yaml.

    snapd warns about a declaration it dropped only when it sets up the snap's profiles, and forgets the
    warning after 28 days (overlord/state/warning.go): the snap.yaml snapd mounted is the lasting record.
    snap_yamls is {snap: _read_plan.SnapYamlText}; held the "snap:name" snapd still holds (from
    held_declarations), which are never reported dropped whatever the rules say. The first error of each
    declaration, in snapd's order, is what snapd dropped it for; warnings come as shm_lint gives them.
    """
    findings = []
    for snap, read in sorted(snap_yamls.items()):
        path = "/snap/%s/current/meta/snap.yaml" % snap
        problem = SNAP_YAML_PROBLEMS.get(read.problem, read.problem)
        document = None
        if read.problem is None:
            try:
                document = load_snap_yaml(read.text)
            except SnapYamlError as error:
                problem = str(error)
        if problem is not None:
            findings.append(finding("snap-yaml-unreadable", "snap %s" % snap, "%s was not checked: %s; snapd's "
                                    "warnings and API are all that was checked of it" % (path, problem),
                                    {"path": path, "problem": problem}))
            continue
        dropped = set()
        for item in lint_snap(document, snap, snapd_version):
            if item["severity"] != "error":
                findings.append(item)
                continue
            kind = "plug" if "plug" in item["evidence"] else "slot"
            name = item["evidence"].get(kind)
            if (kind, name) in dropped or "%s:%s" % (snap, name) in held:
                continue
            dropped.add((kind, name))
            findings.append(_dropped(snap, name, item["message"], named_snaps,
                                     {"rule": item["code"], "path": path, kind: name}))
    return findings


def merge_findings(findings, more=()):
    """Findings of two passes as one list: repeats dropped, and one dropped-declaration finding per plug or slot
    (the first, which quotes snapd's warning when there is one)."""
    merged = []
    dropped = set()
    for item in unique(list(findings) + list(more)):
        if item["code"] in DROPPED_CODES:
            if item["subject"] in dropped:
                continue
            dropped.add(item["subject"])
        merged.append(item)
    return merged


def installed_declarations(state):
    """{snap: [Declaration]} of the shared-memory plugs and slots snapd holds, with their attributes.

    These are the declarations that survived snapd's sanitizing (the dropped ones are the
    `warnings` family's); the system snap and its implicit slot are left out.
    """
    declarations = {}
    for kind, endpoints in (("plug", state.plugs), ("slot", state.slots)):
        for endpoint, item in sorted(endpoints.items()):
            if not state.is_system(endpoint):
                declarations.setdefault(endpoint.snap, []).append(
                    Declaration(kind, endpoint.name, INTERFACE, dict(item.attrs)))
    return declarations


def check_declarations(state):
    """shm_lint's rules over installed snaps' declarations, as snapd loaded them (and by its version's rules)."""
    findings = []
    for snap, declarations in sorted(installed_declarations(state).items()):
        findings.extend(lint_declarations(snap, declarations, state.version))
    return findings


def verify(state, facts, families=FAMILIES, expected=None, private_snaps=None, manage_gadget_connections=False,
           named_snaps=None):
    """Every finding of the chosen families, de-duplicated, but for the installed snap.yaml files (check_snap_yamls,
    which needs a YAML parser).

    facts is the _shm_facts.HostFacts gathered for this state and these families; named_snaps the snaps the
    desired state names (None: no desired state given), which decides how grave a dropped declaration is.
    """
    chosen = set(families)
    missing = facts.missing(chosen)
    if missing:
        # a gatherer that did not follow FACTS_BY_FAMILY: a bug, never the host's state
        raise ValueError("the host facts %s were not gathered for the checks %s"
                         % (", ".join(missing), ", ".join(sorted(chosen))))
    private_snaps = checked_private_snaps(state, private_snaps)
    findings = []
    if "dev-shm" in chosen:
        findings.extend(check_dev_shm(facts.dev_shm, facts.mounts))
    if "connections" in chosen:
        findings.extend(check_connections(state, expected, private_snaps, manage_gadget_connections))
    if "private" in chosen:
        findings.extend(check_private(state, private_snaps, facts.private, facts.mounts))
    if "apparmor" in chosen:
        findings.extend(check_apparmor(state, facts.apparmor_enabled, facts.kernel_profiles, facts.profiles,
                                       facts.update_ns_profiles))
    if "objects" in chosen:
        findings.extend(check_objects(state, facts.dev_shm_listing))
        findings.extend(check_users(state, facts.processes))
    if "warnings" in chosen:
        findings.extend(check_dropped(state, facts.installed_snaps, named_snaps))
    if "declarations" in chosen:
        findings.extend(check_declarations(state))
    return merge_findings(findings)
