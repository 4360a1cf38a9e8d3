# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.snapfleet.snapd.plugins.filter.shm_fleet_report import shm_fleet_report

WARNING = {"code": "path-too-broad", "severity": "warning", "subject": "slot c:d", "message": "m", "evidence": {}}


def result(status, version=None, warnings=0, changed=False, message=None):
    return {
        "status": status,
        "message": message,
        "snapd_version": version,
        "summary": {"error": 1 if status == "non-compliant" else 0, "warning": warnings, "info": 0},
        "findings": [WARNING] * warnings,
        "changed": changed,
        "actions": [],
    }


FLEET = ["lab1", "lab2", "lab3"]
COMPLIANT = {"lab1": result("compliant", "2.57.6", changed=True), "lab2": result("compliant", "2.68.3"),
             "lab3": result("compliant", "2.57.6", warnings=2)}


def test_hosts_are_listed_in_play_order_with_their_flavour():
    report = shm_fleet_report(FLEET, COMPLIANT, flavours={"lab1": "bookworm", "lab2": "trixie"})
    assert [host["name"] for host in report["hosts"]] == FLEET
    assert [host["flavour"] for host in report["hosts"]] == ["bookworm", "trixie", None]


def test_the_summary_counts_statuses_changes_findings_and_snapd_versions():
    summary = shm_fleet_report(FLEET, COMPLIANT)["summary"]
    assert summary["hosts"] == 3
    assert summary["compliant"] == 3
    assert summary["non-compliant"] == summary["failed"] == summary["unreachable"] == summary["unverified"] == 0
    assert summary["changed"] == 1
    assert summary["findings"] == {"error": 0, "warning": 2, "info": 0}
    assert summary["snapd_versions"] == {"2.57.6": 2, "2.68.3": 1}


def test_a_host_that_left_the_play_without_a_result_is_failed():
    report = shm_fleet_report(FLEET, {"lab1": COMPLIANT["lab1"]}, active=["lab1", "lab2"])
    lab2, lab3 = report["hosts"][1:]
    assert (lab2["status"], lab3["status"]) == ("unverified", "failed")
    assert "earlier in the run" in lab3["message"]


def test_a_host_recorded_unreachable_keeps_its_status_and_message():
    results = dict(COMPLIANT, lab2=result("unreachable", message="shm_verify: ssh: connection refused"))
    host = shm_fleet_report(FLEET, results, active=["lab1", "lab3"])["hosts"][1]
    assert (host["status"], host["message"]) == ("unreachable", "shm_verify: ssh: connection refused")


def test_the_error_gate_is_met_by_non_compliant_failed_and_unreachable_hosts():
    results = {"lab1": result("non-compliant"), "lab2": result("unreachable"), "lab3": result("compliant", warnings=1)}
    gate = shm_fleet_report(FLEET + ["lab4"], results, active=FLEET)["gate"]
    assert gate == {"fail_on": "error", "met": True, "hosts": ["lab1", "lab2", "lab4"]}


def test_the_warning_gate_is_also_met_by_warnings():
    gate = shm_fleet_report(FLEET, COMPLIANT, fail_on="warning")["gate"]
    assert gate == {"fail_on": "warning", "met": True, "hosts": ["lab3"]}


def test_the_error_gate_is_not_met_by_warnings_alone():
    assert shm_fleet_report(FLEET, COMPLIANT)["gate"]["met"] is False


def test_the_never_gate_is_never_met():
    gate = shm_fleet_report(FLEET, {}, active=[], fail_on="never")["gate"]
    assert gate == {"fail_on": "never", "met": False, "hosts": []}


def test_generated_time_and_check_mode_are_carried():
    report = shm_fleet_report(FLEET, COMPLIANT, generated="2026-11-27T00:00:00Z", check_mode=True)
    assert (report["schema_version"], report["generated"], report["check_mode"]) == (1, "2026-11-27T00:00:00Z", True)


@pytest.mark.parametrize("kwargs", [{"fail_on": "errors"}, {"fail_on": True}])
def test_an_unknown_gate_is_refused(kwargs):
    with pytest.raises(AnsibleFilterError):
        shm_fleet_report(FLEET, COMPLIANT, **kwargs)


def test_an_unknown_status_is_refused():
    with pytest.raises(AnsibleFilterError, match="lab1"):
        shm_fleet_report(["lab1"], {"lab1": result("drifted")})


def test_results_must_be_a_mapping():
    with pytest.raises(AnsibleFilterError):
        shm_fleet_report(FLEET, [COMPLIANT["lab1"]])
