# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The module's own host: snapd's answers type-checked, /proc read under a root with the client's deadline, and
the host class a runner names."""

from __future__ import annotations

import pytest

from fake_proc import add_process
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_local import LocalHost
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run import run_connection
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run_verify import LocalVerifyHost, run_verify
from ansible_collections.snapfleet.snapd.plugins.module_utils._proc_scan import FDS_TOO_LONG, PROCESS_SHM_BYTES
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd import SnapdClient, SnapdError


def test_a_runner_names_the_host_it_needs_on_the_device():
    assert getattr(run_verify, "host_class") is LocalVerifyHost and issubclass(LocalVerifyHost, LocalHost)
    assert not hasattr(run_connection, "host_class") and not hasattr(LocalHost, "facts")


def test_warnings_that_are_not_a_list_are_refused(snapd):
    snapd.raw_answers["/v2/warnings"] = b'{"type": "sync", "status-code": 200, "result": {"oops": 1}}'
    with pytest.raises(SnapdError) as raised:
        LocalHost(SnapdClient(snapd.socket_path, 5)).read()
    assert "a result of type dict where snapd sends another" in str(raised.value)


def test_processes_are_read_under_the_root(snapd, tmp_path):
    add_process(tmp_path, 31, "snap.consumer.app (enforce)", fds=["/dev/shm/bar"])
    scan = LocalHost(SnapdClient(snapd.socket_path, 5), root=str(tmp_path)).processes(["consumer"])
    assert scan.complete and [(p.pid, p.objects) for p in scan.processes] == [(31, ("/dev/shm/bar",))]


def test_a_process_with_more_dev_shm_descriptors_than_the_bound_is_unseen(snapd, tmp_path):
    count = PROCESS_SHM_BYTES // 20 + 1
    add_process(tmp_path, 32, "snap.consumer.app (enforce)", fds=["/dev/shm/o-%09d" % n for n in range(count)])
    scan = LocalHost(SnapdClient(snapd.socket_path, 5), root=str(tmp_path)).processes(["consumer"])
    assert (scan.complete, scan.unseen) == (False, ("pid 32 (%s)" % FDS_TOO_LONG,))
