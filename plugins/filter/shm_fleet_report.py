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
  - Hosts are listed by name in natural order (V(lab2) before V(lab10)).
  - A host with no result is listed as V(failed) when it is no longer in the play (it failed or was
    unreachable before it recorded one) or, with O(source=recorded), when nothing recorded one; else as
    V(unverified).
author:
  - snapfleet maintainers (@snapfleet)
options:
  _input:
    description: The hosts to report on, for example every host of the play (C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  results:
    description:
      - Each host's result, as the P(snapfleet.snapd.shm_host_result#filter) filter builds it, by host name.
      - Or a list of such mappings, one per source (for example the artifacts of each earlier job of a workflow);
        a host's newest result by its C(recorded) time is used, the later source on a tie.
    type: raw
  hostvars:
    description:
      - The C(hostvars) variable. The hosts that O(results) does not cover are read from it in one pass, their
        result from O(result_var) (with O(source=recorded), from their facts, C(ansible_facts[result_var])) and
        their flavour from O(flavour_var).
      - A host covered by O(results) keeps the C(flavour) its result carries, if any.
    type: raw
  result_var:
    description: The host variable, or fact, that holds a host's result.
    type: str
    default: shared_memory_result
  flavour_var:
    description: A host variable shown as the host's flavour (for example its OS release).
    type: str
    default: snapd_flavour
  active:
    description: The hosts still in the play (C(ansible_play_hosts)); the others failed earlier.
    type: list
    elements: str
  source:
    description:
      - V(play) for the results of this play's hosts; V(recorded) for results recorded by earlier jobs
        (the C(fleet) entry point of the role), where a host without one is V(failed).
    type: str
    choices: [play, recorded]
    default: play
  fail_on:
    description:
      - The compliance gate. With V(error) a host that is non-compliant, failed or unreachable fails it;
        with V(warning) also a host with a warning finding; V(never) always passes.
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
      {{ ansible_play_hosts_all | snapfleet.snapd.shm_fleet_report(hostvars=hostvars, active=ansible_play_hosts) }}
  run_once: true

- name: Aggregate the results two earlier jobs recorded, and the fact cache for the hosts they do not cover
  ansible.builtin.set_fact:
    fleet_report: >-
      {{ groups['all'] | snapfleet.snapd.shm_fleet_report(results=[first_job_results, second_job_results],
                                                          hostvars=hostvars, source='recorded') }}
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
          C(unverified)), C(changed) (hosts with changes), C(findings) (counts per severity),
          C(connections) (rows per connection status over every host, and C(gadget), the rows of gadget-made
          connections) and C(snapd_versions) (hosts per snapd version).
      type: dict
    gate:
      description: C(fail_on), C(passed) (bool) and C(failed_by), the hosts that failed it, in report order.
      type: dict
    hosts:
      description:
        - One entry per host in natural order of names, with C(name), C(status), C(message), C(snapd_version),
          C(flavour), C(summary), C(findings), C(connections), C(changed), C(actions) and C(recorded) (when
          the result was recorded; for a host without one, O(generated)).
      type: list
      elements: dict
"""

import re

from ansible.errors import AnsibleFilterError
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import SEVERITIES

SCHEMA_VERSION = 1
STATUSES = ("compliant", "non-compliant", "failed", "unreachable", "unverified")
CONNECTION_STATUSES = ("connected", "missing", "undesired", "unexpected", "disconnected")
NOT_IN_PLAY = "no shared-memory result: the host failed or was unreachable earlier in the run"
NOT_RECORDED = "no shared-memory result was recorded for this host"
NEVER_RECORDED = ("no recorded shared-memory result: no job that ran the shared_memory role covered this host, "
                  "or its job kept neither facts nor artifacts")
_DIGITS = re.compile(r"(\d+)")


def natural_key(name):
    """``lab2`` before ``lab10``: runs of digits compare as numbers, the rest case-insensitively."""
    parts = _DIGITS.split(name)
    return [int(part) if index % 2 else part.lower() for index, part in enumerate(parts)], name


def _newest(sources, name):
    """The host's result with the latest ``recorded`` time over every source; a later source wins a tie."""
    best = None
    for results in sources:
        result = results.get(name)
        if result and (best is None or (result.get("recorded") or "") >= (best.get("recorded") or "")):
            best = result
    return best


def _from_hostvars(hostvars, names, result_var, flavour_var, facts):
    """``(results, flavours)`` of the hosts, reading each host's variables once (each read computes them all)."""
    results, flavours = {}, {}
    for name in names:
        host = hostvars[name]
        results[name] = (host.get("ansible_facts") or {}).get(result_var) if facts else host.get(result_var)
        flavours[name] = host.get(flavour_var)
    return results, flavours


def _host_entry(name, result, flavour, missing_message, generated):
    if not result:
        # dated now: in a later fleet report this status outranks an older result of the host
        result = {"status": "unverified" if missing_message is None else "failed",
                  "message": missing_message or NOT_RECORDED, "recorded": generated}
    status = result.get("status")
    if status not in STATUSES:
        raise AnsibleFilterError("shm_fleet_report: host %s has an unknown status %r" % (name, status))
    connections = result.get("connections")
    return {
        "name": name,
        "status": status,
        "message": result.get("message"),
        "snapd_version": result.get("snapd_version"),
        "flavour": result.get("flavour") if flavour is None else flavour,
        "summary": {severity: int((result.get("summary") or {}).get(severity, 0)) for severity in SEVERITIES},
        "findings": list(result.get("findings") or []),
        "connections": None if connections is None else list(connections),
        "changed": bool(result.get("changed")),
        "actions": list(result.get("actions") or []),
        "recorded": result.get("recorded"),
    }


def _fails_gate(host, fail_on):
    if fail_on == "never":
        return False
    if host["status"] in ("non-compliant", "failed", "unreachable"):
        return True
    return fail_on == "warning" and host["summary"]["warning"] > 0


def _summary(hosts):
    versions = {}
    connections = dict.fromkeys(CONNECTION_STATUSES + ("gadget",), 0)
    for host in hosts:
        if host["snapd_version"]:
            versions[host["snapd_version"]] = versions.get(host["snapd_version"], 0) + 1
        for row in host["connections"] or ():
            if row.get("status") in connections:
                connections[row["status"]] += 1
            connections["gadget"] += bool(row.get("gadget"))
    summary = {"hosts": len(hosts)}
    summary.update({status: sum(1 for host in hosts if host["status"] == status) for status in STATUSES})
    summary["changed"] = sum(1 for host in hosts if host["changed"])
    summary["findings"] = {severity: sum(host["summary"][severity] for host in hosts) for severity in SEVERITIES}
    summary["connections"] = connections
    summary["snapd_versions"] = dict(sorted(versions.items(), key=lambda item: natural_key(item[0])))
    return summary


def shm_fleet_report(hosts, results=None, hostvars=None, result_var="shared_memory_result", flavour_var="snapd_flavour",
                     active=None, source="play", fail_on="error", generated=None, check_mode=False):
    """The report dict documented above."""
    if fail_on not in ("error", "warning", "never"):
        raise AnsibleFilterError("shm_fleet_report: fail_on must be error, warning or never, not %r" % (fail_on,))
    if source not in ("play", "recorded"):
        raise AnsibleFilterError("shm_fleet_report: source must be play or recorded, not %r" % (source,))
    sources = list(results) if isinstance(results, (list, tuple)) else [results or {}]
    if not all(isinstance(found, dict) for found in sources):
        raise AnsibleFilterError("shm_fleet_report: results must be a dict of host names to results, or a list of "
                                 "such dicts, got %r" % (results,))
    names = sorted(set(hosts), key=natural_key)
    flavours = {}
    if hostvars is not None:
        uncovered = [name for name in names if not any(name in found for found in sources)]
        read, flavours = _from_hostvars(hostvars, uncovered, result_var, flavour_var, facts=source == "recorded")
        sources.insert(0, read)
    active = set(hosts if active is None else active)

    def missing_message(name):
        if source == "recorded":
            return NEVER_RECORDED
        return None if name in active else NOT_IN_PLAY

    entries = [_host_entry(name, _newest(sources, name), flavours.get(name), missing_message(name), generated)
               for name in names]
    failed_by = [host["name"] for host in entries if _fails_gate(host, fail_on)]
    return {
        "schema_version": SCHEMA_VERSION,
        "generated": generated,
        "check_mode": bool(check_mode),
        "summary": _summary(entries),
        "gate": {"fail_on": fail_on, "passed": not failed_by, "failed_by": failed_by},
        "hosts": entries,
    }


class FilterModule:
    def filters(self):
        return {"shm_fleet_report": shm_fleet_report}
