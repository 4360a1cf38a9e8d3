"""The lab itself: a mixed fleet comes up, Ansible reaches it, snapd answers, AppArmor enforces, down cleans up;
then a forky host and a Python-less one: snapd 2.77, `snap debug api`, no Python at all, Ansible's raw module.

The forky fleet's tests come after test_down_leaves_no_vm_and_no_overlay, which stops the mixed fleet, so
that one fleet at a time runs on the machine's cores.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.system.conftest import REPO, ansible_bin, ansible_env, lab_fleet, run_lab
from tests.lab.paths import run_dir
from tests.lab.recipe import FIND_PYTHON

pytestmark = pytest.mark.lab

EXPECTED_SNAPD = {"bookworm": "2.57.", "trixie": "2.68.", "forky": "2.77."}

# Reads snapd's API from inside the guest with the guest's own Python (no curl in the image).
SYSTEM_INFO = (
    "python3 -c 'import http.client,socket,json\n"
    "class C(http.client.HTTPConnection):\n"
    " def connect(self):\n"
    "  self.sock=socket.socket(socket.AF_UNIX); self.sock.connect(\"/run/snapd.socket\")\n"
    "c=C(\"localhost\"); c.request(\"GET\",\"/v2/system-info\"); print(c.getresponse().read().decode())'"
)


@pytest.mark.parametrize("connection", ["ssh", "paramiko"])
def test_ansible_ping_reaches_every_host(mixed_fleet, connection):
    done = subprocess.run(
        [ansible_bin("ansible"), "all", "-i", str(mixed_fleet.inventory), "-c", connection,
         "-m", "ansible.builtin.ping", "-o"],
        cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in mixed_fleet.hosts:
        assert re.search(rf"^{name} \| SUCCESS", done.stdout, re.MULTILINE), done.stdout


def test_inventory_groups_hosts_by_flavour(mixed_fleet):
    flavours = sorted(host["snapd_flavour"] for host in mixed_fleet.hosts.values())
    assert flavours == ["bookworm", "trixie"]


def test_system_info_reports_the_flavours_snapd(mixed_fleet):
    for name, host in mixed_fleet.hosts.items():
        with mixed_fleet.guest(name) as guest:
            _, out, _ = guest.run(SYSTEM_INFO)
        info = json.loads(out)["result"]
        assert info["version"].startswith(EXPECTED_SNAPD[host["snapd_flavour"]]), (name, info["version"])


def test_up_installs_the_snap_folders_given_with_snaps(mixed_fleet):
    for name in mixed_fleet.hosts:
        with mixed_fleet.guest(name) as guest:
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


def test_apparmor_denies_consumer_until_connected(mixed_fleet):
    for name in mixed_fleet.hosts:
        _assert_consumer_denied_until_connected(mixed_fleet, name)


def test_down_leaves_no_vm_and_no_overlay(mixed_fleet):
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


# --- forky (snapd 2.77) and a Python-less forky host, as on Ubuntu Core 26 ---------------------------

# Any Python interpreter: on PATH, or what the image build checks for (recipe.FIND_PYTHON).
FIND_ANY_PYTHON = "command -v python3 python; " + FIND_PYTHON


@pytest.fixture(scope="module")
def forky_fleet(tmp_path_factory):
    """lab1 forky, lab2 forky built without Python."""
    with lab_fleet(2, tmp_path_factory.mktemp("forky-run"), flavour="forky,forky:nopython") as fleet:
        yield fleet


def test_the_inventory_marks_the_python_less_host_and_groups_it(forky_fleet):
    data = yaml.safe_load(forky_fleet.inventory.read_text())
    assert data["all"]["children"]["nopython"]["hosts"] == {"lab2": None}
    assert sorted(data["all"]["children"]["lab"]["children"]["forky"]["hosts"]) == ["lab1", "lab2"]
    assert forky_fleet.hosts["lab1"]["lab_python"] is True
    assert forky_fleet.hosts["lab2"]["lab_python"] is False
    assert "ansible_python_interpreter" not in forky_fleet.hosts["lab2"]
    assert "ansible_python_interpreter" not in data["all"]["vars"]


def test_snap_debug_api_answers_snapd_2_77_on_both_forky_hosts(forky_fleet):
    for name in forky_fleet.hosts:
        info = json.loads(forky_fleet.run(name, "snap debug api /v2/system-info"))
        assert info["status-code"] == 200, (name, info)
        assert info["result"]["version"].startswith("2.77."), (name, info["result"]["version"])
        assert forky_fleet.hosts[name]["snapd_version"].startswith("2.77."), name


def test_the_python_less_host_has_no_python_at_all(forky_fleet):
    found = forky_fleet.run("lab2", FIND_ANY_PYTHON, check=False).split("\n")
    assert [line for line in found if line.strip()] == []
    # the same probe finds the Python of the forky host it was made from
    found_on_forky = forky_fleet.run("lab1", FIND_ANY_PYTHON, check=False)
    assert "/usr/bin/python3" in found_on_forky and "python3.14" in found_on_forky, found_on_forky


def test_ansible_reaches_the_python_less_host_with_raw_and_the_forky_host_with_modules(forky_fleet):
    raw = subprocess.run(
        [ansible_bin("ansible"), "nopython", "-i", str(forky_fleet.inventory), "-m", "ansible.builtin.raw",
         "-a", "snap version"],
        cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=600,
    )
    assert raw.returncode == 0, raw.stdout + raw.stderr
    assert re.search(r"^lab2 \| CHANGED \| rc=0 >>$", raw.stdout, re.M), raw.stdout
    assert re.search(r"^snapd\s+2\.77\.", raw.stdout, re.M), raw.stdout
    ping = subprocess.run(
        [ansible_bin("ansible"), "forky:!nopython", "-i", str(forky_fleet.inventory), "-m", "ansible.builtin.ping"],
        cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=600,
    )
    assert ping.returncode == 0 and re.search(r"^lab1 \| SUCCESS", ping.stdout, re.M), ping.stdout + ping.stderr
    assert "lab2" not in ping.stdout, ping.stdout


def test_apparmor_denies_consumer_until_connected_on_forky(forky_fleet):
    _assert_consumer_denied_until_connected(forky_fleet, "lab1")
