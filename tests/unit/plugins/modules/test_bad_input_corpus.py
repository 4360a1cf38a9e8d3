# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every case of tests/integration/bad_input/corpus.yml against its module's main() and a fake snapd.

Each must fail with one clear line matching the case's `expect`, and snapd must see no POST. The lab runs the
same corpus on a real host (tests/integration/bad_input/bad_input.yml).
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal

import pytest
import yaml

from module_run import run_module
from ansible_collections.snapfleet.snapd.plugins.module_utils import _shm_local
from ansible_collections.snapfleet.snapd.plugins.modules import shm_connection, shm_info, shm_lint, shm_verify

CORPUS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "integration", "bad_input")
with open(os.path.join(CORPUS_DIR, "corpus.yml"), encoding="utf-8") as corpus_file:
    CASES = yaml.safe_load(corpus_file)["bad_input_cases"]
MODULES = {"shm_connection": shm_connection, "shm_info": shm_info, "shm_verify": shm_verify, "shm_lint": shm_lint}
CATEGORIES = {"endpoint", "type", "state", "forget", "exclusive", "option", "host", "lint-path", "lint-yaml"}
BROKEN_WARNING = ('snap "shm-broken" has bad plugs or slots: bad-private (shared-memory "shared-memory" attribute '
                  'must not be set together with "private: true"); bad-path (shared-memory interface path should '
                  'not contain \'/\': "/dev/shm/x")')


def _hostile_files():
    spec = importlib.util.spec_from_file_location("hostile_files", os.path.join(CORPUS_DIR, "hostile_files.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return _hostile_files().make(str(tmp_path_factory.mktemp("hostile")))


@pytest.fixture
def lab_host(snapd):
    """The fake with the lab's snaps (tests/lab/README.md), the private plug auto-connected."""
    snapd.add_slot("shm-provider", "shmem", {"shared-memory": "lab-shm", "write": ["lab-shm-data", "lab-shm-sem.*"],
                                             "read": ["lab-shm-ro"]})
    snapd.add_plug("shm-consumer", "shmem", {"shared-memory": "lab-shm"})
    snapd.add_plug("shm-stranger", "shmem", {"shared-memory": "other-shm"})
    snapd.add_plug("shm-private", "shared-memory", {"private": True})
    snapd.add_system_slot()
    snapd.add_connection("shm-private:shared-memory", "snapd:shared-memory", manual=False)
    snapd.installed.add("shm-broken")
    snapd.warnings.append({"message": BROKEN_WARNING})
    return snapd


def _blocked(*args):
    raise AssertionError("the module blocked for 10 s on bad input")


def _param(case):
    marks = [pytest.mark.xfail(strict=True, reason=case["known_bug"])] if case.get("known_bug") else []
    return pytest.param(case, id=case["id"], marks=marks)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_bad_input_fails_with_one_clear_line_and_sends_no_change(case, lab_host, files, capsys, monkeypatch, tmp_path):
    args = dict(case["args"])
    if "file" in case:
        args["path"] = files[case["file"]]
    if case["module"] != "shm_lint":
        args.setdefault("socket", lab_host.socket_path)
        args.setdefault("timeout", 5)
    # as root, so that a case the modules let through would reach snapd's POST and be caught below
    monkeypatch.setattr(_shm_local.os, "geteuid", lambda: 0)
    monkeypatch.setattr(shm_verify, "HOST_ROOT", str(tmp_path))
    signal.signal(signal.SIGALRM, _blocked)
    signal.alarm(10)
    try:
        result = run_module(capsys, MODULES[case["module"]], **args)
    finally:
        signal.alarm(0)
    assert result.get("failed") is True and result["rc"] != 0, result
    message = result["msg"]
    assert "\n" not in message and "Traceback" not in message, message
    assert re.search(case["expect"], message), message
    assert [request for request in lab_host.requests if request[0] == "POST"] == []


def test_corpus_has_forty_cases_with_unique_ids_for_every_module_and_category():
    assert len(CASES) >= 40
    assert len(set(case["id"] for case in CASES)) == len(CASES)
    assert set(case["module"] for case in CASES) == set(MODULES)
    assert set(case["category"] for case in CASES) == CATEGORIES


def test_every_file_a_case_names_is_made_by_hostile_files(files):
    named = set(case["file"] for case in CASES if "file" in case)
    assert named <= set(files)
    assert all(case["module"] == "shm_lint" for case in CASES if "file" in case)


def test_hostile_files_are_what_their_names_say(files):
    assert os.path.getsize(files["oversized.yaml"]) > 1024 * 1024
    assert os.path.getsize(files["alias-bomb.yaml"]) < 1024
    assert not os.path.exists(files["missing.yaml"])
    assert os.path.islink(files["symlink-loop.yaml"])
    assert len(os.path.basename(files["name-too-long.yaml"])) > 255
