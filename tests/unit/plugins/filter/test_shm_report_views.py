# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.snapfleet.snapd.plugins.filter.shm_fleet_report import shm_fleet_report
from ansible_collections.snapfleet.snapd.plugins.filter.shm_report_views import (
    markdown_code, markdown_text, shm_report_views,
)

# what a snap publisher can get snapd to quote, and a host name nobody should have to escape by hand
HOSTILE = "it's [click](javascript:alert(1)) ![x](https://evil.example/p.png) <b>&amp;</b> *a* _b_ `c` | d ~e~ #f \\g"


def host_result(status="compliant", message=None, findings=(), connections=None, actions=()):
    return {"status": status, "message": message, "snapd_version": "2.68.3",
            "summary": {"error": sum(1 for f in findings if f["severity"] == "error"),
                        "warning": sum(1 for f in findings if f["severity"] == "warning"), "info": 0},
            "findings": list(findings), "connections": connections, "changed": bool(actions), "actions": list(actions),
            "recorded": "2026-12-01T10:00:00Z"}


ROWS = [{"plug": "cam:frames", "slot": "hub:frames", "desired": "connected", "actual": "connected", "gadget": True,
         "status": "connected"},
        {"plug": "odd:shm", "slot": "hub:frames", "desired": None, "actual": "connected", "gadget": None,
         "status": "unexpected"}]
DROPPED = {"code": "declaration-dropped", "severity": "error", "subject": "slot shm-broken:shmem", "message": HOSTILE,
           "evidence": {}}


def report(**kwargs):
    results = {"lab10": host_result("non-compliant", findings=[DROPPED], connections=ROWS),
               "lab2": host_result(connections=[]),
               "gw_*1*": host_result("failed", message="shm_verify: " + HOSTILE)}
    return shm_fleet_report(list(results), results, generated="2026-12-01T10:00:00Z", **kwargs)


@pytest.mark.parametrize("text, escaped", [
    ("[x](javascript:alert(1))", "\\[x\\](javascript:alert(1))"),
    ("<script>", "\\<script\\>"),
    ("&#39; &amp;", "\\&\\#39; \\&amp;"),
    ("it's", "it's"),
    ("a*b_c~d`e|f#g\\h", "a\\*b\\_c\\~d\\`e\\|f\\#g\\\\h"),
    ("line\nbreak\r\n# heading", "line break \\# heading"),
])
def test_markdown_text_escapes_what_markdown_would_read(text, escaped):
    assert markdown_text(text) == escaped


def test_a_code_span_only_holds_what_it_can_hold_safely():
    assert markdown_code("shm-consumer:shmem") == "`shm-consumer:shmem`"
    assert markdown_code("a`b") == "a\\`b"
    assert markdown_code("a|b") == "a\\|b"
    assert markdown_code("a\nb") == "a b"


def test_the_markdown_gate_says_failed_and_names_the_hosts_that_failed_it():
    markdown = shm_report_views(report())["files"]["markdown"]
    assert "- **compliance gate (fail on error): FAILED** by gw\\_\\*1\\*, lab10\n" in markdown


def test_the_markdown_gate_says_passed():
    markdown = shm_report_views(report(fail_on="never"))["files"]["markdown"]
    assert "- **compliance gate (fail on never): passed**\n" in markdown


def test_the_markdown_lists_hosts_in_natural_order_with_escaped_names():
    markdown = shm_report_views(report())["files"]["markdown"]
    rows = [line.split(" | ")[0] for line in markdown.splitlines() if line.startswith("| ") and "**" in line
            and "---" not in line and "`" not in line]
    assert rows == ["| gw\\_\\*1\\*", "| lab2", "| lab10"]
    assert "## gw\\_\\*1\\*: failed" in markdown


def test_the_markdown_escapes_free_text_for_markdown_not_html():
    markdown = shm_report_views(report())["files"]["markdown"]
    assert "Why: shm\\_verify: " + markdown_text(HOSTILE) in markdown
    assert "`declaration-dropped` slot shm-broken:shmem: " + markdown_text(HOSTILE) in markdown
    assert "&#39;" not in markdown and "&lt;" not in markdown


def test_the_markdown_shows_the_connection_table_of_a_host():
    markdown = shm_report_views(report())["files"]["markdown"]
    assert "| `cam:frames` | `hub:frames` | connected | connected | yes | connected |" in markdown
    assert "| `odd:shm` | `hub:frames` | not listed | connected | - | **unexpected** |" in markdown
    assert "Shared-memory connections: none desired, none found." in markdown


def test_the_gate_lists_twenty_hosts_then_counts_the_others():
    results = {"host%d" % n: host_result("failed", message="x") for n in range(25)}
    views = shm_report_views(shm_fleet_report(list(results), results))
    assert views["verdict"].startswith("FAILED by host0, host1, host2,")
    assert views["verdict"].endswith("host19 and 5 more")


class Text(HTMLParser):
    def __init__(self, page):
        super().__init__()
        self.text, self.tags, self.attributes = [], [], []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [value for name, value in attrs]

    def handle_data(self, data):
        self.text.append(data)


def test_the_html_page_escapes_everything_and_shows_the_text_as_it_was():
    page = Text(shm_report_views(report())["files"]["html"])
    assert "script" not in page.tags and "b" not in page.tags and "img" not in page.tags
    assert HOSTILE in "".join(page.text)
    assert "gw_*1*" in page.attributes


def test_the_json_file_is_the_report():
    views = shm_report_views(report())
    assert json.loads(views["files"]["json"]) == report()


def test_only_the_formats_asked_for_are_rendered():
    assert list(shm_report_views(report(), formats=["markdown"])["files"]) == ["markdown"]


def test_the_summary_failures_and_results_for_the_artifacts():
    views = shm_report_views(report(), results=True)
    assert shm_report_views(report())["summary"]["hosts"] == {"gw_*1*": "failed", "lab2": "compliant",
                                                              "lab10": "non-compliant"}
    assert views["summary"]["gate"]["failed_by"] == ["gw_*1*", "lab10"]
    assert views["failures"] == {"gw_*1*": "shm_verify: " + HOSTILE}
    assert shm_report_views(report())["results"] is None


@pytest.mark.parametrize("value, formats", [({"hosts": "x"}, ["json"]), (report(), ["pdf"]), (report(), "json")])
def test_a_bad_report_or_format_is_refused(value, formats):
    with pytest.raises(AnsibleFilterError, match="shm_report_views"):
        shm_report_views(value, formats=formats)


def test_the_results_are_signed_only_with_a_key_and_the_fleet_report_reads_them_back():
    key = "k" * 32
    views = shm_report_views(report(), results=True, key=key)
    assert views["signature"].startswith("hmac-sha256:") and len(views["signature"]) == len("hmac-sha256:") + 64
    assert shm_report_views(report(), results=True)["signature"] is None
    published = {"results": views["results"], "signature": views["signature"]}
    again = shm_fleet_report(["lab2", "lab10"], artifacts={"shm_report_job_7": published}, key=key, source="recorded")
    assert again["artifacts"] == {"used": 1, "refused": []}
    assert [host["status"] for host in again["hosts"]] == ["compliant", "non-compliant"]


def test_unreachable_hosts_within_the_tolerance_are_not_failed_and_are_counted_as_not_seen():
    results = {"lab1": host_result(), "lab2": host_result("unreachable", message="shm_verify: ssh: No route to host"),
               "lab3": host_result("failed", message="shm_verify: boom")}
    within = shm_report_views(shm_fleet_report(list(results), results, max_unreachable="1"))
    assert within["failures"] == {"lab3": "shm_verify: boom"}
    assert within["not_seen"] == "1 hosts not seen (unreachable), up to 1 allowed: within the tolerance"
    assert "- 1 hosts not seen (unreachable), up to 1 allowed: within the tolerance" in within["files"]["markdown"]
    assert '<td id="not-seen">1 hosts not seen' in within["files"]["html"]
    beyond = shm_report_views(shm_fleet_report(list(results), results, max_unreachable="10%"))
    assert sorted(beyond["failures"]) == ["lab2", "lab3"]
    assert beyond["not_seen"] == "1 hosts not seen (unreachable), up to 0 allowed (10%): BEYOND the tolerance"
    part = shm_report_views(shm_fleet_report(list(results), results, max_unreachable="10%", scope="part"))
    assert part["not_seen"].endswith("up to 10% of the fleet, judged by the fleet report: within the tolerance")


def test_the_results_for_the_artifacts_are_one_json_text_of_counts():
    published = json.loads(shm_report_views(report(), results=True)["results"])
    assert published["lab10"] == {"s": "non-compliant", "v": "2.68.3", "r": "2026-12-01T10:00:00Z", "n": [1, 0, 0],
                                  "c": [1, 0, 0, 1, 0, 1]}
    assert published["gw_*1*"]["m"] == ("shm_verify: " + HOSTILE)[:99] + "\u2026"
    assert "c" not in published["gw_*1*"]


def test_a_slice_publishes_at_most_300_bytes_a_host_and_the_fleet_report_reads_the_counts_back():
    """The worst realistic host: a long ssh error, every finding kind and many connections, a long name."""
    from ansible_collections.snapfleet.snapd.plugins.filter.shm_fleet_report import COMPACT_BUDGET

    names = ["gateway-%05d.plant-north.example.com" % number for number in range(200)]
    busy = host_result("non-compliant", message="shm_verify: Failed to connect to the host via ssh: " + "x" * 400,
                       findings=[DROPPED] * 40, connections=ROWS * 30, actions=[{"action": "connect"}] * 30)
    results = {name: busy for name in names}
    key = "k" * 32
    views = shm_report_views(shm_fleet_report(names, results, generated="2026-12-01T10:00:00Z"), results=True, key=key)
    assert "hosts" not in views["summary"]
    published = dict(views["summary"], results=views["results"], signature=views["signature"])
    per_host = len(json.dumps(published, separators=(",", ":"))) / len(names)
    assert per_host <= COMPACT_BUDGET, per_host
    again = shm_fleet_report(names, artifacts={"shm_report_job_1": published}, key=key, source="recorded")
    host = again["hosts"][0]
    assert (host["status"], host["summary"], host["detail"]) == ("non-compliant", {"error": 40, "warning": 0, "info": 0},
                                                                 "counts")
    assert again["summary"]["connections"]["unexpected"] == 30 * len(names)
    assert again["summary"]["findings"]["error"] == 40 * len(names)
    markdown = shm_report_views(again)["files"]["markdown"]
    assert "From a slice's artifact, which carries counts only: 40 errors" in markdown


def test_a_timestamp_ansible_read_from_yaml_is_written_as_text():
    import datetime

    data = report()
    data["hosts"][0]["recorded"] = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.timezone.utc)
    assert json.loads(shm_report_views(data)["files"]["json"])["hosts"][0]["recorded"] == "2026-12-01T10:00:00+00:00"


def test_the_metrics_have_one_sample_per_host_and_state_and_fleet_totals():
    from ansible_collections.snapfleet.snapd.plugins.filter.shm_report_views import render_prometheus

    text = render_prometheus(report())
    lines = text.splitlines()
    assert "shm_report_timestamp_seconds 1796119200" in lines
    assert 'shm_host_compliant{host="lab2"} 1' in lines and 'shm_host_compliant{host="lab10"} 0' in lines
    assert 'shm_host_status{host="gw_*1*",status="failed"} 1' in lines
    assert 'shm_host_findings{host="lab10",severity="error"} 1' in lines
    assert 'shm_host_connections{host="lab10",state="unexpected"} 1' in lines
    assert 'shm_host_connections{host="lab10",state="connected"} 1' in lines
    assert 'shm_fleet_hosts{status="non-compliant"} 1' in lines and "shm_fleet_gate_passed 0" in lines
    # every family is announced once, with HELP then TYPE, before its samples
    families = [line.split()[2] for line in lines if line.startswith("# TYPE ")]
    assert len(families) == len(set(families)) == 11
    samples = [line for line in lines if not line.startswith("#")]
    assert len(samples) == 3 * (1 + 1 + 3 + 5) + 5 + 3 + 5 + 4


def test_a_metric_label_escapes_backslash_quote_and_line_feed():
    from ansible_collections.snapfleet.snapd.plugins.filter.shm_report_views import prometheus_label

    assert prometheus_label('a"b\\c\nd}') == 'a\\"b\\\\c\\nd}'
