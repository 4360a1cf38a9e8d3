# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Make ``ansible_collections.snapfleet.snapd`` importable when pytest runs from a plain checkout.

ansible-test units runs from a real ``ansible_collections/snapfleet/snapd``
tree and already has the collection on its path; then nothing is done here.
Otherwise ``ansible_collections/snapfleet/snapd`` is made a symlink to the
checkout in a temporary directory, removed at exit, which goes first on
sys.path: nothing is written into the checkout.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT_DIR = os.path.dirname(os.path.abspath(__file__))


def _inside_collection_tree(path):
    parts = os.path.realpath(path).split(os.sep)
    return parts[-3:-2] == ["ansible_collections"] and parts[-2:] == ["snapfleet", "snapd"]


def _link_collection():
    root = tempfile.mkdtemp(prefix="snapfleet-collections-")
    atexit.register(shutil.rmtree, root, True)
    parent = os.path.join(root, "ansible_collections", "snapfleet")
    os.makedirs(parent)
    os.symlink(REPO, os.path.join(parent, "snapd"))
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


@pytest.fixture
def pair():
    """Two identical FAKE snapds, one for each transport (tests/unit/both_transports.py), stopped after the test."""
    from both_transports import started_pair

    fakes = started_pair()
    yield fakes
    for fake in fakes:
        fake.stop()
