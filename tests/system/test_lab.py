"""The lab itself, on one fleet of every flavour: lab1 bookworm, lab2 trixie, lab3 forky and lab4 forky built
without Python. It comes up with a user's snap folder installed, Ansible reaches it (raw where there is no
Python), snapd answers with each generation's version, AppArmor enforces on every host, and down cleans up
(last, since it stops the fleet).
"""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.system.conftest import EXTRA_SNAP, REPO, Fleet, ansible_bin, ansible_env, run_lab
from tests.lab.paths import run_dir
from tests.lab.recipe import FIND_PYTHON

pytestmark = pytest.mark.lab

EXPECTED_SNAPD = {"bookworm": "2.57.", "trixie": "2.68.", "forky": "2.77."}
FLAVOURS = {"lab1": "bookworm", "lab2": "trixie", "lab3": "forky", "lab4": "forky:nopython"}
FORKY, NO_PYTHON = "lab3", "lab4"

# Reads snapd's API from inside the guest with the guest's own Python (no curl in the image).
SYSTEM_INFO = (
    "python3 -c 'import http.client,socket,json\n"
    "class C(http.client.HTTPConnection):\n"
    " def connect(self):\n"
    "  self.sock=socket.socket(socket.AF_UNIX); self.sock.connect(\"/run/snapd.socket\")\n"
    "c=C(\"localhost\"); c.request(\"GET\",\"/v2/system-info\"); print(c.getresponse().read().decode())'"
)


@pytest.fixture(scope="module")
def fleet():
    """One host of every flavour, resumed by `up` (with a user's snap folder given by --snaps) in the default
    run folder, and stopped by `down`."""
    try:
        run_lab("up", "--hosts", str(len(FLAVOURS)), "--flavour", ",".join(FLAVOURS.values()), "--snaps", str(EXTRA_SNAP))
        inventory = Path(run_lab("status", "--inventory").stdout.strip())
        yield Fleet(inventory)
    finally:
        run_lab("down", check=False)


@pytest.mark.parametrize("connection", ["ssh", "paramiko"])
def test_ansible_ping_reaches_every_host_with_python(fleet, connection):
    done = subprocess.run(
        [ansible_bin("ansible"), "all:!nopython", "-i", str(fleet.inventory), "-c", connection,
         "-m", "ansible.builtin.ping", "-o"],
        cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in FLAVOURS:
        found = re.search(rf"^{name} \| SUCCESS", done.stdout, re.MULTILINE)
        assert bool(found) == (name != NO_PYTHON), done.stdout


def test_inventory_groups_hosts_by_flavour(fleet):
    assert {name: host["snapd_flavour"] for name, host in fleet.hosts.items()} == {
        name: flavour.split(":")[0] for name, flavour in FLAVOURS.items()}


def test_system_info_reports_the_flavours_snapd(fleet):
    for name, host in fleet.hosts.items():
        if name == NO_PYTHON:
            continue  # its snapd answers through snap debug api below
        with fleet.guest(name) as guest:
            _, out, _ = guest.run(SYSTEM_INFO)
        info = json.loads(out)["result"]
        assert info["version"].startswith(EXPECTED_SNAPD[host["snapd_flavour"]]), (name, info["version"])


def test_up_installs_the_snap_folders_given_with_snaps(fleet):
    for name in fleet.hosts:
        with fleet.guest(name) as guest:
            _, listing, _ = guest.run("snap list shm-extra")
            _, connections, _ = guest.run("snap connections shm-extra")
        assert "shm-extra" in listing, name
        assert "shm-extra:shmem" in connections, (name, connections)


def _confined_read(guest):
    status, out, err = guest.run("/snap/bin/shm-consumer.read", check=False)
    return status, (out + err).strip()


def _assert_consumer_denied_until_connected(fleet, name):
    connect = "snap connect shm-consumer:shmem shm-provider:shmem"
    disconnect = "snap disconnect shm-consumer:shmem shm-provider:shmem"
    with fleet.guest(name) as guest:
        _, enabled, _ = guest.run("cat /sys/module/apparmor/parameters/enabled")
        assert enabled.strip() == "Y", name
        try:
            # The slot's rules exist only while connected, so the provider writes then.
            guest.run(connect)
            _, wrote, _ = guest.run("/snap/bin/shm-provider.write")
            assert "wrote /dev/shm/lab-shm-data" in wrote
            guest.run(disconnect)
            status, text = _confined_read(guest)
            assert status != 0 and "Permission denied" in text, (name, text)
            _, profiles, _ = guest.run("cat /sys/kernel/security/apparmor/profiles")
            assert "snap.shm-consumer.read (enforce)" in profiles, name
            guest.run(connect)
            status, text = _confined_read(guest)
            assert status == 0 and text == "hello-from-provider", (name, text)
        finally:
            guest.run(f"{disconnect} || true; rm -f /dev/shm/lab-shm-data", check=False)


def test_apparmor_denies_consumer_until_connected_on_every_host(fleet):
    fleet.on_every_host(lambda name: _assert_consumer_denied_until_connected(fleet, name))


# --- forky (snapd 2.77) and a Python-less forky host, as on Ubuntu Core 26 ---------------------------

# Any Python interpreter: on PATH, or what the image build checks for (recipe.FIND_PYTHON).
FIND_ANY_PYTHON = "command -v python3 python; " + FIND_PYTHON


def test_the_inventory_marks_the_python_less_host_and_groups_it(fleet):
    data = yaml.safe_load(fleet.inventory.read_text())
    assert data["all"]["children"]["nopython"]["hosts"] == {NO_PYTHON: None}
    assert sorted(data["all"]["children"]["lab"]["children"]["forky"]["hosts"]) == [FORKY, NO_PYTHON]
    assert [name for name, host in fleet.hosts.items() if not host["lab_python"]] == [NO_PYTHON]
    assert "ansible_python_interpreter" not in fleet.hosts[NO_PYTHON]
    assert "ansible_python_interpreter" not in data["all"]["vars"]


def test_snap_debug_api_answers_snapd_2_77_on_both_forky_hosts(fleet):
    for name in (FORKY, NO_PYTHON):
        info = json.loads(fleet.run(name, "snap debug api /v2/system-info"))
        assert info["status-code"] == 200, (name, info)
        assert info["result"]["version"].startswith("2.77."), (name, info["result"]["version"])
        assert fleet.hosts[name]["snapd_version"].startswith("2.77."), name


def test_the_python_less_host_has_no_python_at_all(fleet):
    found = fleet.run(NO_PYTHON, FIND_ANY_PYTHON, check=False).split("\n")
    assert [line for line in found if line.strip()] == []
    # the same probe finds the Python of the forky host it was made from
    found_on_forky = fleet.run(FORKY, FIND_ANY_PYTHON, check=False)
    assert "/usr/bin/python3" in found_on_forky and "python3.14" in found_on_forky, found_on_forky


def test_ansible_reaches_the_python_less_host_with_raw_and_the_forky_host_with_modules(fleet):
    raw = subprocess.run(
        [ansible_bin("ansible"), "nopython", "-i", str(fleet.inventory), "-m", "ansible.builtin.raw",
         "-a", "snap version"],
        cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=600,
    )
    assert raw.returncode == 0, raw.stdout + raw.stderr
    assert re.search(rf"^{NO_PYTHON} \| CHANGED \| rc=0 >>$", raw.stdout, re.M), raw.stdout
    assert re.search(r"^snapd\s+2\.77\.", raw.stdout, re.M), raw.stdout
    ping = subprocess.run(
        [ansible_bin("ansible"), "forky:!nopython", "-i", str(fleet.inventory), "-m", "ansible.builtin.ping"],
        cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=600,
    )
    assert ping.returncode == 0 and re.search(rf"^{FORKY} \| SUCCESS", ping.stdout, re.M), ping.stdout + ping.stderr
    assert NO_PYTHON not in ping.stdout, ping.stdout


def test_down_leaves_no_vm_and_no_overlay(fleet):
    pids = [host_pid for host_pid in _fleet_pids()]
    assert pids, "the fleet should be running before down"
    run_lab("down")
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"qemu {pid} still running after down"
    assert not list(run_dir().glob("vms/*/disk.qcow2"))
    assert not (run_dir() / "inventory.yml").exists()


def _fleet_pids():
    fleet = json.loads((run_dir() / "fleet.json").read_text())
    return [host["pid"] for host in fleet["hosts"]]
