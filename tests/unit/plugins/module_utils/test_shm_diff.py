# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import difflib

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_diff import connection_diff, connection_lines

BEFORE = {"connections": [{"plug": "logger:shmem", "slot": "provider:shmem", "manual": False, "gadget": True},
                          {"plug": "cam:frames", "slot": "hub:frames", "manual": True, "gadget": False}],
          "undesired": [{"plug": "consumer:shmem", "slot": "provider:shmem", "manual": False, "gadget": False}]}
AFTER = {"connections": [{"plug": "cam:frames", "slot": "hub:frames", "manual": True, "gadget": False},
                         {"plug": "consumer:shmem", "slot": "provider:shmem", "manual": True, "gadget": False},
                         {"plug": "shm-private:shared-memory", "slot": "snapd:shared-memory", "manual": False,
                          "gadget": False}],
         "undesired": []}


def test_one_line_per_connection_sorted_by_plug_then_slot():
    assert connection_lines(BEFORE).splitlines() == [
        "connected     cam:frames -> hub:frames (manual)",
        "undesired     consumer:shmem -> provider:shmem (disconnected by hand: snapd does not auto-connect it again)",
        "connected     logger:shmem -> provider:shmem (made by the gadget)"]
    assert connection_lines({"connections": [], "undesired": []}) == ""


def test_the_unified_diff_shows_each_change_as_one_line_under_the_headers():
    diff = connection_diff(BEFORE, AFTER)
    shown = list(difflib.unified_diff(diff["before"].splitlines(), diff["after"].splitlines(),
                                      diff["before_header"], diff["after_header"], lineterm=""))
    assert shown[:2] == ["--- shared-memory connections", "+++ shared-memory connections"]
    changes = [line for line in shown[3:] if line[:1] in "+-"]
    assert sorted(changes) == sorted([
        "-undesired     consumer:shmem -> provider:shmem (disconnected by hand: snapd does not auto-connect it again)",
        "+connected     consumer:shmem -> provider:shmem (manual)",
        "-connected     logger:shmem -> provider:shmem (made by the gadget)",
        "+connected     shm-private:shared-memory -> snapd:shared-memory (auto-connected)"])
    assert " connected     cam:frames -> hub:frames (manual)" in shown


def test_check_mode_says_the_after_is_predicted():
    assert connection_diff(BEFORE, BEFORE, check_mode=True)["after_header"] == (
        "shared-memory connections (predicted: check mode)")
