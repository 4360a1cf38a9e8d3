# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The runner's shm_verify where the device has no YAML parser: the snap.yaml texts travel to the controller,
which lints them and gives the result the device would have given."""

from __future__ import annotations

import json

import pytest

from ansible_collections.snapfleet.snapd.plugins.module_utils import _shm_local, _shm_run_verify
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run_verify import LocalVerifyHost
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd import SnapdClient

from shm_fixtures import BROKEN_SNAP_YAML, install_snap_yaml

PARAMS = dict(connections=None, private_snaps=["shm-private"], manage_gadget_connections=False,
              checks=["warnings", "declarations"], transport="python")


@pytest.fixture
def device(snapd, tmp_path, monkeypatch):
    monkeypatch.setattr(_shm_local.os, "geteuid", lambda: 0)
    snapd.warnings.append({"message": 'snap "old" has bad plugs or slots: s (shared memory interface requires at least '
                                      'a valid "read" or "write" attribute)'})
    install_snap_yaml(tmp_path, "shm-broken", BROKEN_SNAP_YAML)
    install_snap_yaml(tmp_path, "shm-private", "name: shm-private\nplugs:\n  shared-memory:\n    private: y\n"
                                               "    shared-memory: x\n")
    return LocalVerifyHost(SnapdClient(snapd.socket_path, 5), root=str(tmp_path))


def test_without_pyyaml_the_module_hands_back_the_texts_and_the_controller_finishes_alike(device, monkeypatch):
    whole = _shm_run_verify.run_verify(dict(PARAMS), device)
    monkeypatch.setattr(_shm_run_verify, "HAS_YAML", False)
    partial = _shm_run_verify.run_verify(dict(PARAMS), device)
    assert _shm_run_verify.SNAP_YAML_LINT in partial and "summary" not in partial
    # what the module prints is JSON, and what the action plugin finishes is what it read back
    finished = _shm_run_verify.finish_verify(json.loads(json.dumps(partial)))
    whole.pop("api_requests", None)
    finished.pop("api_requests", None)
    assert finished == whole
    assert [(f["code"], f["subject"]) for f in whole["findings"] if f["severity"] == "error"] == [
        ("declaration-dropped", "shm-private:shared-memory")]
    assert whole["summary"]["warning"] == 2 and whole["compliant"] is False


def test_a_result_without_texts_is_finished_as_it_is():
    result = {"changed": False, "findings": [], "summary": {"error": 0, "warning": 0, "info": 0}, "compliant": True}
    assert _shm_run_verify.finish_verify(dict(result)) == result
