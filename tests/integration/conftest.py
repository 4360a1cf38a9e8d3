"""Fixtures for tests that run against the real snapd lab (tests/lab).

One fleet serves every test of a module; it is stopped when the module ends, even when a test
fails or the run is interrupted.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXTRA_SNAP = Path(__file__).resolve().parent / "snaps" / "shm-extra"


def pytest_configure(config):
    config.addinivalue_line("markers", "lab: needs the qemu lab (real snapd hosts); select with -m lab")


def run_lab(*args, check=True, timeout=3600):
    """Run the lab CLI exactly as a user does: python -m tests.lab VERB."""
    done = subprocess.run([sys.executable, "-m", "tests.lab", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout)
    sys.stderr.write(done.stderr)
    if check and done.returncode != 0:
        raise AssertionError(f"lab {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done


class Fleet:
    def __init__(self, inventory: Path):
        self.inventory = inventory
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


@pytest.fixture(scope="module")
def mixed_fleet():
    """A fresh mixed bookworm+trixie fleet of two hosts, resumed by `up` (with a user's snap folder
    given by --snaps) and stopped by `down`."""
    try:
        run_lab("up", "--hosts", "2", "--flavour", "mixed", "--snaps", str(EXTRA_SNAP))
        inventory = Path(run_lab("status", "--inventory").stdout.strip())
        yield Fleet(inventory)
    finally:
        run_lab("down", check=False)


def ansible_env():
    env = dict(os.environ)
    env.update({"ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
                "ANSIBLE_PIPELINING": "1"})
    return env
