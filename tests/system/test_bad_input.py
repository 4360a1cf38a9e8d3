"""The bad input corpus on real snapd hosts, both transports: every case fails cleanly and no host changes.

Runs tests/integration/bad_input/bad_input.yml with the built collection (make build) on two fresh lab hosts at
once: bookworm (snapd 2.57), where the modules run with Python, and trixie (snapd 2.68), where the action
plugins run them over `snap debug api`.
"""

import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.system.conftest import REPO, lab_fleet, run_playbook
from tests.system.reliability import RELIABILITY

pytestmark = pytest.mark.lab

BAD_INPUT = REPO / "tests" / "integration" / "bad_input"
SUMMARY = re.compile(r"bad inputs tried: (\d+), failed cleanly: (\d+), hosts changed: (\d+), transport: ([a-z-]+)")


@pytest.fixture(scope="module")
def lab_host(tmp_path_factory):
    """A bookworm and a trixie host in their own run folder ($SNAPFLEET_LAB_RUN if set), stopped at the end."""
    run_dir = Path(os.environ.get("SNAPFLEET_LAB_RUN") or tmp_path_factory.mktemp("lab"))
    with lab_fleet(2, run_dir, flavour="bookworm,trixie") as fleet:
        yield fleet


def test_every_bad_input_fails_cleanly_and_changes_nothing(lab_host, installed_collection):
    with open(BAD_INPUT / "corpus.yml", encoding="utf-8") as corpus:
        tried = [case for case in yaml.safe_load(corpus)["bad_input_cases"] if not case.get("known_bug")]
    done = run_playbook(BAD_INPUT / "bad_input.yml", [lab_host.inventory], collections=installed_collection,
                        timeout=900)
    sys.stderr.write("bad_input.yml took %.0f s\n" % done.seconds)
    summaries = SUMMARY.findall(done.output)
    assert len(summaries) == 2, done.tail(6000)
    for summary in summaries:
        sys.stderr.write("bad inputs tried: %s, failed cleanly: %s, hosts changed: %s, transport: %s\n" % summary)
    RELIABILITY["bad_input"] = {
        "tried": sum(int(tried) for tried, _, _, _ in summaries),
        "clean": sum(int(clean) for _, clean, _, _ in summaries),
        "changed": sum(int(changed) for _, _, changed, _ in summaries),
    }
    assert done.rc == 0, done.tail(6000)
    assert sorted(summaries) == [(str(len(tried)), str(len(tried)), "0", "python"),
                                 (str(len(tried)), str(len(tried)), "0", "snap-debug-api")]
