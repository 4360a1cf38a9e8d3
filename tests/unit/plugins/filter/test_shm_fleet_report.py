# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.snapfleet.snapd.plugins.filter.shm_fleet_report import shm_fleet_report

WARNING = {"code": "path-too-broad", "severity": "warning", "subject": "slot c:d", "message": "m", "evidence": {}}


def result(status, version=None, warnings=0, changed=False, message=None, recorded=None, connections=None):
    return {
        "status": status,
        "message": message,
        "snapd_version": version,
        "summary": {"error": 1 if status == "non-compliant" else 0, "warning": warnings, "info": 0},
        "findings": [WARNING] * warnings,
        "connections": connections,
        "changed": changed,
        "actions": [],
        "recorded": recorded,
    }


def row(status, gadget=None):
    return {"plug": "a:b", "slot": "c:d", "desired": "connected", "actual": "connected", "gadget": gadget,
            "status": status}


FLEET = ["lab1", "lab2", "lab3"]
COMPLIANT = {"lab1": result("compliant", "2.57.6", changed=True), "lab2": result("compliant", "2.68.3"),
             "lab3": result("compliant", "2.57.6", warnings=2)}


def hostvars(**hosts):
    """Stands in for the hostvars variable: each host's variables by name."""
    return {name: dict(variables) for name, variables in hosts.items()}


def test_hosts_are_listed_by_name_with_their_result_and_flavour_from_hostvars():
    variables = hostvars(lab1={"shared_memory_result": COMPLIANT["lab1"], "snapd_flavour": "bookworm"},
                         lab2={"shared_memory_result": COMPLIANT["lab2"], "snapd_flavour": "trixie"},
                         lab3={"shared_memory_result": COMPLIANT["lab3"]})
    report = shm_fleet_report(["lab3", "lab1", "lab2"], hostvars=variables)
    assert [host["name"] for host in report["hosts"]] == FLEET
    assert [host["flavour"] for host in report["hosts"]] == ["bookworm", "trixie", None]
    assert [host["snapd_version"] for host in report["hosts"]] == ["2.57.6", "2.68.3", "2.57.6"]


def test_other_variable_names_can_be_read():
    variables = hostvars(lab1={"verdict": COMPLIANT["lab1"], "os": "bookworm"})
    host = shm_fleet_report(["lab1"], hostvars=variables, result_var="verdict", flavour_var="os")["hosts"][0]
    assert (host["status"], host["flavour"]) == ("compliant", "bookworm")


def test_recorded_results_are_read_from_the_facts_of_the_hosts_no_result_covers():
    cached = hostvars(lab1={"ansible_facts": {"shared_memory_result": result("non-compliant")}},
                      lab2={"ansible_facts": {"shared_memory_result": result("compliant")}, "snapd_flavour": "trixie"},
                      lab3={"ansible_facts": {}})

    class Watched(dict):
        read = []

        def __getitem__(self, name):
            self.read.append(name)
            return dict.__getitem__(self, name)

    watched = Watched(cached)
    covered = {"lab1": dict(result("compliant"), flavour="bookworm")}
    report = shm_fleet_report(FLEET, results=[covered], hostvars=watched, source="recorded")
    assert [host["status"] for host in report["hosts"]] == ["compliant", "compliant", "failed"]
    assert [host["flavour"] for host in report["hosts"]] == ["bookworm", "trixie", None]
    # each read computes all of a host's variables: the covered host is not read
    assert Watched.read == ["lab2", "lab3"]


def test_names_are_in_natural_order():
    names = ["lab10", "Lab3", "lab2", "gw-1", "lab1", "gw-01a"]
    report = shm_fleet_report(names, {}, fail_on="never")
    assert [host["name"] for host in report["hosts"]] == ["gw-1", "gw-01a", "lab1", "lab2", "Lab3", "lab10"]


def test_the_summary_counts_statuses_changes_findings_and_snapd_versions():
    summary = shm_fleet_report(FLEET, COMPLIANT)["summary"]
    assert summary["hosts"] == 3
    assert summary["compliant"] == 3
    assert summary["non-compliant"] == summary["failed"] == summary["unreachable"] == summary["unverified"] == 0
    assert summary["changed"] == 1
    assert summary["findings"] == {"error": 0, "warning": 2, "info": 0}
    assert summary["snapd_versions"] == {"2.57.6": 2, "2.68.3": 1}


def test_a_host_that_left_the_play_without_a_result_is_failed():
    report = shm_fleet_report(FLEET, {"lab1": COMPLIANT["lab1"]}, active=["lab1", "lab2"], generated="T")
    lab2, lab3 = report["hosts"][1:]
    assert (lab2["status"], lab3["status"]) == ("unverified", "failed")
    assert "earlier in the run" in lab3["message"]
    # dated by the report, so that a later fleet report prefers it to an older recorded result
    assert lab3["recorded"] == "T"


def test_with_recorded_results_a_host_without_one_is_failed():
    report = shm_fleet_report(FLEET, {"lab1": COMPLIANT["lab1"]}, source="recorded")
    assert [host["status"] for host in report["hosts"]] == ["compliant", "failed", "failed"]
    assert "no recorded shared-memory result" in report["hosts"][1]["message"]
    assert report["gate"]["failed_by"] == ["lab2", "lab3"]


def test_the_newest_recorded_result_of_a_host_wins_over_every_source():
    cached = {"lab1": result("compliant", recorded="2026-12-01T10:00:00Z"),
              "lab2": result("compliant", recorded="2026-12-02T10:00:00Z")}
    slice_one = {"lab1": result("non-compliant", recorded="2026-12-02T09:00:00Z")}
    slice_two = {"lab2": result("unreachable", recorded="2026-12-01T09:00:00Z"), "lab3": result("compliant")}
    report = shm_fleet_report(FLEET, [cached, slice_one, slice_two], source="recorded")
    assert [host["status"] for host in report["hosts"]] == ["non-compliant", "compliant", "compliant"]


def test_a_later_source_wins_a_tie():
    first, second = {"lab1": result("compliant", recorded="T")}, {"lab1": result("failed", recorded="T")}
    assert shm_fleet_report(["lab1"], [first, second])["hosts"][0]["status"] == "failed"


def test_connection_rows_are_kept_and_counted_over_the_fleet():
    results = {"lab1": result("compliant", connections=[row("connected", gadget=True), row("connected")]),
               "lab2": result("non-compliant", connections=[row("missing"), row("unexpected", gadget=False)]),
               "lab3": result("compliant")}
    report = shm_fleet_report(FLEET, results)
    assert report["hosts"][0]["connections"] == results["lab1"]["connections"]
    assert report["hosts"][2]["connections"] is None
    assert report["summary"]["connections"] == {"connected": 2, "missing": 1, "undesired": 0, "unexpected": 1,
                                                "disconnected": 0, "gadget": 1}


def test_a_host_recorded_unreachable_keeps_its_status_and_message():
    results = dict(COMPLIANT, lab2=result("unreachable", message="shm_verify: ssh: connection refused"))
    host = shm_fleet_report(FLEET, results, active=["lab1", "lab3"])["hosts"][1]
    assert (host["status"], host["message"]) == ("unreachable", "shm_verify: ssh: connection refused")


def test_non_compliant_failed_and_unreachable_hosts_fail_the_error_gate():
    results = {"lab1": result("non-compliant"), "lab2": result("unreachable"), "lab3": result("compliant", warnings=1)}
    gate = shm_fleet_report(FLEET + ["lab4"], results, active=FLEET)["gate"]
    assert gate == {"fail_on": "error", "passed": False, "failed_by": ["lab1", "lab2", "lab4"]}


def test_warnings_also_fail_the_warning_gate():
    gate = shm_fleet_report(FLEET, COMPLIANT, fail_on="warning")["gate"]
    assert gate == {"fail_on": "warning", "passed": False, "failed_by": ["lab3"]}


def test_warnings_alone_pass_the_error_gate():
    assert shm_fleet_report(FLEET, COMPLIANT)["gate"] == {"fail_on": "error", "passed": True, "failed_by": []}


def test_the_never_gate_always_passes():
    gate = shm_fleet_report(FLEET, {}, active=[], fail_on="never")["gate"]
    assert gate == {"fail_on": "never", "passed": True, "failed_by": []}


def test_generated_time_and_check_mode_are_carried():
    report = shm_fleet_report(FLEET, COMPLIANT, generated="2026-11-27T00:00:00Z", check_mode=True)
    assert (report["schema_version"], report["generated"], report["check_mode"]) == (1, "2026-11-27T00:00:00Z", True)


@pytest.mark.parametrize("kwargs", [{"fail_on": "errors"}, {"fail_on": True}, {"source": "cache"}])
def test_an_unknown_gate_is_refused(kwargs):
    with pytest.raises(AnsibleFilterError):
        shm_fleet_report(FLEET, COMPLIANT, **kwargs)


def test_an_unknown_status_is_refused():
    with pytest.raises(AnsibleFilterError, match="lab1"):
        shm_fleet_report(["lab1"], {"lab1": result("drifted")})


@pytest.mark.parametrize("results", [[COMPLIANT["lab1"]["status"]], "lab1", [COMPLIANT, None]])
def test_results_must_be_a_mapping_or_a_list_of_them(results):
    with pytest.raises(AnsibleFilterError, match="results must be"):
        shm_fleet_report(FLEET, results)
