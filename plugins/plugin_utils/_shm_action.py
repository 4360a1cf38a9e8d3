# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller side of shm_connection, shm_info and shm_verify: pick the transport, then run the same runner.

``transport: python`` runs the module on the device as any module runs. ``snap-debug-api`` runs the runner
of ``module_utils/_shm_run`` here, over a ``DebugApiHost`` that reaches the device through the task's
connection with plain sh (become applies as for any command). ``auto`` tries ``snap debug api`` first and,
on a snapd without it, runs the module when the device has Python; where there is something to change and the
device has Python, the module makes the change (it waits for each change inside one process; over ``snap debug
api`` each wait costs a ``snap`` process, about a second on a slow device).
"""

from __future__ import annotations

import shlex

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run import RunFailure
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run_verify import SNAP_YAML_LINT, finish_verify
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_specs import AUTO, PYTHON, SNAP_DEBUG_API, SPECS
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd import DEFAULT_SOCKET, SnapdError, client_params_error
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_versions import DEBUG_API_SINCE, version_text
from ansible_collections.snapfleet.snapd.plugins.plugin_utils._snap_debug_api import (
    STDIN_COMMAND,
    ChangesByModule,
    DebugApiHost,
    NoDebugApi,
)


def validated_arguments(module, task_args, name):
    """``(arguments, None)``, or ``(None, message)`` worded exactly as AnsibleModule words it, so both transports
    refuse bad arguments with the same words."""
    validation = ArgumentSpecValidator(**SPECS[module]()).validate(dict(task_args))
    if not validation.error_messages:
        return validation.validated_parameters, None
    message = validation.errors.msg
    if isinstance(validation.errors[0], UnsupportedError):
        message = "Unsupported parameters for (%s) module: %s" % (name, message)
    return None, message


# the host fact that remembers, for the rest of the run, that `auto` means the module on this host (its snapd has
# no `snap debug api`): later tasks go straight to the module instead of first running a script that fails
REMEMBERED = "snapfleet_snapd_transport"
_ASYNC_NEEDS_PYTHON = ("async needs Python on the device: the module runs there in the background, while %s runs "
                       "the task from the controller; drop async, or install python3 on the device")


def choose_transport(transport, socket=DEFAULT_SOCKET, remembered=None, async_task=False, debug_api_ready=True):
    """The way a task goes, decided in this one place: ``(PYTHON or SNAP_DEBUG_API, None)``, or ``(None, message)``.

    ``auto`` reads over snap debug api unless the socket is a custom one, the task is async (only the module runs in
    the background), or this host was found earlier in the run to lack snap debug api (``remembered``). Over snap
    debug api, ``auto`` still hands a change to the module where the device has Python (``hands_over``), and goes
    to the module when snapd has no snap debug api (the action plugin's run).
    """
    custom_socket = socket != DEFAULT_SOCKET
    if transport == PYTHON:
        return PYTHON, None
    if transport == SNAP_DEBUG_API:
        if async_task:
            return None, _ASYNC_NEEDS_PYTHON % "transport: snap-debug-api"
        if custom_socket:
            return None, ("socket %s can only be used with transport: python (snap debug api always talks to %s)"
                          % (socket, DEFAULT_SOCKET))
        return SNAP_DEBUG_API, None
    if custom_socket or async_task or remembered == PYTHON or not debug_api_ready:
        return PYTHON, None
    return SNAP_DEBUG_API, None


def hands_over(transport, host):
    """Whether ``host.apply`` leaves the changes to the module: with auto, where the device has Python (the module
    makes every change in one process; over snap debug api each change costs a `snap` process)."""
    return transport == AUTO and bool(host.host_python)


class ShmAction(ActionBase):
    """Base of the three action plugins; a subclass names its module and calls its runner in ``run_on``."""

    MODULE = ""
    # whether run_on works over snap debug api yet; if not, auto means the module
    DEBUG_API_READY = True
    _supports_check_mode = True
    _supports_async = True

    def run_on(self, args, host):
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args, problem = validated_arguments(self.MODULE, self._task.args, self._task.action)
        if problem:
            return dict(result, failed=True, msg=problem)
        problem = client_params_error(args)
        if problem:
            return dict(result, failed=True, msg=problem)

        transport = args["transport"]
        remembered = (task_vars.get("ansible_facts") or {}).get(REMEMBERED)
        chosen, problem = choose_transport(transport, args["socket"], remembered,
                                           bool(self._task.async_val), self.DEBUG_API_READY)
        if problem:
            return dict(result, failed=True, msg=problem)
        if chosen == PYTHON:
            if self._task.async_val and transport == AUTO and not self._device_has_python(task_vars):
                return dict(result, failed=True, msg=_ASYNC_NEEDS_PYTHON % "snap debug api")
            return self._run_module(result, task_vars)

        host = DebugApiHost(self._remote_sh, args["timeout"], self._module_interpreter(task_vars),
                            hand_over=lambda host: hands_over(transport, host))
        try:
            result.update(self.run_on(args, host))
        except ChangesByModule:
            return self._run_module(result, task_vars)
        except NoDebugApi as missing:
            if transport == AUTO and missing.python:
                result = self._run_module(result, task_vars)
                # later tasks on this host go to the module at once
                result.setdefault("ansible_facts", {})[REMEMBERED] = PYTHON
                return result
            return dict(result, failed=True, msg=self._no_way_message(transport, missing))
        except RunFailure as failure:
            result.update(failure.result, failed=True, msg=failure.msg)
        except SnapdError as error:
            result.update(failed=True, msg=str(error), transport=host.transport, api_requests=host.request_count,
                          remote_commands=host.remote_commands)
        return result

    def _no_way_message(self, transport, missing):
        if transport == SNAP_DEBUG_API:
            return ("%s: use transport: python on this host, or upgrade snapd to %s or later"
                    % (missing, version_text(DEBUG_API_SINCE)))
        return ("this host has neither Python (for the module) nor snapd %s or later (for snap debug api): "
                "install python3, or upgrade snapd to %s or later" % (version_text(DEBUG_API_SINCE), version_text(DEBUG_API_SINCE)))

    def _run_module(self, result, task_vars):
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
        module_result = self._execute_module(module_name="snapfleet.snapd." + self.MODULE, module_args=self._task.args,
                                             task_vars=task_vars, wrap_async=wrap_async)
        # shm_verify on a device without PyYAML hands back the installed snap.yaml texts: lint them here
        result.update(finish_verify(module_result) if SNAP_YAML_LINT in module_result else module_result)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _device_has_python(self, task_vars):
        """Whether the interpreter the module would use is on the device (asked only for an async task with auto)."""
        done = self._low_level_execute_command("command -v %s" % shlex.quote(self._module_interpreter(task_vars)),
                                               sudoable=False)
        return done["rc"] == 0 and bool(done["stdout"].strip())

    def _module_interpreter(self, task_vars):
        """The interpreter the module would run with: the inventory's, unless it asks for discovery."""
        configured = task_vars.get("ansible_python_interpreter")
        if configured:
            configured = str(self._templar.template(configured))
            if not configured.startswith("auto"):
                return configured
        return "python3"

    def _remote_sh(self, script):
        """Run a script with the device's /bin/sh. It goes on stdin, never in argv (any local user reads a
        process's argv, and sudo logs it); a connection that cannot send stdin (paramiko), or a become method that
        needs a terminal (su), gets it as a file in Ansible's private remote temporary directory instead, removed
        right after."""
        become = getattr(self._connection, "become", None)
        # stdin reaches the script where the connection can send it and no become method needs it for a password
        # prompt on a terminal (su); ansible's `pipelining` option is for modules and does not matter here
        if self._connection.has_pipelining and (become is None or getattr(become, "pipelining", True)):
            done = self._low_level_execute_command(STDIN_COMMAND, sudoable=True, in_data=script.encode("utf-8"),
                                                   executable="/bin/sh")
            return done["rc"], done["stdout"], done["stderr"]
        tmp = self._make_tmp_path()
        try:
            path = self._connection._shell.join_path(tmp, "snapfleet-snap-debug-api.sh")
            self._transfer_data(path, script)
            self._fixup_perms2((tmp, path))
            done = self._low_level_execute_command("/bin/sh %s </dev/null" % shlex.quote(path), sudoable=True,
                                                   executable="/bin/sh")
        finally:
            self._remove_tmp_path(tmp, force=True)
        return done["rc"], done["stdout"], done["stderr"]
