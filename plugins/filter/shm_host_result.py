# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: shm_host_result
short_description: One host's shared-memory verdict from its registered shm_verify and shm_connection results
version_added: 0.1.0
description:
  - Builds the per-host result that the C(snapfleet.snapd.shared_memory) role stores as the fact
    C(shared_memory_result) and the C(snapfleet.snapd.shm_report) role aggregates.
  - The input is the registered result of M(snapfleet.snapd.shm_verify); a skipped task means it did not run.
    Results registered with C(ignore_errors) or C(ignore_unreachable) are read as failed or unreachable.
  - "The status is the first that applies: V(unreachable) (either task could not reach the host), V(failed)
    (either module failed), V(unverified) (verification did not run), V(compliant) (no finding of severity
    V(error)), V(non-compliant)."
  - The connection table sets the desired connections (O(desired)) against what M(snapfleet.snapd.shm_verify)
    found on the host, so it says exactly what the verdict says. Whether a connection was made by the gadget
    snap comes from the connections M(snapfleet.snapd.shm_connection) reports, when it ran.
author:
  - snapfleet maintainers (@snapfleet)
options:
  _input:
    description: The registered result of M(snapfleet.snapd.shm_verify), or V(null) if there is none.
    type: dict
    required: true
  apply:
    description: The registered result of M(snapfleet.snapd.shm_connection), if it was used.
    type: dict
  desired:
    description:
      - The connections M(snapfleet.snapd.shm_verify) verified, in the item form of its
        O(snapfleet.snapd.shm_verify#module:connections) (a private plug with its slot left out).
      - Leave it out when verification ran without its C(connections) checks; the host then has no connection
        table.
    type: list
    elements: dict
  recorded:
    description: When the result was recorded, as an ISO 8601 string; the newest result of a host wins in a report.
    type: str
  flavour:
    description: What the report shows as the host's flavour (its OS release or device class, for example); V(null) or empty for none.
    type: str
"""

EXAMPLES = r"""
- name: Record the host's verdict for the report
  ansible.builtin.set_fact:
    shared_memory_result: >-
      {{ verify_result | snapfleet.snapd.shm_host_result(apply_result, desired=wanted_connections,
                                                         recorded=now(utc=true).strftime('%Y-%m-%dT%H:%M:%SZ')) }}
    cacheable: true
"""

RETURN = r"""
_value:
  description: The host's result.
  type: dict
  contains:
    status:
      description: V(compliant), V(non-compliant), V(failed), V(unreachable) or V(unverified).
      type: str
    message:
      description: Why the host failed or was unreachable, naming the module; V(null) otherwise.
      type: str
    snapd_version:
      description: snapd's version, when verification ran.
      type: str
    summary:
      description: Number of findings per severity (V(error), V(warning), V(info)).
      type: dict
    findings:
      description: The findings of M(snapfleet.snapd.shm_verify), errors first, then warnings, then info.
      type: list
      elements: dict
    connections:
      description:
        - One row per desired connection and per connection verification did not expect, sorted by plug and slot;
          V(null) when verification did not run (or O(desired) was not given).
        - C(plug) and C(slot) (the system slot as snapd names it when known, else V(:shared-memory)); C(desired),
          V(connected), V(disconnected) or V(null) (not listed); C(actual), V(connected), V(disconnected) or
          V(undesired) (an auto-connection someone disconnected by hand, which snapd will not re-create); C(gadget),
          whether the gadget snap made the connection, V(null) when not known; and C(status).
        - "C(status): V(connected) and V(disconnected) as desired; V(missing) (desired connected, not connected);
          V(undesired) (desired connected, manually disconnected); V(unexpected) (connected, but desired
          disconnected or not listed)."
      type: list
      elements: dict
    changed:
      description: Whether M(snapfleet.snapd.shm_connection) changed something (or would have, in check mode).
      type: bool
    actions:
      description: The changes M(snapfleet.snapd.shm_connection) made or, in check mode, would make.
      type: list
      elements: dict
    recorded:
      description: The O(recorded) time, or V(null).
      type: str
    flavour:
      description: The O(flavour), or V(null).
      type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_endpoints import (
    SYSTEM_SLOT, EndpointError, parse_plug, parse_slot,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import SEVERITIES

CONNECTED = "connected"
DISCONNECTED = "disconnected"
UNDESIRED = "undesired"
# how a desired private plug's slot is shown when snapd's name for the system slot is not known
SYSTEM_SLOT_TEXT = str(SYSTEM_SLOT)


def _ran(result):
    return bool(result) and not result.get("skipped")


def _problem(step, result, key):
    if _ran(result) and result.get(key):
        return "%s: %s" % (step, result.get("msg") or "no message")
    return None


def _sorted_findings(findings):
    rank = {severity: index for index, severity in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda finding: rank.get(finding.get("severity"), len(rank)))


def _summary(findings):
    return {severity: sum(1 for finding in findings if finding.get("severity") == severity) for severity in SEVERITIES}


def _pair_key(plug, slot):
    """One key per connection however it is written: every spelling of the system slot (left out, ``:x``,
    ``system:x``, snapd's ``snapd:x`` or ``core:x``) gives the same key."""
    try:
        return str(parse_plug(plug)), str(SYSTEM_SLOT if slot in (None, "") else parse_slot(slot))
    except EndpointError:
        return plug, slot


def _endpoint_key(kind, text):
    try:
        return str(parse_plug(text) if kind == "plug" else parse_slot(text))
    except EndpointError:
        return text


def _reported_connections(apply):
    """The connections shm_connection reported (after, and before when it ran with diff), by pair key."""
    if not _ran(apply):
        return {}
    views = [apply, (apply.get("diff") or {}).get("before") or {}]
    known = {}
    # the diff's before is text since it shows one line per connection; older results held a view
    for view in (view for view in views if isinstance(view, dict)):
        for record in (view.get("connections") or []) + (view.get("undesired") or []):
            if isinstance(record, dict):
                known.setdefault(_pair_key(record.get("plug"), record.get("slot")), record)
    return known


def _row(plug, slot, desired):
    as_desired = desired or CONNECTED
    return {"plug": plug, "slot": slot, "desired": desired, "actual": as_desired, "gadget": None, "status": as_desired}


def _connection_table(desired, findings, apply):
    """Desired connections against what shm_verify found: a desired connection without a finding is as desired."""
    rows = {}
    for item in desired:
        if not isinstance(item, dict) or not item.get("plug"):
            raise AnsibleFilterError("shm_host_result: desired must be a list of connection items with a plug, got %r"
                                     % (item,))
        key = _pair_key(item["plug"], item.get("slot"))
        rows.setdefault(key, _row(item["plug"], item.get("slot") or SYSTEM_SLOT_TEXT, item.get("state") or CONNECTED))
    for finding in findings:
        code, evidence = finding.get("code"), finding.get("evidence") or {}
        if code == "endpoint-missing":
            kind, dummy, endpoint = (finding.get("subject") or "").partition(" ")
            position = 0 if kind == "plug" else 1
            for key, row in rows.items():
                if key[position] == _endpoint_key(kind, endpoint) and row["desired"] == CONNECTED:
                    row.update(actual=DISCONNECTED, status="missing")
        elif code in ("connection-missing", "connection-unexpected") and evidence.get("plug"):
            key = _pair_key(evidence["plug"], evidence.get("slot"))
            row = rows.setdefault(key, _row(evidence["plug"], evidence.get("slot"), None))
            row["slot"] = evidence.get("slot") or row["slot"]
            if code == "connection-unexpected":
                row.update(actual=CONNECTED, status="unexpected", gadget=evidence.get("gadget"))
            elif evidence.get("undesired"):
                row.update(actual=UNDESIRED, status=UNDESIRED)
            else:
                row.update(actual=DISCONNECTED, status="missing")
    reported = _reported_connections(apply)
    for key, row in rows.items():
        record = reported.get(key)
        if record is not None and row["actual"] != DISCONNECTED:
            row["slot"] = record.get("slot") or row["slot"]
            if record.get("gadget") is not None:
                row["gadget"] = bool(record["gadget"])
    return [rows[key] for key in sorted(rows)]


def shm_host_result(verify, apply=None, desired=None, recorded=None, flavour=None):
    """The per-host result dict documented above, from two registered task results (either may be None)."""
    for name, value in (("input", verify), ("apply", apply)):
        if value is not None and not isinstance(value, dict):
            raise AnsibleFilterError("shm_host_result: %s must be a registered task result, got %r" % (name, value))
    if desired is not None and (isinstance(desired, (str, bytes, dict)) or not hasattr(desired, "__iter__")):
        raise AnsibleFilterError("shm_host_result: desired must be a list of connection items, got %r" % (desired,))
    verify = verify or {}
    apply = apply or {}
    steps = (("shm_connection", apply), ("shm_verify", verify))
    unreachable = [msg for msg in (_problem(step, result, "unreachable") for step, result in steps) if msg]
    failed = [msg for msg in (_problem(step, result, "failed") for step, result in steps) if msg]
    verified = _ran(verify) and not verify.get("failed") and not verify.get("unreachable")

    if unreachable:
        status, message = "unreachable", unreachable[0]
    elif failed:
        status, message = "failed", "; ".join(failed)
    elif not verified:
        status, message = "unverified", None
    else:
        status, message = ("compliant" if verify.get("compliant") else "non-compliant"), None

    findings = _sorted_findings(verify.get("findings") or []) if verified else []
    return {
        "status": status,
        "message": message,
        "snapd_version": verify.get("snapd_version") if verified else None,
        "summary": _summary(findings),
        "findings": findings,
        "connections": _connection_table(desired, findings, apply) if verified and desired is not None else None,
        "changed": bool(_ran(apply) and apply.get("changed")),
        "actions": list(apply.get("actions") or []) if _ran(apply) else [],
        "recorded": recorded,
        "flavour": flavour or None,
    }


class FilterModule:
    def filters(self):
        return {"shm_host_result": shm_host_result}
