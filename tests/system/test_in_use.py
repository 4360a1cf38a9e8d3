"""The in-use guard on real snapd: a process confined as shm-consumer holds /dev/shm/lab-shm-data open.

One trixie host in a run dir of its own. shm_info lists the holder, shm_connection refuses to disconnect
while it holds the object and leaves the connection in place, and disconnects with force: true. Last, the
shared_memory role passes each module option through on both transports: force (the same disconnect),
allow_identifier_mismatch on one connection item (shm-stranger's foreign identifier), transport, socket and timeout.

The lab snaps have base bare, so `snap run --shell` finds no shell: the holder is shm-consumer's own
`read` app (busybox cat of /dev/shm/lab-shm-data), made to wait with the object open by turning it into a
FIFO whose write end an unconfined `sleep` keeps open.

Run it under the lab lock: flock /tmp/snapfleet-lab.lock .venv/bin/python -m pytest -m lab tests/system/test_in_use.py
"""

import json
import time

import pytest

from tests.system.conftest import lab_fleet, run_playbook

pytestmark = pytest.mark.lab

HOST = "lab1"
PLUG = "shm-consumer:shmem"
SLOT = "shm-provider:shmem"
OBJECT = "/dev/shm/lab-shm-data"
WRITER_PID = "/run/in-use-writer.pid"

START_HOLDER = (
    f"rm -f {OBJECT} && mkfifo -m 0666 {OBJECT} && "
    # cat opens the FIFO, then waits on it for as long as the unconfined writer keeps it open
    "(nohup snap run shm-consumer.read </dev/null >/dev/null 2>&1 &) && "
    f"(nohup sh -c 'echo $$ >{WRITER_PID}; exec sleep 600' >{OBJECT} </dev/null 2>/dev/null &)"
)
FIND_HOLDER = (
    "for label in /proc/[0-9]*/attr/current; do "
    "  pid=${label#/proc/}; pid=${pid%%/*}; "
    "  grep -q '^snap.shm-consumer.read ' $label 2>/dev/null && "
    f"  ls -l /proc/$pid/fd 2>/dev/null | grep -q ' {OBJECT}$' && echo $pid; "
    "done; true"
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """ONE trixie host in a run dir of its own; a scratch folder for the task files in fleet.work."""
    work = tmp_path_factory.mktemp("in-use")
    with lab_fleet(1, work / "run", flavour="trixie") as fleet:
        fleet.work = work
        yield fleet


def guest_run(fleet, command, check=True):
    return fleet.run(HOST, command, check=check)


@pytest.fixture(scope="module")
def holder(fleet):
    """The pid of shm-consumer.read holding the object open, with plug and slot connected; killed at the end."""
    guest_run(fleet, f"snap connect {PLUG} {SLOT}")
    try:
        guest_run(fleet, START_HOLDER)
        deadline = time.monotonic() + 60
        pids = []
        while not pids and time.monotonic() < deadline:
            time.sleep(1)
            pids = guest_run(fleet, FIND_HOLDER).split()
        assert len(pids) == 1, f"expected one shm-consumer.read holding {OBJECT}, found {pids}"
        yield int(pids[0])
    finally:
        guest_run(fleet, f"kill $({FIND_HOLDER}) $(cat {WRITER_PID}) 2>/dev/null; rm -f {OBJECT} {WRITER_PID}; "
                       f"snap disconnect {PLUG} {SLOT} 2>/dev/null; true", check=False)


def run_module(fleet, installed_collection, module, args, transport):
    """Run one module task of the installed collection on the host with ansible-playbook, through `transport`;
    its registered result."""
    args = dict(args, transport=transport)
    result_file = fleet.work / "result.json"
    result_file.unlink(missing_ok=True)
    playbook = fleet.work / "task.yml"
    playbook.write_text(json.dumps([{
        "hosts": HOST, "gather_facts": False,
        "tasks": [
            {"name": "Run the module", f"snapfleet.snapd.{module}": args, "register": "result", "ignore_errors": True},
            {"name": "Keep the result", "ansible.builtin.copy": {"content": "{{ result | to_json }}",
                                                                 "dest": str(result_file)},
             "delegate_to": "localhost"},
        ],
    }]))
    done = run_playbook(playbook, [fleet.inventory], collections=installed_collection, timeout=600)
    assert done.rc == 0, done.output
    result = json.loads(result_file.read_text())
    assert result.get("transport") == transport, result
    return result


def connected(fleet):
    """Whether snapd reports the plug connected to the slot (snap connections reads snapd's API)."""
    lines = guest_run(fleet, "snap connections shm-consumer").splitlines()
    return any(line.split()[1:3] == [PLUG, SLOT] for line in lines[1:])


def test_shm_info_lists_the_holder_with_its_pid(fleet, holder, installed_collection, transport):
    result = run_module(fleet, installed_collection, "shm_info", {"snaps": ["shm-consumer"]}, transport)
    connection = next(c for c in result["connections"] if c["plug"] == PLUG)
    assert {"pid": holder, "snap": "shm-consumer", "app": "read", "paths": [OBJECT]} in connection["users"]


def test_disconnect_is_refused_with_the_pid_and_the_connection_stays(fleet, holder, installed_collection, transport):
    result = run_module(fleet, installed_collection, "shm_connection", {"plug": PLUG, "slot": SLOT, "state": "disconnected"},
                        transport)
    assert result["failed"] is True
    assert f"shm-consumer.read pid {holder} ({OBJECT})" in result["msg"]
    assert result["msg"].endswith("stop those apps, or set force: true")
    assert [r["code"] for r in result["refusals"]] == ["connection-in-use"]
    assert connected(fleet)


def test_force_disconnects_while_in_use(fleet, holder, installed_collection, transport):
    # the other transport's run may have disconnected already; the holder keeps the object open either way
    guest_run(fleet, f"snap connect {PLUG} {SLOT}")
    result = run_module(fleet, installed_collection, "shm_connection",
                        {"plug": PLUG, "slot": SLOT, "state": "disconnected", "force": True}, transport)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert not connected(fleet)


STRANGER = "shm-stranger:shmem"
ROLE_PLAYBOOK = """
- name: The shared_memory role with the modules' options
  hosts: lab1
  gather_facts: false
  tasks:
    - name: Apply through the role
      ansible.builtin.import_role:
        name: snapfleet.snapd.shared_memory
      vars:
        shared_memory_connections:
          - {plug: %(plug)s, slot: %(slot)s, state: disconnected}
          - {plug: %(stranger)s, slot: %(slot)s, allow_identifier_mismatch: true}
        shared_memory_force: "true"
        shared_memory_transport: "{{ transport }}"
        shared_memory_socket: /run/snapd.socket
        shared_memory_timeout: 45
        shared_memory_verify_checks: [connections]
        shared_memory_defer_failures: true
    - name: Keep the first results
      ansible.builtin.set_fact:
        kept: "{{ {'apply': shared_memory_apply_result, 'verify': shared_memory_verify_result} }}"
    - name: The role again with a socket where snapd is not (the module reads the socket on the python transport)
      ansible.builtin.include_role:
        name: snapfleet.snapd.shared_memory
      vars:
        shared_memory_socket: /run/snapd-missing.socket
        shared_memory_transport: python
        shared_memory_timeout: 5
        shared_memory_defer_failures: true
    - name: Keep why it failed
      ansible.builtin.set_fact:
        kept: "{{ kept | combine({'socket': shared_memory_result.message}) }}"
    - name: The role again with a timeout the modules refuse
      ansible.builtin.include_role:
        name: snapfleet.snapd.shared_memory
      vars:
        shared_memory_transport: "{{ transport }}"
        shared_memory_timeout: -1
        shared_memory_defer_failures: true
    - name: Keep the results
      ansible.builtin.copy:
        content: "{{ kept | combine({'timeout': shared_memory_result.message}) | to_json }}"
        dest: "{{ out }}"
        mode: "0644"
      delegate_to: localhost
      become: false
""" % {"plug": PLUG, "slot": SLOT, "stranger": STRANGER}


def stranger_connected(fleet):
    lines = guest_run(fleet, "snap connections shm-stranger").splitlines()
    return any(line.split()[1:3] == [STRANGER, SLOT] for line in lines[1:])


def test_the_role_passes_force_allow_identifier_mismatch_transport_socket_and_timeout(fleet, holder, installed_collection,
                                                                                       transport):
    guest_run(fleet, f"snap connect {PLUG} {SLOT}")
    playbook, out = fleet.work / "role.yml", fleet.work / ("role-%s.json" % transport)
    playbook.write_text(ROLE_PLAYBOOK)
    try:
        done = run_playbook(playbook, [fleet.inventory], "-e", "transport=%s" % transport, "-e", "out=%s" % out,
                            collections=installed_collection, timeout=600)
        assert done.rc == 0, done.output
        results = json.loads(out.read_text())
        apply, verify = results["apply"], results["verify"]
        assert apply.get("failed") is not True, apply
        # transport: the one asked for ran both modules
        assert (apply["transport"], verify["transport"]) == (transport, transport)
        # force: the connection the holder uses is gone; allow_identifier_mismatch: the foreign pair is connected
        assert [(action["action"], action["plug"]) for action in apply["actions"]] == [
            ("disconnect", PLUG), ("connect", STRANGER)]
        assert not connected(fleet) and stranger_connected(fleet)
        assert "identifier" in apply["actions"][1]["reason"]
        # and verification was given the same item: the mismatch is allowed there too
        assert "identifier-mismatch" not in [finding["code"] for finding in verify["findings"]]
        # socket and timeout: each reaches the modules, as their refusals show
        assert results["socket"].startswith("shm_connection: cannot reach snapd at /run/snapd-missing.socket:"), results
        assert "timeout must be a number of seconds above 0, not -1" in results["timeout"], results
    finally:
        guest_run(fleet, f"snap disconnect {STRANGER} {SLOT}; true", check=False)
