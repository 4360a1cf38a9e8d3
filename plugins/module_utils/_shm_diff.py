# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""shm_connection's ``--diff`` as a reviewer reads it: one line per connection, before and after.

Pure: from the two views of the connections (``connections_view`` of ``_shm_plan``) to Ansible's diff dict,
whose text Ansible shows as a unified diff under the two headers, so a connect is one ``+`` line and a
disconnect one ``-`` line.
"""

from __future__ import annotations


def _how(connection):
    if connection.get("gadget"):
        return "made by the gadget"
    return "manual" if connection.get("manual") else "auto-connected"


def connection_lines(view):
    """One line per connection of a view, sorted by plug then slot: the established ones and the undesired ones."""
    rows = [(c.get("plug") or "", c.get("slot") or "", "connected     %s -> %s (%s)"
             % (c.get("plug"), c.get("slot"), _how(c))) for c in view.get("connections") or ()]
    rows += [(c.get("plug") or "", c.get("slot") or "", "undesired     %s -> %s (disconnected by hand: snapd does not "
              "auto-connect it again)" % (c.get("plug"), c.get("slot"))) for c in view.get("undesired") or ()]
    return "".join(line + "\n" for dummy, dummy2, line in sorted(rows))


def connection_diff(before, after, check_mode=False):
    """Ansible's diff dict of a shm_connection run from the views before and after it."""
    return {
        # Ansible shows them as "before: ..." and "after: ..."
        "before_header": "shared-memory connections",
        "after_header": "shared-memory connections" + (" (predicted: check mode)" if check_mode else ""),
        "before": connection_lines(before),
        "after": connection_lines(after),
    }
