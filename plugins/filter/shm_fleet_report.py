# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: shm_fleet_report
short_description: The fleet's shared-memory compliance report from every host's result
version_added: 0.1.0
description:
  - Builds the report document of the C(snapfleet.snapd.shm_report) role, whose JSON file is the source of
    truth and whose Markdown and HTML pages are views of it.
  - A host with no result is listed as V(failed) when it is no longer in the play (it failed or was
    unreachable before it recorded one), else as V(unverified).
author:
  - snapfleet maintainers (@snapfleet)
options:
  _input:
    description: Every host of the play, in play order (C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  results:
    description:
      - Each host's result, as the P(snapfleet.snapd.shm_host_result#filter) filter builds it, or V(null).
    type: dict
    required: true
  flavours:
    description: Each host's flavour (for example its OS release), or V(null) where not known.
    type: dict
  active:
    description: The hosts still in the play (C(ansible_play_hosts)); the others failed earlier.
    type: list
    elements: str
  fail_on:
    description:
      - The compliance gate. V(error) is met by a host that is non-compliant, failed or unreachable;
        V(warning) also by a host with a warning finding; V(never) is never met.
    type: str
    choices: [error, warning, never]
    default: error
  generated:
    description: When the report was made, as an ISO 8601 string.
    type: str
  check_mode:
    description: Whether the run was in check mode.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Aggregate every host of the play
  ansible.builtin.set_fact:
    fleet_report: >-
      {{ ansible_play_hosts_all | snapfleet.snapd.shm_fleet_report(
           results=dict(ansible_play_hosts_all | zip(ansible_play_hosts_all
             | map('extract', hostvars, 'shared_memory_result') | map('default', none))),
           active=ansible_play_hosts) }}
  run_once: true
"""

RETURN = r"""
_value:
  description: The report. C(schema_version) changes only when a key changes meaning or goes away.
  type: dict
  contains:
    schema_version:
      description: V(1).
      type: int
    generated:
      description: The O(generated) time.
      type: str
    check_mode:
      description: The O(check_mode) flag; the actions of a host are then what would change.
      type: bool
    summary:
      description:
        - C(hosts), one count per status (C(compliant), C(non-compliant), C(failed), C(unreachable),
          C(unverified)), C(changed) (hosts with changes), C(findings) (counts per severity) and
          C(snapd_versions) (hosts per snapd version).
      type: dict
    gate:
      description: C(fail_on), C(met) (bool) and C(hosts), the hosts that meet the gate.
      type: dict
    hosts:
      description:
        - One entry per host in play order, with C(name), C(status), C(message), C(snapd_version),
          C(flavour), C(summary), C(findings), C(changed) and C(actions).
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError

SCHEMA_VERSION = 1
STATUSES = ("compliant", "non-compliant", "failed", "unreachable", "unverified")
SEVERITIES = ("error", "warning", "info")
NOT_IN_PLAY = "no shared-memory result: the host failed or was unreachable earlier in the run"
NOT_RECORDED = "no shared-memory result was recorded for this host"


def _host_entry(name, result, flavour, in_play):
    if not result:
        result = {"status": "unverified" if in_play else "failed", "message": NOT_RECORDED if in_play else NOT_IN_PLAY}
    status = result.get("status")
    if status not in STATUSES:
        raise AnsibleFilterError("shm_fleet_report: host %s has an unknown status %r" % (name, status))
    findings = list(result.get("findings") or [])
    return {
        "name": name,
        "status": status,
        "message": result.get("message"),
        "snapd_version": result.get("snapd_version"),
        "flavour": flavour,
        "summary": {severity: int((result.get("summary") or {}).get(severity, 0)) for severity in SEVERITIES},
        "findings": findings,
        "changed": bool(result.get("changed")),
        "actions": list(result.get("actions") or []),
    }


def _meets_gate(host, fail_on):
    if fail_on == "never":
        return False
    if host["status"] in ("non-compliant", "failed", "unreachable"):
        return True
    return fail_on == "warning" and host["summary"]["warning"] > 0


def _summary(hosts):
    versions = {}
    for host in hosts:
        if host["snapd_version"]:
            versions[host["snapd_version"]] = versions.get(host["snapd_version"], 0) + 1
    summary = {"hosts": len(hosts)}
    summary.update({status: sum(1 for host in hosts if host["status"] == status) for status in STATUSES})
    summary["changed"] = sum(1 for host in hosts if host["changed"])
    summary["findings"] = {severity: sum(host["summary"][severity] for host in hosts) for severity in SEVERITIES}
    summary["snapd_versions"] = dict(sorted(versions.items()))
    return summary


def shm_fleet_report(hosts, results, flavours=None, active=None, fail_on="error", generated=None, check_mode=False):
    """The report dict documented above."""
    if fail_on not in ("error", "warning", "never"):
        raise AnsibleFilterError("shm_fleet_report: fail_on must be error, warning or never, not %r" % (fail_on,))
    if not isinstance(results, dict):
        raise AnsibleFilterError("shm_fleet_report: results must be a dict of host names to results, got %r" % (results,))
    flavours = flavours or {}
    active = set(hosts if active is None else active)
    entries = [_host_entry(name, results.get(name), flavours.get(name), name in active) for name in hosts]
    gate_hosts = [host["name"] for host in entries if _meets_gate(host, fail_on)]
    return {
        "schema_version": SCHEMA_VERSION,
        "generated": generated,
        "check_mode": bool(check_mode),
        "summary": _summary(entries),
        "gate": {"fail_on": fail_on, "met": bool(gate_hosts), "hosts": gate_hosts},
        "hosts": entries,
    }


class FilterModule:
    def filters(self):
        return {"shm_fleet_report": shm_fleet_report}
