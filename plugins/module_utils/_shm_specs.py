# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The options of shm_connection, shm_info and shm_verify, in one place.

The module validates its arguments with these (``AnsibleModule(**spec)``) and so does its action
plugin on the controller (``validate_argument_spec(**spec)``), so both transports accept exactly the
same options. The docs are in the modules and in ``doc_fragments/_snapd.py``.
"""

from __future__ import annotations

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import FAMILIES
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_plan import connection_item_spec
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd import client_argument_spec

AUTO = "auto"
PYTHON = "python"
SNAP_DEBUG_API = "snap-debug-api"
TRANSPORTS = (AUTO, PYTHON, SNAP_DEBUG_API)


def _common():
    spec = dict(transport=dict(type="str", choices=list(TRANSPORTS), default=AUTO))
    spec.update(client_argument_spec())
    return spec


def shm_connection_spec():
    options = connection_item_spec()
    del options["plug"]["required"]  # plug or connections: required_one_of
    options.update(
        connections=dict(type="list", elements="dict", options=connection_item_spec()),
        exclusive=dict(type="bool", default=False),
        manage_gadget_connections=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        **_common()
    )
    return dict(
        argument_spec=options,
        mutually_exclusive=[("connections", "plug"), ("connections", "slot"), ("connections", "state"),
                            ("connections", "forget"), ("connections", "allow_identifier_mismatch")],
        required_one_of=[("plug", "connections")],
        required_if=[("exclusive", True, ("connections",))],
    )


def shm_info_spec():
    return dict(argument_spec=dict(snaps=dict(type="list", elements="str"), **_common()))


def shm_verify_spec():
    return dict(argument_spec=dict(
        connections=dict(type="list", elements="dict", options=connection_item_spec()),
        private_snaps=dict(type="list", elements="str"),
        manage_gadget_connections=dict(type="bool", default=False),
        checks=dict(type="list", elements="str", choices=list(FAMILIES), default=list(FAMILIES)),
        **_common()
    ))


SPECS = {
    "shm_connection": shm_connection_spec,
    "shm_info": shm_info_spec,
    "shm_verify": shm_verify_spec,
}
