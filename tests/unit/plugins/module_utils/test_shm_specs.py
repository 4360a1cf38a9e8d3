# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The options the three modules and their action plugins share."""

from __future__ import annotations

import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_specs import AUTO, SPECS, TRANSPORTS


@pytest.mark.parametrize("module", sorted(SPECS))
def test_every_module_takes_the_transport_socket_and_timeout_with_their_defaults(module):
    spec = SPECS[module]()["argument_spec"]
    assert spec["transport"] == dict(type="str", choices=list(TRANSPORTS), default=AUTO)
    assert spec["socket"]["default"] == "/run/snapd.socket" and spec["timeout"]["type"] == "float"


def test_shm_connection_needs_a_plug_or_a_list():
    validation = ArgumentSpecValidator(**SPECS["shm_connection"]()).validate({})
    assert validation.error_messages == ["one of the following is required: plug, connections"]


def test_exclusive_needs_a_list():
    validation = ArgumentSpecValidator(**SPECS["shm_connection"]()).validate({"plug": "a:b", "exclusive": True})
    assert validation.error_messages == ["exclusive is True but all of the following are missing: connections"]
