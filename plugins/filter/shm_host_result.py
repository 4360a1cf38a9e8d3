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
"""

EXAMPLES = r"""
- name: Record the host's verdict for the report
  ansible.builtin.set_fact:
    shared_memory_result: "{{ verify_result | snapfleet.snapd.shm_host_result(apply_result) }}"
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
    changed:
      description: Whether M(snapfleet.snapd.shm_connection) changed something (or would have, in check mode).
      type: bool
    actions:
      description: The changes M(snapfleet.snapd.shm_connection) made or, in check mode, would make.
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError

SEVERITIES = ("error", "warning", "info")


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


def shm_host_result(verify, apply=None):
    """The per-host result dict documented above, from two registered task results (either may be None)."""
    for name, value in (("input", verify), ("apply", apply)):
        if value is not None and not isinstance(value, dict):
            raise AnsibleFilterError("shm_host_result: %s must be a registered task result, got %r" % (name, value))
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
        "changed": bool(_ran(apply) and apply.get("changed")),
        "actions": list(apply.get("actions") or []) if _ran(apply) else [],
    }


class FilterModule:
    def filters(self):
        return {"shm_host_result": shm_host_result}
