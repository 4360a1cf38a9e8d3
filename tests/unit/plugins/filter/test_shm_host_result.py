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


# --- the connection table: desired connections against what shm_verify found --------------------------------

WIRING = [{"plug": "cons:shm", "slot": "prov:shm"}, {"plug": "arm:shared-memory"},
          {"plug": "old:shm", "slot": "prov:shm", "state": "disconnected"}]


def finding(code, **evidence):
    return {"code": code, "severity": "error", "subject": "plug %s" % evidence.get("plug"), "message": "m",
            "evidence": evidence}


def table(result):
    return [(row["plug"], row["slot"], row["desired"], row["actual"], row["gadget"], row["status"])
            for row in result["connections"]]


def test_desired_connections_without_a_finding_are_as_desired():
    assert table(shm_host_result(verified(), desired=WIRING)) == [
        ("arm:shared-memory", ":shared-memory", "connected", "connected", None, "connected"),
        ("cons:shm", "prov:shm", "connected", "connected", None, "connected"),
        ("old:shm", "prov:shm", "disconnected", "disconnected", None, "disconnected")]


def test_a_missing_connection_and_a_manually_disconnected_one_are_told_apart():
    result = shm_host_result(verified(finding("connection-missing", plug="cons:shm", slot="prov:shm", undesired=False),
                                      finding("connection-missing", plug="arm:shared-memory",
                                              slot="snapd:shared-memory", undesired=True)), desired=WIRING)
    assert table(result)[:2] == [
        ("arm:shared-memory", "snapd:shared-memory", "connected", "undesired", None, "undesired"),
        ("cons:shm", "prov:shm", "connected", "disconnected", None, "missing")]


def test_unexpected_connections_are_listed_whether_desired_disconnected_or_not_listed():
    result = shm_host_result(verified(finding("connection-unexpected", plug="old:shm", slot="prov:shm"),
                                      finding("connection-unexpected", plug="odd:shm", slot="prov:shm", manual=True)),
                             desired=WIRING)
    assert table(result)[2:] == [
        ("odd:shm", "prov:shm", None, "connected", None, "unexpected"),
        ("old:shm", "prov:shm", "disconnected", "connected", None, "unexpected")]


def test_a_desired_connection_whose_plug_snapd_does_not_have_is_missing():
    missing_plug = {"code": "endpoint-missing", "severity": "error", "subject": "plug cons:shm", "message": "m",
                    "evidence": {}}
    assert table(shm_host_result(verified(missing_plug), desired=WIRING))[1][3:] == ("disconnected", None, "missing")


def test_every_spelling_of_the_system_slot_is_one_connection():
    wiring = [{"plug": "arm:shared-memory", "slot": "system:shared-memory"}, {"plug": "arm:shared-memory"}]
    result = shm_host_result(verified(finding("connection-missing", plug="arm:shared-memory", slot="core:shared-memory",
                                              undesired=False)), desired=wiring)
    assert table(result) == [("arm:shared-memory", "core:shared-memory", "connected", "disconnected", None, "missing")]


def test_gadget_and_snapd_names_come_from_the_connections_shm_connection_reports():
    apply = dict(APPLIED, connections=[{"plug": "cons:shm", "slot": "prov:shm", "manual": False, "gadget": True},
                                       {"plug": "arm:shared-memory", "slot": "snapd:shared-memory", "manual": True,
                                        "gadget": False}],
                 undesired=[])
    rows = table(shm_host_result(verified(), apply, desired=WIRING))
    assert rows[0] == ("arm:shared-memory", "snapd:shared-memory", "connected", "connected", False, "connected")
    assert rows[1][4] is True
    # nothing is known about a connection that is not there
    assert rows[2][4] is None


def test_gadget_also_comes_from_the_state_before_a_check_mode_run_with_diff():
    apply = dict(APPLIED, connections=[], undesired=[],
                 diff={"before": {"connections": [{"plug": "odd:shm", "slot": "prov:shm", "gadget": True}],
                                  "undesired": []}})
    result = shm_host_result(verified(finding("connection-unexpected", plug="odd:shm", slot="prov:shm")), apply,
                             desired=[])
    assert table(result) == [("odd:shm", "prov:shm", None, "connected", True, "unexpected")]


def test_no_table_without_verification_or_without_the_desired_connections():
    assert shm_host_result(SKIPPED, APPLIED, desired=WIRING)["connections"] is None
    assert shm_host_result({"failed": True, "msg": "x"}, desired=WIRING)["connections"] is None
    assert shm_host_result(verified())["connections"] is None
    assert shm_host_result(verified(), desired=[])["connections"] == []


def test_the_recorded_time_is_kept():
    assert shm_host_result(verified(), recorded="2026-12-01T10:00:00Z")["recorded"] == "2026-12-01T10:00:00Z"


@pytest.mark.parametrize("desired", ["cons:shm", {"plug": "cons:shm"}, [{"slot": "prov:shm"}], ["cons:shm"]])
def test_desired_must_be_a_list_of_connection_items(desired):
    with pytest.raises(AnsibleFilterError, match="desired must be a list of connection items"):
        shm_host_result(verified(), desired=desired)


def test_the_flavour_is_recorded_with_the_result_and_empty_means_none():
    from ansible_collections.snapfleet.snapd.plugins.filter.shm_host_result import shm_host_result as build

    assert build(None, flavour="bookworm")["flavour"] == "bookworm"
    assert build(None, flavour="")["flavour"] is None
    assert build(None)["flavour"] is None
