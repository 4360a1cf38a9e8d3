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
import yaml

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
    # the diff: one added line for the gateway's connection, under the headers; nothing removed anywhere
    assert "+++ after: shared-memory connections (predicted: check mode)" in run.output, run.tail()
    assert re.search(r"^\+connected +shm-consumer:shmem -> shm-provider:shmem \(manual\)$", run.output, re.M), run.tail()
    assert not re.search(r"^-(connected|undesired) ", run.output, re.M), run.tail()
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


def offline_device(directory: Path, group="robots"):
    """An inventory adding a device that is off: its ssh port is closed, so every task finds it unreachable."""
    path = directory / "offline.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {group: {"hosts": {"offline-1": {
        "ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_connection": "ssh",
        "ansible_ssh_common_args": "-o ConnectTimeout=3 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        "shared_memory_flavour": "off"}}}}}}))
    return path


# Ansible's reasons for a host its ssh connection cannot reach: the first for a command sent as argv (the module),
# the second for one whose script goes on stdin (snap debug api, since issue 19)
UNREACHABLE_OVER_SSH = ("Failed to connect to the host via ssh", "Data could not be sent to remote host")


def unreachable_over_ssh(message):
    return any(reason in message for reason in UNREACHABLE_OVER_SSH)


def test_apply_again_changes_nothing_and_an_offline_device_within_the_tolerance_keeps_it_green(fleet, play,
                                                                                            tmp_path):
    run = play("snapfleet.snapd.apply", "-i", str(offline_device(tmp_path)), "-e", "shm_report_max_unreachable=1")
    assert run.rc == 0, run.tail()
    assert {host: counts["changed"] for host, counts in run.recap.items()} == {"lab1": 0, "lab2": 0, "lab3": 0,
                                                                               "offline-1": 0}
    assert run.recap["offline-1"]["failed"] == 0, run.recap
    data = report(run)
    assert data["summary"]["changed"] == 0
    assert statuses(data) == {"lab1": "compliant", "lab2": "compliant", "lab3": "compliant",
                              "offline-1": "unreachable"}
    assert (data["summary"]["unreachable"], data["summary"]["failed"]) == (1, 0)
    assert data["gate"]["unreachable"] == {"hosts": 1, "max": "1", "allowed": 1, "within": True}
    offline = next(host for host in data["hosts"] if host["name"] == "offline-1")
    assert unreachable_over_ssh(offline["message"]), offline
    assert "1 hosts not seen (unreachable), up to 1 allowed: within the tolerance" in run.output


def survey_defaults(name):
    """The default answer of every question of the example project's survey NAME, as AWX passes them (strings)."""
    spec = json.loads((AWX_PROJECT / "surveys" / (name + ".json")).read_text())
    return {question["variable"]: str(question["default"]) for question in spec["spec"]}


def test_the_apply_surveys_defaults_never_override_a_device_class_that_is_not_exclusive(fleet, play, tmp_path):
    """lab1 in a class of robots with shared_memory_exclusive: false and a connection the class does not list;
    the Apply survey's default answers as extra variables leave it connected."""
    classes = tmp_path / "classes"
    (classes / "group_vars").mkdir(parents=True)
    (classes / "hosts.yml").write_text(yaml.safe_dump(
        {"all": {"children": {"robots": {"children": {"open_robots": {"hosts": {"lab1": None}}}}}}}))
    (classes / "group_vars" / "open_robots.yml").write_text("---\nshared_memory_exclusive: false\n")
    answers = survey_defaults("apply")
    assert not any(variable.startswith("shared_memory_") and variable != "shared_memory_verify" for variable in answers)
    fleet.run("lab1", f"snap connect {GATEWAY_LINK}")
    try:
        extra = [argument for variable, answer in answers.items() for argument in ("-e", f"{variable}={answer}")]
        run = play("snapfleet.snapd.apply", "--limit", "lab1", "-i", str(classes / "hosts.yml"), *extra)
        # verification still names the connection nobody listed: the gate fails, after nothing was changed
        assert run.rc == 2 and run.changed("lab1") == 0, run.tail()
        lab1 = report(run)["hosts"][0]
        assert [row["status"] for row in lab1["connections"] if row["plug"] == "shm-consumer:shmem"] == ["unexpected"]
        assert re.search(r"^shared-memory\s+shm-consumer:shmem\s+shm-provider:shmem", consumer_connections(fleet, "lab1"),
                         re.M)
    finally:
        fleet.run("lab1", f"snap disconnect {GATEWAY_LINK}")


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
    # the device classes say whether they are exclusive, not the survey
    assert "shared_memory_exclusive" not in answers
    check = awx.job("apply.yml", dict(answers, shm_report_fail_on="never"), check=True)
    assert (check.status, check.rc) == ("successful", 0), check.output()
    connection = check.results("snapfleet.snapd.shm_connection")
    assert sorted(connection) == ["lab1", "lab2", "lab3"]
    assert connection["lab2"]["changed"] is True and not connection["lab1"]["changed"]
    assert check.artifacts["shm_report"]["check_mode"] is True
    assert check.artifacts["shm_report"]["hosts"] == {"lab1": "compliant", "lab2": "non-compliant", "lab3": "compliant"}
    assert not gateway_connected(fleet)

    # the Run job as a canary rollout, answered as the survey's text question takes it: lab1 alone, then the rest
    assert answers["shm_apply_batches"] == ""
    real = awx.job("apply.yml", dict(answers, shm_apply_batches="1,100%"))
    assert (real.status, real.rc) == ("successful", 0), real.output()
    connection = real.results("snapfleet.snapd.shm_connection")
    assert connection["lab2"]["changed"] is True and not connection["lab3"]["changed"]
    report = real.artifacts["shm_report"]
    # the artifacts are the last batch's report, which covers every batch
    assert report["rollout"] == {"batch": 2, "batches": 2, "sizes": [1, 2], "hosts_reached": 3, "hosts": 3,
                                 "stopped": False}
    log = real.output(10 ** 8)
    assert "rollout at batch 1 of 2 (1 hosts; 1 of 3 hosts reached): passed" in log, log[-4000:]
    assert report["check_mode"] is False
    assert report["hosts"] == {"lab1": "compliant", "lab2": "compliant", "lab3": "compliant"}
    assert report["gate"] == {"fail_on": "error", "passed": True, "failed_by": [], "unreachable": NONE_UNREACHABLE}
    assert report["summary"]["connections"]["missing"] == 0 and report["summary"]["connections"]["connected"] == 3
    # outside a workflow nobody reads the results back from the artifacts
    assert "results" not in report
    assert real.runner.stats["changed"] == {"lab2": 1}, real.runner.stats
    assert gateway_connected(fleet)


SQUATTED = "/dev/shm/snap.shm-private"


def test_a_canary_batch_that_fails_verify_stops_the_rollout(fleet, play):
    """Batches of 1 then the rest: lab1 first, its private /dev/shm squatted by uid 1000 (an shm_verify error that
    applying cannot fix); lab2, drifted, is in the batch that never runs, so it stays drifted."""
    fleet.run("lab2", f"snap disconnect {GATEWAY_LINK}")
    before = fleet.run("lab1", f"stat -c '%u:%g %a' {SQUATTED} 2>/dev/null || echo none").strip()
    fleet.run("lab1", f"mkdir -p {SQUATTED} && chown 1000:1000 {SQUATTED}")
    try:
        run = play("snapfleet.snapd.apply", "-e", "shm_apply_batches=1,100%")
        assert run.rc == 2, run.tail()
        assert sorted(run.recap) == ["lab1"], run.recap
        data = report(run)
        assert data["rollout"] == {"batch": 1, "batches": 2, "sizes": [1, 2], "hosts_reached": 1, "hosts": 3,
                                   "stopped": True}
        assert statuses(data) == {"lab1": "non-compliant"}
        assert "private-dir-squatted" in [finding["code"] for finding in data["hosts"][0]["findings"]]
        assert "rollout STOPPED at batch 1 of 2 (1 hosts; 1 of 3 hosts reached)" in run.output
        assert not gateway_connected(fleet)
    finally:
        if before == "none":
            fleet.run("lab1", f"rm -rf {SQUATTED}")
        else:
            owner, mode = before.split()
            fleet.run("lab1", f"chown {owner} {SQUATTED} && chmod {mode} {SQUATTED}")
        fleet.run("lab2", f"snap connect {GATEWAY_LINK}")


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
    """AWX's workflow: the project's audit sliced in 3 (lab1 and a device that is off, lab2, and lab3 without snapd),
    tolerating 25% of the fleet unreachable, then the report job."""
    # the inventory imported with the device that is off, in the same project
    workdir = tmp_path_factory.mktemp("awx-offline")
    awx = Awx(awx.project, Inventory(awx.project.path / "inventory" / "hosts", offline_device(workdir)), workdir,
              credential_env=awx.credential_env)
    tolerance = {"shm_report_max_unreachable": "25%"}
    fleet.run("lab3", "systemctl stop snapd.socket snapd.service")
    try:
        slices, artifacts = awx.sliced("audit.yml", dict(awx.project.survey_answers("audit"), **tolerance), 3)
    finally:
        fleet.run("lab3", "systemctl start snapd.socket snapd.service")
    assert [job.hosts for job in slices] == [["lab1", "offline-1"], ["lab2"], ["lab3"]]
    # each slice reports on its own hosts and fails on them, but leaves a percentage of unreachable hosts to the
    # report job; each publishes under its own key, so AWX's merge of the slices' artifacts keeps every host's result
    assert [job.status for job in slices] == ["successful", "failed", "failed"], [job.output() for job in slices]
    # lab3's slice fails it with snapd's own words, not with an error of the report's templating
    assert "cannot reach snapd" in slices[2].output() and "Error while resolving" not in slices[2].output(), \
        slices[2].output()
    assert slices[0].artifacts["shm_report_job_%d" % slices[0].id]["gate"]["unreachable"] == {
        "hosts": 1, "max": "25%", "allowed": None, "within": True}
    assert sorted(artifacts) == sorted("shm_report_job_%d" % job.id for job in slices)
    results = [json.loads(published["results"]) for published in artifacts.values()]
    # signed with the key every job of the workflow has, so that the report job can tell them from forged ones
    assert all(published["signature"].startswith("hmac-sha256:") for published in artifacts.values())
    assert {name: entry["s"] for hosts in results for name, entry in hosts.items()} \
        == {"lab1": "compliant", "lab2": "non-compliant", "lab3": "failed", "offline-1": "unreachable"}

    expected = {"lab1": "compliant", "lab2": "non-compliant", "lab3": "failed", "offline-1": "unreachable"}
    report_answers = dict(awx.project.survey_answers("report"), **tolerance)
    # the next node of the workflow: the slices' artifacts arrive as extra variables, and a launcher's forged one
    # claiming every host compliant later than the slices ran
    forged = {name: {"s": "compliant", "n": [0, 0, 0], "r": "2099-01-01T00:00:00Z"}
              for hosts in results for name in hosts}
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
        # the tolerance judged over the whole fleet: 1 of 4 hosts
        assert published["gate"] == {"fail_on": "error", "passed": False, "failed_by": ["lab2", "lab3"],
                                     "unreachable": {"hosts": 1, "max": "25%", "allowed": 1, "within": True}}
        data = json.loads((Path(job.runner.config.private_data_dir) / "project" / "shm-report" / "shm-report.json")
                          .read_text())
        jsonschema.validate(data, SCHEMA)
        assert statuses(data) == expected
        hosts = {host["name"]: host for host in data["hosts"]}
        assert "cannot reach snapd at /run/snapd.socket" in hosts["lab3"]["message"]
        assert unreachable_over_ssh(hosts["offline-1"]["message"]), hosts["offline-1"]
        if job is from_artifacts:
            # counts from the slices' artifacts; the rows themselves are in the fact cache and the slices' files
            assert (hosts["lab2"]["detail"], hosts["lab2"]["connection_counts"]["missing"]) == ("counts", 1)
        else:
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
