# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The shm_report role on a fake fleet, on the controller only (no lab, no snapd).

report.yml gives two hosts faked shm_verify results (one compliant, one non-compliant) and runs the
shared_memory role for real on a host with no snapd socket (failed) and one whose ssh port is closed
(unreachable); a fifth host fails before the role. Run with the venv's pytest: the ansible-playbook
next to its Python is used.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.report.html_page import Page

pytestmark = pytest.mark.report

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCHEMA = json.loads((REPO / "docs" / "shm-report.schema.json").read_text())
STATUSES = {"good": "compliant", "drifted": "non-compliant", "broken": "failed", "gone": "unreachable", "lost": "failed"}


class Run:
    def __init__(self, done, report_dir):
        self.rc = done.returncode
        self.output = done.stdout + done.stderr
        self.report_dir = report_dir

    def file(self, suffix):
        return (self.report_dir / ("shm-report" + suffix)).read_text()

    def json(self):
        return json.loads(self.file(".json"))

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

    def run(*args):
        workdir = tmp_path_factory.mktemp("run")
        done = subprocess.run(
            [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(HERE / "inventory.yml"),
             str(HERE / "report.yml"), *args],
            cwd=workdir, env=env, text=True, capture_output=True, timeout=300, check=False)
        # shm_report_dir's default, shm-report, is relative to where ansible-playbook runs
        return Run(done, workdir / "shm-report")

    return run


@pytest.fixture(scope="module")
def fleet_run(playbook):
    return playbook()


def test_the_json_report_matches_the_schema(fleet_run):
    jsonschema.validate(fleet_run.json(), SCHEMA)


def test_every_host_of_the_play_is_reported_with_its_status(fleet_run):
    hosts = {host["name"]: host for host in fleet_run.json()["hosts"]}
    assert {name: host["status"] for name, host in hosts.items()} == STATUSES
    assert [host["name"] for host in fleet_run.json()["hosts"]] == list(STATUSES)


def test_snapd_version_flavour_and_changes_come_from_the_host(fleet_run):
    good = fleet_run.json()["hosts"][0]
    assert (good["snapd_version"], good["flavour"], good["changed"]) == ("2.57.6", "bookworm", True)
    assert good["actions"][0]["plug"] == "shm-consumer:shmem"


def test_a_non_compliant_host_carries_its_findings_errors_first(fleet_run):
    drifted = fleet_run.json()["hosts"][1]
    assert [finding["code"] for finding in drifted["findings"]] == ["private-dir-squatted", "path-too-broad"]
    assert drifted["summary"] == {"error": 1, "warning": 1, "info": 0}


def test_the_role_records_why_a_host_failed_or_was_unreachable(fleet_run):
    hosts = {host["name"]: host for host in fleet_run.json()["hosts"]}
    assert hosts["broken"]["message"].startswith("shm_connection: cannot reach snapd at /nonexistent/snapd.socket")
    assert hosts["gone"]["message"].startswith("shm_connection: ")
    assert "earlier in the run" in hosts["lost"]["message"]


def test_the_summary_counts_the_fleet(fleet_run):
    summary = fleet_run.json()["summary"]
    assert (summary["hosts"], summary["compliant"], summary["non-compliant"]) == (5, 1, 1)
    assert (summary["failed"], summary["unreachable"], summary["unverified"]) == (2, 1, 0)
    assert summary["snapd_versions"] == {"2.57.6": 1, "2.68.3": 1}
    assert summary["findings"] == {"error": 1, "warning": 1, "info": 1}


def test_the_error_gate_fails_the_run_after_the_report_is_written(fleet_run):
    assert fleet_run.rc == 2
    assert "compliance gate (fail on error) met by drifted, broken, gone, lost" in fleet_run.output
    assert fleet_run.json()["gate"] == {"fail_on": "error", "met": True, "hosts": ["drifted", "broken", "gone", "lost"]}


def test_failed_and_unreachable_hosts_fail_in_the_recap(fleet_run):
    recap = fleet_run.output[fleet_run.output.index("PLAY RECAP"):]
    for name in ("broken", "gone", "lost"):
        assert re.search(r"^%s\s+:.*failed=1" % name, recap, re.M), recap


def test_the_set_stats_artifact_carries_the_summary(fleet_run):
    stats = fleet_run.stats()
    report = fleet_run.json()
    assert stats["hosts"] == STATUSES
    assert stats["summary"] == report["summary"]
    assert stats["gate"] == report["gate"]
    assert [Path(name).name for name in stats["files"]] == ["shm-report.json", "shm-report.md", "shm-report.html"]


def test_the_markdown_summary_has_one_row_and_one_section_per_host(fleet_run):
    markdown = fleet_run.file(".md")
    assert "**5 hosts**: 1 compliant, 1 non-compliant, 2 failed, 1 unreachable, 0 unverified" in markdown
    assert "| good | **compliant** | 2.57.6 | bookworm | 0 | 0 | 1 | 1 |" in markdown
    assert "| drifted | **non-compliant** | 2.68.3 | trixie | 1 | 1 | 0 | 0 |" in markdown
    for name, status in STATUSES.items():
        assert "## %s: %s" % (name, status) in markdown
    assert "- **error** `private-dir-squatted` private shm-private: " in markdown
    assert "&lt;script&gt;" in markdown and "<script>" not in markdown


def test_the_html_page_has_one_row_per_host_with_its_status_and_the_findings(fleet_run):
    page = Page(fleet_run.file(".html"))
    assert page.rows == STATUSES
    assert page.codes == ["shm-object", "private-dir-squatted", "path-too-broad"]
    text = " ".join(page.text)
    assert "2.57.6" in text and "2.68.3" in text
    assert "cannot reach snapd at /nonexistent/snapd.socket" in text


def test_the_html_page_is_self_contained_and_escapes_what_hosts_report(fleet_run):
    page = Page(fleet_run.file(".html"))
    assert page.external == []
    assert "script" not in page.tags and "link" not in page.tags
    assert "<script>alert(1)</script>" in " ".join(page.text)


def test_check_mode_with_survey_strings_writes_the_report_and_passes_the_never_gate(playbook):
    run = playbook("--check", "--limit", "good,drifted", "-e", "shm_report_fail_on=never")
    assert run.rc == 0, run.output[-3000:]
    report = run.json()
    jsonschema.validate(report, SCHEMA)
    assert report["check_mode"] is True
    assert [host["name"] for host in report["hosts"]] == ["good", "drifted"]
    assert report["gate"] == {"fail_on": "never", "met": False, "hosts": []}
    assert "in check mode" in run.file(".md")
