"""`make bench-controller` on two hosts, once: every output is written and each number is where it can be (no lab)."""

import json
import subprocess
import sys

from tests.benchmarks import controller_cost


def test_the_controller_cost_benchmark_runs_checks_and_writes_its_outputs(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["controller_cost.py"])
    controller_cost.main(["--hosts", "2", "--forks", "2", "--repeat", "1", "--results", str(tmp_path)])
    results = json.loads((tmp_path / "results.json").read_text())
    assert (results["hosts"], results["forks"], results["repeat"]) == (2, 2, 1)
    # a no-op over snap debug api: the connections alone (snap debug api proves snapd 2.64 or later), in one
    # remote command
    assert (results["api_requests"], results["remote_commands"]) == ([1], [1])
    for variant in ("ours", "raw"):
        [run] = results["runs"][variant]
        # the devices' commands ran and were measured apart from the controller
        assert run["device_cpu_s"] > 0 and run["device_shells_cpu_s"] > 0, run
        assert 0 < run["controller_cpu_s"] < run["cpu_s"], run
    assert results["summary"]["ratio_median"] > 0
    # each module's AnsiballZ payload was measured; shm_verify ships its checks, which shm_info has no use for
    assert set(results["payload_bytes"]) == {"shm_connection", "shm_info", "shm_verify", "shm_lint"}
    assert results["payload_bytes"]["shm_verify"] > results["payload_bytes"]["shm_info"] > 100 * 1024
    table = (tmp_path / "table.txt").read_text()
    assert "ours / raw, controller CPU per host" in table and "target 1.3x" in table and "payload per module" in table


def test_the_replayed_snap_answers_what_was_recorded_and_refuses_anything_else(tmp_path):
    canned = tmp_path / "canned"
    canned.mkdir()
    (canned / "1.args").write_text("debug api /v2/system-info\n")
    (canned / "1.out").write_text('{"status-code": 200}\n')
    (canned / "1.rc").write_text("0\n")
    snap = tmp_path / "snap"
    snap.write_text(controller_cost.replay_snap(canned))
    known = subprocess.run(["/bin/sh", str(snap), "debug", "api", "/v2/system-info"], capture_output=True, text=True,
                           check=False)
    assert (known.returncode, known.stdout) == (0, '{"status-code": 200}\n')
    unknown = subprocess.run(["/bin/sh", str(snap), "debug", "api", "/v2/snaps"], capture_output=True, text=True,
                             check=False)
    assert unknown.returncode == 1 and "no recorded answer for: debug api /v2/snaps" in unknown.stderr
