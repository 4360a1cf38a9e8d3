# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Make ``ansible_collections.snapfleet.snapd`` importable when pytest runs from a plain checkout.

ansible-test units runs from a real ``ansible_collections/snapfleet/snapd``
tree and already has the collection on its path; then nothing is done here.
Otherwise ``collections/ansible_collections/snapfleet/snapd`` (gitignored) is
made a symlink to the checkout and ``collections/`` goes first on sys.path.
"""

from __future__ import annotations

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT_DIR = os.path.dirname(os.path.abspath(__file__))


def _inside_collection_tree(path):
    parts = os.path.realpath(path).split(os.sep)
    return parts[-3:-2] == ["ansible_collections"] and parts[-2:] == ["snapfleet", "snapd"]


def _link_collection():
    root = os.path.join(REPO, "collections")
    parent = os.path.join(root, "ansible_collections", "snapfleet")
    link = os.path.join(parent, "snapd")
    os.makedirs(parent, exist_ok=True)
    if not os.path.islink(link):
        os.symlink(REPO, link)
    if root not in sys.path:
        sys.path.insert(0, root)


if not _inside_collection_tree(REPO):
    _link_collection()
if UNIT_DIR not in sys.path:
    # lets the tests import the fake snapd as a plain module, from either layout
    sys.path.insert(0, UNIT_DIR)


@pytest.fixture
def snapd():
    """A started FakeSnapd (tests/unit/fake_snapd.py), stopped after the test."""
    from fake_snapd import FakeSnapd

    fake = FakeSnapd()
    fake.start()
    yield fake
    fake.stop()
