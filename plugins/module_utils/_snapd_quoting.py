# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""How snapd (Go) writes values in its messages: %q quoting, %v of YAML values, %T, TrimSpace, excerpts.

The rules and the modules quote names, paths and values through these, so a message reads exactly as
snapd prints it, and never repeats more of a file than a short, marked excerpt.
"""

from __future__ import annotations

import decimal
import math

from ansible.module_utils.common.text.converters import to_text

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", "\\": "\\\\", '"': '\\"'}
_GO_VALUE_DEPTH = 16
# how much of one value from the file a finding repeats: enough to recognise it, never a whole file (a
# file that parses as one string comes back as the value of a declaration-malformed finding)
EXCERPT_CHARS = 64

# Go's unicode.IsSpace, which strings.TrimSpace uses; Python's str.strip() would also trim \x1c-\x1f.
_GO_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def go_quote(text):
    """Go's %q (strconv.Quote) for a string."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif code < 0x20 or code == 0x7f:
            out.append("\\x%02x" % code)
        elif char.isprintable():
            out.append(char)
        elif code <= 0xffff:
            out.append("\\u%04x" % code)
        else:
            out.append("\\U%08x" % code)
    out.append('"')
    return "".join(out)


def _go_float(number):
    """Go's %v for a float64: shortest digits, exponent form below 1e-4 and from 1e+06 (strconv 'g', -1)."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    sign, digits, exponent = decimal.Decimal(repr(number)).normalize().as_tuple()
    text = "".join(str(digit) for digit in digits)
    power = len(digits) + exponent - 1
    prefix = "-" if sign else ""
    if power < -4 or power >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return "%s%se%s%02d" % (prefix, mantissa, "-" if power < 0 else "+", abs(power))
    return prefix + format(decimal.Decimal(text).scaleb(exponent), "f")


def excerpt(text):
    """Text from the file for a finding: whole up to EXCERPT_CHARS characters, else its start, marked as cut."""
    if len(text) <= EXCERPT_CHARS:
        return text
    return "%s... (cut, %d characters)" % (text[:EXCERPT_CHARS], len(text))


def quoted(text):
    """Go's %q of an excerpt of text, as snapd's messages quote names and paths."""
    return go_quote(excerpt(text))


def _go_verb_v(value, depth):
    if depth > _GO_VALUE_DEPTH:
        return "..."
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, (list, tuple)):
        return "[%s]" % " ".join(_go_verb_v(item, depth + 1) for item in value)
    if isinstance(value, dict):
        items = sorted((to_text(key), item) for key, item in value.items())
        return "map[%s]" % " ".join("%s:%s" % (key, _go_verb_v(item, depth + 1)) for key, item in items)
    return to_text(value, errors="surrogate_or_replace")


def go_value(value):
    """Go's %v for a YAML attribute value as snapd holds it (string, int64, float64, bool, list, map, nil), as an
    excerpt."""
    return excerpt(_go_verb_v(value, 0))


def _go_type(value):
    """Go's %T for what go-yaml v2 decodes into interface{} (an integer past int64 is a uint64 there)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if value <= 2 ** 63 - 1 else "uint64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[interface {}]interface {}"
    return type(value).__name__
