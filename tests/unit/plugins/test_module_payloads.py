# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which module_utils each module ships to the target: ansible-core packs every module_utils a module imports,
directly or through another, into its payload. shm_connection and shm_info run on every apply and audit and
have no use for shm_verify's checks or shm_lint's rules, so those must stay out of their payloads.

Read from the source with ast, as ansible-core's own finder reads it (an import inside a function counts).
"""

from __future__ import annotations

import ast
import os

import pytest

PLUGINS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "plugins")
PACKAGE = "ansible_collections.snapfleet.snapd.plugins.module_utils"
# shm_verify's checks and runner, shm_lint's rules
VERIFY_AND_LINT = {"_verify_checks", "_shm_run_verify", "_declaration_rules"}


def imported_module_utils(path):
    with open(path, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "."):
            found.add(node.module[len(PACKAGE) + 1:].split(".")[0])
    return found


def payload(module):
    """The module_utils the module ships: everything it imports, and what those import, transitively."""
    shipped = set()
    todo = sorted(imported_module_utils(os.path.join(PLUGINS, "modules", module + ".py")))
    while todo:
        name = todo.pop()
        if name not in shipped:
            shipped.add(name)
            todo.extend(imported_module_utils(os.path.join(PLUGINS, "module_utils", name + ".py")))
    return shipped


# What shm_connection and shm_info ship, exactly: a module_utils added to their payload must be added here, on
# purpose (_shm_findings comes with _shm_specs, whose shm_verify spec lists the check families)
RUNNER = {"_snapd_quoting", "_shm_diff", "_shm_endpoints", "_shm_findings", "_shm_local", "_shm_plan", "_shm_run", "_shm_specs",
          "_shm_state", "_proc_scan", "_snapd", "_snapd_protocol", "_snapd_versions"}
SHIPPED = {"shm_connection": RUNNER, "shm_info": RUNNER}


@pytest.mark.parametrize("module", sorted(SHIPPED))
def test_each_module_ships_only_what_it_runs(module):
    assert payload(module) == SHIPPED[module]


@pytest.mark.parametrize("module", ["shm_connection", "shm_info"])
def test_connection_and_info_ship_neither_the_checks_nor_the_lint_rules_nor_the_fact_reader(module):
    shipped = payload(module)
    assert {"_shm_run", "_shm_plan", "_snapd"} <= shipped
    assert shipped & (VERIFY_AND_LINT | {"_shm_host", "_snap_yaml"}) == set()


def test_verify_ships_its_checks_and_the_rules_they_apply():
    assert VERIFY_AND_LINT <= payload("shm_verify")
