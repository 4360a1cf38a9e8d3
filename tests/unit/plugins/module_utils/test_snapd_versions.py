# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""module_utils/_snapd_versions: snapd's version as the device reports it, read as a number, hostile text included.

The behaviour at each version edge, through shm_verify against a FAKE snapd, is in modules/test_snapd_versions.py.
"""

from __future__ import annotations

import pytest

from ansible_collections.snapfleet.snapd.plugins.module_utils import _snapd_versions
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_versions import (
    DEBUG_API_SINCE,
    PRIVATE_SINCE,
    before,
    parse_version,
    version_text,
)


@pytest.mark.parametrize("text, expected", [
    ("2.68.3", (2, 68, 3)),
    ("2.77", (2, 77, 0)),
    ("2.61.3+24.04", (2, 61, 3)),
    ("2.64-106-gcec484a424", (2, 64, 0)),
    ("2.68-" + "9" * 5000, (2, 68, 0)),
    ("2.55.3~ubuntu1", (2, 55, 3)),
    # not a version: no leading ASCII number, or a part longer than any version has
    ("", None), ("unknown", None), ("v2.68", None), ("\u00b2.68", None), ("\u0663.68", None),
    ("9" * 5000, None), ("2." + "1" * 10, (2, 0, 0)), (None, None), (["2.68"], None), (268, None),
])
def test_a_version_is_read_from_ascii_digits_of_bounded_length(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize("text, since, expected", [
    ("2.55.2", PRIVATE_SINCE, True), ("2.55.3", PRIVATE_SINCE, False), ("2.63.9", DEBUG_API_SINCE, True),
    ("2.64", DEBUG_API_SINCE, False),
    # an unreadable version counts as current: the newest rules apply
    ("garbage", PRIVATE_SINCE, False), ("9" * 5000, DEBUG_API_SINCE, False),
])
def test_before_compares_with_the_edge(text, since, expected):
    assert before(text, since) is expected


def test_an_edge_is_written_as_people_write_versions():
    assert (version_text(DEBUG_API_SINCE), version_text(PRIVATE_SINCE), version_text((3, 0, 0))) == ("2.64", "2.55.3", "3.0")


def test_the_connection_gates_hold_every_version_shm_connection_asks_about():
    # shm_connection skips system-info where the transport proves a snapd newer than CONNECTION_GATES: a version
    # check added to its plan or guard without a place here would be skipped on such hosts
    import ast
    from pathlib import Path

    utils = Path(_snapd_versions.__file__).parent
    asked = set()
    for name in ("_shm_plan.py", "_proc_scan.py", "_shm_run.py"):
        for node in ast.walk(ast.parse((utils / name).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.endswith("._snapd_versions"):
                asked.update(alias.name for alias in node.names if alias.name.endswith("_SINCE"))
    assert asked == {"SHARED_MEMORY_SINCE", "PRIVATE_SINCE"}
    assert set(_snapd_versions.CONNECTION_GATES) == {getattr(_snapd_versions, name) for name in asked}
    assert all(gate < _snapd_versions.DEBUG_API_SINCE for gate in _snapd_versions.CONNECTION_GATES)
