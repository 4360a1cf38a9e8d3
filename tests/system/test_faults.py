"""Faults a fleet run meets, on a real mixed fleet of three hosts, each followed by a re-run that must
converge: snapd stopped on one host; snapd restarted while a connect is being polled; a conflicting
change in flight with two runs against the same host at once; ansible-playbook interrupted during a
list. (A host killed during a run is in test_fleet.py.)

Runs snapfleet.snapd.apply with the spec given as extra vars, without verification (it is the apply
path under test) and with the report's gate off, so the report lists every host's outcome.
"""

import json
import re
import signal
import subprocess
import threading
import time

import pytest

from tests.system.conftest import ansible_bin, ansible_env, lab_fleet, run_playbook

pytestmark = [pytest.mark.lab, pytest.mark.fault]

GATEWAY = [{"plug": "shm-consumer:shmem", "slot": "shm-provider:shmem"}]
HUB = [{"plug": f"shm-many:p{n:02d}", "slot": f"shm-hub:s{n:02d}"} for n in range(1, 11)]
TIMEOUT = 240  # the modules' own timeout (shared_memory_timeout) in these runs


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    with lab_fleet(3, tmp_path_factory.mktemp("faults-run")) as booted:
        yield booted


@pytest.fixture(scope="module")
def apply(fleet, installed_collection, tmp_path_factory):
    """Start or run snapfleet.snapd.apply with these connections; returns the command and its folder."""

    def command(connections, *args):
        workdir = tmp_path_factory.mktemp("apply")
        spec = workdir / "spec.json"
        spec.write_text(json.dumps({
            "shared_memory_connections": connections, "shared_memory_private_snaps": [],
            "shared_memory_exclusive": False, "shared_memory_verify": False,
            "shared_memory_timeout": TIMEOUT, "shm_report_fail_on": "never"}))
        return [ansible_bin("ansible-playbook"), "snapfleet.snapd.apply", "-i", str(fleet.inventory),
                "-e", f"@{spec}", *args], workdir

    def run(connections, *args):
        argv, workdir = command(connections, *args)
        done = run_playbook(argv[1], [fleet.inventory], *argv[4:], collections=installed_collection, cwd=workdir,
                            timeout=TIMEOUT * 3)
        done.report = json.loads((workdir / "shm-report" / "shm-report.json").read_text())
        return done

    run.command = command
    run.env = ansible_env(installed_collection)
    return run


def connected(fleet, host, plug, slot):
    """Whether snapd has plug connected to slot, as `snap connections` shows it."""
    listing = fleet.run(host, f"snap connections {plug.split(':')[0]}")
    return bool(re.search(rf"^shared-memory\s+{re.escape(plug)}\s+{re.escape(slot)}\s", listing, re.M))


def gateway_connected(fleet, host):
    return connected(fleet, host, "shm-consumer:shmem", "shm-provider:shmem")


def host_report(run, host):
    return next(entry for entry in run.report["hosts"] if entry["name"] == host)


def test_snapd_stopped_on_one_host_fails_it_alone_and_a_rerun_converges(fleet, apply):
    fleet.run("lab2", "systemctl stop snapd.socket snapd.service")
    try:
        run = apply(GATEWAY)
        assert run.rc != 0, run.tail()
        assert run.recap["lab2"]["failed"] == 1, run.recap
        assert run.recap["lab1"]["failed"] == 0 and run.recap["lab3"]["failed"] == 0, run.recap
        failed = host_report(run, "lab2")
        assert failed["status"] == "failed", failed
        assert "/run/snapd.socket" in failed["message"] and "\n" not in failed["message"], failed
        assert "Traceback" not in run.output
        assert gateway_connected(fleet, "lab1") and gateway_connected(fleet, "lab3")
        assert host_report(run, "lab1")["changed"] and host_report(run, "lab3")["changed"]
    finally:
        fleet.run("lab2", "systemctl start snapd.socket snapd.service")
    rerun = apply(GATEWAY)
    assert rerun.rc == 0, rerun.tail()
    assert {host: counts["changed"] for host, counts in rerun.recap.items()} == {"lab1": 0, "lab2": 1, "lab3": 0}
    assert gateway_connected(fleet, "lab2")


def _changes_doing(fleet, host, kind_pattern):
    listing = fleet.run(host, "snap changes", check=False)
    return [line for line in listing.splitlines() if re.search(r"\b(Do|Doing)\b", line) and re.search(kind_pattern, line)]


def test_snapd_restarted_while_a_connect_is_polled(fleet, apply):
    fleet.run("lab1", "snap disconnect shm-consumer:shmem shm-provider:shmem")
    argv, workdir = apply.command(GATEWAY, "--limit", "lab1")
    restarted = threading.Event()

    def restart_when_the_connect_runs():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if _changes_doing(fleet, "lab1", r"(?i)connect"):
                fleet.run("lab1", "systemctl restart snapd.service")
                restarted.set()
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=restart_when_the_connect_runs)
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=workdir, env=apply.env, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    watcher.start()
    try:
        output, _ = process.communicate(timeout=TIMEOUT + 120)
    finally:
        process.kill()
        watcher.join()
    seconds = time.monotonic() - started
    assert restarted.is_set(), "snapd was never seen running the connect change, so it was not restarted"
    assert seconds < TIMEOUT + 60, f"the run took {seconds:.0f} s, past the module's timeout of {TIMEOUT} s"
    if process.returncode == 0:
        assert gateway_connected(fleet, "lab1"), output[-3000:]
    else:  # allowed: a clean failure naming the change and its status
        assert re.search(r"change \d+", output) and "Traceback" not in output, output[-3000:]
    rerun = apply(GATEWAY, "--limit", "lab1")
    assert rerun.rc == 0, rerun.tail()
    assert gateway_connected(fleet, "lab1")


# A refresh of shm-consumer whose post-refresh hook sleeps: a change on the plug's snap that stays in
# flight for half a minute, so every connect of that plug meets snapd's change conflict.
SLOW_REFRESH = r"""
set -e
rm -rf /root/slow /root/slow.snap
mkdir -p /root/slow
cp -a /snap/shm-consumer/current/. /root/slow/
mkdir -p /root/slow/meta/hooks
printf '#!/snap/shm-consumer/current/bin/busybox sh\n/snap/shm-consumer/current/bin/busybox sleep 30\n' \
    > /root/slow/meta/hooks/post-refresh
chmod 755 /root/slow/meta/hooks/post-refresh
mksquashfs /root/slow /root/slow.snap -noappend -comp xz -all-root -no-xattrs -no-progress >/dev/null
snap install --dangerous --no-wait /root/slow.snap
"""


def test_a_conflicting_change_and_two_runs_at_once_both_end_correct(fleet, apply):
    fleet.run("lab3", "snap disconnect shm-consumer:shmem shm-provider:shmem")
    change = fleet.run("lab3", SLOW_REFRESH).strip().splitlines()[-1]
    assert change.isdigit(), change
    runs = [apply.command(GATEWAY, "--limit", "lab3") for _ in range(2)]
    processes = [subprocess.Popen(argv, cwd=workdir, env=apply.env, text=True, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT) for argv, workdir in runs]
    try:
        outputs = [process.communicate(timeout=TIMEOUT + 120)[0] for process in processes]
    finally:
        for process in processes:
            process.kill()
    status = fleet.run("lab3", f"snap change {change}")
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
    assert gateway_connected(fleet, "lab3")
    # the refresh really was in flight and won: it is done, and both connects waited for it
    assert "Run post-refresh hook" in status and not re.search(r"^(Do|Doing|Error)\s", status, re.M), status
    ready = fleet.run("lab3", f"snap changes | awk '$1 == {change} {{print $2}}'").strip()
    assert ready == "Done", ready


def test_an_interrupted_run_is_finished_by_the_rerun_with_only_the_remaining_changes(fleet, apply):
    argv, workdir = apply.command(HUB, "--limit", "lab2", "-v")
    process = subprocess.Popen(argv, cwd=workdir, env=apply.env, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and _count_hub(fleet) < 2:
            time.sleep(1)
        assert _count_hub(fleet) >= 2, "the run never got going"
        process.send_signal(signal.SIGINT)  # Ctrl-C in the operator's terminal
        process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode != 0
    _wait_for_quiet(fleet, "lab2")
    done_before = _count_hub(fleet)
    rerun = apply(HUB, "--limit", "lab2")
    assert rerun.rc == 0, rerun.tail()
    assert _count_hub(fleet) == 10
    assert len(host_report(rerun, "lab2")["actions"]) == 10 - done_before, (done_before, host_report(rerun, "lab2"))
    again = apply(HUB, "--limit", "lab2")
    assert again.rc == 0 and again.recap["lab2"]["changed"] == 0, again.tail()


def _count_hub(fleet):
    listing = fleet.run("lab2", "snap connections shm-many")
    return len(re.findall(r"^shared-memory\s+shm-many:p\d\d\s+shm-hub:s\d\d\s", listing, re.M))


def _wait_for_quiet(fleet, host, timeout=TIMEOUT):
    """Until snapd has no change in flight and the hub connections stayed the same for 10 s: the module
    the interrupted run left on the host (if any) has finished."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        count = _count_hub(fleet)
        if count == last and not _changes_doing(fleet, host, r"."):
            return
        last = count
        time.sleep(10)
    raise AssertionError(f"{host} was still busy {timeout} s after the interrupt")
