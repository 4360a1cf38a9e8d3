# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The action plugins' choice of transport: the table of choose_transport, then whole runs of shm_connection's
action plugin against a FAKE snapd through the FAKE `snap` (its module run recorded, never executed)."""

from __future__ import annotations

import types

import pytest

from ansible.plugins.action import ActionBase

from both_transports import sh_runner
from ansible_collections.snapfleet.snapd.plugins.action.shm_connection import ActionModule
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_specs import AUTO, PYTHON, SNAP_DEBUG_API
from ansible_collections.snapfleet.snapd.plugins.plugin_utils._shm_action import REMEMBERED, choose_transport

CUSTOM = "/run/other.socket"
ASYNC_OVER_API = ("async needs Python on the device: the module runs there in the background, while transport: "
                  "snap-debug-api runs the task from the controller; drop async, or install python3 on the device")

CHOICES = [
    # transport, socket, remembered, async, expected
    (AUTO, "/run/snapd.socket", None, False, (SNAP_DEBUG_API, None)),
    (AUTO, CUSTOM, None, False, (PYTHON, None)),
    (AUTO, "/run/snapd.socket", PYTHON, False, (PYTHON, None)),
    (AUTO, "/run/snapd.socket", None, True, (PYTHON, None)),
    (PYTHON, "/run/snapd.socket", None, True, (PYTHON, None)),
    (SNAP_DEBUG_API, "/run/snapd.socket", PYTHON, False, (SNAP_DEBUG_API, None)),
    (SNAP_DEBUG_API, "/run/snapd.socket", None, True, (None, ASYNC_OVER_API)),
    (SNAP_DEBUG_API, CUSTOM, None, False, (None, "socket /run/other.socket can only be used with transport: python "
                                                 "(snap debug api always talks to /run/snapd.socket)")),
]


@pytest.mark.parametrize("transport, socket, remembered, async_task, expected", CHOICES)
def test_the_transport_is_chosen_in_one_place(transport, socket, remembered, async_task, expected):
    assert choose_transport(transport, socket, remembered, async_task) == expected


def test_auto_means_the_module_while_the_debug_api_runner_is_not_ready():
    assert choose_transport(AUTO, debug_api_ready=False) == (PYTHON, None)


def action_on(fake, args, async_val=0, python_on_device=True, interpreter=None, **env):
    """shm_connection's action plugin on a FAKE snapd; the module runs are recorded in action.module_runs."""
    action = object.__new__(ActionModule)
    action._task = types.SimpleNamespace(args=args, action="snapfleet.snapd.shm_connection", async_val=async_val,
                                         check_mode=False, diff=False)
    action._connection = types.SimpleNamespace(has_native_async=False, has_pipelining=True,
                                               _shell=types.SimpleNamespace(tmpdir=None))
    action._templar = types.SimpleNamespace(template=lambda value: value)
    action.module_runs = []
    action.scripts = []
    runner = sh_runner(fake, **env)

    def remote_sh(script):
        action.scripts.append(script)
        return runner(script)

    def execute_module(**kwargs):
        action.module_runs.append(kwargs)
        return {"changed": False, "transport": PYTHON}

    action._remote_sh = remote_sh
    action._execute_module = execute_module
    action._remove_tmp_path = lambda path, force=False: None
    action._low_level_execute_command = lambda cmd, sudoable=True: dict(
        rc=0 if python_on_device else 1, stdout="/usr/bin/python3\n" if python_on_device else "", stderr="")
    action.task_vars = {"ansible_python_interpreter": interpreter} if interpreter else {}
    return action


@pytest.fixture(autouse=True)
def no_action_base(monkeypatch):
    # ActionBase.run checks the task against a play context these tests do not build; the choice comes after it
    monkeypatch.setattr(ActionBase, "run", lambda self, tmp=None, task_vars=None: {})


NO_OP = dict(plug="logger:shmem", slot="provider:shmem")
CONNECT = dict(plug="consumer:shmem", slot="provider:shmem")


def run(action):
    return action.run(task_vars=action.task_vars)


def test_auto_with_nothing_to_change_stays_on_snap_debug_api(pair):
    action = action_on(pair[1], NO_OP)
    result = run(action)
    assert (result["changed"], result["transport"], action.module_runs) == (False, SNAP_DEBUG_API, [])


def test_auto_hands_a_change_to_the_module_where_the_device_has_python(pair):
    action = action_on(pair[1], CONNECT)
    result = run(action)
    assert result["transport"] == PYTHON and len(action.module_runs) == 1
    assert action.module_runs[0]["module_args"] == CONNECT and action.module_runs[0]["wrap_async"] is False
    assert [r for r in pair[1].requests if r[0] == "POST"] == []


def test_auto_makes_the_change_itself_where_the_device_has_no_python(pair):
    action = action_on(pair[1], CONNECT, interpreter="/nonexistent/python3")
    result = run(action)
    assert (result["changed"], result["transport"], action.module_runs) == (True, SNAP_DEBUG_API, [])
    assert "PYTHON=/nonexistent/python3" in action.scripts[0]  # the inventory's interpreter is the one looked for


def test_auto_on_a_snapd_without_debug_api_runs_the_module_and_remembers_it(pair):
    action = action_on(pair[1], NO_OP, FAKE_SNAP_NO_DEBUG_API="1")
    result = run(action)
    assert result["transport"] == PYTHON and len(action.module_runs) == 1
    assert result["ansible_facts"] == {REMEMBERED: PYTHON}
    later = action_on(pair[1], NO_OP, FAKE_SNAP_NO_DEBUG_API="1")
    later.task_vars = {"ansible_facts": result["ansible_facts"]}
    assert run(later)["transport"] == PYTHON
    assert later.scripts == [] and len(later.module_runs) == 1  # no script that fails first


def test_a_host_with_neither_python_nor_debug_api_fails_with_one_line(pair):
    action = action_on(pair[1], NO_OP, interpreter="/nonexistent/python3", FAKE_SNAP_NO_DEBUG_API="1")
    result = run(action)
    assert result["failed"] is True and action.module_runs == []
    assert result["msg"] == ("this host has neither Python (for the module) nor snapd 2.64 or later (for snap debug "
                             "api): install python3, or upgrade snapd to 2.64 or later")


def test_a_custom_socket_goes_to_the_module(pair):
    action = action_on(pair[1], dict(NO_OP, socket=CUSTOM))
    run(action)
    assert action.scripts == [] and len(action.module_runs) == 1


@pytest.mark.parametrize("transport", [AUTO, PYTHON])
def test_async_runs_the_module_in_the_background(pair, transport):
    action = action_on(pair[1], dict(NO_OP, transport=transport), async_val=30)
    run(action)
    assert action.scripts == [] and [r["wrap_async"] for r in action.module_runs] == [True]


def test_async_on_a_device_without_python_is_one_line(pair):
    action = action_on(pair[1], NO_OP, async_val=30, python_on_device=False)
    result = run(action)
    assert result["failed"] is True and action.module_runs == []
    assert result["msg"].startswith("async needs Python on the device") and "\n" not in result["msg"]
    forced = action_on(pair[1], dict(NO_OP, transport=SNAP_DEBUG_API), async_val=30)
    assert run(forced)["msg"] == ASYNC_OVER_API
