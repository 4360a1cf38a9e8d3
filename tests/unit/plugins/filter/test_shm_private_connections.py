# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.snapfleet.snapd.plugins.filter.shm_private_connections import shm_private_connections


def test_a_bare_snap_gets_the_default_plug_and_no_slot():
    assert shm_private_connections(["robot-arm"]) == [{"plug": "robot-arm:shared-memory"}]


def test_a_snap_with_its_plug_is_kept_as_written():
    assert shm_private_connections(["camera:shm", "arm"], plug="mem") == [{"plug": "camera:shm"}, {"plug": "arm:mem"}]


def test_an_empty_list_gives_no_items():
    assert shm_private_connections([]) == []


@pytest.mark.parametrize("snaps", ["robot-arm", None, [["robot-arm"]], [7]])
def test_anything_but_a_list_of_names_is_refused(snaps):
    with pytest.raises(AnsibleFilterError):
        shm_private_connections(snaps)
