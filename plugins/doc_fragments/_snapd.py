# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this doc fragment is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

from __future__ import annotations


class ModuleDocFragment:
    """Options and attributes shared by every module that talks to snapd."""

    # Standard documentation: the connection to snapd, and what each attribute means.
    DOCUMENTATION = r"""
options:
  transport:
    description:
      - How the task reaches snapd on the target.
      - V(python) runs the module with Python on the target, talking to snapd's socket (O(socket)).
      - V(snap-debug-api) needs no Python on the target (Ubuntu Core 26 has none). The action plugin on the controller
        runs C(snap debug api) (snapd 2.64 and later) and a few POSIX shell tools through the connection, and does
        the rest on the controller. A no-op run is one remote command per host.
      - V(auto) uses V(snap-debug-api) where snapd has it and O(socket) is the default, else V(python). A host
        with neither (no Python and snapd older than 2.64) fails with one line saying what to install. Where
        there is something to change and the target has Python, V(auto) reads over C(snap debug api) and lets
        the module make the change, since the module makes and waits for every change inside one process, where over
        C(snap debug api) each change is a C(snap connect) or C(snap disconnect) process (about a second each on a
        slow device).
      - Both transports take the same options and return the same results.
    type: str
    choices: [auto, python, snap-debug-api]
    default: auto
  socket:
    description:
      - Path of snapd's REST API socket on the target.
      - Only the V(python) transport can use another socket than the default.
    type: path
    default: /run/snapd.socket
  timeout:
    description:
      - Seconds to wait for each snapd request, including retries while snapd restarts or another change
        on the same snap is in progress, and the wait for an asynchronous change to finish.
    type: float
    default: 300
requirements:
  - snapd on the target. No Python packages beyond the standard library.
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
"""

    # Attributes of modules that only read snapd's state.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
"""
