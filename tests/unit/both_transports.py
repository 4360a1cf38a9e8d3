# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The two transports side by side, for unit tests only: a FAKE snapd for each, the socket host on one and the
snap debug api host on the other, whose sh scripts run in /bin/sh with a FAKE `snap` command
(tests/unit/fake_snap_bin/snap) in front of PATH, sent on stdin as the action plugin sends them."""

from __future__ import annotations

import os
import subprocess
import sys

from fake_snapd import FakeSnapd
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run_verify import LocalVerifyHost
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run import RunFailure
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd import SnapdClient
from ansible_collections.snapfleet.snapd.plugins.plugin_utils import _snap_debug_api
from ansible_collections.snapfleet.snapd.plugins.plugin_utils._snap_debug_api import DebugApiHost

FAKE_BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_snap_bin")
# what differs between the transports by design
TRANSPORT_FIELDS = ("transport", "api_requests", "remote_commands")


def lab_like(fake):
    fake.add_slot("provider", "shmem", {"shared-memory": "foo", "write": ["bar", "bar-*"]})
    fake.add_plug("consumer", "shmem", {"shared-memory": "foo", "private": False})
    fake.add_plug("logger", "shmem", {"shared-memory": "foo", "private": False})
    fake.add_plug("stranger", "shmem", {"shared-memory": "other", "private": False})
    fake.add_system_slot()
    fake.add_plug("shm-private", "shmem-private", {"private": True})
    fake.add_connection("shm-private:shmem-private", "snapd:shared-memory", undesired=True)
    fake.add_connection("logger:shmem", "provider:shmem")
    # made by the gadget at first boot: an auto-connection with by-gadget set
    fake.add_plug("sensor", "shmem", {"shared-memory": "foo", "private": False})
    fake.add_connection("sensor:shmem", "provider:shmem", manual=False, gadget=True)
    fake.warnings.append({"message": 'snap "shm-broken" has bad plugs or slots: shmem (shared memory interface '
                                     'requires at least a valid "read" or "write" attribute)'})
    return fake


def started_pair():
    """Two identical fake snapds, started, one for each transport (conftest's ``pair`` fixture stops them)."""
    fakes = [lab_like(FakeSnapd()), lab_like(FakeSnapd())]
    for fake in fakes:
        fake.start()
    return fakes


def sh_runner(fake, tty=False, **env):
    environment = dict(os.environ, PATH=FAKE_BIN + os.pathsep + os.environ["PATH"], FAKE_SNAPD_SOCKET=fake.socket_path,
                       FAKE_SNAP_PYTHON=sys.executable, **env)

    def run(script):
        # as the action plugin sends it: the script on stdin, not in argv
        done = subprocess.run(["/bin/sh", "-c", _snap_debug_api.STDIN_COMMAND], input=script, capture_output=True,
                              text=True, env=environment, timeout=120, check=False)
        if tty:
            # what a pty (ssh -tt, paramiko) hands back: \r\n for every \n, stderr mixed in
            return done.returncode, (done.stdout + done.stderr).replace("\n", "\r\n"), ""
        return done.returncode, done.stdout, done.stderr
    return run


def hosts(pair, timeout=20, tty=False, root="/", **env):
    socket_fake, api_fake = pair
    return (LocalVerifyHost(SnapdClient(socket_fake.socket_path, timeout), root=root),
            DebugApiHost(sh_runner(api_fake, tty, **env), timeout, root=root))


def outcome(run, *args, **kwargs):
    try:
        result = run(*args, **kwargs)
    except RunFailure as failure:
        result = dict(failure.result, failed=True, msg=failure.msg)
    return {key: value for key, value in result.items() if key not in TRANSPORT_FIELDS}


def item(plug, slot=None, state="connected", **args):
    """One connections item with the defaults the argument spec fills in."""
    return dict(dict(plug=plug, slot=slot, state=state, forget=False, allow_identifier_mismatch=False), **args)


def params(**args):
    base = dict(plug=None, slot=None, state="connected", forget=False, connections=None, exclusive=False, force=False,
                manage_gadget_connections=False, allow_identifier_mismatch=False)
    base.update(args)
    return base
