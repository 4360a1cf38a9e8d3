# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What runs on the targets (modules and module_utils) never starts a process: no shell, no snap CLI.

Read from the source with ast, so a new call anywhere in those files fails here.
"""

from __future__ import annotations

import ast
import os

import pytest

PLUGINS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "plugins")
TARGET_FILES = sorted(
    os.path.join(root, name)
    for folder in ("modules", "module_utils")
    for root, _dirs, names in os.walk(os.path.join(PLUGINS, folder))
    for name in names if name.endswith(".py")
)
FORBIDDEN_MODULES = {"subprocess", "pty", "pexpect", "shlex"}
FORBIDDEN_CALLS = {"run_command", "system", "popen", "spawnl", "spawnv", "spawnvp", "execv", "execve", "execvp",
                   "execl", "execlp", "posix_spawn", "posix_spawnp", "fork_exec", "startfile"}


def process_starts(source):
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
            found.append(node.module)
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in FORBIDDEN_CALLS:
                found.append(name + "()")
    return found


def test_the_target_files_are_found():
    names = {os.path.basename(path) for path in TARGET_FILES}
    assert {"shm_connection.py", "shm_verify.py", "_snapd.py", "_shm_host.py"} <= names


@pytest.mark.parametrize("path", TARGET_FILES, ids=os.path.basename)
def test_no_process_is_started_on_the_target(path):
    with open(path, encoding="utf-8") as source:
        assert process_starts(source.read()) == []


def test_the_check_finds_what_it_forbids():
    assert process_starts("import subprocess\nmodule.run_command(['snap', 'connect'])\nos.system('x')\n") == [
        "subprocess", "run_command()", "system()"]
