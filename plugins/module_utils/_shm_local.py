# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host a module runs on, for ``_shm_run``: snapd over its unix socket, /proc and files read directly.

Built once per module run from the module's parameters (``LocalHost.from_params``); every module uses
it the same way, so the client start-up lives here and nowhere else.
"""

from __future__ import annotations

import os
import time

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run import Applied, Host, HostReads, RunFailure
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_state import (
    CONNECTIONS_REQUEST,
    WARNINGS_REQUEST,
    state_requests,
    read_snap_interfaces,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._proc_scan import read_snap_processes
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd import SnapdClient, SnapdError, client_params_error


def run_as_module(module_class, spec, run, root="/", modes=False):
    """main() of shm_connection, shm_info and shm_verify: validate, run the runner on this host, exit.

    ``modes`` passes check and diff mode to the runner (only shm_connection changes anything).
    """
    module = module_class(supports_check_mode=True, **spec)
    problem = client_params_error(module.params)
    if problem:
        module.fail_json(msg=problem)
    kwargs = dict(check_mode=module.check_mode, diff=module._diff) if modes else {}
    # a runner that needs more of the host than snapd and /proc names its host class (shm_verify: the facts)
    host_class = getattr(run, "host_class", LocalHost)
    try:
        result = run(module.params, host_class.from_params(module.params, root), **kwargs)
    except RunFailure as failure:
        module.fail_json(msg=failure.msg, **failure.result)
    # through AnsibleModule.warn, the one way every ansible-core shows a module's warnings
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


class LocalHost(Host):
    """This machine. ``root`` is where the host's files are read from (the unit tests point it at a fake tree)."""

    transport = "python"

    def __init__(self, client, root="/"):
        self.client = client
        self.root = root

    @classmethod
    def from_params(cls, params, root="/"):
        return cls(SnapdClient(params["socket"], params["timeout"]), root)

    @property
    def request_count(self):
        return self.client.request_count

    def uid(self):
        return os.geteuid()

    def read(self, processes=(), warnings=True, system_info=True):
        # /proc is read on demand (processes()): here it costs no round trip
        answers = dict((name, self.client.get(path, dict(query or ())))
                       for name, path, query in state_requests(warnings, system_info))
        return HostReads(answers.get("system_info"), answers["connections"], answers.get("warnings"), self.uid())

    def warnings(self):
        name, path, query = WARNINGS_REQUEST
        return self.client.get(path, dict(query)) or []

    def processes(self, snaps):
        return read_snap_processes(self.root, snaps, time.monotonic() + self.client.timeout)

    def snap_interfaces(self, snaps):
        return read_snap_interfaces(self.client, snaps)

    def apply(self, actions):
        done = []
        for action in actions:
            try:
                self.client.interfaces_action(**action.request())
            except SnapdError as error:
                return Applied(tuple(done), error=error)
            done.append(action)
        name, path, query = CONNECTIONS_REQUEST
        try:
            return Applied(tuple(done), connections=self.client.get(path, dict(query)))
        except SnapdError as error:
            return Applied(tuple(done), reread_error=error)
