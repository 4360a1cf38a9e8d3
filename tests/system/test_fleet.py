"""The fleet playbooks on a real mixed fleet of three hosts (lab1 and lab3 bookworm robots, lab2 a trixie
gateway), with the example inventory (examples/inventory) and the built collection:

- snapfleet.snapd.apply in check mode with --diff, for real, and again (no change);
- the example AWX project (examples/awx-project) run as AWX runs it, through ansible-runner (tests/system/
  awx.py): the playbooks AWX lists, its collections installed from its requirements, an inventory imported from
  it, a private data dir per job, survey answers as strings, the artifacts read back; a Check job, then a Run job;
- snapfleet.snapd.audit after a fault on one host: the report (JSON against its schema, Markdown, and the HTML
  page as headless Chromium renders it, with a screenshot) lists every host, the gate and each host's
  connections;
- the project's audit sliced into 3 jobs over AWX-style sliced inventories, one host failing, then the project's
  report as the next workflow node: one report of every host from the slices' artifacts, and the same from a
  shared jsonfile fact cache;
- snapfleet.snapd.audit with a host killed during the run.

The tests run in file order and share the fleet, each one leaving it in the state the next expects.
"""

import json
import re
import threading
from pathlib import Path

import jsonschema
import pytest

from tests.system.awx import Awx, Inventory, Project, shared_fact_cache
from tests.system.conftest import REPO, lab_fleet, run_playbook
from tests.report.html_page import Page, rendered_dom, screenshot

pytestmark = pytest.mark.lab

EXAMPLES = REPO / "examples" / "inventory"
AWX_PROJECT = REPO / "examples" / "awx-project"
SCREENSHOTS = REPO / "tests" / "output" / "report"
SCHEMA = json.loads((REPO / "docs" / "shm-report.schema.json").read_text())
GATEWAY_LINK = "shm-consumer:shmem shm-provider:shmem"
NONE_UNREACHABLE = {"hosts": 0, "max": "0", "allowed": 0, "within": True}
REPORT_KEY = "lab-report-key-" + "7" * 32


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
def awx(fleet, tmp_path_factory):
    """AWX with the example project synced, the built collection installed from the project's requirements, and
    an inventory imported from the project's inventory/hosts, where the lab's hosts are the devices: bookworm
    hosts are robots, trixie hosts gateways (the ssh settings of the lab as the machine credential)."""
    tarball = sorted(REPO.glob("build/snapfleet-snapd-*.tar.gz"))[-1]
    workdir = tmp_path_factory.mktemp("awx")
    classes = {"bookworm": "robots", "trixie": "gateways"}
    devices = {"all": {"vars": fleet.vars, "children": {group: {"hosts": {}} for group in classes.values()}}}
    for name, variables in fleet.hosts.items():
        devices["all"]["children"][classes[variables["snapd_flavour"]]]["hosts"][name] = dict(
            variables, shared_memory_flavour=variables["snapd_flavour"])
    project = Project(AWX_PROJECT, workdir, tarball, devices)
    # the report key, as the credential docs/awx.md describes injects it into every job
    return Awx(project, Inventory(project.path / "inventory" / "hosts"), workdir,
               credential_env={"SHM_REPORT_KEY": REPORT_KEY})


def test_awx_lists_the_projects_playbooks_and_inventory(awx):
    assert awx.project.playbooks() == ["apply.yml", "audit.yml", "report.yml"]
    assert awx.project.inventory_files() == ["inventory/hosts"]
    assert awx.inventory.hosts() == ["lab1", "lab2", "lab3"]
    # what a survey asks is what the roles take, as the strings AWX passes
    for survey in ("apply", "audit", "report"):
        assert all(isinstance(answer, str) for answer in awx.project.survey_answers(survey).values())


def test_awx_check_job_then_run_job_of_the_project(fleet, awx):
    fleet.run("lab2", f"snap disconnect {GATEWAY_LINK}")  # drift on the gateway
    answers = awx.project.survey_answers("apply")
    assert answers["shared_memory_exclusive"] == "true"
    check = awx.job("apply.yml", dict(answers, shm_report_fail_on="never"), check=True)
    assert (check.status, check.rc) == ("successful", 0), check.output()
    connection = check.results("snapfleet.snapd.shm_connection")
    assert sorted(connection) == ["lab1", "lab2", "lab3"]
    assert connection["lab2"]["changed"] is True and not connection["lab1"]["changed"]
    assert check.artifacts["shm_report"]["check_mode"] is True
    assert check.artifacts["shm_report"]["hosts"] == {"lab1": "compliant", "lab2": "non-compliant", "lab3": "compliant"}
    assert not gateway_connected(fleet)

    real = awx.job("apply.yml", answers)
    assert (real.status, real.rc) == ("successful", 0), real.output()
    connection = real.results("snapfleet.snapd.shm_connection")
    assert connection["lab2"]["changed"] is True and not connection["lab3"]["changed"]
    report = real.artifacts["shm_report"]
    assert report["check_mode"] is False
    assert report["hosts"] == {"lab1": "compliant", "lab2": "compliant", "lab3": "compliant"}
    assert report["gate"] == {"fail_on": "error", "passed": True, "failed_by": [], "unreachable": NONE_UNREACHABLE}
    assert report["summary"]["connections"]["missing"] == 0 and report["summary"]["connections"]["connected"] == 3
    # outside a workflow nobody reads the results back from the artifacts
    assert "results" not in report
    assert real.runner.stats["changed"] == {"lab2": 1}, real.runner.stats
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
    assert lab2["connections"] == [{"plug": "shm-consumer:shmem", "slot": "shm-provider:shmem", "desired": "connected",
                                    "actual": "disconnected", "gadget": None, "status": "missing"}]
    assert data["gate"] == {"fail_on": "error", "passed": False, "failed_by": ["lab2"], "unreachable": NONE_UNREACHABLE}
    assert "shared-memory compliance gate (fail on error) FAILED by lab2;" in run.output
    markdown = (run.report_dir / "shm-report.md").read_text()
    assert "## lab2: non-compliant" in markdown and "`connection-missing`" in markdown
    assert "- **compliance gate (fail on error): FAILED** by lab2" in markdown
    assert "| `shm-consumer:shmem` | `shm-provider:shmem` | connected | disconnected | - | **missing** |" in markdown
    html = run.report_dir / "shm-report.html"
    page = Page(rendered_dom(html))
    assert page.rows == {"lab1": "compliant", "lab2": "non-compliant", "lab3": "compliant"}
    assert "connection-missing" in page.codes
    assert page.gate == ("false", "fail on error: FAILED by lab2")
    assert [(status, cells[:4]) for status, cells in page.connections["lab2"]] == [
        ("missing", ["shm-consumer:shmem", "shm-provider:shmem", "connected", "disconnected"])]
    # the robots: their private /dev/shm, connected as desired
    for robot in ("lab1", "lab3"):
        assert [(status, cells[0]) for status, cells in page.connections[robot]] == [
            ("connected", "shm-private:shared-memory")]
    screenshot(html, SCREENSHOTS / "shm-report-lab-audit.png")
    # the audit changed nothing: the fault is still there
    assert not gateway_connected(fleet)


def test_a_sliced_audit_then_the_report_job_cover_the_whole_fleet(fleet, awx, tmp_path_factory):
    """AWX's workflow: the project's audit sliced in 3 (a host each, lab3 without snapd), then the report job."""
    fleet.run("lab3", "systemctl stop snapd.socket snapd.service")
    try:
        slices, artifacts = awx.sliced("audit.yml", awx.project.survey_answers("audit"), 3)
    finally:
        fleet.run("lab3", "systemctl start snapd.socket snapd.service")
    assert [job.hosts for job in slices] == [["lab1"], ["lab2"], ["lab3"]]
    # each slice reports on its own host and fails on it; each publishes under its own key, so AWX's merge of
    # the slices' artifacts keeps every host's result
    assert [job.status for job in slices] == ["successful", "failed", "failed"], [job.output() for job in slices]
    assert sorted(artifacts) == sorted("shm_report_job_%d" % job.id for job in slices)
    results = [json.loads(published["results"]) for published in artifacts.values()]
    # signed with the key every job of the workflow has, so that the report job can tell them from forged ones
    assert all(published["signature"].startswith("hmac-sha256:") for published in artifacts.values())
    assert {name: entry["status"] for hosts in results for name, entry in hosts.items()} \
        == {"lab1": "compliant", "lab2": "non-compliant", "lab3": "failed"}

    expected = {"lab1": "compliant", "lab2": "non-compliant", "lab3": "failed"}
    report_answers = awx.project.survey_answers("report")
    # the next node of the workflow: the slices' artifacts arrive as extra variables, and a launcher's forged one
    # claiming every host compliant later than the slices ran
    forged = {name: dict(entry, status="compliant", message=None, recorded="2099-01-01T00:00:00Z")
              for hosts in results for name, entry in hosts.items()}
    from_artifacts = awx.job("report.yml", dict(report_answers, shm_report_job_1={"results": json.dumps(forged)},
                                                **artifacts), workflow=awx.new_id())
    # with one jsonfile fact cache the slices all wrote to (outside AWX: see docs/awx.md)
    from_cache = awx.job("report.yml", report_answers,
                         shared_cache=shared_fact_cache(slices, tmp_path_factory.mktemp("shared-fact-cache")))
    for job in (from_artifacts, from_cache):
        assert (job.status, job.rc) == ("failed", 2), job.output()
        assert "compliance gate (fail on error) FAILED by lab2, lab3" in job.output()
        published = job.artifacts["shm_report"]
        assert published["hosts"] == expected
        assert published["gate"] == {"fail_on": "error", "passed": False, "failed_by": ["lab2", "lab3"],
                                     "unreachable": NONE_UNREACHABLE}
        data = json.loads((Path(job.runner.config.private_data_dir) / "project" / "shm-report" / "shm-report.json")
                          .read_text())
        jsonschema.validate(data, SCHEMA)
        assert statuses(data) == expected
        hosts = {host["name"]: host for host in data["hosts"]}
        assert "cannot reach snapd at /run/snapd.socket" in hosts["lab3"]["message"]
        assert [row["status"] for row in hosts["lab2"]["connections"]] == ["missing"]
        assert (hosts["lab1"]["flavour"], hosts["lab2"]["flavour"]) == ("bookworm", "trixie")
        assert data["artifacts"] == ({"used": 3, "refused": ["shm_report_job_1"]} if job is from_artifacts
                                     else {"used": 0, "refused": []})
    # lab3's snapd is back for the tests after this one
    fleet.run("lab3", "snap wait system seed.loaded && snap version >/dev/null")


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
