"""The benchmark's report on made-up samples: the targets of issues 11 and 19 and the outputs (no lab)."""

import json

import pytest

from tests.benchmarks import report

MACHINE = {"cpu": "test CPU", "cpus": 2, "memory_gib": 4, "qemu": "qemu, TCG", "ansible_core": "ansible [core 2.19]",
           "python": "3.11"}


def counts(transport, requests, remote_commands=None, changed=False):
    return {"transport": transport, "api_requests": requests, "remote_commands": remote_commands, "changed": changed}


def results(ks=(1, 10), snap_connect=30.0, adhoc=1.2, fresh_ours=10.0, fresh_api=12.0, noop_requests=(3, 3)):
    apply = {"noop": {}, "fresh": {}}
    counted = {"noop": {}, "fresh": {}}
    for k, requests in zip(ks, noop_requests):
        apply["noop"][k] = {"ours_auto": [2.0, 2.0], "ours_api": [2.0, 2.0], "ours_python": [6.0, 6.0], "snap_connect": [snap_connect] * 2,
                            "naive": [20.0, 20.0], "floor": [3.0, 3.0], "ours_adhoc": [adhoc] * 2, "raw": [1.0, 1.0]}
        apply["fresh"][k] = {"ours_auto": [fresh_ours] * 2, "ours_api": [fresh_api] * 2, "ours_python": [15.0, 15.0], "snap_connect": [60.0] * 2,
                             "naive": [40.0, 40.0], "floor": [10.0, 10.0]}
        counted["noop"][k] = {"ours_auto": [counts("snap-debug-api", requests, 1)] * 2,
                              "ours_api": [counts("snap-debug-api", requests, 1)] * 2,
                              "ours_python": [counts("python", 3)] * 2,
                              "ours_adhoc": [counts("snap-debug-api", requests, 1)] * 2}
        counted["fresh"][k] = {"ours_auto": [counts("python", 3 + 3 * k, None, True)] * 2,
                               "ours_api": [counts("snap-debug-api", 2 + 2 * k, 2, True)] * 2,
                               "ours_python": [counts("python", 3 + 3 * k, None, True)] * 2}
    return {"apply": apply, "counts": counted, "ks": list(ks), "repeat": 2, "bench_host": "lab3",
            "hosts": {"lab3": {"flavour": "forky", "snapd": "2.77.1-2"}}, "machine": MACHINE, "community_general": "12",
            "duration_s": 1.0, "notes": [], "read_only": {"shm_info lab3 K=1": [1.0]}, "info_requests": {"shm_info lab3 K=1": 3},
            "audit": {"1 host": [5.0]}}


def verdicts(data):
    return [target["passed"] for target in report.summarise(data)["targets"]]


def test_every_target_passes_when_the_ratios_meet_them():
    assert verdicts(results()) == [True, True, True, True, True]


def test_a_no_op_run_slower_than_a_fifteenth_of_snap_connect_misses_the_first_target():
    assert verdicts(results(snap_connect=29.0))[0] is False


def test_the_second_target_compares_the_ad_hoc_module_run_with_the_raw_read_and_names_the_role_too():
    assert verdicts(results(adhoc=1.25))[1] is True
    data = results(adhoc=1.3)
    target = report.summarise(data)["targets"][1]
    assert target["passed"] is False
    assert "1.30x" in target["measured"] and "the role in ansible-playbook: 2.00x" in target["measured"]


def test_a_fresh_run_over_the_floor_misses_the_third_target():
    assert verdicts(results(fresh_ours=10.1))[2] is False


def test_the_third_target_names_the_python_transport_beside_auto():
    target = report.summarise(results())["targets"][2]
    assert target["passed"] is True
    assert "python forced: 1.50x" in target["measured"]


def test_snap_debug_api_forced_over_1_3x_the_floor_misses_the_fourth_target():
    assert verdicts(results(fresh_api=13.0))[3] is True
    target = report.summarise(results(fresh_api=13.5))["targets"][3]
    assert target["passed"] is False and "1.35x" in target["measured"]


def test_requests_growing_with_k_miss_the_fifth_target_and_say_by_how_much():
    target = report.summarise(results(noop_requests=(3, 4)))["targets"][4]
    assert target["passed"] is False
    assert "ours_auto api_requests K=1: 3, K=10: 4" in target["measured"]


def test_targets_at_k_10_are_not_judged_in_a_run_without_k_10():
    assert verdicts(results(ks=(1,), noop_requests=(3,))) == [None, True, None, None, None]


def test_the_table_prints_a_verdict_per_target_and_the_counts_each_run_reported():
    data = report.summarise(results(snap_connect=29.0))
    text = report.table(data)
    assert "MISS no-op, K=10: at least 15x faster" in text
    assert "pass one host's no-op run within 1.25x" in text
    assert "noop   K=10  ours_auto    snap-debug-api: 3 requests, 1 remote commands" in text
    assert "fresh  K=10  ours_python  python: 33 requests" in text


def test_write_puts_the_targets_into_results_json_and_the_smoke_check_accepts_it(tmp_path):
    paths = report.write(results(), tmp_path)
    assert [t["passed"] for t in json.loads(paths[0].read_text())["targets"]] == [True, True, True, True, True]
    report.check_complete(results(), paths)


def test_the_smoke_check_fails_when_a_variant_has_no_time(tmp_path):
    data = results()
    data["apply"]["noop"][1]["raw"] = []
    paths = report.write(results(), tmp_path)
    with pytest.raises(SystemExit, match="raw"):
        report.check_complete(data, paths)
