"""The bad input corpus on one real snapd host: every case fails cleanly and the host is unchanged.

Runs tests/integration/bad_input/bad_input.yml with the built collection (make build) on a fresh lab host.
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
SUMMARY = re.compile(r"bad inputs tried: (\d+), failed cleanly: (\d+), hosts changed: (\d+)")


@pytest.fixture(scope="module")
def lab_host(tmp_path_factory):
    """One bookworm host in its own run folder ($SNAPFLEET_LAB_RUN if set), stopped at the end."""
    run_dir = Path(os.environ.get("SNAPFLEET_LAB_RUN") or tmp_path_factory.mktemp("lab"))
    with lab_fleet(1, run_dir, flavour="bookworm") as fleet:
        yield fleet


def test_every_bad_input_fails_cleanly_and_changes_nothing(lab_host, installed_collection):
    with open(BAD_INPUT / "corpus.yml", encoding="utf-8") as corpus:
        tried = [case for case in yaml.safe_load(corpus)["bad_input_cases"] if not case.get("known_bug")]
    done = run_playbook(BAD_INPUT / "bad_input.yml", [lab_host.inventory], collections=installed_collection,
                        timeout=900)
    sys.stderr.write("bad_input.yml took %.0f s\n" % done.seconds)
    summary = SUMMARY.search(done.output)
    assert summary, done.tail(6000)
    sys.stderr.write(summary.group(0) + "\n")
    RELIABILITY["bad_input"] = dict(zip(("tried", "clean", "changed"), map(int, summary.groups())))
    assert done.rc == 0, done.tail(6000)
    assert summary.groups() == (str(len(tried)), str(len(tried)), "0")
