# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The shm_report role on a fake fleet, on the controller only (no lab, no snapd).

report.yml gives two hosts faked shm_verify results (one compliant, one non-compliant) and runs the
shared_memory role for real on a host with no snapd socket (failed) and one whose ssh port is closed
(unreachable); a fifth host fails before the role. The HTML page is rendered in headless Chromium. Run with
the venv's pytest: the ansible-playbook next to its Python is used.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from markdown_it import MarkdownIt

from tests.system.awx import extravars_file
from tests.report.html_page import Page, rendered_dom, screenshot

pytestmark = pytest.mark.report

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCHEMA = json.loads((REPO / "docs" / "shm-report.schema.json").read_text())
# in report order: by name
STATUSES = {"broken": "failed", "drifted": "non-compliant", "gone": "unreachable", "good": "compliant",
            "lost_one": "failed"}
HOSTILE = "a lone * grants it's [all](javascript:alert(1)) & [docs](https://evil.example/x) | _x_"
# the controller's SHM_REPORT_KEY in the tests that sign and read artifacts
KEY = "5a1f" * 16
SECRET = "TOPSECRET-4f1d2c"
NONE_UNREACHABLE = {"hosts": 0, "max": "0", "allowed": 0, "within": True}


def signed(results, key=KEY):
    """An artifact as a slice's report publishes it: the results as JSON text and their HMAC-SHA256 under KEY."""
    text = json.dumps(results)
    return {"results": text, "signature": "hmac-sha256:" + hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()}


class Run:
    def __init__(self, done, report_dir):
        self.rc = done.returncode
        self.output = done.stdout + done.stderr
        self.report_dir = report_dir

    def file(self, suffix):
        return (self.report_dir / ("shm-report" + suffix)).read_text()

    def json(self):
        return json.loads(self.file(".json"))

    def host(self, name):
        return next(host for host in self.json()["hosts"] if host["name"] == name)

    def stats(self):
        found = re.search(r"RUN: (\{.*\})", self.output)
        assert found, self.output[-3000:]
        return json.loads(found.group(1))["shm_report"]


@pytest.fixture(scope="module")
def playbook(tmp_path_factory):
    """Run report.yml with the collection from this checkout; returns a function of extra arguments."""
    collections = tmp_path_factory.mktemp("collections")
    (collections / "ansible_collections" / "snapfleet").mkdir(parents=True)
    (collections / "ansible_collections" / "snapfleet" / "snapd").symlink_to(REPO)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_SHOW_CUSTOM_STATS="true",
               ANSIBLE_NOCOLOR="true", ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_RETRY_FILES_ENABLED="false")

    def run(*args, playbook=str(HERE / "report.yml"), fact_cache=None, key=None):
        workdir = tmp_path_factory.mktemp("run")
        cache = {"ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(fact_cache)} if fact_cache else {}
        if key:
            cache["SHM_REPORT_KEY"] = key
        done = subprocess.run(
            [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(HERE / "inventory.yml"), playbook, *args],
            cwd=workdir, env=dict({name: value for name, value in env.items() if name != "SHM_REPORT_KEY"}, **cache),
            text=True, capture_output=True, timeout=300, check=False)
        # shm_report_dir's default, shm-report, is relative to where ansible-playbook runs
        return Run(done, workdir / "shm-report")

    return run


@pytest.fixture(scope="module")
def fact_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("fact-cache")


@pytest.fixture(scope="module")
def fleet_run(playbook, fact_cache):
    """The fake fleet's run, with a persistent fact cache that keeps each host's result."""
    return playbook(fact_cache=fact_cache)


def test_the_json_report_matches_the_schema(fleet_run):
    jsonschema.validate(fleet_run.json(), SCHEMA)


def test_every_host_of_the_play_is_reported_with_its_status_in_order_of_names(fleet_run):
    hosts = fleet_run.json()["hosts"]
    assert {host["name"]: host["status"] for host in hosts} == STATUSES
    assert [host["name"] for host in hosts] == list(STATUSES)


def test_snapd_version_flavour_and_changes_come_from_the_host(fleet_run):
    good = fleet_run.host("good")
    assert (good["snapd_version"], good["flavour"], good["changed"]) == ("2.57.6", "bookworm", True)
    assert good["actions"][0]["plug"] == "shm-consumer:shmem"
    assert good["recorded"] == "2026-12-01T10:00:00Z"


def test_a_non_compliant_host_carries_its_findings_errors_first(fleet_run):
    drifted = fleet_run.host("drifted")
    assert [finding["code"] for finding in drifted["findings"]] == [
        "private-dir-squatted", "connection-missing", "connection-unexpected", "path-too-broad"]
    assert drifted["summary"] == {"error": 3, "warning": 1, "info": 0}


def test_each_host_shows_its_connections_desired_against_actual(fleet_run):
    def table(name):
        return [(row["plug"], row["slot"], row["desired"], row["actual"], row["gadget"], row["status"])
                for row in fleet_run.host(name)["connections"]]

    assert table("good") == [
        ("shm-cam:frames", "shm-hub:frames", "connected", "connected", True, "connected"),
        ("shm-consumer:shmem", "shm-provider:shmem", "connected", "connected", False, "connected")]
    assert table("drifted") == [
        ("shm-consumer:shmem", "shm-provider:shmem", "connected", "undesired", None, "undesired"),
        ("shm-private:shared-memory", ":shared-memory", "connected", "connected", None, "connected"),
        ("shm-stranger:shmem", "shm-provider:shmem", None, "connected", None, "unexpected")]
    # verification did not run: no table rather than a guess
    assert fleet_run.host("broken")["connections"] is None


def test_the_role_records_why_a_host_failed_or_was_unreachable(fleet_run):
    assert fleet_run.host("broken")["message"].startswith(
        "shm_connection: cannot reach snapd at /nonexistent/snapd.socket")
    assert fleet_run.host("gone")["message"].startswith("shm_connection: ")
    assert "earlier in the run" in fleet_run.host("lost_one")["message"]


def test_the_summary_counts_the_fleet(fleet_run):
    summary = fleet_run.json()["summary"]
    assert (summary["hosts"], summary["compliant"], summary["non-compliant"]) == (5, 1, 1)
    assert (summary["failed"], summary["unreachable"], summary["unverified"]) == (2, 1, 0)
    assert summary["snapd_versions"] == {"2.57.6": 1, "2.68.3": 1}
    assert summary["findings"] == {"error": 3, "warning": 1, "info": 1}
    assert summary["connections"] == {"connected": 3, "missing": 0, "undesired": 1, "unexpected": 1,
                                      "disconnected": 0, "gadget": 1}


def test_the_error_gate_fails_the_run_after_the_report_is_written(fleet_run):
    assert fleet_run.rc == 2
    assert "compliance gate (fail on error) FAILED by broken, drifted, gone, lost_one" in fleet_run.output
    assert fleet_run.json()["gate"] == {"fail_on": "error", "passed": False,
                                        "failed_by": ["broken", "drifted", "gone", "lost_one"],
                                        "unreachable": {"hosts": 1, "max": "0", "allowed": 0, "within": False}}


def test_failed_and_unreachable_hosts_fail_in_the_recap(fleet_run):
    recap = fleet_run.output[fleet_run.output.index("PLAY RECAP"):]
    for name in ("broken", "gone", "lost_one"):
        assert re.search(r"^%s\s+:.*failed=1" % name, recap, re.M), recap


def test_the_set_stats_artifact_carries_the_summary(fleet_run):
    stats = fleet_run.stats()
    report = fleet_run.json()
    assert stats["hosts"] == STATUSES
    assert stats["summary"] == report["summary"]
    assert stats["gate"] == report["gate"]
    assert [Path(name).name for name in stats["files"]] == ["shm-report.json", "shm-report.md", "shm-report.html",
                                                           "shm-report.prom"]
    # outside an AWX workflow nobody reads the hosts' results back from the artifacts
    assert "results" not in stats


def test_the_markdown_summary_has_the_gate_one_row_and_one_section_per_host(fleet_run):
    markdown = fleet_run.file(".md")
    assert "- **compliance gate (fail on error): FAILED** by broken, drifted, gone, lost\\_one" in markdown
    assert "**5 hosts**: 1 compliant, 1 non-compliant, 2 failed, 1 unreachable, 0 unverified" in markdown
    assert "| good | **compliant** | 2.57.6 | bookworm | 0 | 0 | 1 | 1 |" in markdown
    assert "| drifted | **non-compliant** | 2.68.3 | trixie | 3 | 1 | 0 | 0 |" in markdown
    for name, status in STATUSES.items():
        assert "## %s: %s" % (name.replace("_", "\\_"), status) in markdown
    assert "- **error** `private-dir-squatted` private shm-private: " in markdown


def test_the_markdown_shows_each_hosts_connection_table(fleet_run):
    markdown = fleet_run.file(".md")
    assert "| `shm-cam:frames` | `shm-hub:frames` | connected | connected | yes | connected |" in markdown
    assert "| `shm-consumer:shmem` | `shm-provider:shmem` | connected | undesired | - | **undesired** |" in markdown
    assert "| `shm-stranger:shmem` | `shm-provider:shmem` | not listed | connected | - | **unexpected** |" in markdown


def test_the_markdown_escapes_markdown_not_html(fleet_run):
    """Free text (snapd quotes what a snap publisher wrote) must not become links, HTML or entities."""
    markdown = fleet_run.file(".md")
    assert "&#39;" not in markdown and "&amp;" not in markdown and "&lt;" not in markdown
    assert ("a lone \\* grants it's \\[all\\](javascript:alert(1)) \\& \\[docs\\](https://evil.example/x) "
            "\\| \\_x\\_") in markdown
    assert "\\<script\\>alert(1)\\</script\\>" in markdown
    renderer = MarkdownIt("commonmark").enable("table")
    tokens = [token for block in renderer.parse(markdown) for token in [block, *(block.children or [])]]
    kinds = {token.type for token in tokens}
    assert not kinds & {"link_open", "image", "html_inline", "html_block", "em_open", "s_open"}
    text = "".join(token.content for token in tokens if token.type == "text")
    assert HOSTILE in text
    assert "<script>alert(1)</script>" in text
    # the tables: hosts, then the connections of good and of drifted, each row with the cells of its header
    rendered = renderer.render(markdown)
    assert rendered.count("<tr>") == (1 + len(STATUSES)) + (1 + 2) + (1 + 3)
    assert rendered.count("<td") == len(STATUSES) * 8 + (2 + 3) * 6


def test_the_html_page_has_one_row_per_host_with_its_status_and_the_findings(fleet_run):
    page = Page(fleet_run.file(".html"))
    assert page.rows == STATUSES
    assert page.codes == ["private-dir-squatted", "connection-missing", "connection-unexpected", "path-too-broad",
                          "shm-object"]
    text = " ".join(page.text)
    assert "2.57.6" in text and "2.68.3" in text
    assert "cannot reach snapd at /nonexistent/snapd.socket" in text


def test_the_html_page_is_self_contained_and_escapes_what_hosts_report(fleet_run):
    page = Page(fleet_run.file(".html"))
    assert page.external == []
    assert "script" not in page.tags and "link" not in page.tags
    text = " ".join(page.text)
    assert "<script>alert(1)</script>" in text and HOSTILE in text


def test_chromium_renders_the_gate_and_the_connection_tables(fleet_run, tmp_path_factory):
    html = fleet_run.report_dir / "shm-report.html"
    page = Page(rendered_dom(html))
    assert page.rows == STATUSES
    assert page.gate == ("false", "fail on error: FAILED by broken, drifted, gone, lost_one")
    assert [(status, cells[0]) for status, cells in page.connections["drifted"]] == [
        ("undesired", "shm-consumer:shmem"), ("connected", "shm-private:shared-memory"),
        ("unexpected", "shm-stranger:shmem")]
    assert page.connections["good"][0][1] == ["shm-cam:frames", "shm-hub:frames", "connected", "connected", "yes",
                                              "connected"]
    assert page.external == [] and "script" not in page.tags
    shot = screenshot(html, REPO / "tests" / "output" / "report" / "shm-report-fake-fleet.png")
    assert shot.stat().st_size > 10_000


def test_check_mode_with_survey_strings_writes_the_report_and_passes_the_never_gate(playbook):
    run = playbook("--check", "--limit", "good,drifted", "-e", "shm_report_fail_on=never")
    assert run.rc == 0, run.output[-3000:]
    report = run.json()
    jsonschema.validate(report, SCHEMA)
    assert report["check_mode"] is True
    assert [host["name"] for host in report["hosts"]] == ["drifted", "good"]
    assert report["gate"] == {"fail_on": "never", "passed": True, "failed_by": [], "unreachable": NONE_UNREACHABLE}
    assert "in check mode" in run.file(".md")
    assert "compliance gate (fail on never): passed**" in run.file(".md")


# --- the report playbook (the fleet entry point), from the results the run above recorded -------------------

FLEET_STATUSES = dict(STATUSES, lost_one="failed")


def test_the_report_playbook_reports_every_host_from_the_fact_cache(fleet_run, playbook, fact_cache):
    run = playbook(playbook="snapfleet.snapd.report", fact_cache=fact_cache)
    assert run.rc == 2, run.output[-3000:]
    report = run.json()
    jsonschema.validate(report, SCHEMA)
    assert {host["name"]: host["status"] for host in report["hosts"]} == FLEET_STATUSES
    # the same results as the run recorded them, connections and all
    assert run.host("drifted")["connections"] == fleet_run.host("drifted")["connections"]
    assert run.host("good")["recorded"] == "2026-12-01T10:00:00Z"
    # lost_one failed before it recorded anything
    assert "no recorded shared-memory result" in run.host("lost_one")["message"]
    assert run.json()["gate"]["failed_by"] == ["broken", "drifted", "gone", "lost_one"]
    assert run.stats()["hosts"] == FLEET_STATUSES


def test_the_report_playbook_reports_every_host_from_the_artifacts_of_earlier_jobs(fleet_run, playbook,
                                                                                    tmp_path_factory):
    """As an AWX workflow passes them: the merged artifacts of two slice jobs, as extra variables (YAML, every
    string !unsafe)."""
    entries = {host["name"]: host for host in fleet_run.json()["hosts"]}
    extra = tmp_path_factory.mktemp("artifacts") / "extravars.yml"
    extra.write_text(extravars_file({
        "shm_report_job_11": signed({name: entries[name] for name in ("broken", "good")}),
        "shm_report_job_12": signed({name: entries[name] for name in ("drifted", "gone", "lost_one")})}))
    run = playbook("-e", "@%s" % extra, "-e", "shm_report_fail_on=never", playbook="snapfleet.snapd.report", key=KEY)
    assert run.rc == 0, run.output[-3000:]
    assert run.json()["artifacts"] == {"used": 2, "refused": []}
    assert {host["name"]: host["status"] for host in run.json()["hosts"]} == STATUSES
    assert run.host("good")["flavour"] == "bookworm"
    assert run.json()["gate"] == {"fail_on": "never", "passed": True, "failed_by": [],
                                  "unreachable": {"hosts": 1, "max": "0", "allowed": 0, "within": False}}


def test_inside_an_awx_workflow_a_play_report_publishes_its_results_under_its_own_key(playbook):
    run = playbook("--limit", "good,drifted", "-e", "shm_report_fail_on=never", "-e", "awx_job_id=42",
                   "-e", "awx_workflow_job_id=40", key=KEY)
    assert run.rc == 0, run.output[-3000:]
    found = re.search(r"RUN: (\{.*\})", run.output)
    published = json.loads(found.group(1))
    assert list(published) == ["shm_report_job_42"]
    # signed with the controller's key, so that the fleet report can tell it from a forged one
    text = published["shm_report_job_42"]["results"]
    assert published["shm_report_job_42"]["signature"] == (
        "hmac-sha256:" + hmac.new(KEY.encode(), text.encode(), hashlib.sha256).hexdigest())
    results = json.loads(published["shm_report_job_42"]["results"])
    assert sorted(results) == ["drifted", "good"]
    # counts, not detail: the findings and connections stay in the files and the fact cache
    assert results["good"] == {"s": "compliant", "v": "2.57.6", "f": "bookworm", "r": "2026-12-01T10:00:00Z",
                               "n": [0, 0, 1], "c": [2, 0, 0, 0, 0, 1], "x": 1}
    assert results["drifted"]["n"] == [3, 1, 0] and results["drifted"]["c"] == [1, 0, 1, 1, 0, 0]
    # measured: what the slice publishes per host (the rest, the summary and the gate, is the same for any size)
    per_host = len(published["shm_report_job_42"]["results"]) / len(results)
    assert per_host <= 300, per_host


# --- a report that can't be turned against its users ------------------------------------------------------------

def test_a_variable_name_given_at_launch_cannot_bring_a_secret_into_the_report(playbook):
    """The report once took the names of the variables it read; now it reads shared_memory_result alone."""
    run = playbook("--limit", "good,drifted", "-e", "shm_report_fail_on=never", "-e", "shm_report_flavour_var=fake_api_token",
                   "-e", "shm_report_result_var=fake_api_token", "-e", "awx_job_id=43", "-e", "awx_workflow_job_id=40",
                   key=KEY)
    assert run.rc == 0, run.output[-3000:]
    assert run.host("good")["flavour"] == "bookworm"
    for suffix in (".json", ".md", ".html"):
        assert SECRET not in run.file(suffix)
    assert SECRET not in run.output


def test_forged_artifacts_given_at_launch_cannot_pass_the_fleet_gate(fleet_run, playbook, fact_cache, tmp_path_factory):
    """Every host claimed compliant, later than any real result: unsigned, signed with another key, and a real
    signature over other results. The fleet report refuses all three and gates on the fact cache."""
    forged = {name: dict(fleet_run.host(name), status="compliant", message=None, recorded="2099-01-01T00:00:00Z")
              for name in STATUSES}
    genuine = signed({"good": fleet_run.host("good")})
    extra = tmp_path_factory.mktemp("forged") / "extravars.yml"
    extra.write_text(extravars_file({
        "shm_report_job_900": {"results": json.dumps(forged)},
        "shm_report_job_901": signed(forged, key="0" * 64),
        "shm_report_job_902": dict(genuine, results=json.dumps(forged))}))
    run = playbook("-e", "@%s" % extra, playbook="snapfleet.snapd.report", fact_cache=fact_cache, key=KEY)
    assert run.rc == 2, run.output[-3000:]
    assert run.json()["artifacts"] == {"used": 0, "refused": ["shm_report_job_900", "shm_report_job_901",
                                                              "shm_report_job_902"]}
    assert run.json()["gate"]["failed_by"] == ["broken", "drifted", "gone", "lost_one"]
    assert "3 artifacts of earlier jobs were refused" in run.host("lost_one")["message"]


def test_a_report_given_at_launch_is_refused_before_anything_is_written(playbook):
    forged = json.dumps({"shm_report_views": {"summary": {"gate": {"passed": True}}, "failures": {}}})
    run = playbook("--limit", "good,drifted", "-e", forged)
    assert run.rc == 2, run.output[-3000:]
    assert "shm_report_views is set before the report made it" in run.output
    assert not run.report_dir.exists()


@pytest.mark.parametrize("name", ["shared_memory_result", "shared_memory_verify_result", "ansible_facts"])
def test_a_result_given_at_launch_is_refused_before_anything_is_written(playbook, name):
    """An extra variable outranks what each host recorded: forged as compliant, it would pass drifted's gate."""
    run = playbook("--limit", "good,drifted", "-e", json.dumps({name: {"status": "compliant"}}))
    assert run.rc == 2, run.output[-3000:]
    assert "the extra variable %s would replace what every host reported" % name in run.output
    assert not run.report_dir.exists()


def test_unreachable_hosts_within_the_tolerance_end_green_and_are_counted_as_not_seen(playbook):
    run = playbook("--limit", "good,gone", "-e", "shm_report_max_unreachable=50%")
    assert run.rc == 0, run.output[-3000:]
    report = run.json()
    jsonschema.validate(report, SCHEMA)
    assert report["gate"]["unreachable"] == {"hosts": 1, "max": "50%", "allowed": 1, "within": True}
    assert report["gate"]["passed"] is True
    assert (report["summary"]["unreachable"], report["summary"]["failed"]) == (1, 0)
    # listed with the reason Ansible gave
    assert "Failed to connect to the host via ssh" in run.host("gone")["message"]
    assert "1 hosts not seen (unreachable), up to 1 allowed (50%): within the tolerance" in run.file(".md")
    assert "1 hosts not seen (unreachable)" in run.output
    recap = run.output[run.output.index("PLAY RECAP"):]
    assert re.search(r"^gone\s+:.*failed=0", recap, re.M), recap


def test_unreachable_hosts_beyond_the_tolerance_fail_the_run(playbook):
    run = playbook("--limit", "good,gone", "-e", "shm_report_max_unreachable=49%")
    assert run.rc == 2, run.output[-3000:]
    assert run.json()["gate"]["failed_by"] == ["gone"]
    assert "BEYOND the tolerance" in run.output


# --- the example AWX project's surveys ---------------------------------------------------------------------------

PROJECT = REPO / "examples" / "awx-project"


def test_no_survey_question_sets_what_a_device_class_sets():
    """A survey answer is an extra variable: it would override every device class's group_vars."""
    class_variables = set()
    for path in (PROJECT / "inventory" / "group_vars").glob("*.yml"):
        class_variables |= set(yaml.safe_load(path.read_text()) or {})
    assert "shared_memory_exclusive" in class_variables
    for survey in (PROJECT / "surveys").glob("*.json"):
        asked = {question["variable"] for question in json.loads(survey.read_text())["spec"]}
        assert not asked & (class_variables - {"shm_report_dir", "shm_report_fail_on"}), survey.name
        assert not any(variable.startswith("shared_memory_") and variable != "shared_memory_verify"
                       for variable in asked), survey.name


def test_every_survey_asks_for_the_unreachable_tolerance_as_text_defaulting_to_none_tolerated():
    for name in ("apply", "audit", "report"):
        spec = json.loads((PROJECT / "surveys" / (name + ".json")).read_text())["spec"]
        [question] = [question for question in spec if question["variable"] == "shm_report_max_unreachable"]
        assert (question["type"], question["default"]) == ("text", "0")


# --- Prometheus metrics -----------------------------------------------------------------------------------------

def promtool():
    """promtool as tests/tools/bootstrap.sh takes it out of Debian's prometheus package, or one on PATH."""
    cache = Path(os.environ.get("SNAPFLEET_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                 / "snapfleet")
    found = cache / "tools" / "promtool"
    if found.exists():
        return str(found)
    on_path = shutil.which("promtool")
    if not on_path:
        pytest.fail("no promtool: run make bootstrap (it puts one in %s)" % found)
    return on_path


def check_metrics(text):
    return subprocess.run([promtool(), "check", "metrics"], input=text, text=True, capture_output=True, timeout=60,
                          check=False)


def test_the_metrics_file_passes_promtool_and_holds_every_host_and_the_fleet(fleet_run):
    text = fleet_run.file(".prom")
    checked = check_metrics(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    for name, status in STATUSES.items():
        assert samples['shm_host_compliant{host="%s"}' % name] == str(int(status == "compliant"))
        assert samples['shm_host_status{host="%s",status="%s"}' % (name, status)] == "1"
    assert samples['shm_host_findings{host="drifted",severity="error"}'] == "3"
    assert samples['shm_host_findings{host="drifted",severity="warning"}'] == "1"
    assert samples['shm_host_connections{host="drifted",state="unexpected"}'] == "1"
    assert samples['shm_host_connections{host="good",state="connected"}'] == "2"
    assert samples['shm_fleet_hosts{status="failed"}'] == "2" and samples["shm_fleet_gate_passed"] == "0"
    report = fleet_run.json()
    generated = datetime.datetime.strptime(report["generated"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    assert samples["shm_report_timestamp_seconds"] == str(int(generated.timestamp()))


def test_promtool_can_fail_on_a_broken_metrics_file(fleet_run):
    """The check above can fail: the same file with one family announced twice does not pass."""
    text = fleet_run.file(".prom")
    checked = check_metrics(text + "# HELP shm_fleet_gate_passed again\n# TYPE shm_fleet_gate_passed gauge\n"
                                   "shm_fleet_gate_passed 1\n")
    assert checked.returncode != 0


# --- canary rollouts ---------------------------------------------------------------------------------------------

def test_a_canary_batch_that_fails_the_gate_stops_the_rollout_and_the_report_says_which(playbook):
    """Batches of 2 then the rest, in play order: good and drifted first; drifted is non-compliant."""
    run = playbook("-e", '{"fake_batches": [2, "100%"]}')
    assert run.rc == 2, run.output[-3000:]
    report = run.json()
    jsonschema.validate(report, SCHEMA)
    assert report["rollout"] == {"batch": 1, "batches": 2, "sizes": [2, 3], "hosts_reached": 2, "hosts": 5,
                                 "stopped": True}
    # the report covers the batches that ran; the hosts of the later batch were never touched
    assert [host["name"] for host in report["hosts"]] == ["drifted", "good"]
    recap = run.output[run.output.index("PLAY RECAP"):]
    assert not re.search(r"^(broken|gone|lost_one)\s+:", recap, re.M), recap
    line = "rollout STOPPED at batch 1 of 2 (2 hosts; 2 of 5 hosts reached): the compliance gate failed"
    assert line in run.file(".md") and line in run.output
    assert run.stats()["rollout"]["stopped"] is True


def test_a_canary_batch_that_passes_lets_the_next_batch_run(playbook):
    run = playbook("--limit", "good,drifted", "-e", "shm_report_fail_on=never", "-e", '{"fake_batches": [1, "100%"]}')
    assert run.rc == 0, run.output[-3000:]
    report = run.json()
    assert report["rollout"] == {"batch": 2, "batches": 2, "sizes": [1, 1], "hosts_reached": 2, "hosts": 2,
                                 "stopped": False}
    assert [host["name"] for host in report["hosts"]] == ["drifted", "good"]
    assert "rollout at batch 1 of 2 (1 hosts; 1 of 2 hosts reached): passed, the next batch follows" in run.output
    assert "rollout at batch 2 of 2 (1 hosts; 2 of 2 hosts reached): every batch done" in run.output


# --- tags, for AWX's Job Tags ------------------------------------------------------------------------------------

@pytest.mark.parametrize("tags, expected", [
    ("apply", ["Reconcile the shared-memory connections in one run",
               "Record the host's shared-memory result for the report"]),
    ("verify", ["Verify the host against the same connections, registering findings without failing on them",
                "Record the host's shared-memory result for the report"]),
    ("report", ["Refuse a report whose working variable was given from outside",
                "Aggregate every host's shared-memory result and render the report", "Set the report's path",
                "Create the report directory", "Write the report files", "Publish the summary as job artifacts (AWX)",
                "Say how many hosts were not seen, and where a canary rollout stands",
                "Fail the hosts that failed, and the unreachable ones beyond the tolerance, now that they are reported",
                "Compliance gate", "Clear the report's working variable for a later report in the same play"]),
])
def test_the_apply_playbook_runs_one_part_by_its_tag(playbook, tags, expected):
    run = playbook("--list-tasks", "--tags", tags, playbook="snapfleet.snapd.apply")
    assert run.rc == 0, run.output[-3000:]
    listed = re.findall(r"^\s+snapfleet\.snapd\.\w+ : (.+?)\tTAGS: \[(.*)\]$", run.output, re.M)
    assert [name for name, tagged in listed if tagged != "always"] == expected
