# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every module_utils and plugin_utils file has a test file named after it: _proc_scan.py, test_proc_scan.py."""

from __future__ import annotations

import os

import pytest

PLUGINS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "plugins")
TESTS = os.path.dirname(__file__)


def utils(kind):
    return sorted(name for name in os.listdir(os.path.join(PLUGINS, kind))
                  if name.endswith(".py") and name != "__init__.py")


@pytest.mark.parametrize("kind", ["module_utils", "plugin_utils"])
def test_each_file_has_a_test_file_named_after_it(kind):
    assert utils(kind), kind
    missing = [name for name in utils(kind)
               if not os.path.exists(os.path.join(TESTS, kind, "test_" + name.lstrip("_")))]
    assert missing == [], "no tests/unit/plugins/%s/test_NAME.py for %s" % (kind, ", ".join(missing))
