"""The fleet playbooks on a real mixed fleet of three hosts (lab1 and lab3 bookworm robots, lab2 a trixie
gateway), with the example inventory (examples/inventory) and the built collection:

- snapfleet.snapd.apply in check mode with --diff, for real, and again (no change);
- an AWX-style job through ansible-runner (project, collections/requirements.yml, string extravars), in
  check mode and for real;
- snapfleet.snapd.audit after a fault on one host, and with a host killed during the run: the report
  (JSON against its schema, Markdown, and the HTML page as headless Chromium renders it) lists every host.

The tests run in file order and share the fleet, each one leaving it in the state the next expects.
"""

import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.integration.conftest import REPO, ansible_bin, ansible_env, lab_fleet, run_playbook
from tests.report.html_page import Page

pytestmark = pytest.mark.lab

EXAMPLES = REPO / "examples" / "inventory"
SCHEMA = json.loads((REPO / "docs" / "shm-report.schema.json").read_text())
GATEWAY_LINK = "shm-consumer:shmem shm-provider:shmem"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    # bookworm, trixie, bookworm: examples/inventory/lab.yml gives classes to those two flavours only
    with lab_fleet(3, tmp_path_factory.mktemp("fleet-run"), flavour="bookworm,trixie") as booted:
        # shm-broken is a lab fixture whose declarations snapd drops: every host would be non-compliant.
        booted.run_everywhere("snap remove --purge shm-broken")
        yield booted


@pytest.fixture(scope="module")
def play(fleet, installed_collection, tmp_path_factory):
    """Run a playbook of the collection on the fleet with the example inventory, from a fresh working
    folder (the report is written to ./shm-report/ there); returns the run and the folder."""

    def run(playbook, *args, **kwargs):
        workdir = tmp_path_factory.mktemp("play")
        done = run_playbook(playbook, [fleet.inventory, EXAMPLES / "lab.yml"], *args, cwd=workdir,
                            collections=installed_collection, **kwargs)
        done.report_dir = workdir / "shm-report"
        return done

    return run


def consumer_connections(fleet, host):
    return fleet.run(host, "snap connections shm-consumer")


def gateway_connected(fleet):
    """Whether lab2's consumer plug is connected to the provider, as `snap connections` shows it."""
    return bool(re.search(r"^shared-memory\s+shm-consumer:shmem\s+shm-provider:shmem",
                          consumer_connections(fleet, "lab2"), re.M))


def report(run):
    data = json.loads((run.report_dir / "shm-report.json").read_text())
    jsonschema.validate(data, SCHEMA)
    return data


def statuses(data):
    return {host["name"]: host["status"] for host in data["hosts"]}


def rendered_dom(html_file: Path) -> str:
    """The page's DOM after headless Chromium loaded and rendered it (Debian's chromium package)."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: `make bootstrap` installs Debian's chromium package"
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--user-data-dir=" + str(html_file.parent / ".chromium"), "--dump-dom",
                           html_file.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def test_apply_in_check_mode_shows_the_diff_and_changes_nothing(fleet, play):
    before = consumer_connections(fleet, "lab2")
    run = play("snapfleet.snapd.apply", "--check", "--diff", "-e", "shm_report_fail_on=never")
    assert run.rc == 0, run.tail()
    assert run.changed("lab2") == 1, run.recap
    # the diff of the gateway's connection, added; nothing removed anywhere
    assert re.search(r'^\+\s+"slot": "shm-provider:shmem"', run.output, re.M), run.tail()
    assert not re.search(r'^-\s+"slot":', run.output, re.M), run.tail()
    assert consumer_connections(fleet, "lab2") == before
    data = report(run)
    assert data["check_mode"] is True
    # verified against what the host really has: the gateway is not connected yet
    assert statuses(data) == {"lab1": "compliant", "lab2": "non-compliant", "lab3": "compliant"}


def test_apply_converges_every_host_of_both_snapd_versions(fleet, play):
    run = play("snapfleet.snapd.apply", "--diff")
    assert run.rc == 0, run.tail()
    assert run.changed("lab2") == 1 and run.changed("lab1") == 0 and run.changed("lab3") == 0, run.recap
    data = report(run)
    assert statuses(data) == {"lab1": "compliant", "lab2": "compliant", "lab3": "compliant"}
    assert len(data["summary"]["snapd_versions"]) == 2, data["summary"]
    fleet.run("lab2", "/snap/bin/shm-provider.write")
    assert fleet.run("lab2", "/snap/bin/shm-consumer.read").strip() == "hello-from-provider"
    assert gateway_connected(fleet)


def test_apply_again_changes_nothing(fleet, play):
    run = play("snapfleet.snapd.apply")
    assert run.rc == 0, run.tail()
    assert {host: counts["changed"] for host, counts in run.recap.items()} == {"lab1": 0, "lab2": 0, "lab3": 0}
    assert report(run)["summary"]["changed"] == 0


@pytest.fixture(scope="module")
def awx_job(fleet, installed_collection, tmp_path_factory):
    """AWX-style jobs: a project whose collections/requirements.yml names the built tarball, installed
    once as AWX's project update does, the fleet's inventory with the example vars, and a fresh private
    data dir per job (runner keeps a job's command line in it)."""
    import ansible_runner

    tarball = sorted(REPO.glob("build/snapfleet-snapd-*.tar.gz"))[-1]
    synced = tmp_path_factory.mktemp("awx-project")
    project = synced / "project"
    (project / "collections").mkdir(parents=True)
    (project / "collections" / "requirements.yml").write_text(
        yaml.safe_dump({"collections": [{"name": str(tarball), "type": "file"}]}))
    (project / "shared_memory.yml").write_text(
        "- name: Apply the fleet's shared-memory spec\n  ansible.builtin.import_playbook: snapfleet.snapd.apply\n")
    inventory = synced / "inventory"
    shutil.copytree(EXAMPLES / "group_vars", inventory / "group_vars")
    shutil.copy(fleet.inventory, inventory / "hosts.yml")
    shutil.copy(EXAMPLES / "lab.yml", inventory / "zz-classes.yml")
    installed = synced / "requirements_collections"
    subprocess.run([ansible_bin("ansible-galaxy"), "collection", "install", "-r",
                    str(project / "collections" / "requirements.yml"), "-p", str(installed)],
                   check=True, capture_output=True, text=True, timeout=300)
    # the execution environment's ansible-playbook: here the venv's
    env = ansible_env(installed, PATH=str(Path(ansible_bin("ansible-playbook")).parent) + ":" + os.environ["PATH"])

    def run(check):
        job = tmp_path_factory.mktemp("awx-job")
        shutil.copytree(project, job / "project")
        shutil.copytree(inventory, job / "inventory")
        return ansible_runner.run(
            private_data_dir=str(job), project_dir=str(job / "project"), playbook="shared_memory.yml",
            inventory=str(job / "inventory"), cmdline="--check" if check else None, quiet=True,
            envvars={key: env[key] for key in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_HOST_KEY_CHECKING",
                                               "ANSIBLE_PIPELINING", "ANSIBLE_NOCOLOR", "PATH")},
            # survey answers arrive as strings
            extravars={"shared_memory_exclusive": "true", "shared_memory_verify": "yes",
                       "shm_report_fail_on": "never" if check else "error", "shared_memory_timeout": "300"})

    return run


def job_results(runner):
    """Per host: the shm_connection result, and the set_stats artifact of the job."""
    connection, artifact = {}, None
    for event in runner.events:
        data = event.get("event_data", {})
        if event["event"] == "runner_on_ok" and data.get("resolved_action") == "snapfleet.snapd.shm_connection":
            connection[data["host"]] = data["res"]
        if event["event"] == "playbook_on_stats":
            artifact = data.get("artifact_data")
    return connection, artifact


def test_ansible_runner_job_in_check_mode_then_for_real(fleet, awx_job):
    fleet.run("lab2", f"snap disconnect {GATEWAY_LINK}")  # drift on the gateway
    check = awx_job(check=True)
    assert (check.status, check.rc) == ("successful", 0), check.stdout.read()[-3000:]
    connection, artifact = job_results(check)
    assert sorted(connection) == ["lab1", "lab2", "lab3"]
    assert connection["lab2"]["changed"] is True and not connection["lab1"]["changed"]
    assert artifact["shm_report"]["check_mode"] is True
    assert artifact["shm_report"]["hosts"] == {"lab1": "compliant", "lab2": "non-compliant", "lab3": "compliant"}
    assert not gateway_connected(fleet)

    real = awx_job(check=False)
    assert (real.status, real.rc) == ("successful", 0), real.stdout.read()[-3000:]
    connection, artifact = job_results(real)
    assert connection["lab2"]["changed"] is True and not connection["lab3"]["changed"]
    assert artifact["shm_report"]["check_mode"] is False
    assert artifact["shm_report"]["hosts"] == {"lab1": "compliant", "lab2": "compliant", "lab3": "compliant"}
    assert artifact["shm_report"]["summary"]["compliant"] == 3
    assert real.stats["changed"] == {"lab2": 1}, real.stats
    assert gateway_connected(fleet)


def test_audit_after_a_fault_reports_that_host_in_every_format(fleet, play):
    fleet.run("lab2", f"snap disconnect {GATEWAY_LINK}")  # the fault
    run = play("snapfleet.snapd.audit")
    assert run.rc == 2 and "compliance gate" in run.output, run.tail()  # the gate fails the job, after the report
    assert run.recap["lab2"]["changed"] == 0
    data = report(run)
    assert statuses(data) == {"lab1": "compliant", "lab2": "non-compliant", "lab3": "compliant"}
    lab2 = next(host for host in data["hosts"] if host["name"] == "lab2")
    assert [finding["code"] for finding in lab2["findings"] if finding["severity"] == "error"] == ["connection-missing"]
    markdown = (run.report_dir / "shm-report.md").read_text()
    assert "## lab2: non-compliant" in markdown and "`connection-missing`" in markdown
    page = Page(rendered_dom(run.report_dir / "shm-report.html"))
    assert page.rows == {"lab1": "compliant", "lab2": "non-compliant", "lab3": "compliant"}
    assert "connection-missing" in page.codes
    # the audit changed nothing: the fault is still there
    assert not gateway_connected(fleet)


@pytest.mark.fault
def test_a_host_killed_during_the_audit_is_reported_unreachable(fleet, play):
    killer = threading.Timer(2.0, fleet.kill, args=("lab3",))  # before its verify can have finished
    killer.start()
    try:
        run = play("snapfleet.snapd.audit", "-e", "ansible_ssh_timeout=10")
    finally:
        killer.cancel()
    assert not fleet.alive("lab3")
    assert run.rc != 0, run.tail()
    assert run.recap["lab3"]["unreachable"] == 1 or run.recap["lab3"]["failed"] == 1, run.recap
    data = report(run)
    assert statuses(data) == {"lab1": "compliant", "lab2": "non-compliant", "lab3": "unreachable"}
    page = Page(rendered_dom(run.report_dir / "shm-report.html"))
    assert page.rows == statuses(data)
    markdown = (run.report_dir / "shm-report.md").read_text()
    assert "## lab3: unreachable" in markdown
    assert data["summary"]["unreachable"] == 1 and data["summary"]["compliant"] == 1
    assert run.seconds < 600
