"""Hostile local users and hostile files against real snapd (issue 13), on ONE trixie host.

Every case is something an unprivileged user, a confined app or a pull request can do on a device:

- an object with a long name under a slot whose path has many `*` (shm_verify must end in seconds);
- 100,000 entries in /dev/shm matching two slots' paths (shm_verify's result must stay small);
- an app whose main thread exited while another thread keeps the object mapped (the disconnect must be refused);
- an app that maps the object 20,000 times (its maps lines must stay on the device, the scan end in time, and the
  disconnect be refused as the scan could not read that process whole);
- a user's process in a cgroup named like a snap's service (it must not pass for the snap's app);
- a project whose snap/snapcraft.yaml is a link to a secret (shm_lint must refuse it, and echo nothing of it).

The five cases on the host run both ways (the module with Python over the socket, and the action plugin over
`snap debug api`), so each counts twice in the reliability summary.

The host gets one extra snap, shm-hostile, built here: its plug connects to shm-provider:shmem, its slots carry the
abusable paths, and its app `hold` is a tiny static C program compiled on the controller (the lab's base is `bare`,
with no compiler and no libc), run by `snap run`, so that it is the snap's app in every way the in-use guard looks:
AppArmor label, cgroup, mount namespace. Entries in /dev/shm are made as `nobody`. The cgroup case needs a cgroup
a user could name; the test makes one at the top of the cgroup tree as root, standing in for the cgroups systemd
delegates to every user (the label check that defeats it is the same). shm_lint runs on the controller
(delegate_to: localhost), as the module's documentation advises: the lab host has no PyYAML.

Run it under the lab lock: flock /tmp/snapfleet-lab.lock .venv/bin/python -m pytest -m lab tests/system/test_hostile.py
"""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.system.conftest import lab_fleet, run_playbook

pytestmark = pytest.mark.lab

HOST = "lab1"
PLUG = "shm-hostile:shmem"
SLOT = "shm-provider:shmem"
OBJECT = "/dev/shm/lab-shm-data"
HOLDER_PID = "/var/snap/shm-hostile/common/holder.pid"
FLOOD_PID = "/var/snap/shm-hostile/common/flood.pid"
MAPPINGS = 20000
AS_NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups"
# the path snapd and shm_lint accept, and names a backtracking matcher never finished with (255 is NAME_MAX)
WILD_PATH = "a*a*a*a*a*a*a*a*b"
LONG_MATCH = "a" * 254 + "b"
LONG_MISS = "a" * 255
FLOOD = 100000
# a fake token, as a file holding one: YAML reads it as one long string
SECRET = "ghp_" + "H0st1leL1nkT0k3n" * 8

SNAP_YAML = f"""\
name: shm-hostile
version: '1.0'
summary: hostile local-user cases (snapfleet lab tests)
description: A threaded holder app, and slots whose paths any local user can match.
base: bare
confinement: strict
grade: devel
architectures: [amd64]
apps:
  hold:
    command: bin/holder {OBJECT} $SNAP_COMMON/holder.pid
  flood:
    command: bin/holder {OBJECT} $SNAP_COMMON/flood.pid {MAPPINGS}
plugs:
  shmem:
    interface: shared-memory
    shared-memory: lab-shm
slots:
  wild:
    interface: shared-memory
    shared-memory: hostile-wild
    write: ['{WILD_PATH}']
  flood-a:
    interface: shared-memory
    shared-memory: hostile-flood-a
    write: ['flood-*']
  flood-b:
    interface: shared-memory
    shared-memory: hostile-flood-b
    read: ['flood-*']
"""

HOLDER_C = r"""
/* Maps a /dev/shm object (COUNT times, each its own maps line), then lets the main thread exit while a second
   thread keeps the process alive: /proc/PID/fd and /proc/PID/maps are empty from then on, only
   /proc/PID/task/TID shows the mappings. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static void *wait_forever(void *unused) {
    (void)unused;
    for (;;)
        pause();
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: holder OBJECT PIDFILE [COUNT]\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) { perror(argv[1]); return 1; }
    int count = argc == 4 ? atoi(argv[3]) : 1;
    for (int i = 0; i < count; i++) {
        /* the same page of the file again and again: the kernel cannot merge these into one mapping */
        void *mapped = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
        if (mapped == MAP_FAILED) { perror("mmap"); return 1; }
    }
    close(fd);
    pthread_t thread;
    if (pthread_create(&thread, NULL, wait_forever, NULL) != 0) { perror("pthread_create"); return 1; }
    FILE *pidfile = fopen(argv[2], "w");
    if (pidfile == NULL) { perror(argv[2]); return 1; }
    fprintf(pidfile, "%d\n", (int)getpid());
    fclose(pidfile);
    pthread_exit(NULL);
}
"""


@pytest.fixture(scope="module")
def hostile_snap(tmp_path_factory):
    """The shm-hostile snap folder, with its holder compiled here as a static binary."""
    folder = tmp_path_factory.mktemp("snaps") / "shm-hostile"
    (folder / "meta").mkdir(parents=True)
    (folder / "bin").mkdir()
    (folder / "meta" / "snap.yaml").write_text(SNAP_YAML)
    source = folder.parent / "holder.c"
    source.write_text(HOLDER_C)
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.fail("the threaded holder is compiled on the controller: install a C compiler and a static libc "
                    "(apt-get install gcc libc6-dev)")
    built = subprocess.run([compiler, "-static", "-O2", "-pthread", "-o", str(folder / "bin" / "holder"), str(source)],
                           capture_output=True, text=True, check=False)
    assert built.returncode == 0, f"cannot build the static holder: {built.stderr.strip()}"
    (folder / "bin" / "holder").chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, hostile_snap):
    """ONE trixie host with shm-hostile installed and its plug connected to shm-provider:shmem, which shares OBJECT."""
    work = tmp_path_factory.mktemp("hostile")
    started = time.monotonic()
    with lab_fleet(1, work / "run", flavour="trixie", snaps=[hostile_snap]) as fleet:
        fleet.work = work
        fleet.run(HOST, f"snap connect {PLUG} {SLOT} && printf hostile > {OBJECT} && chmod 0666 {OBJECT}")
        yield fleet
    sys.stderr.write("test_hostile.py: the fleet and every case took %.0f s\n" % (time.monotonic() - started))


def on(transport, module, args):
    """One task of `module` with `args`, run through `transport`."""
    return {f"snapfleet.snapd.{module}": dict(args, transport=transport)}


def run_task(fleet, installed_collection, task, timeout=300):
    """Run ONE task on the host through ansible-playbook; (its registered result, seconds it took).

    The seconds are the task's own, taken on the controller just before and after it, so they include the
    connection and the module's start-up; the task keyword `timeout` ends a module that never would.
    """
    result_file = fleet.work / "result.json"
    result_file.unlink(missing_ok=True)
    playbook = fleet.work / "task.yml"
    playbook.write_text(json.dumps([{
        "hosts": HOST, "gather_facts": False,
        "tasks": [
            {"name": "Start the clock", "ansible.builtin.set_fact": {"started": "{{ now().timestamp() }}"}},
            dict(task, name="The hostile case", register="result", ignore_errors=True, timeout=timeout),
            {"name": "Keep the result", "ansible.builtin.copy": {
                "content": "{{ dict(result=result, seconds=now().timestamp() - (started | float)) | to_json }}",
                "dest": str(result_file)}, "delegate_to": "localhost"},
        ],
    }]))
    done = run_playbook(playbook, [fleet.inventory], collections=installed_collection, timeout=timeout + 300)
    assert done.rc == 0, done.tail()
    kept = json.loads(result_file.read_text())
    module = next(key for key in task if key.startswith("snapfleet."))
    transport = task[module].get("transport")
    sys.stderr.write("%s (%s) took %.1f s\n" % (module, transport or "controller", kept["seconds"]))
    if transport:
        assert kept["result"].get("transport") == transport, kept["result"]
    return kept["result"], kept["seconds"], done.output


def connected(fleet):
    lines = fleet.run(HOST, "snap connections shm-hostile").splitlines()
    return any(line.split()[1:3] == [PLUG, SLOT] for line in lines[1:])


@pytest.mark.hostile
def test_a_long_name_under_a_wildcard_slot_is_matched_in_seconds(fleet, installed_collection, transport):
    fleet.run(HOST, f"cd /dev/shm && {AS_NOBODY} touch {LONG_MATCH} {LONG_MISS}")
    try:
        result, seconds, dummy = run_task(fleet, installed_collection,
                                          on(transport, "shm_verify", {"checks": ["objects"]}), timeout=120)
    finally:
        fleet.run(HOST, f"rm -f /dev/shm/{LONG_MATCH} /dev/shm/{LONG_MISS}")
    assert result.get("failed") is not True, result.get("msg")
    wild = [(f["evidence"]["object"], f["evidence"]["uid"]) for f in result["findings"]
            if f["code"] == "shm-object" and f["subject"] == "slot shm-hostile:wild"]
    assert wild == [("/dev/shm/" + LONG_MATCH, 65534)]
    # a module run on an emulated host takes about 8 s with an empty /dev/shm; a backtracking match never ended
    assert seconds < 30


@pytest.mark.hostile
def test_a_user_flooding_dev_shm_gets_a_small_result(fleet, installed_collection, transport):
    fleet.run(HOST, f"cd /dev/shm && seq -f 'flood-%06g' 1 {FLOOD} | {AS_NOBODY} xargs touch")
    try:
        result, seconds, dummy = run_task(fleet, installed_collection,
                                          on(transport, "shm_verify", {"checks": ["objects"]}), timeout=300)
    finally:
        fleet.run(HOST, "find /dev/shm -maxdepth 1 -name 'flood-*' -delete")
    assert result.get("failed") is not True, result.get("msg")
    for slot in ("shm-hostile:flood-a", "shm-hostile:flood-b"):
        found = [f for f in result["findings"] if f["subject"] == "slot " + slot]
        assert [f["code"] for f in found] == ["shm-object"] * 20 + ["shm-objects-more"]
        assert found[-1]["evidence"] == {"listed": 20, "more": FLOOD - 20}
    # 200,000 findings, about 52 MB of JSON, before
    size = len(json.dumps(result))
    sys.stderr.write("shm_verify's result over %d entries: %d bytes in %.1f s\n" % (FLOOD, size, seconds))
    assert size < 64 * 1024
    assert seconds < 90


@pytest.mark.hostile
def test_a_thread_still_mapping_the_object_after_the_main_thread_exited_blocks_the_disconnect(fleet, installed_collection,
                                                                                             transport):
    fleet.run(HOST, f"rm -f {HOLDER_PID}; (nohup snap run shm-hostile.hold </dev/null >/dev/null 2>&1 &); "
                  f"for i in $(seq 60); do [ -s {HOLDER_PID} ] && break; sleep 1; done; test -s {HOLDER_PID}")
    try:
        pid = int(fleet.run(HOST, f"cat {HOLDER_PID}"))
        # the case itself: the main thread is a zombie with no maps, only another thread shows the mapping
        shape = fleet.run(HOST, f"cat /proc/{pid}/attr/current; grep -c ^ /proc/{pid}/maps; "
                              f"grep -l ' {OBJECT}$' /proc/{pid}/task/*/maps; grep ^State /proc/{pid}/status",
                        check=False).split("\n")
        assert shape[0] == "snap.shm-hostile.hold (enforce)" and shape[1] == "0", shape
        assert shape[2].startswith(f"/proc/{pid}/task/") and shape[2] != f"/proc/{pid}/task/{pid}/maps", shape
        assert shape[3].split()[1] == "Z", shape
        result, dummy, dummy = run_task(fleet, installed_collection, on(transport, "shm_connection", {
            "plug": PLUG, "slot": SLOT, "state": "disconnected"}))
        assert result["failed"] is True
        assert result["msg"] == (f"refused before changing anything: {PLUG} - {SLOT} is in use by shm-hostile.hold "
                                 f"pid {pid} ({OBJECT}): stop those apps, or set force: true")
        assert connected(fleet)
    finally:
        fleet.run(HOST, f"kill $(cat {HOLDER_PID}) 2>/dev/null; rm -f {HOLDER_PID}; true", check=False)


@pytest.mark.hostile
def test_a_users_cgroup_named_like_a_snaps_service_does_not_make_its_process_the_snaps(fleet, installed_collection,
                                                                                      transport):
    # an unconfined process of nobody holds OBJECT open, in a cgroup called like shm-provider's `write` daemon
    cgroup = "/sys/fs/cgroup/snap.shm-provider.write.service"
    fleet.run(HOST, f"mkdir {cgroup} && ({AS_NOBODY} sh -c 'echo $$ >/tmp/spoof.pid; exec sleep 600' "
                  f"<{OBJECT} >/dev/null 2>&1 &); for i in $(seq 30); do [ -s /tmp/spoof.pid ] && break; sleep 1; done; "
                  f"cat /tmp/spoof.pid > {cgroup}/cgroup.procs")
    try:
        pid = int(fleet.run(HOST, "cat /tmp/spoof.pid"))
        assert fleet.run(HOST, f"cat /proc/{pid}/cgroup /proc/{pid}/attr/current").split() == [
            "0::/snap.shm-provider.write.service", "unconfined"]
        result, dummy, dummy = run_task(fleet, installed_collection, dict(on(transport, "shm_connection", {
            "plug": PLUG, "slot": SLOT, "state": "disconnected"}), check_mode=True))
        # before, the disconnect was refused as in use by "shm-provider.write pid N"
        assert result.get("failed") is not True, result.get("msg")
        assert result["changed"] is True
        assert [action["action"] for action in result["actions"]] == ["disconnect"]
    finally:
        fleet.run(HOST, f"kill $(cat /tmp/spoof.pid) 2>/dev/null; rm -f /tmp/spoof.pid; sleep 1; rmdir {cgroup}; true",
                check=False)
    assert connected(fleet)


@pytest.mark.hostile
def test_lint_refuses_a_snapcraft_yaml_that_links_to_a_secret(fleet, installed_collection, tmp_path):
    secret = tmp_path / "home" / ".config" / "gh-token"
    secret.parent.mkdir(parents=True)
    secret.write_text(SECRET + "\n")
    project = tmp_path / "pull-request"
    (project / "snap").mkdir(parents=True)
    (project / "snap" / "snapcraft.yaml").symlink_to(secret)
    result, dummy, output = run_task(fleet, installed_collection, {
        "snapfleet.snapd.shm_lint": {"path": str(project)}, "delegate_to": "localhost"})
    assert result["failed"] is True
    assert result["msg"].startswith(f"cannot lint {project}: refusing {project}/snap/snapcraft.yaml: it is a symbolic "
                                    "link, which shm_lint never follows")
    # nothing of the secret in the result nor in the job's log
    assert "H0st1le" not in json.dumps(result) and "H0st1le" not in output


def scan_output_bytes(fleet, installed_collection, snaps):
    """The bytes the snap debug api read of the guard sends back from this host: its script, made by the installed
    collection, run by the guest's sh as the action plugin runs it."""
    made = subprocess.run([sys.executable, "-c", "import sys; from ansible_collections.snapfleet.snapd.plugins.plugin_utils."
                           "_snap_debug_api import read_script; sys.stdout.write(read_script('0' * 32, 60, sys.argv[1:]))",
                           *snaps], env=dict(os.environ, PYTHONPATH=str(installed_collection)), capture_output=True,
                          text=True, check=True)
    assert "SNAPFLEET_SCRIPT_END" not in made.stdout
    fleet.run(HOST, f"cat > /tmp/read.sh <<'SNAPFLEET_SCRIPT_END'\n{made.stdout}\nSNAPFLEET_SCRIPT_END")
    return int(fleet.run(HOST, "sh /tmp/read.sh </dev/null | wc -c; rm -f /tmp/read.sh"))


@pytest.mark.hostile
def test_an_app_mapping_its_object_20000_times_is_cut_on_the_device_and_the_disconnect_refused(
        fleet, installed_collection, transport):
    fleet.run(HOST, f"rm -f {FLOOD_PID}; (nohup snap run shm-hostile.flood </dev/null >/dev/null 2>&1 &); "
                  f"for i in $(seq 60); do [ -s {FLOOD_PID} ] && break; sleep 1; done; test -s {FLOOD_PID}")
    try:
        pid = int(fleet.run(HOST, f"cat {FLOOD_PID}"))
        lines = int(fleet.run(HOST, f"cat /proc/{pid}/task/*/maps | grep -c ' {OBJECT}$'"))
        assert lines >= MAPPINGS, lines
        result, seconds, dummy = run_task(fleet, installed_collection, on(transport, "shm_connection", {
            "plug": PLUG, "slot": SLOT, "state": "disconnected", "timeout": 60}), timeout=60)
        assert result["failed"] is True and result["actions"] == [], result
        assert [refusal["code"] for refusal in result["refusals"]] == ["users-unknown"], result["refusals"]
        assert f"pid {pid} (maps: more than 262144 bytes of /dev/shm mappings)" in result["msg"], result["msg"]
        assert seconds < 60 + 10
        assert connected(fleet)
        if transport == "snap-debug-api":
            sent = scan_output_bytes(fleet, installed_collection, ["shm-hostile", "shm-provider"])
            sys.stderr.write("the guard's read of a host with %d maps lines sends %d bytes\n" % (lines, sent))
            assert sent < 1024 * 1024
    finally:
        fleet.run(HOST, f"kill $(cat {FLOOD_PID}) 2>/dev/null; rm -f {FLOOD_PID}; true", check=False)
