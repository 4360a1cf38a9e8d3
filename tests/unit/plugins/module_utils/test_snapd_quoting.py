# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""module_utils/_snapd_quoting: values and names written as snapd (Go) writes them in its messages."""

from __future__ import annotations

import pytest

from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_quoting import EXCERPT_CHARS, go_quote, go_value, quoted


@pytest.mark.parametrize("value, text", [
    (None, "<nil>"), (True, "true"), (12, "12"), (1.5, "1.5"), (1e6, "1e+06"), (123456.0, "123456"),
    (["a", 1, False], "[a 1 false]"), ({"b": 1, "a": "x"}, "map[a:x b:1]"), (float("inf"), "+Inf"),
])
def test_go_value_formats_like_go(value, text):
    assert go_value(value) == text


@pytest.mark.parametrize("value, text", [("a", '"a"'), ('a"b', '"a\\"b"'), ("a\nb", '"a\\nb"'),
                                         ("\x00", '"\\x00"'), ("é", '"é"'), ("\u200b", '"\\u200b"')])
def test_go_quote_matches_strconv_quote(value, text):
    assert go_quote(value) == text


def test_a_long_text_is_quoted_as_a_marked_excerpt_never_whole():
    text = "x" * 5000
    assert quoted(text) == '"%s... (cut, 5000 characters)"' % ("x" * EXCERPT_CHARS)
    assert quoted("x" * EXCERPT_CHARS) == '"%s"' % ("x" * EXCERPT_CHARS)


def test_a_value_nested_past_the_depth_limit_is_cut_not_recursed():
    nested = []
    for _level in range(100):
        nested = [nested]
    assert go_value(nested).startswith("[[[[") and "..." in go_value(nested)
