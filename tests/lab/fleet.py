"""A running lab fleet: resume hosts from the cached machine state, write the inventory, stop them.

The fleet's state lives in the run folder (``.lab/`` in the repo unless $SNAPFLEET_LAB_RUN says
otherwise): ``fleet.json``, one folder per host with its overlay, pid file, QMP socket and console
log, and ``inventory.yml``. ``down`` stops exactly the qemu processes recorded there, checking that
each pid still is that qemu, so it also cleans up after a crashed or interrupted run.
"""

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from tests.lab import LabError
from tests.lab import images
from tests.lab import qemu
from tests.lab.paths import run_dir
from tests.lab.progress import say
from tests.lab.recipe import NO_PYTHON, fleet_plan
from tests.lab.ssh import Guest, wait_for_ssh


def _fleet_file() -> Path:
    return run_dir() / "fleet.json"


def inventory_path() -> Path:
    return run_dir() / "inventory.yml"


def _load_fleet() -> list:
    try:
        return json.loads(_fleet_file().read_text())["hosts"]
    except FileNotFoundError:
        return []


def _save_fleet(hosts: list):
    run_dir().mkdir(parents=True, exist_ok=True)
    tmp = _fleet_file().with_suffix(".tmp")
    tmp.write_text(json.dumps({"hosts": hosts}, indent=2) + "\n")
    tmp.replace(_fleet_file())


def up(count, flavour_spec: str, extra_snaps=()):
    """Resume a fleet (`count` hosts, or one per flavour the spec names; see recipe.fleet_plan); on
    any failure or Ctrl-C, every host started is stopped again."""
    plan = fleet_plan(flavour_spec, count)
    if any(qemu.is_lab_qemu(host.get("pid", 0), host["disk"]) for host in _load_fleet()):
        raise LabError("a lab fleet is already running (`python3 -m tests.lab status`); stop it with `down` first")
    down(quiet=True)
    extra_dirs = [Path(d).resolve() for d in extra_snaps]
    for folder in extra_dirs:
        if not (folder / "meta/snap.yaml").is_file():
            raise LabError(f"{folder} is not a snap source folder: it has no meta/snap.yaml")
    built = {flavour: images.build(flavour) for flavour in dict.fromkeys(plan)}
    hosts = []
    started = time.monotonic()
    try:
        for index, flavour in enumerate(plan, start=1):
            image = built[flavour]
            host_dir = run_dir() / "vms" / f"lab{index}"
            if host_dir.exists():
                shutil.rmtree(host_dir)
            host_dir.mkdir(parents=True)
            disk = host_dir / "disk.qcow2"
            qemu.create_overlay(disk, image.disk, "qcow2")
            port = qemu.free_port()
            host = {
                "name": f"lab{index}", "flavour": flavour.name, "python": flavour.python,
                "snapd_series": flavour.snapd_series, "port": port, "dir": str(host_dir),
                "disk": str(disk.resolve()), "key_file": str(image.key_file),
                "snapd_version": image.meta["snapd_version"],
            }
            hosts.append(host)
            _save_fleet(hosts)
            host["pid"] = qemu.launch(host["name"], disk, image.base_dir, host_dir, port,
                                      incoming_state=image.state)
            _save_fleet(hosts)
        _ready_all(hosts, started, extra_dirs)
        _write_inventory(hosts)
    except BaseException:
        say("up failed: stopping the hosts it started")
        down(quiet=True)
        raise
    _save_fleet(hosts)
    for host in hosts:
        say(f"{host['name']}: {_label(host)} snapd {host['snapd_version']} on 127.0.0.1:{host['port']}, "
            f"ready in {host['ready_s']:.1f} s (resumed {host['resumed_s']:.1f} s, ssh {host['ssh_s']:.1f} s)")
    say(f"fleet of {len(hosts)} ready in {time.monotonic() - started:.1f} s; inventory: {inventory_path()}")


def _ready_all(hosts, started, extra_dirs):
    errors = []

    def worker(host):
        try:
            _make_ready(host, started, extra_dirs)
        except BaseException as err:  # reported below, one line per host
            errors.append(f"{host['name']}: {err}")

    threads = [threading.Thread(target=worker, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise LabError("; ".join(errors))


def _make_ready(host, started, extra_dirs):
    qemu.wait_until_running(Path(host["dir"]) / "qmp.sock")
    host["resumed_s"] = time.monotonic() - started
    guest = wait_for_ssh(host["port"], Path(host["key_file"]), timeout=180,
                         alive=lambda: qemu.pid_alive(host["pid"]))
    with guest:
        host["ssh_s"] = time.monotonic() - started
        # A resumed guest carries on from the moment of the save: set its clock and its own name.
        name = host["name"]
        _, listing, _ = guest.run(
            f"date -u -s @{time.time():.3f} >/dev/null && hostname {name} && echo {name} > /etc/hostname"
            " && snap wait system seed.loaded && snap list", timeout=300)
        installed = {line.split()[0] for line in listing.splitlines()[1:] if line.strip()}
        missing = {"snapd", "bare", "shm-provider", "shm-consumer", "shm-private"} - installed
        if missing:
            raise LabError(f"snaps missing after resume: {sorted(missing)}")
        _, versions, _ = guest.run("snap version")
        reported = next((line.split()[1] for line in versions.splitlines() if line.startswith("snapd ")), "none")
        if not reported.startswith(host["snapd_series"]):
            raise LabError(f"snapd reports version {reported}, a {host['flavour']} host has {host['snapd_series']}x")
        host["ready_s"] = time.monotonic() - started
        for folder in extra_dirs:
            _install_extra_snap(guest, folder)
            host["ready_s"] = time.monotonic() - started


def _install_extra_snap(guest: Guest, folder: Path):
    with tempfile.TemporaryDirectory(prefix="snapfleet-extra-") as scratch:
        packed = Path(scratch) / f"{folder.name}.snap"
        images.pack_snap(folder, packed)
        remote = f"/root/{folder.name}.snap"
        guest.put(packed, remote)
        guest.run(f"snap install --dangerous {remote} && rm -f {remote}", timeout=900)


def _label(host) -> str:
    return host["flavour"] if host.get("python", True) else f"{host['flavour']}:{NO_PYTHON}"


def inventory(hosts) -> dict:
    """The fleet as an Ansible inventory: group `lab` with one group per flavour, and group `nopython`
    for the hosts without Python (the only ones without ansible_python_interpreter)."""
    groups, python_less = {}, {}
    key_files = sorted({host["key_file"] for host in hosts})
    for host in hosts:
        host_vars = {"ansible_host": "127.0.0.1", "ansible_port": host["port"]}
        if host["python"]:
            host_vars["ansible_python_interpreter"] = "/usr/bin/python3"
        else:
            python_less[host["name"]] = None
        if len(key_files) > 1:  # flavours built separately carry separate keys
            host_vars["ansible_ssh_private_key_file"] = host["key_file"]
        host_vars.update(snapd_flavour=host["flavour"], snapd_version=host["snapd_version"],
                         lab_python=host["python"])
        groups.setdefault(host["flavour"], {"hosts": {}})["hosts"][host["name"]] = host_vars
    children = {"lab": {"children": groups}}
    if python_less:
        children[NO_PYTHON] = {"hosts": python_less}
    return {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": key_files[0],
                # Every resumed host shares the saved host keys; they are throw-away lab VMs.
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
                "ansible_host_key_checking": False,
                "ansible_paramiko_record_host_keys": False,
            },
            "children": children,
        }
    }


def _write_inventory(hosts):
    inventory_path().write_text(
        "# Written by `python3 -m tests.lab up`; removed by `down`.\n"
        + yaml.safe_dump(inventory(hosts), sort_keys=False)
    )


def down(quiet: bool = False):
    """Stop every qemu recorded in the run folder and remove the overlays and the inventory."""
    hosts = _load_fleet()
    vms = run_dir() / "vms"
    recorded = {host["dir"]: host for host in hosts}
    if vms.is_dir():  # also host folders a crashed `up` wrote before fleet.json caught up
        for host_dir in vms.iterdir():
            recorded.setdefault(str(host_dir), {"name": host_dir.name, "dir": str(host_dir),
                                                "disk": str((host_dir / "disk.qcow2").resolve())})
    stopped = 0
    for host in recorded.values():
        pid = host.get("pid")
        pidfile = Path(host["dir"]) / "qemu.pid"
        if pid is None and pidfile.is_file():
            pid = int(pidfile.read_text().strip() or 0)
        if pid and qemu.is_lab_qemu(pid, host["disk"]):
            qemu.stop(pid, host["disk"])
            stopped += 1
        shutil.rmtree(host["dir"], ignore_errors=True)
    for leftover in (_fleet_file(), inventory_path()):
        if leftover.exists():
            leftover.unlink()
    if vms.is_dir() and not any(vms.iterdir()):
        vms.rmdir()
    if not quiet or stopped:
        say(f"down: stopped {stopped} VM(s), removed their overlays")


def status(inventory_only: bool = False) -> int:
    hosts = _load_fleet()
    if inventory_only:
        if not inventory_path().is_file():
            print("lab: no fleet is up (run `python3 -m tests.lab up`)", file=sys.stderr)
            return 1
        print(inventory_path())
        return 0
    if not hosts:
        print("no lab hosts")
        return 0
    print(f"{'HOST':8} {'FLAVOUR':15} {'SNAPD':24} {'PORT':6} {'PID':8} STATE")
    for host in hosts:
        alive = qemu.is_lab_qemu(host.get("pid", 0), host["disk"])
        print(f"{host['name']:8} {_label(host):15} {host['snapd_version']:24} {host['port']:<6} "
              f"{host.get('pid', '-')!s:8} {'running' if alive else 'stopped'}")
    return 0


def ssh(name: str, command) -> int:
    host = next((h for h in _load_fleet() if h["name"] == name), None)
    if host is None:
        raise LabError(f"no lab host named {name!r}; `python3 -m tests.lab status` lists them")
    if not command:
        # An interactive shell wants a terminal: hand over to the ssh client.
        os.execvp("ssh", ["ssh", "-i", host["key_file"], "-p", str(host["port"]), "-o", "StrictHostKeyChecking=no",
                          "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "root@127.0.0.1"])
    with Guest(host["port"], Path(host["key_file"])) as guest:
        status_code, out, err = guest.run(" ".join(command), check=False)
    print(out, end="")
    print(err, end="", file=sys.stderr)
    return status_code
