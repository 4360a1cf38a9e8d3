# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The action plugins' module path: a shm_verify result still holding snap.yaml texts is finished on the controller."""

from __future__ import annotations

import types

from ansible_collections.snapfleet.snapd.plugins.action.shm_verify import ActionModule
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_host import SnapYamlText
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run_verify import SNAP_YAML_LINT

from shm_fixtures import BROKEN_SNAP_YAML


def action_returning(module_result):
    action = object.__new__(ActionModule)  # only _run_module is exercised: no task, connection or loader needed
    action._task = types.SimpleNamespace(args={})
    action._execute_module = lambda **kwargs: dict(module_result)
    return action


def test_the_module_path_lints_the_texts_a_device_without_pyyaml_returned():
    partial = {"changed": False, "findings": [], "snapd_version": "2.68.3", "transport": "python",
               SNAP_YAML_LINT: {"snapd_version": "2.68.3", "held": [], "named_snaps": None,
                                "snap_yamls": {"shm-broken": vars(SnapYamlText(text=BROKEN_SNAP_YAML))}}}
    result = action_returning(partial)._run_module({}, {})
    assert SNAP_YAML_LINT not in result
    assert [f["subject"] for f in result["findings"]] == ["shm-broken:bad-private", "shm-broken:bad-path"]
    assert result["summary"] == {"error": 2, "warning": 0, "info": 0} and result["compliant"] is False


def test_any_other_module_result_passes_through_unchanged():
    done = {"changed": False, "findings": [], "summary": {"error": 0, "warning": 0, "info": 0}, "compliant": True}
    assert action_returning(done)._run_module({}, {}) == done
