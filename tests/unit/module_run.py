# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run a module's main() with arguments, as Ansible would, and return its JSON result with its exit code."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args


def run_module(capsys, module, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_:
            module.main()
    result = json.loads(capsys.readouterr().out)
    result["rc"] = exit_.value.code
    return result
