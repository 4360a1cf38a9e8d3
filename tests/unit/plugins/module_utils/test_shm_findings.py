# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""module_utils/_shm_findings: the table of finding codes, and findings built, counted and deduplicated from it."""

from __future__ import annotations

import os
import re

import pytest

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import (
    FAMILIES,
    FINDING_CODES,
    SEVERITIES,
    finding,
    summarize,
    unique,
)

FINDINGS_DOC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs", "findings.md")


def test_every_code_has_a_known_severity_and_family_and_a_meaning():
    for code, (severity, family, meaning) in FINDING_CODES.items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", code), code
        assert severity in SEVERITIES and family in FAMILIES and meaning, code


def test_every_code_is_in_the_findings_page_with_its_severity():
    with open(FINDINGS_DOC, encoding="utf-8") as page:
        rows = dict(re.findall(r"^\| `([a-z-]+)` \| (error|warning|info) \|", page.read(), re.M))
    assert rows == {code: entry[0] for code, entry in FINDING_CODES.items()}


def test_a_finding_takes_its_severity_from_the_table():
    built = finding("private-dir-squatted", "snap shm-private", "owned by uid 1000", {"uid": 1000})
    assert built == {"code": "private-dir-squatted", "severity": "error", "subject": "snap shm-private",
                     "message": "owned by uid 1000", "evidence": {"uid": 1000}}
    assert finding("private-dir-squatted", "s", "m")["evidence"] == {}


def test_a_code_outside_the_table_is_a_programming_error():
    with pytest.raises(KeyError):
        finding("no-such-code", "s", "m")


def test_findings_are_counted_per_severity_and_repeats_dropped_in_order():
    one = finding("private-dir-squatted", "snap a", "m")
    other = finding("private-dir-squatted", "snap b", "m")
    assert unique([one, other, dict(one, evidence={"seen": "twice"})]) == [one, other]
    counts = summarize([one, other])
    assert counts == {"error": 2, "warning": 0, "info": 0} and list(counts) == list(SEVERITIES)
