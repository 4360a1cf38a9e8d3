"""Both transports on real snapd: the Python module over /run/snapd.socket, and `snap debug api` run by the
action plugin through the connection (no Python needed on the host).

One fleet of four hosts: lab1 bookworm (snapd 2.57, no `snap debug api`), lab2 trixie (snapd 2.68) and lab3
forky (snapd 2.77), which have both transports, and lab4 forky built without Python. On lab2 and lab3 the same
sequence of shm_connection, shm_verify and shm_info tasks runs once per transport from the same state and
must give the same changed, actions, connections, findings and diffs; lab4 runs it over `snap debug api` and
must give what lab3 gave with Python, and snapd's own `snap connections` there must agree. `auto` picks snap
debug api where snapd has it and the module where it does not; a run without Python works where snapd has
snap debug api and fails with one line where it does not.

Run it under the lab lock: flock /tmp/snapfleet-lab.lock .venv/bin/python -m pytest -m lab tests/system/test_transports.py
"""

import json

import pytest

from tests.system.conftest import lab_fleet, run_playbook

pytestmark = pytest.mark.lab

OLD = "lab1"
BOTH_WAYS = {"lab2": "trixie", "lab3": "forky"}   # hosts with Python and snap debug api
NO_PYTHON = "lab4"                                # forky built without Python
NO_PYTHON_TWIN = "lab3"                           # same snapd, same image, with Python
TRANSPORT_FIELDS = ("transport", "api_requests", "remote_commands", "invocation")
PAIR = "plug: shm-consumer:shmem\n        slot: shm-provider:shmem"

# From the lab's initial state (consumer not connected) and back to it: every kind of step once.
SEQUENCE = f"""
- name: The same steps on one transport
  hosts: "{{{{ sequence_hosts }}}}"
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
    - name: What snapd's own CLI says now (raw, no Python needed)
      ansible.builtin.raw: snap connections shm-consumer
      register: snapd_says
      changed_when: false
    - name: Verify the connected state
      snapfleet.snapd.shm_verify:
        connections:
          - plug: shm-consumer:shmem
            slot: shm-provider:shmem
        transport: "{{{{ transport }}}}"
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
    - name: Verify the state after, every check family
      snapfleet.snapd.shm_verify:
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
        content: "{{{{ {{'steps': steps, 'snapd_says': snapd_says.stdout}} | to_json }}}}"
        dest: "{{{{ out }}}}.{{{{ inventory_hostname }}}}"
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
    flavours = {OLD: "bookworm", **BOTH_WAYS, NO_PYTHON: "forky:nopython"}
    with lab_fleet(len(flavours), tmp_path_factory.mktemp("transports-run"), flavour=",".join(flavours.values())) as booted:
        assert {name: host["snapd_flavour"] for name, host in booted.hosts.items()} == {
            name: flavour.split(":")[0] for name, flavour in flavours.items()}
        assert not booted.hosts[NO_PYTHON]["lab_python"]
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
    """The results of SEQUENCE per transport and host, each run from the image's state: with Python on the
    hosts that have both ways, over snap debug api on those and on the Python-less host."""
    hosts = {"python": list(BOTH_WAYS), "snap-debug-api": [*BOTH_WAYS, NO_PYTHON]}
    runs = {}
    for transport, names in hosts.items():
        done = play(SEQUENCE, "steps.json", "-e", f"transport={transport}", "-e", f"sequence_hosts={','.join(names)}")
        assert done.rc == 0, done.tail()
        runs[transport] = {name: json.loads((done.out.parent / f"steps.json.{name}").read_text()) for name in names}
    return runs


CHANGED = [True, True, False, False, False, False, True, False, False, False]


def test_every_step_gives_the_same_result_on_both_transports(fleet, sequences):
    for transport, by_host in sequences.items():
        for name, run in by_host.items():
            assert {step.get("transport") for step in run["steps"]} == {transport}, name
            assert [step["changed"] for step in run["steps"]] == CHANGED, name
    for name in BOTH_WAYS:
        python, api = sequences["python"][name]["steps"], sequences["snap-debug-api"][name]["steps"]
        assert [comparable(step) for step in api] == [comparable(step) for step in python], name
        assert "shm-consumer:shmem" not in fleet.run(name, "snap connections shm-consumer | grep -v '^Interface'"
                                                     " | awk '$3 != \"-\"'")


def test_without_python_a_host_connects_verifies_and_reads_as_with_python(fleet, sequences):
    without = sequences["snap-debug-api"][NO_PYTHON]
    twin = sequences["python"][NO_PYTHON_TWIN]
    assert [comparable(step) for step in without["steps"]] == [comparable(step) for step in twin["steps"]]
    connect, verify = without["steps"][1], without["steps"][2]
    assert connect["changed"] and [c["plug"] for c in connect["connections"]].count("shm-consumer:shmem") == 1
    assert not [f for f in verify["findings"] if f["severity"] == "error"], verify["findings"]
    # snapd's own CLI, right after the connect: the plug is connected to the provider's slot
    said = [line.split() for line in without["snapd_says"].splitlines()[1:]]
    assert ["shared-memory", "shm-consumer:shmem", "shm-provider:shmem", "manual"] in [row[:4] for row in said], \
        without["snapd_says"]
    assert fleet.run(NO_PYTHON, "command -v python3 python || true").strip() == ""  # and it really has no Python


def test_a_no_op_over_snap_debug_api_is_one_remote_command(sequences):
    for name, run in sequences["snap-debug-api"].items():
        steps = run["steps"]
        # the connections alone: a snapd that answers snap debug api is 2.64 or later, so no system-info is read
        assert (steps[3]["remote_commands"], steps[3]["api_requests"]) == (1, 1), name
        assert steps[1]["remote_commands"] == 2, name


def test_auto_picks_snap_debug_api_where_snapd_has_it_and_the_module_elsewhere(fleet, play):
    done = play(PROBE, "info.json", "-e", "transport=auto")
    assert done.rc == 0, done.tail()
    transports = {host: json.loads((done.out.parent / f"info.json.{host}").read_text())["transport"] for host in fleet.hosts}
    assert transports == {OLD: "python", **{name: "snap-debug-api" for name in [*BOTH_WAYS, NO_PYTHON]}}


def test_snap_debug_api_needs_no_python_on_the_host(fleet, play):
    done = play(PROBE, "info.json", "-e", "transport=auto", "--limit", "lab2", no_python=True)
    assert done.rc == 0, done.tail()
    result = json.loads((done.out.parent / "info.json.lab2").read_text())
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


AUTO_CHANGE = f"""
- name: A change and a no-op with transport auto
  hosts: all
  gather_facts: false
  become: true
  tasks:
    - name: Connect
      snapfleet.snapd.shm_connection:
        {PAIR}
      register: connect
    - name: Connect again, nothing to do
      snapfleet.snapd.shm_connection:
        {PAIR}
      register: again
    - name: Disconnect, back to the image's state
      snapfleet.snapd.shm_connection:
        {PAIR}
        state: disconnected
      register: disconnect
    - name: Keep the results on the controller
      ansible.builtin.copy:
        content: "{{{{ [connect, again, disconnect] | to_json }}}}"
        dest: "{{{{ out }}}}.{{{{ inventory_hostname }}}}"
        mode: "0644"
      delegate_to: localhost
      become: false
"""


def test_auto_reads_over_snap_debug_api_and_lets_the_module_make_changes_where_there_is_python(fleet, play):
    done = play(AUTO_CHANGE, "auto.json")
    assert done.rc == 0, done.tail()
    steps = {host: json.loads((done.out.parent / f"auto.json.{host}").read_text()) for host in fleet.hosts}
    assert {host: [s["changed"] for s in run] for host, run in steps.items()} == {
        host: [True, False, True] for host in fleet.hosts}
    # the change goes where waiting for it costs least: the module where there is Python, else snap debug api;
    # the no-op stays on snap debug api wherever snapd has it
    assert {host: [s["transport"] for s in run] for host, run in steps.items()} == {
        OLD: ["python", "python", "python"],
        **{name: ["python", "snap-debug-api", "python"] for name in BOTH_WAYS},
        NO_PYTHON: ["snap-debug-api"] * 3}
    for host in fleet.hosts:
        assert "shm-consumer:shmem" not in fleet.run(host, "snap connections shm-consumer | grep -v '^Interface'"
                                                     " | awk '$3 != \"-\"'")
