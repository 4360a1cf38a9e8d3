# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host facts records and FACTS_BY_FAMILY, the one table of which check family needs which fact."""

from __future__ import annotations

import dataclasses
import os
import pickle

import pytest

from ansible_collections.snapfleet.snapd.plugins.module_utils._verify_checks import verify
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_facts import (
    FACTS_BY_FAMILY,
    NOT_GATHERED,
    HostFacts,
    PrivateSetup,
    facts_needed,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import FAMILIES
from ansible_collections.snapfleet.snapd.plugins.module_utils._read_plan import FileFacts
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_host import gather_facts
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_state import state_from_api

FIELDS = [item.name for item in dataclasses.fields(HostFacts)]


def test_the_table_names_every_check_family_and_only_host_facts_fields():
    assert sorted(FACTS_BY_FAMILY) == sorted(FAMILIES)
    named = [name for names in FACTS_BY_FAMILY.values() for name in names]
    assert set(named) == set(FIELDS)


def test_nothing_is_gathered_until_a_gatherer_fills_it_in():
    facts = HostFacts()
    assert [name for name in FIELDS if facts.gathered(name)] == []
    assert facts.missing(["dev-shm"]) == ["dev_shm", "mounts"]
    assert facts.missing(["connections"]) == []


def test_the_facts_of_several_families_come_once_each_in_field_order():
    assert facts_needed(["private", "dev-shm"]) == ["dev_shm", "mounts", "private"]
    assert facts_needed(FAMILIES) == FIELDS


def test_a_real_value_that_looks_empty_is_gathered():
    facts = HostFacts(dev_shm=None, mounts=[], installed_snaps=None)
    assert facts.missing(["dev-shm", "warnings"]) == []
    assert facts.missing(["objects"]) == ["dev_shm_listing", "processes"]


def test_the_records_are_frozen_and_survive_a_copy():
    facts = HostFacts(private={"shm-private": PrivateSetup(dir=FileFacts("dir", 0, 0, 0o1777))})
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.dev_shm = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.private["shm-private"].namespace = True
    copied = pickle.loads(pickle.dumps(facts))
    assert copied == facts and copied.dev_shm is NOT_GATHERED


def state():
    return state_from_api({"version": "2.68.3", "confinement": "strict"}, {"plugs": [], "slots": []}, [])


def test_verify_refuses_facts_a_chosen_family_lacks():
    with pytest.raises(ValueError, match="the host facts profiles, update_ns_profiles were not gathered"):
        verify(state(), HostFacts(apparmor_enabled=True, kernel_profiles=None), ["apparmor"])
    assert verify(state(), HostFacts(), ["connections"]) == []


@pytest.mark.parametrize("family", FAMILIES)
def test_the_python_gatherer_reads_the_facts_of_the_family_asked_for_and_no_other(tmp_path, family):
    os.makedirs(str(tmp_path / "dev" / "shm"))
    facts = gather_facts(str(tmp_path), [family], apps=[("logger", "app")], private_snaps=["shm-private"],
                         user_snaps=["logger"], slot_paths=["bar"])
    assert [name for name in FIELDS if facts.gathered(name)] == facts_needed([family])
    assert facts.missing([family]) == []
