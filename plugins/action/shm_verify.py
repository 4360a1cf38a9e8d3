# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin of snapfleet.snapd.shm_verify: the module's options, over either transport (see _shm_action)."""

from __future__ import annotations

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run_verify import run_verify
from ansible_collections.snapfleet.snapd.plugins.plugin_utils._shm_action import ShmAction


class ActionModule(ShmAction):
    MODULE = "shm_verify"

    def run_on(self, args, host):
        return run_verify(args, host)
