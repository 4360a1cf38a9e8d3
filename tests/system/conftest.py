"""Fixtures for tests that run against the real snapd lab (tests/lab).

One fleet serves every test of a module; it is stopped when the module ends, even when a test
fails or the run is interrupted.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXTRA_SNAP = Path(__file__).resolve().parent / "snaps" / "shm-extra"


def pytest_configure(config):
    config.addinivalue_line("markers", "lab: needs the qemu lab (real snapd hosts); select with -m lab")
    config.addinivalue_line("markers", "fault: a fault a fleet run must survive (counted in the reliability summary)")
    config.addinivalue_line("markers", "hostile: a hostile local-user case the modules must hold against (counted in the "
                                       "reliability summary)")


# What the reliability suite prints at the end (README, "Reliability"): the fault tests by outcome, and
# the bad-input corpus's counts as tests/system/test_bad_input.py records them. It lives in its own
# module: pytest loads this file as "conftest", the tests import it as "tests.system.conftest".
from tests.system.reliability import RELIABILITY  # noqa: E402


def pytest_runtest_logreport(report):
    for marker, outcomes in (("fault", RELIABILITY["faults"]), ("hostile", RELIABILITY["hostile"])):
        if marker in report.keywords and (report.when == "call" or report.outcome != "passed"):
            outcomes[report.nodeid.split("::")[-1]] = report.outcome


def pytest_terminal_summary(terminalreporter):
    faults, bad_input, hostile = RELIABILITY["faults"], RELIABILITY["bad_input"], RELIABILITY["hostile"]
    if not faults and not bad_input and not hostile:
        return
    lines = []
    if faults:
        survived = sum(1 for outcome in faults.values() if outcome == "passed")
        lines.append(f"faults survived (desired state after at most one re-run): {survived} of {len(faults)}")
        lines += [f"  {outcome:7} {name}" for name, outcome in faults.items()]
    if bad_input:
        lines.append("bad inputs tried: {tried} (the corpus on both transports), failed cleanly: {clean}, "
                     "hosts changed by bad input: {changed}".format(**bad_input))
    if hostile:
        held = sum(1 for outcome in hostile.values() if outcome == "passed")
        lines.append(f"hostile local-user cases tried: {len(hostile)}, held: {held}")
        lines += [f"  {outcome:7} {name}" for name, outcome in hostile.items() if outcome != "passed"]
    terminalreporter.write_sep("=", "reliability summary")
    for line in lines:
        terminalreporter.write_line(line)


def run_lab(*args, check=True, timeout=3600, run_dir=None):
    """Run the lab CLI exactly as a user does: python -m tests.lab VERB (in run_dir's fleet if given)."""
    env = dict(os.environ, SNAPFLEET_LAB_RUN=str(run_dir)) if run_dir else None
    done = subprocess.run([sys.executable, "-m", "tests.lab", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout, env=env)
    sys.stderr.write(done.stderr)
    if check and done.returncode != 0:
        raise AssertionError(f"lab {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done


class Fleet:
    def __init__(self, inventory: Path, run_dir: Path = None):
        self.inventory = inventory
        self.run_dir = run_dir or inventory.parent
        data = yaml.safe_load(inventory.read_text())
        self.hosts = {}
        for group in data["all"]["children"]["lab"]["children"].values():
            self.hosts.update(group["hosts"])
        self.vars = data["all"]["vars"]

    def key_file(self, name):
        return Path(self.hosts[name].get("ansible_ssh_private_key_file", self.vars["ansible_ssh_private_key_file"]))

    def guest(self, name):
        from tests.lab.ssh import Guest
        return Guest(self.hosts[name]["ansible_port"], self.key_file(name))

    def run(self, name, command, check=True, timeout=600):
        """Run a shell command as root on one host; returns its stdout."""
        with self.guest(name) as guest:
            return guest.run(command, check=check, timeout=timeout)[1]

    def on_every_host(self, function):
        """Call function(name) for every host at once (a thread per host); fails with every host's error."""
        errors = []

        def one(name):
            try:
                function(name)
            except Exception as err:  # re-raised below with the host's name
                errors.append(f"{name}: {err}")

        threads = [threading.Thread(target=one, args=(name,)) for name in self.hosts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors

    def run_everywhere(self, command, timeout=600):
        """Run a command on every host at once; fails with every host's error."""
        self.on_every_host(lambda name: self.run(name, command, timeout=timeout))

    def pid(self, name):
        """The pid of a host's qemu, from the run folder's fleet.json."""
        for host in json.loads((self.run_dir / "fleet.json").read_text())["hosts"]:
            if host["name"] == name:
                return host["pid"]
        raise AssertionError(f"{name} is not in {self.run_dir / 'fleet.json'}")

    def kill(self, name):
        """Power a host off at once, as a device that drops off the network: SIGKILL its qemu."""
        os.kill(self.pid(name), signal.SIGKILL)

    def alive(self, name):
        return Path(f"/proc/{self.pid(name)}").exists()


@contextlib.contextmanager
def lab_fleet(hosts, run_dir: Path, flavour="mixed", snaps=()):
    """Resume a fleet of `hosts` lab hosts in its own run folder, and always stop it again."""
    try:
        run_lab("up", "--hosts", str(hosts), "--flavour", flavour, *(["--snaps", *map(str, snaps)] if snaps else []),
                run_dir=run_dir)
        yield Fleet(Path(run_lab("status", "--inventory", run_dir=run_dir).stdout.strip()), run_dir)
    finally:
        run_lab("down", check=False, run_dir=run_dir)


def _terminated(signum, frame):
    raise KeyboardInterrupt("terminated (SIGTERM)")


@pytest.fixture(scope="session", autouse=True)
def sigterm_stops_the_fleets():
    """A SIGTERM (kill, a CI job's timeout) unwinds the run like ^C, so that every lab_fleet still runs `down` and
    no VM outlives the test that started it."""
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def installed_collection(tmp_path_factory):
    """The built tarball (make build) installed into a private collections path, as users install it."""
    tarballs = sorted(REPO.glob("build/snapfleet-snapd-*.tar.gz"))
    if not tarballs:
        pytest.fail("no built collection in build/: run `make build` first (make test-lab does)")
    path = tmp_path_factory.mktemp("collections")
    subprocess.run([ansible_bin("ansible-galaxy"), "collection", "install", "-p", str(path), str(tarballs[-1])],
                   check=True, capture_output=True, text=True, timeout=300)
    return path


def ansible_bin(name):
    """An Ansible command of the venv that runs the tests."""
    return str(Path(sys.executable).with_name(name))


RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+"
                   r"skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)", re.M)


class PlaybookRun:
    """The outcome of one ansible-playbook run: exit code, output, and the recap per host."""

    def __init__(self, done, seconds):
        self.rc = done.returncode
        self.output = done.stdout + done.stderr
        self.seconds = seconds
        self.recap = {m[0]: dict(zip(("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored"),
                                     map(int, m[1:]))) for m in RECAP.findall(done.stdout)}

    def changed(self, host):
        return self.recap[host]["changed"]

    def tail(self, chars=4000):
        return self.output[-chars:]


@pytest.fixture(params=["python", "snap-debug-api"])
def transport(request):
    """A test that takes it runs twice: the module with Python over /run/snapd.socket, and the action plugin
    over `snap debug api` through the connection."""
    return request.param


def ansible_env(collections=None, **extra):
    env = dict(os.environ)
    env.update({"ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
                "ANSIBLE_PIPELINING": "1", "ANSIBLE_RETRY_FILES_ENABLED": "False"})
    if collections:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    env.update(extra)
    return env


def run_playbook(playbook, inventories, *args, collections=None, cwd=None, timeout=1800, env=None):
    """ansible-playbook PLAYBOOK -i INV... ARGS, with the venv's Ansible; returns a PlaybookRun."""
    command = [ansible_bin("ansible-playbook"), str(playbook)]
    for inventory in inventories:
        command += ["-i", str(inventory)]
    started = time.monotonic()
    done = subprocess.run(command + list(args), cwd=cwd or REPO, env=env or ansible_env(collections),
                          text=True, capture_output=True, timeout=timeout, check=False)
    return PlaybookRun(done, time.monotonic() - started)
