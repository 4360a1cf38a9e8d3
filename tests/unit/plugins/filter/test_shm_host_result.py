# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.snapfleet.snapd.plugins.filter.shm_host_result import shm_host_result

ERROR = {"code": "connection-missing", "severity": "error", "subject": "plug a:b", "message": "m", "evidence": {}}
WARNING = {"code": "path-too-broad", "severity": "warning", "subject": "slot c:d", "message": "m", "evidence": {}}
INFO = {"code": "shm-object", "severity": "info", "subject": "slot c:d", "message": "m", "evidence": {}}
SKIPPED = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}
APPLIED = {"changed": True, "actions": [{"action": "connect", "plug": "a:b", "slot": "c:d", "reason": "listed as connected"}]}


def verified(*findings, compliant=None):
    if compliant is None:
        compliant = not any(finding["severity"] == "error" for finding in findings)
    return {"changed": False, "compliant": compliant, "snapd_version": "2.68.3", "findings": list(findings)}


def test_a_host_without_error_findings_is_compliant():
    result = shm_host_result(verified(WARNING, INFO), APPLIED)
    assert result["status"] == "compliant"
    assert result["message"] is None
    assert result["snapd_version"] == "2.68.3"
    assert result["summary"] == {"error": 0, "warning": 1, "info": 1}


def test_a_host_with_an_error_finding_is_non_compliant():
    assert shm_host_result(verified(ERROR), SKIPPED)["status"] == "non-compliant"


def test_findings_are_ordered_errors_warnings_info():
    codes = [finding["code"] for finding in shm_host_result(verified(INFO, WARNING, ERROR))["findings"]]
    assert codes == ["connection-missing", "path-too-broad", "shm-object"]


def test_the_changes_of_shm_connection_are_kept():
    result = shm_host_result(verified(), APPLIED)
    assert result["changed"] is True
    assert result["actions"] == APPLIED["actions"]


def test_a_skipped_apply_changed_nothing():
    result = shm_host_result(verified(), SKIPPED)
    assert result["changed"] is False
    assert result["actions"] == []


def test_a_skipped_verification_is_unverified():
    result = shm_host_result(SKIPPED, APPLIED)
    assert result["status"] == "unverified"
    assert result["snapd_version"] is None
    assert result["changed"] is True


def test_no_results_at_all_is_unverified():
    assert shm_host_result(None)["status"] == "unverified"


def test_a_failed_apply_is_failed_and_keeps_the_findings_of_the_verification_after_it():
    result = shm_host_result(verified(ERROR), {"failed": True, "msg": "refused", "actions": []})
    assert result["status"] == "failed"
    assert result["message"] == "shm_connection: refused"
    assert result["summary"]["error"] == 1


def test_a_failed_verification_is_failed_and_names_the_module():
    result = shm_host_result({"failed": True, "msg": "not root"}, SKIPPED)
    assert result["status"] == "failed"
    assert result["message"] == "shm_verify: not root"
    assert result["findings"] == []


def test_both_failures_are_named():
    result = shm_host_result({"failed": True, "msg": "b"}, {"failed": True, "msg": "a"})
    assert result["message"] == "shm_connection: a; shm_verify: b"


def test_an_unreachable_host_is_unreachable_even_when_a_task_also_failed():
    result = shm_host_result(SKIPPED, {"unreachable": True, "failed": True, "msg": "ssh: connection refused"})
    assert result["status"] == "unreachable"
    assert result["message"] == "shm_connection: ssh: connection refused"


@pytest.mark.parametrize("verify, apply", [("compliant", None), (verified(), ["connect"])])
def test_anything_but_registered_results_is_refused(verify, apply):
    with pytest.raises(AnsibleFilterError):
        shm_host_result(verify, apply)
