"""The lab itself: a mixed fleet comes up, Ansible reaches it, snapd answers, AppArmor enforces, down cleans up."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, ansible_bin, ansible_env, run_lab
from tests.lab.paths import run_dir

pytestmark = pytest.mark.lab

EXPECTED_SNAPD = {"bookworm": "2.57.", "trixie": "2.68."}

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


def test_apparmor_denies_consumer_until_connected(mixed_fleet):
    connect = "snap connect shm-consumer:shmem shm-provider:shmem"
    disconnect = "snap disconnect shm-consumer:shmem shm-provider:shmem"
    for name in mixed_fleet.hosts:
        with mixed_fleet.guest(name) as guest:
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
