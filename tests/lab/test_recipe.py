"""The lab's recipe without a VM: flavour specs, fleet plans and the cache keys."""

import pytest

from tests.lab import LabError
from tests.lab import recipe
from tests.lab.recipe import FLAVOURS, bake_key, fleet_plan, parse_flavours, tree_key

# The keys of the bookworm and trixie images as cached before forky existed (main at 322eb9a), with
# the snap sources' digest pinned: a change here rebuilds those images on every machine and in CI.
KEYS_BEFORE_FORKY = {
    "bookworm": ("a2c33e12411e8196", "320b8ec292fd72d5"),
    "trixie": ("866ef7fedf317a9c", "afbc3cc41ca0f7e9"),
}


def labels(flavours):
    return [flavour.label for flavour in flavours]


@pytest.fixture
def pinned_snaps(monkeypatch):
    monkeypatch.setattr(recipe, "snaps_digest", lambda: "pinned-snaps")


@pytest.mark.parametrize("name", sorted(KEYS_BEFORE_FORKY))
def test_adding_flavours_keeps_the_cached_keys_of_bookworm_and_trixie(pinned_snaps, name):
    assert (tree_key(FLAVOURS[name]), bake_key(FLAVOURS[name])) == KEYS_BEFORE_FORKY[name]


def test_every_flavour_and_variant_has_its_own_ready_key(pinned_snaps):
    flavours = parse_flavours("mixed,mixed:nopython")
    assert len({bake_key(flavour) for flavour in flavours}) == 6


def test_the_python_less_variant_shares_the_flavours_base_and_follows_its_ready_image(pinned_snaps, monkeypatch):
    forky, python_less = parse_flavours("forky,forky:nopython")
    assert tree_key(python_less) == tree_key(forky)
    before = bake_key(python_less)
    monkeypatch.setattr(recipe, "snaps_digest", lambda: "other-snaps")
    assert bake_key(python_less) != before


def test_forky_bootstraps_with_the_sid_script_and_lets_apt_read_an_expired_release():
    forky = FLAVOURS["forky"]
    assert (forky.suite, forky.debootstrap_script, forky.snapd_series) == ("forky", "sid", "2.77.")
    assert 'Acquire::Check-Valid-Until "false";' in recipe.guest_files(forky)["etc/apt/apt.conf.d/50snapfleet-lab"]
    assert recipe.guest_files(FLAVOURS["trixie"]) == recipe.GUEST_FILES


def test_mixed_is_every_snapd_generation_oldest_first():
    assert labels(parse_flavours("mixed")) == ["bookworm", "trixie", "forky"]


def test_a_spec_lists_one_flavour_per_host_with_or_without_python():
    assert labels(parse_flavours("bookworm, trixie,forky:nopython")) == ["bookworm", "trixie", "forky:nopython"]
    assert [flavour.python for flavour in parse_flavours("forky,forky:nopython")] == [True, False]


def test_nopython_after_mixed_applies_to_each_of_its_flavours():
    assert labels(parse_flavours("mixed:nopython")) == ["bookworm:nopython", "trixie:nopython", "forky:nopython"]


@pytest.mark.parametrize("spec", ["sid", "forky:python", "forky:", "bookworm,,trixie", "Mixed"])
def test_an_unknown_flavour_is_refused_with_the_valid_ones(spec):
    with pytest.raises(LabError, match=r"unknown flavour .* give bookworm, trixie, forky or mixed, each optionally "
                                       r"followed by :nopython"):
        parse_flavours(spec)


def test_without_a_count_a_fleet_has_one_host_per_flavour_named():
    assert labels(fleet_plan("mixed")) == ["bookworm", "trixie", "forky"]
    assert labels(fleet_plan("forky:nopython")) == ["forky:nopython"]


def test_hosts_take_the_flavours_in_turn():
    assert labels(fleet_plan("mixed", 2)) == ["bookworm", "trixie"]
    assert labels(fleet_plan("mixed", 4)) == ["bookworm", "trixie", "forky", "bookworm"]
    assert labels(fleet_plan("bookworm,trixie", 3)) == ["bookworm", "trixie", "bookworm"]
    assert labels(fleet_plan("trixie", 2)) == ["trixie", "trixie"]


def test_a_fleet_needs_a_host():
    with pytest.raises(LabError, match="--hosts must be at least 1"):
        fleet_plan("mixed", 0)
