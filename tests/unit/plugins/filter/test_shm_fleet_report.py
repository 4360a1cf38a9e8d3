# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.snapfleet.snapd.plugins.filter.shm_fleet_report import results_signature, shm_fleet_report

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
NONE_UNREACHABLE = {"hosts": 0, "max": "0", "allowed": 0, "within": True}
COMPLIANT = {"lab1": result("compliant", "2.57.6", changed=True), "lab2": result("compliant", "2.68.3"),
             "lab3": result("compliant", "2.57.6", warnings=2)}


def hostvars(**hosts):
    """Stands in for the hostvars variable: each host's variables by name."""
    return {name: dict(variables) for name, variables in hosts.items()}


def test_hosts_are_listed_by_name_with_their_result_and_its_flavour_from_hostvars():
    variables = hostvars(lab1={"shared_memory_result": dict(COMPLIANT["lab1"], flavour="bookworm")},
                         lab2={"shared_memory_result": dict(COMPLIANT["lab2"], flavour="trixie"), "snapd_flavour": "x"},
                         lab3={"shared_memory_result": COMPLIANT["lab3"]})
    report = shm_fleet_report(["lab3", "lab1", "lab2"], hostvars=variables)
    assert [host["name"] for host in report["hosts"]] == FLEET
    assert [host["flavour"] for host in report["hosts"]] == ["bookworm", "trixie", None]
    assert [host["snapd_version"] for host in report["hosts"]] == ["2.57.6", "2.68.3", "2.57.6"]


def test_no_variable_but_the_result_is_read_so_no_name_can_bring_a_secret_in():
    class Recording(dict):
        """A host's variables that record which ones were read."""
        read = []

        def get(self, name, default=None):
            self.read.append(name)
            return dict.get(self, name, default)

        def __getitem__(self, name):
            self.read.append(name)
            return dict.__getitem__(self, name)

    variables = {"lab1": Recording(shared_memory_result=COMPLIANT["lab1"], vault_api_token="s3cret")}
    with pytest.raises(TypeError):
        shm_fleet_report(["lab1"], hostvars=variables, flavour_var="vault_api_token")  # pylint: disable=unexpected-keyword-arg
    report = shm_fleet_report(["lab1"], hostvars=variables)
    assert Recording.read == ["shared_memory_result"]
    assert "s3cret" not in repr(report)


def test_recorded_results_are_read_from_the_facts_of_the_hosts_no_result_covers():
    cached = hostvars(lab1={"ansible_facts": {"shared_memory_result": result("non-compliant")}},
                      lab2={"ansible_facts": {"shared_memory_result": dict(result("compliant"), flavour="trixie")}},
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
    assert gate == {"fail_on": "error", "passed": False, "failed_by": ["lab1", "lab2", "lab4"],
                    "unreachable": {"hosts": 1, "max": "0", "allowed": 0, "within": False}}


def test_warnings_also_fail_the_warning_gate():
    gate = shm_fleet_report(FLEET, COMPLIANT, fail_on="warning")["gate"]
    assert gate == {"fail_on": "warning", "passed": False, "failed_by": ["lab3"], "unreachable": NONE_UNREACHABLE}


def test_warnings_alone_pass_the_error_gate():
    assert shm_fleet_report(FLEET, COMPLIANT)["gate"] == {"fail_on": "error", "passed": True, "failed_by": [],
                                                          "unreachable": NONE_UNREACHABLE}


def test_the_never_gate_always_passes():
    results = {"lab1": result("unreachable"), "lab2": result("failed")}
    gate = shm_fleet_report(FLEET, results, active=[], fail_on="never")["gate"]
    assert (gate["fail_on"], gate["passed"], gate["failed_by"]) == ("never", True, [])
    assert gate["unreachable"]["within"] is False


def test_generated_time_and_check_mode_are_carried():
    report = shm_fleet_report(FLEET, COMPLIANT, generated="2026-11-27T00:00:00Z", check_mode=True)
    assert (report["schema_version"], report["generated"], report["check_mode"]) == (1, "2026-11-27T00:00:00Z", True)


@pytest.mark.parametrize("kwargs", [{"fail_on": "errors"}, {"fail_on": True}, {"source": "cache"}])
def test_an_unknown_gate_is_refused(kwargs):
    with pytest.raises(AnsibleFilterError):
        shm_fleet_report(FLEET, COMPLIANT, **kwargs)


def test_an_unknown_status_fails_that_host_not_the_report():
    report = shm_fleet_report(FLEET, dict(COMPLIANT, lab1=result("drifted" * 1000)))
    lab1 = report["hosts"][0]
    assert lab1["status"] == "failed"
    assert lab1["message"].startswith("its recorded shared-memory result cannot be read (status 'drifted")
    assert len(lab1["message"]) < 200
    assert report["gate"]["failed_by"] == ["lab1"]


@pytest.mark.parametrize("results", [[COMPLIANT["lab1"]["status"]], "lab1", [COMPLIANT, None]])
def test_results_must_be_a_mapping_or_a_list_of_them(results):
    with pytest.raises(AnsibleFilterError, match="results must be"):
        shm_fleet_report(FLEET, results)


# --- what a compromised device may send: validated or bounded before it is sorted or rendered ---------------------

LONG_DIGITS = "2.68-" + "9" * 5000


def test_a_long_run_of_digits_sorts_as_length_then_digits_without_converting_it():
    names = ["lab" + "9" * 5000, "lab10", "lab" + "1" * 5000, "lab2", "lab0002x", "lab002"]
    ordered = [host["name"] for host in shm_fleet_report(names, {}, fail_on="never")["hosts"]]
    # lab002 and lab2 are the same number; the full name breaks the tie
    assert ordered[:4] == ["lab002", "lab2", "lab0002x", "lab10"]
    assert [len(name) for name in ordered[4:]] == [5003, 5003]
    assert ordered[4].startswith("lab1")


def test_a_snapd_version_that_is_not_a_short_version_string_is_shown_as_unknown():
    versions = {"lab1": "2.68.3+deb13u1", "lab2": LONG_DIGITS, "lab3": "2.57.6\n<script>", "lab4": "2.77",
                "lab5": 268, "lab6": "9" * 5000}
    results = {name: result("compliant", version) for name, version in versions.items()}
    report = shm_fleet_report(sorted(versions), results)
    assert [host["snapd_version"] for host in report["hosts"]] == [
        "2.68.3+deb13u1", "unknown", "unknown", "2.77", "unknown", "unknown"]
    assert report["summary"]["snapd_versions"] == {"2.68.3+deb13u1": 1, "2.77": 1, "unknown": 4}


def test_device_text_is_cut_to_a_bound_and_huge_numbers_are_named_not_printed():
    flood = "A" * 100_000
    huge = 10 ** 5000
    findings = [{"code": "x-" + flood, "severity": "error", "subject": huge, "message": flood,
                 "evidence": {"blob": flood}},
                {"code": "path-too-broad", "severity": "warning", "subject": "s", "message": "m",
                 "evidence": {"n": huge}}]
    bad = dict(result("non-compliant"), message=flood, findings=findings, flavour=flood,
               connections=[{"plug": flood, "slot": huge, "desired": "connected", "actual": "connected",
                             "gadget": "yes", "status": "connected"}],
               actions=[{"action": "connect", "plug": flood, "slot": "s", "reason": flood}],
               summary={"error": "9" * 5000, "warning": huge, "info": -1})
    host = shm_fleet_report(["lab1"], {"lab1": bad})["hosts"][0]
    assert len(host["message"]) == 1024 and host["message"].endswith("\u2026")
    assert len(host["flavour"]) == 64
    assert len(host["findings"][0]["code"]) == 1024 and host["findings"][0]["subject"] == "(a 16610-bit number)"
    assert host["findings"][0]["evidence"] == {"left_out": "100012 characters"}
    assert host["findings"][1]["evidence"] == {"left_out": "unprintable"}
    assert len(host["connections"][0]["plug"]) == 1024 and host["connections"][0]["slot"] == "(a 16610-bit number)"
    assert host["connections"][0]["gadget"] is None
    assert len(host["actions"][0]["reason"]) == 1024
    # the counts are the findings', never the device's own numbers
    assert host["summary"] == {"error": 1, "warning": 1, "info": 0}


def test_a_report_with_hostile_values_renders_every_view():
    from ansible_collections.snapfleet.snapd.plugins.filter.shm_report_views import shm_report_views

    bad = dict(result("compliant", LONG_DIGITS), message="9" * 5000, findings=[{"severity": "info", "message": 10 ** 5000}])
    views = shm_report_views(shm_fleet_report(["lab" + "8" * 5000, "lab1"], {"lab1": bad}, fail_on="never"))
    assert "| lab1 | **compliant** | unknown |" in views["files"]["markdown"]
    for text in views["files"].values():
        assert "9" * 1024 not in text
    # info findings are in the JSON file and the HTML page
    assert "(a 16610-bit number)" in views["files"]["json"] and "(a 16610-bit number)" in views["files"]["html"]


def test_results_that_are_not_mappings_are_skipped_not_fatal():
    report = shm_fleet_report(FLEET, [{"lab1": "compliant", "lab2": ["x"], "lab3": None}], source="recorded")
    assert [host["status"] for host in report["hosts"]] == ["failed", "failed", "failed"]


# --- the unreachable tolerance -----------------------------------------------------------------------------------

def fleet_with_unreachable(size, unreachable):
    names = ["host%d" % number for number in range(1, size + 1)]
    results = {name: result("unreachable" if number <= unreachable else "compliant",
                            message="shm_verify: Failed to connect to the host via ssh: No route to host")
               for number, name in enumerate(names, 1)}
    return names, results


@pytest.mark.parametrize("max_unreachable, within, allowed", [
    (0, False, 0), ("0", False, 0), (2, True, 2), ("2", True, 2), (1, False, 1), ("5%", True, 2), ("4.9%", False, 1),
    (" 10% ", True, 4)])
def test_unreachable_hosts_within_the_tolerance_pass_the_gate(max_unreachable, within, allowed):
    names, results = fleet_with_unreachable(40, 2)
    report = shm_fleet_report(names, results, max_unreachable=max_unreachable)
    gate = report["gate"]
    assert gate["unreachable"] == {"hosts": 2, "max": ("%s" % max_unreachable).strip(), "allowed": allowed,
                                   "within": within}
    assert gate["passed"] is within
    assert gate["failed_by"] == ([] if within else ["host1", "host2"])
    # counted apart from failed hosts, each with the reason Ansible gave
    assert (report["summary"]["unreachable"], report["summary"]["failed"]) == (2, 0)
    assert report["hosts"][0]["message"].endswith("No route to host")


def test_the_tolerance_does_not_excuse_a_failed_or_non_compliant_host():
    names, results = fleet_with_unreachable(10, 1)
    results["host10"] = result("non-compliant")
    gate = shm_fleet_report(names, results, max_unreachable="50%")["gate"]
    assert (gate["passed"], gate["failed_by"]) == (False, ["host10"])


def test_in_a_slice_a_percentage_is_left_to_the_fleet_report_but_a_count_is_judged():
    names, results = fleet_with_unreachable(4, 2)
    part = shm_fleet_report(names, results, max_unreachable="5%", scope="part")["gate"]
    assert part["unreachable"] == {"hosts": 2, "max": "5%", "allowed": None, "within": True}
    assert part["passed"] is True
    counted = shm_fleet_report(names, results, max_unreachable=1, scope="part")["gate"]
    assert (counted["passed"], counted["failed_by"]) == (False, ["host1", "host2"])


@pytest.mark.parametrize("value", ["5 %", "-1", "101%", "five", True, None, 2.5, "1" * 20])
def test_a_tolerance_that_is_neither_a_count_nor_a_percentage_is_refused(value):
    with pytest.raises(AnsibleFilterError, match="max_unreachable must be a count of hosts"):
        shm_fleet_report(FLEET, COMPLIANT, max_unreachable=value)


# --- artifacts of earlier jobs: read only when signed with the controller's key ----------------------------------

KEY = "0123456789abcdef" * 4


def artifact(results, key=KEY):
    text = json.dumps(results)
    return {"results": text, "signature": results_signature(key, text) if key else None}


def test_a_signed_artifact_is_read_and_a_forged_one_is_refused():
    genuine = artifact({"lab1": result("non-compliant", recorded="2026-12-01T10:00:00Z"),
                        "lab2": result("compliant", recorded="2026-12-01T10:00:00Z")})
    newer = {name: result("compliant", recorded="2099-01-01T00:00:00Z") for name in FLEET}
    forged = {"shm_report_job_999": artifact(newer, key=None),
              "shm_report_job_998": artifact(newer, key="f" * 32),
              "shm_report_job_997": dict(genuine, results=json.dumps(newer))}
    report = shm_fleet_report(FLEET, artifacts=dict(forged, shm_report_job_11=genuine), key=KEY, source="recorded")
    assert [host["status"] for host in report["hosts"]] == ["non-compliant", "compliant", "failed"]
    assert report["gate"]["failed_by"] == ["lab1", "lab3"]
    assert report["artifacts"] == {"used": 1, "refused": ["shm_report_job_997", "shm_report_job_998",
                                                          "shm_report_job_999"]}
    assert "3 artifacts of earlier jobs were refused" in report["hosts"][2]["message"]


def test_without_a_key_no_artifact_is_read():
    report = shm_fleet_report(["lab1"], artifacts={"shm_report_job_1": artifact({"lab1": result("compliant")})},
                              source="recorded")
    assert report["hosts"][0]["status"] == "failed"
    assert report["artifacts"]["refused"] == ["shm_report_job_1"]


def test_a_signed_artifact_with_a_huge_number_does_not_break_the_report():
    text = '{"lab1": {"status": "compliant", "summary": {"error": %s}, "snapd_version": %s}}' % ("9" * 5000, "9" * 5000)
    report = shm_fleet_report(["lab1"], artifacts={"shm_report_job_1": {"results": text,
                                                                        "signature": results_signature(KEY, text)}},
                              key=KEY, source="recorded")
    assert (report["hosts"][0]["status"], report["hosts"][0]["snapd_version"]) == ("compliant", "unknown")


@pytest.mark.parametrize("key", ["short", 12345678901234567890123456789012345])
def test_a_short_key_is_refused_in_one_line(key):
    with pytest.raises(AnsibleFilterError, match="SHM_REPORT_KEY must be at least 32 characters"):
        shm_fleet_report(FLEET, key=key)


# --- canary rollouts: the batches are ansible-playbook's own ------------------------------------------------------

def ansible_batches(hosts, serial, order=None, inventory=None):
    """The batches ansible-core's PlaybookExecutor makes for a play with this serial and order (from a real
    InventoryManager when one is given)."""
    from ansible.executor.playbook_executor import PlaybookExecutor

    class Inventory:
        def get_hosts(self, pattern, order=None):
            return list(hosts)

    class Play:
        pass

    play = Play()
    play.hosts, play.order, play.serial = "all", order, serial
    executor = PlaybookExecutor.__new__(PlaybookExecutor)
    executor._inventory = inventory or Inventory()
    return [[getattr(host, "name", host) for host in batch] for batch in executor._get_serialized_batches(play)]


@pytest.mark.parametrize("size, serial", [(1, [1, "10%", "100%"]), (10, [1, "10%", "100%"]), (100, [1, "10%", "100%"]),
                                          (7, [2]), (7, ["30%", 1]), (5, ["100%"]), (3, [5, 1]), (40, [1, "5%", "50%"])])
def test_the_batches_are_the_ones_ansible_playbook_makes(size, serial):
    from ansible_collections.snapfleet.snapd.plugins.filter.shm_fleet_report import rollout_batches

    hosts = ["host%d" % number for number in range(size)]
    assert rollout_batches(hosts, serial) == ansible_batches(hosts, serial)


def test_the_report_of_a_batch_covers_it_and_the_batches_before_and_says_which_it_is():
    hosts = ["lab%d" % number for number in range(1, 11)]
    results = {name: result("compliant") for name in hosts}
    results["lab2"] = result("non-compliant")
    first = shm_fleet_report(hosts, results, batch=["lab1"], batches=[1, "20%", "100%"])
    assert [host["name"] for host in first["hosts"]] == ["lab1"]
    assert first["rollout"] == {"batch": 1, "batches": 3, "sizes": [1, 2, 7], "hosts_reached": 1, "hosts": 10,
                                "stopped": False}
    second = shm_fleet_report(hosts, results, batch=["lab2", "lab3"], batches=[1, "20%", "100%"])
    assert [host["name"] for host in second["hosts"]] == ["lab1", "lab2", "lab3"]
    assert second["rollout"]["stopped"] is True and second["gate"]["failed_by"] == ["lab2"]
    last = shm_fleet_report(hosts, results, batch=hosts[3:], batches=[1, "20%", "100%"])
    assert (last["rollout"]["batch"], last["rollout"]["stopped"]) == (3, False)
    assert "rollout" not in shm_fleet_report(hosts, results)


NESTED_INVENTORY = """
all:
  children:
    robots:
      children:
        arm: {hosts: {r3: {}, r1: {}}}
        leg: {hosts: {r2: {}, r9: {}}}
    gateways:
      children:
        edge: {hosts: {g2: {}, g1: {}}}
"""


@pytest.mark.parametrize("order", ["inventory", "reverse_inventory", "sorted", "reverse_sorted"])
def test_each_batch_holds_the_hosts_ansible_playbook_puts_in_it_for_each_play_order(tmp_path, order):
    """Against ansible-core's own InventoryManager over nested groups: the report's batches are the play's."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    path = tmp_path / "hosts.yml"
    path.write_text(NESTED_INVENTORY)
    inventory = InventoryManager(loader=DataLoader(), sources=[str(path)])
    in_inventory_order = [host.name for host in inventory.get_hosts("all")]
    serial = [1, "50%", "100%"]
    expected = ansible_batches(None, serial, order, inventory)
    for number, batch in enumerate(expected, 1):
        rollout = shm_fleet_report(in_inventory_order, {name: result("compliant") for name in in_inventory_order},
                                   batch=batch, batches=serial, order=order)["rollout"]
        assert rollout["batch"] == number and rollout["sizes"] == [len(group) for group in expected]
    if order == "sorted":
        assert expected == [["g1"], ["g2", "r1", "r2"], ["r3", "r9"]]


def test_sorted_batches_are_the_same_whatever_the_inventory_order():
    hosts = ["b", "c", "a", "d"]
    first = shm_fleet_report(hosts, {name: result("compliant") for name in hosts}, batch=["a"], batches=[1, 3],
                             order="sorted")
    assert first["rollout"]["batch"] == 1 and [host["name"] for host in first["hosts"]] == ["a"]
    second = shm_fleet_report(hosts, {}, batch=["b", "c", "d"], batches=[1, 3], order="sorted")["rollout"]
    assert (second["batch"], second["hosts_reached"]) == (2, 4)
    # in inventory order, "b" is the canary
    assert shm_fleet_report(hosts, {}, batch=["b"], batches=[1, 3])["rollout"]["batch"] == 1


@pytest.mark.parametrize("order", ["shuffle", "random", ""])
def test_an_order_whose_batches_cannot_be_known_is_refused_in_one_line(order):
    with pytest.raises(AnsibleFilterError, match="order must be one of inventory, reverse_inventory, sorted"):
        shm_fleet_report(FLEET, COMPLIANT, batch=["lab1"], batches=[1, "100%"], order=order or "x")


@pytest.mark.parametrize("batches", [[0], ["0%"], ["ten"], [], [True], ["150%"]])
def test_a_batch_size_ansible_playbook_would_not_take_is_refused_in_one_line(batches):
    with pytest.raises(AnsibleFilterError, match="batch"):
        shm_fleet_report(FLEET, COMPLIANT, batch=["lab1"], batches=batches)
