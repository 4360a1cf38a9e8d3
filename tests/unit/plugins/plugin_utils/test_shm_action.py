# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The action plugins' module path: a shm_verify result still holding snap.yaml texts is finished on the controller."""

from __future__ import annotations

import subprocess
import types

import pytest

from ansible_collections.snapfleet.snapd.plugins.action.shm_verify import ActionModule
from ansible_collections.snapfleet.snapd.plugins.module_utils._read_plan import SnapYamlText
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run_verify import SNAP_YAML_LINT

from shm_fixtures import BROKEN_SNAP_YAML


def action_returning(module_result):
    action = object.__new__(ActionModule)  # only _run_module is exercised: no task, connection or loader needed
    action._task = types.SimpleNamespace(args={}, async_val=0)
    action._connection = types.SimpleNamespace(has_native_async=False, _shell=types.SimpleNamespace(tmpdir=None))
    action._remove_tmp_path = lambda path, force=False: None
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


class FakeConnection:
    """A FAKE connection: whether it can send stdin (ssh, local) or not (paramiko)."""

    def __init__(self, has_pipelining, become=None):
        self.has_pipelining = has_pipelining
        self.become = become
        self._shell = types.SimpleNamespace(join_path=lambda *parts: "/".join(parts))


def remote_shell(has_pipelining, become=None):
    action = object.__new__(ActionModule)
    action._connection = FakeConnection(has_pipelining, become)
    action.ran = []
    action.files = {}

    def execute(cmd, sudoable=True, in_data=None, executable=None):
        action.ran.append(dict(cmd=cmd, in_data=in_data, executable=executable, sudoable=sudoable))
        argv = ["/bin/sh", "-c", cmd]
        done = subprocess.run(argv, input=in_data, capture_output=True, check=False)
        return dict(rc=done.returncode, stdout=done.stdout.decode(), stderr=done.stderr.decode())

    action._low_level_execute_command = execute
    return action


SECRET_SCRIPT = "NONCE=0f0f0f0f\nprintf '%s ok\\n' \"$NONCE\"\ncat\n"


def test_the_script_goes_on_stdin_and_never_into_a_command_line():
    action = remote_shell(has_pipelining=True)
    rc, stdout, stderr = action._remote_sh(SECRET_SCRIPT)
    # `cat` in the script reads nothing: the script itself was all of stdin, read before it ran
    assert (rc, stdout) == (0, "0f0f0f0f ok\n")
    ran, = action.ran
    assert "0f0f0f0f" not in ran["cmd"] and ran["in_data"] == SECRET_SCRIPT.encode()
    assert ran["sudoable"] is True and ran["executable"] == "/bin/sh"


@pytest.mark.parametrize("has_pipelining, become", [(False, None), (True, types.SimpleNamespace(pipelining=False))],
                         ids=["paramiko", "su"])
def test_a_connection_without_stdin_gets_the_script_as_a_private_file_removed_after(tmp_path, has_pipelining, become):
    action = remote_shell(has_pipelining, become)
    removed = []
    action._make_tmp_path = lambda: str(tmp_path)
    action._transfer_data = lambda path, data: (open(path, "w").write(data), path)[1]
    action._fixup_perms2 = lambda paths: None
    action._remove_tmp_path = lambda path, force=False: removed.append(path)
    rc, stdout, stderr = action._remote_sh(SECRET_SCRIPT)
    assert (rc, stdout) == (0, "0f0f0f0f ok\n")
    ran, = action.ran
    assert "0f0f0f0f" not in ran["cmd"] and ran["in_data"] is None
    assert removed == [str(tmp_path)]
