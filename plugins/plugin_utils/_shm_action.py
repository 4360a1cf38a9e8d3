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


class ShmAction(ActionBase):
    """Base of the three action plugins; a subclass names its module and calls its runner in ``run_on``."""

    MODULE = ""
    # whether run_on works over snap debug api yet; if not, auto means the module
    DEBUG_API_READY = True
    _supports_check_mode = True
    _supports_async = False

    def run_on(self, args, host):
        raise NotImplementedError

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args, problem = validated_arguments(self.MODULE, self._task.args, self._task.action)
        if problem:
            return dict(result, failed=True, msg=problem)
        problem = client_params_error(args)
        if problem:
            return dict(result, failed=True, msg=problem)

        transport = args["transport"]
        custom_socket = args["socket"] != DEFAULT_SOCKET
        if transport == PYTHON or (transport == AUTO and (custom_socket or not self.DEBUG_API_READY)):
            return self._run_module(result, task_vars)
        if custom_socket:
            return dict(result, failed=True,
                        msg="socket %s can only be used with transport: python (snap debug api always talks to %s)"
                        % (args["socket"], DEFAULT_SOCKET))

        host = DebugApiHost(self._remote_sh, args["timeout"], self._module_interpreter(task_vars or {}),
                            changes_by_module=transport == AUTO)
        try:
            result.update(self.run_on(args, host))
        except ChangesByModule:
            return self._run_module(result, task_vars)
        except NoDebugApi as missing:
            if transport == AUTO and missing.python:
                return self._run_module(result, task_vars)
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
        module_result = self._execute_module(module_name="snapfleet.snapd." + self.MODULE, module_args=self._task.args,
                                             task_vars=task_vars)
        # shm_verify on a device without PyYAML hands back the installed snap.yaml texts: lint them here
        result.update(finish_verify(module_result) if SNAP_YAML_LINT in module_result else module_result)
        return result

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
        process's argv, and sudo logs it); a connection that cannot send stdin (paramiko) gets it as a file in
        Ansible's private remote temporary directory instead, removed right after."""
        if self._connection.has_pipelining:
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
