# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What shm_verify does, whichever way it reaches the host: ``_shm_run``'s runners, for the one module that
needs the checks (``_verify_checks``) and the lint rules; kept apart so that shm_connection and shm_info do not
ship them. The host is the same object as ``_shm_run``'s, and ``facts`` is the one call only this runner makes:
on the device it is ``LocalVerifyHost``'s, so that only shm_verify ships the Python fact reader (``_shm_host``).
"""

from __future__ import annotations

import dataclasses
import time

from ansible_collections.snapfleet.snapd.plugins.module_utils._verify_checks import (
    check_snap_yamls,
    checked_private_snaps,
    held_declarations,
    merge_findings,
    object_paths,
    profile_apps,
    verify,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_endpoints import EndpointError, parse_snap
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import ERROR, summarize
from ansible_collections.snapfleet.snapd.plugins.module_utils._read_plan import HostReadError, SnapYamlText
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_host import gather_facts
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_local import LocalHost
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_plan import desired_connection
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run import RunFailure, reports_transport
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_state import state_from_api
from ansible_collections.snapfleet.snapd.plugins.module_utils._proc_scan import connection_snaps
from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import HAS_YAML
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd import SnapdError


def _verify_inputs(params):
    expected = None
    if params["connections"] is not None:
        try:
            # forget only matters to shm_connection; what is verified is the state
            expected = [desired_connection(item["plug"], item["slot"], item["state"],
                                           allow_identifier_mismatch=item["allow_identifier_mismatch"])
                        for item in params["connections"]]
        except ValueError as error:
            raise RunFailure("invalid connections item: %s" % error)
    for name in params["private_snaps"] or ():
        try:
            if not parse_snap(name, "private_snaps entry"):
                raise EndpointError("private_snaps entry %s names the system snap, which has no private plug" % name)
        except EndpointError as error:
            raise RunFailure(str(error))
    return expected


class LocalVerifyHost(LocalHost):
    """The device the shm_verify module runs on: LocalHost, and the host facts read with Python."""

    def facts(self, families, apps, private_snaps, user_snaps, slot_paths):
        deadline = None if self.client is None else time.monotonic() + self.client.timeout
        return gather_facts(self.root, families, apps, private_snaps, user_snaps=user_snaps, slot_paths=slot_paths,
                            deadline=deadline)


_VERIFY_NEEDS_ROOT = ("shm_verify needs root to read AppArmor profiles, mount namespaces and mount profiles: "
                      "run the task with become: true")


@reports_transport
def run_verify(params, host):
    """shm_verify: every finding of the chosen check families; never changes anything."""
    expected = _verify_inputs(params)
    try:
        reads = host.read()  # the objects family's /proc scan is one of the facts, read with them
    except SnapdError as error:
        if host.uid() != 0:
            raise RunFailure(_VERIFY_NEEDS_ROOT)
        raise RunFailure("cannot read snapd's shared-memory state: %s" % error)
    if reads.uid != 0:
        raise RunFailure(_VERIFY_NEEDS_ROOT)
    state = state_from_api(reads.system_info, reads.connections, reads.warnings)
    private_snaps = checked_private_snaps(state, params["private_snaps"])
    try:
        facts = host.facts(params["checks"], profile_apps(state), private_snaps,
                           user_snaps=connection_snaps(state, state.established), slot_paths=object_paths(state))
    except HostReadError as error:
        raise RunFailure("cannot read the host: %s" % error, snapd_version=state.version)
    named = _named_snaps(params, expected, state)
    findings = verify(state, facts, params["checks"], expected, private_snaps, params["manage_gadget_connections"],
                      named)
    result = dict(changed=False, findings=findings, snapd_version=state.version)
    if facts.gathered("snap_yamls") and facts.snap_yamls:
        lint = dict(snapd_version=state.version, held=held_declarations(state), named_snaps=named,
                    snap_yamls=dict((snap, dataclasses.asdict(read)) for snap, read in facts.snap_yamls.items()))
        if not HAS_YAML:
            # a Python without PyYAML on the device: the action plugin lints the texts on the controller
            result[SNAP_YAML_LINT] = lint
            return result
        result = finish_verify(dict(result, **{SNAP_YAML_LINT: lint}))
    return _judged(result)


run_verify.host_class = LocalVerifyHost


# the key of a shm_verify result whose installed snap.yaml files are still to be linted (finish_verify)
SNAP_YAML_LINT = "snap_yaml_lint"


def finish_verify(result):
    """Lint the installed snap.yaml texts a shm_verify result carries (SNAP_YAML_LINT) and merge the findings.

    Where the module ran on a device without PyYAML, the action plugin calls this on the controller, which always
    has it; the result is then the same as where the module could lint them itself.
    """
    lint = result.pop(SNAP_YAML_LINT, None)
    if lint is None:
        return result
    snap_yamls = dict((snap, SnapYamlText(**read)) for snap, read in lint["snap_yamls"].items())
    named = None if lint["named_snaps"] is None else set(lint["named_snaps"])
    more = check_snap_yamls(lint["snapd_version"], snap_yamls, set(lint["held"]), named)
    return _judged(dict(result, findings=merge_findings(result["findings"], more)))


def _judged(result):
    summary = summarize(result["findings"])
    return dict(result, summary=summary, compliant=summary[ERROR] == 0)


def _named_snaps(params, expected, state):
    """The snaps the desired state names (its connections' plugs and slots, private_snaps), sorted; None when
    neither connections nor private_snaps is given."""
    if expected is None and params["private_snaps"] is None:
        return None
    named = set(params["private_snaps"] or ())
    for item in expected or ():
        named.add(state.resolve(item.plug).snap)
        if item.slot is not None:
            named.add(state.resolve(item.slot).snap)
    return sorted(named)
