"""Both transports on real snapd: the Python module over /run/snapd.socket, and `snap debug api` run by the
action plugin through the connection (no Python needed on the host).

One fleet of two hosts: lab1 bookworm (snapd 2.57, no `snap debug api`) and lab2 trixie (snapd 2.68, both
transports). On lab2 the same sequence of shm_connection tasks runs once per transport from the same state
and must give the same changed, actions, connections and diffs, and shm_info the same answer; `auto` picks
snap debug api where snapd has it and the module where it does not; a Python-less run works where snapd
has snap debug api and fails with one line where it does not.

Run it under the lab lock: flock /tmp/snapfleet-lab.lock .venv/bin/python -m pytest -m lab tests/system/test_transports.py
"""

import json

import pytest

from tests.system.conftest import lab_fleet, run_playbook

pytestmark = pytest.mark.lab

OLD, CURRENT = "lab1", "lab2"
TRANSPORT_FIELDS = ("transport", "api_requests", "remote_commands", "invocation")
PAIR = "plug: shm-consumer:shmem\n        slot: shm-provider:shmem"

# From the lab's initial state (consumer not connected) and back to it: every kind of step once.
SEQUENCE = f"""
- name: The same shm_connection steps on one transport
  hosts: {CURRENT}
  gather_facts: false
  become: true
  vars:
    steps: []
  tasks:
    - name: Connect, in check mode
      snapfleet.snapd.shm_connection:
        {PAIR}
        transport: "{{{{ transport }}}}"
      check_mode: true
      diff: true
      register: step
    - ansible.builtin.set_fact: {{steps: "{{{{ steps + [step] }}}}"}}
    - name: Connect
      snapfleet.snapd.shm_connection:
        {PAIR}
        transport: "{{{{ transport }}}}"
      diff: true
      register: step
    - ansible.builtin.set_fact: {{steps: "{{{{ steps + [step] }}}}"}}
    - name: Connect again, nothing to do
      snapfleet.snapd.shm_connection:
        {PAIR}
        transport: "{{{{ transport }}}}"
      register: step
    - ansible.builtin.set_fact: {{steps: "{{{{ steps + [step] }}}}"}}
    - name: Exactly what is there now, nothing to do
      snapfleet.snapd.shm_connection:
        connections: "{{{{ step.connections | map('dict2items') | map('selectattr', 'key', 'in', ['plug', 'slot']) | map('items2dict') }}}}"
        exclusive: true
        transport: "{{{{ transport }}}}"
      register: step
    - ansible.builtin.set_fact: {{steps: "{{{{ steps + [step] }}}}"}}
    - name: Refused, the identifiers differ
      snapfleet.snapd.shm_connection:
        plug: shm-stranger:shmem
        slot: shm-provider:shmem
        transport: "{{{{ transport }}}}"
      register: step
      ignore_errors: true
    - ansible.builtin.set_fact: {{steps: "{{{{ steps + [step] }}}}"}}
    - name: Disconnect
      snapfleet.snapd.shm_connection:
        {PAIR}
        state: disconnected
        transport: "{{{{ transport }}}}"
      diff: true
      register: step
    - ansible.builtin.set_fact: {{steps: "{{{{ steps + [step] }}}}"}}
    - name: Disconnect again, nothing to do
      snapfleet.snapd.shm_connection:
        {PAIR}
        state: disconnected
        transport: "{{{{ transport }}}}"
      register: step
    - ansible.builtin.set_fact: {{steps: "{{{{ steps + [step] }}}}"}}
    - name: Everything shm_info says
      snapfleet.snapd.shm_info:
        transport: "{{{{ transport }}}}"
      register: step
    - ansible.builtin.set_fact: {{steps: "{{{{ steps + [step] }}}}"}}
    - name: Keep the results on the controller
      ansible.builtin.copy:
        content: "{{{{ steps | to_json }}}}"
        dest: "{{{{ out }}}}"
        mode: "0644"
      delegate_to: localhost
      become: false
"""

PROBE = """
- name: shm_info with transport {{ transport }}, as the inventory's interpreter says
  hosts: all
  gather_facts: false
  become: true
  tasks:
    - name: Read
      snapfleet.snapd.shm_info:
        transport: "{{ transport }}"
      register: info
      ignore_errors: true
    - name: Keep the result on the controller
      ansible.builtin.copy:
        content: "{{ info | to_json }}"
        dest: "{{ out }}.{{ inventory_hostname }}"
        mode: "0644"
      delegate_to: localhost
      become: false
"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    with lab_fleet(2, tmp_path_factory.mktemp("transports-run"), flavour="mixed") as booted:
        assert booted.hosts[OLD]["snapd_flavour"] == "bookworm" and booted.hosts[CURRENT]["snapd_flavour"] == "trixie"
        yield booted


@pytest.fixture(scope="module")
def play(fleet, installed_collection, tmp_path_factory):
    """Run a playbook on the fleet; ``no_python`` points the hosts' interpreter at a path that does not exist
    (in an inventory of its own: an extra var would break the controller-side tasks too)."""
    def run(text, out_name, *args, no_python=False):
        work = tmp_path_factory.mktemp("transports")
        (work / "play.yml").write_text(text)
        inventories = [fleet.inventory]
        if no_python:
            (work / "no-python.yml").write_text(
                "all:\n  hosts:\n" + "".join(f"    {host}: {{ansible_python_interpreter: /nonexistent/python3}}\n"
                                              for host in fleet.hosts))
            inventories.append(work / "no-python.yml")
        out = work / out_name
        done = run_playbook(work / "play.yml", inventories, "-e", f"out={out}", *args,
                            collections=installed_collection, cwd=work)
        done.out = out
        return done
    return run


def comparable(result):
    return {key: value for key, value in result.items() if key not in TRANSPORT_FIELDS}


@pytest.fixture(scope="module")
def sequences(fleet, play):
    """The step results of SEQUENCE on lab2, once per transport, from the same state."""
    runs = {}
    for transport in ("python", "snap-debug-api"):
        done = play(SEQUENCE, "steps.json", "-e", f"transport={transport}")
        assert done.rc == 0, done.tail()
        runs[transport] = json.loads(done.out.read_text())
    return runs


def test_every_step_gives_the_same_result_on_both_transports(fleet, sequences):
    python, api = sequences["python"], sequences["snap-debug-api"]
    for transport, steps in sequences.items():
        assert {step.get("transport") for step in steps} == {transport}
    assert [s["changed"] for s in python] == [True, True, False, False, False, True, False, False]
    assert [comparable(s) for s in api] == [comparable(s) for s in python]
    assert "shm-consumer:shmem" not in fleet.run(CURRENT, "snap connections shm-consumer | grep -v '^Interface'"
                                                 " | awk '$3 != \"-\"'")


def test_a_no_op_over_snap_debug_api_is_one_remote_command(sequences):
    steps = sequences["snap-debug-api"]
    assert (steps[2]["remote_commands"], steps[2]["api_requests"]) == (1, 3)
    assert steps[1]["remote_commands"] == 2


def test_auto_picks_snap_debug_api_where_snapd_has_it_and_the_module_elsewhere(fleet, play):
    done = play(PROBE, "info.json", "-e", "transport=auto")
    assert done.rc == 0, done.tail()
    transports = {host: json.loads((done.out.parent / f"info.json.{host}").read_text())["transport"] for host in fleet.hosts}
    assert transports == {OLD: "python", CURRENT: "snap-debug-api"}


def test_snap_debug_api_needs_no_python_on_the_host(fleet, play):
    done = play(PROBE, "info.json", "-e", "transport=auto", "--limit", CURRENT, no_python=True)
    assert done.rc == 0, done.tail()
    result = json.loads((done.out.parent / f"info.json.{CURRENT}").read_text())
    assert result["transport"] == "snap-debug-api" and not result.get("failed")
    assert any(slot["slot"] == "shmem" and slot["snap"] == "shm-provider" for slot in result["slots"])


def test_a_host_with_neither_way_fails_with_one_line_naming_both(fleet, play):
    before = fleet.run(OLD, "snap connections --all")
    done = play(PROBE, "info.json", "-e", "transport=auto", "--limit", OLD, no_python=True)
    result = json.loads((done.out.parent / f"info.json.{OLD}").read_text())
    assert result["failed"] is True
    assert "python3" in result["msg"] and "2.64" in result["msg"] and "\n" not in result["msg"]
    forced = play(PROBE, "info.json", "-e", "transport=snap-debug-api", "--limit", OLD)
    result = json.loads((forced.out.parent / f"info.json.{OLD}").read_text())
    assert result["failed"] is True and "transport: python" in result["msg"]
    assert fleet.run(OLD, "snap connections --all") == before
