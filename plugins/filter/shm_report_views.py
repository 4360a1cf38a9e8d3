# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: shm_report_views
short_description: The files and the published summary of a shared-memory fleet report
version_added: 0.1.0
description:
  - Renders the report the P(snapfleet.snapd.shm_fleet_report#filter) filter builds as the contents of the
    C(snapfleet.snapd.shm_report) role's files, a JSON document, a Markdown summary and a self-contained HTML page,
    and picks out what the role publishes as job artifacts, all in one pass, so that a report of ten thousand hosts
    goes through Ansible's templating once.
  - Text from the hosts and from snapd (snapd quotes what a snap publisher declared) is escaped for each format,
    for Markdown by backslash-escaping every character that could start a link, an image, raw HTML, an entity,
    emphasis, code, a table cell or a heading, with line breaks turned into spaces; for HTML with entities.
author:
  - snapfleet maintainers (@snapfleet)
options:
  _input:
    description: The report.
    type: dict
    required: true
  formats:
    description: The files to render.
    type: list
    elements: str
    choices: [json, markdown, html, prometheus]
    default: [json, markdown, html, prometheus]
  title:
    description: The title of the Markdown and HTML pages.
    type: str
    default: Shared-memory compliance
  results:
    description:
      - Also return every host's entry, by name, as JSON text (what the role publishes inside an AWX workflow). One
        text rather than a structure, because a later job loads it as one value, where it would load and track every value
        of every host (ten thousand hosts took a minute that way), and nothing in it can be read as a template.
    type: bool
    default: false
  key:
    description:
      - With O(results=true), sign the results with this key (the controller's C(SHM_REPORT_KEY), at least 32
        characters), so that a later fleet report can tell them from results someone else wrote.
    type: str
"""

EXAMPLES = r"""
- name: Render the report of the play's hosts
  ansible.builtin.set_fact:
    views: >-
      {{ ansible_play_hosts_all | snapfleet.snapd.shm_fleet_report(results=results_by_host)
         | snapfleet.snapd.shm_report_views(formats=['json', 'markdown']) }}

- name: Write the Markdown summary
  ansible.builtin.copy:
    content: "{{ views.files.markdown }}"
    dest: /var/lib/fleet-reports/shm-report.md
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The views.
  type: dict
  contains:
    files:
      description: The contents of each file of O(formats), by format.
      type: dict
    summary:
      description:
        - C(generated), C(check_mode), C(summary) and C(gate) of the report, and C(hosts), each host's status by name
          (not with O(results=true), whose results hold it); in a canary rollout also C(rollout).
      type: dict
    failures:
      description:
        - The message of each host the role fails, by name; the hosts whose status is V(failed), and V(unreachable)
          when they are beyond the report's tolerance.
      type: dict
    not_seen:
      description: How many hosts were not seen (unreachable) against the tolerance, in words.
      type: str
    rollout:
      description: In a canary rollout, which batch this is and whether it stopped the rollout, in words; else V(null).
      type: str
    verdict:
      description: The gate's verdict in words, V(passed) or V(FAILED by) and the first hosts that failed it.
      type: str
    results:
      description:
        - With O(results=true), every host's result in a few bytes, by name, as JSON text; else V(null). Status,
          message (cut to 100 characters), snapd version, flavour, time recorded, findings per severity and
          connections per state, changed; not the findings and connections themselves, which stay in the report
          files and the fact cache, so that a slice publishes at most 300 bytes a host.
      type: str
    signature:
      description: With O(results=true) and O(key), the results' signature; else V(null).
      type: str
"""

import datetime
import html
import json
import re

from ansible.errors import AnsibleFilterError
from ansible_collections.snapfleet.snapd.plugins.filter.shm_fleet_report import compact_entry, results_signature

FORMATS = ("json", "markdown", "html", "prometheus")
HOST_STATUSES = ("compliant", "non-compliant", "failed", "unreachable", "unverified")
# how many host names the gate line lists before "and N more" (the JSON lists them all)
NAMES_SHOWN = 20
AS_DESIRED = ("connected", "disconnected")
_LINE_BREAKS = re.compile(r"[\r\n]+")
# CommonMark lets a backslash escape any ASCII punctuation; these are the ones that can start a link or an image
# ([ ]), raw HTML or an autolink (< >), an entity (&), emphasis (* _ ~), code (`), a table cell (|) or a heading
# (#), and the backslash itself.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")
_NOT_IN_CODE_SPAN = re.compile(r"[`|\r\n]")


def _as_text(value):
    """Any value as text; a timestamp as ISO 8601, as Ansible may hand a date-like string of YAML extra variables
    (even an !unsafe one) over as a timestamp."""
    return value.isoformat() if hasattr(value, "isoformat") else "%s" % (value,)


def html_text(value):
    return html.escape(_as_text(value))


def markdown_text(value):
    """Text for anywhere in the Markdown: on one line, every character that means something escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", _as_text(value)))


def markdown_code(value):
    """A code span, or escaped text for what a code span cannot hold safely (a backtick, a pipe, a line break)."""
    text = _as_text(value)
    return markdown_text(text) if _NOT_IN_CODE_SPAN.search(text) else "`%s`" % text


def _names(names, escape):
    shown = ", ".join(escape(name) for name in names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return shown + (" and %d more" % more if more > 0 else "")


def _gadget(row):
    return {True: "yes", False: "no"}.get(row.get("gadget"), "-")


def _connection_counts(counts):
    return ("%(connected)d connected, %(missing)d missing, %(undesired)d undesired, %(unexpected)d unexpected, "
            "%(disconnected)d disconnected as desired; %(gadget)d made by the gadget" % counts)


def _versions(versions, escape):
    return ", ".join("%s (%d)" % (escape(version), count) for version, count in versions.items()) or "none known"


def _verdict(gate, escape):
    return "passed" if gate["passed"] else "FAILED by " + _names(gate["failed_by"], escape)


def not_seen(gate):
    """The unreachable hosts against the tolerance, in words."""
    unreachable = gate.get("unreachable") or {"hosts": 0, "max": "0", "allowed": 0, "within": True}
    if unreachable["allowed"] is None:
        limit = "up to %s of the fleet, judged by the fleet report" % unreachable["max"]
    else:
        limit = "up to %d allowed" % unreachable["allowed"]
        if unreachable["max"].endswith("%"):
            limit += " (%s)" % unreachable["max"]
    return "%d hosts not seen (unreachable), %s: %s" % (
        unreachable["hosts"], limit, "within the tolerance" if unreachable["within"] else "BEYOND the tolerance")


def render_markdown(report, title):
    md, code = markdown_text, markdown_code
    summary, gate = report["summary"], report["gate"]
    gate_text = "passed**" if gate["passed"] else "FAILED** by " + _names(gate["failed_by"], md)
    check_mode = " in check mode: the changes listed are the ones that would be made" if report["check_mode"] else ""
    statuses = ", ".join("%d %s" % (summary[status], status) for status in HOST_STATUSES)
    lines = [
        "# " + md(title),
        "",
        "Generated %s%s." % (md(report["generated"]), check_mode),
        "",
        "- **compliance gate (fail on %s): %s" % (md(gate["fail_on"]), gate_text),
        "- **%d hosts**: %s; %d changed" % (summary["hosts"], statuses, summary["changed"]),
        "- findings: error %(error)d, warning %(warning)d, info %(info)d" % summary["findings"],
        "- " + md(not_seen(gate)),
    ] + (["- " + md(rollout_text(report))] if report.get("rollout") else []) + [
        "- connections: " + _connection_counts(summary["connections"]),
        "- snapd versions: " + _versions(summary["snapd_versions"], md),
        "",
        "| host | status | snapd | flavour | errors | warnings | info | changes |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for host in report["hosts"]:
        lines.append("| %s | **%s** | %s | %s | %d | %d | %d | %d |" % (
            md(host["name"]), md(host["status"]), md(host["snapd_version"] or "-"), md(host["flavour"] or "-"),
            host["summary"]["error"], host["summary"]["warning"], host["summary"]["info"], len(host["actions"])))
    for host in report["hosts"]:
        lines += ["", "## %s: %s" % (md(host["name"]), md(host["status"]))]
        if host["message"]:
            lines += ["", "Why: " + md(host["message"])]
        if host["connections"]:
            lines += ["", "Shared-memory connections, desired against actual:", "",
                      "| plug | slot | desired | actual | gadget | result |",
                      "| --- | --- | --- | --- | --- | --- |"]
            for row in host["connections"]:
                result = md(row["status"]) if row["status"] in AS_DESIRED else "**%s**" % md(row["status"])
                lines.append("| %s | %s | %s | %s | %s | %s |" % (
                    code(row["plug"]), code(row["slot"]), md(row["desired"] or "not listed"), md(row["actual"]),
                    _gadget(row), result))
        elif host["connections"] is not None:
            lines += ["", "Shared-memory connections: none desired, none found."]
        if host["actions"]:
            lines += ["", "Changes%s:" % (" that would be made" if report["check_mode"] else ""), ""]
            lines += ["- %s %s / %s (%s)" % (md(action.get("action")), code(action.get("plug")), code(action.get("slot")),
                                             md(action.get("reason") or "no reason given"))
                      for action in host["actions"]]
        if host.get("detail") == "counts":
            lines += ["", "From a slice's artifact, which carries counts only: %d errors, %d warnings, %d info; the "
                      "findings and connections are in that slice's report." % (
                          host["summary"]["error"], host["summary"]["warning"], host["summary"]["info"])]
        elif host["summary"]["error"] + host["summary"]["warning"]:
            lines += ["", "Findings:", ""]
            lines += ["- **%s** %s %s: %s" % (md(finding.get("severity")), code(finding.get("code")), md(finding.get("subject")),
                                              md(finding.get("message")))
                      for finding in host["findings"] if finding.get("severity") != "info"]
        elif host["status"] in ("compliant", "non-compliant"):
            lines += ["", "No errors or warnings."]
        if host["summary"]["info"]:
            lines += ["", "%d info findings (objects and other facts) are listed in the JSON report and the HTML page."
                      % host["summary"]["info"]]
    return "\n".join(lines) + "\n"


_STYLE = """body { font-family: system-ui, sans-serif; margin: 2rem; color: #1b1f23; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #d0d7de; padding: .35rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; }
caption { text-align: left; font-weight: bold; padding: .2rem 0; }
.status { font-weight: bold; padding: .1rem .45rem; border-radius: .3rem; color: #fff; white-space: nowrap; }
.status-compliant { background: #1a7f37; }
.status-non-compliant { background: #cf222e; }
.status-failed { background: #6e2d91; }
.status-unreachable { background: #57606a; }
.status-unverified { background: #9a6700; }
.severity-error { color: #cf222e; font-weight: bold; }
.severity-warning { color: #9a6700; font-weight: bold; }
.severity-info { color: #57606a; }
.gate-failed { color: #cf222e; font-weight: bold; }
.gate-passed { color: #1a7f37; font-weight: bold; }
.connection-missing td.result, .connection-undesired td.result, .connection-unexpected td.result { color: #cf222e; font-weight: bold; }
code { background: #f6f8fa; padding: 0 .2rem; }
section.host { margin-top: 1.5rem; }"""


def _status(status):
    return '<span class="status status-%s">%s</span>' % (html_text(status), html_text(status))


def render_html(report, title):
    """A self-contained page (inline CSS, no script, no outside resource); every value is escaped."""
    e = html_text
    summary, gate = report["summary"], report["gate"]
    out = ['<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
           '<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>%s</title>\n<style>\n%s\n'
           '</style>\n</head>\n<body>\n<h1>%s</h1>\n' % (e(title), _STYLE, e(title)),
           "<p>Generated %s%s.</p>\n" % (e(report["generated"] or ""), ", in check mode: the changes listed are the ones "
                                         "that would be made" if report["check_mode"] else ""),
           '\n<h2>Fleet</h2>\n<table id="fleet-summary">\n<tr><th>hosts</th><td class="num">%d</td></tr>\n'
           % summary["hosts"]]
    out += ['<tr><th>%s</th><td class="num" data-count="%s">%d</td></tr>\n' % (_status(status), e(status), summary[status])
            for status in HOST_STATUSES]
    if gate["passed"]:
        gate_text = '<span class="gate-passed">passed</span>'
    else:
        gate_text = '<span class="gate-failed">FAILED</span> by ' + _names(gate["failed_by"], e)
    out.append('<tr><th>changed</th><td class="num">%d</td></tr>\n'
               "<tr><th>findings</th><td>%d errors, %d warnings, %d info</td></tr>\n"
               "<tr><th>snapd versions</th><td>%s</td></tr>\n"
               '<tr><th>compliance gate</th><td id="gate" data-passed="%s">fail on %s: %s</td></tr>\n'
               '<tr><th>not seen</th><td id="not-seen">%s</td></tr>\n'
               "%s"
               "<tr><th>connections</th><td>%s</td></tr>\n</table>\n"
               % (summary["changed"], summary["findings"]["error"], summary["findings"]["warning"],
                  summary["findings"]["info"], _versions(summary["snapd_versions"], e), str(gate["passed"]).lower(),
                  e(gate["fail_on"]), gate_text, e(not_seen(gate)),
                  '<tr><th>rollout</th><td id="rollout">%s</td></tr>\n' % e(rollout_text(report))
                  if report.get("rollout") else "", _connection_counts(summary["connections"])))
    out.append('\n<h2>Hosts</h2>\n<table id="hosts">\n<thead><tr><th>host</th><th>status</th><th>snapd</th><th>flavour</th>'
               "<th>errors</th><th>warnings</th><th>info</th><th>changes</th></tr></thead>\n<tbody>\n")
    for index, host in enumerate(report["hosts"], 1):
        out.append('<tr class="host" id="host-%d" data-host="%s" data-status="%s">'
                   '<td><a href="#findings-%d">%s</a></td><td>%s</td><td>%s</td><td>%s</td>'
                   '<td class="num">%d</td><td class="num">%d</td><td class="num">%d</td><td class="num">%d</td></tr>\n'
                   % (index, e(host["name"]), e(host["status"]), index, e(host["name"]), _status(host["status"]),
                      e(host["snapd_version"] or "-"), e(host["flavour"] or "-"), host["summary"]["error"],
                      host["summary"]["warning"], host["summary"]["info"], len(host["actions"])))
    out.append("</tbody>\n</table>\n")
    for index, host in enumerate(report["hosts"], 1):
        out.append('\n<section class="host" id="findings-%d" data-host="%s">\n<h3>%s: %s</h3>\n'
                   % (index, e(host["name"]), e(host["name"]), _status(host["status"])))
        if host["message"]:
            out.append('<p class="message">%s</p>\n' % e(host["message"]))
        if host["recorded"]:
            out.append('<p class="recorded">Recorded %s.</p>\n' % e(host["recorded"]))
        if host["connections"]:
            out.append('<table class="connections">\n<caption>Shared-memory connections, desired against actual</caption>\n'
                       "<thead><tr><th>plug</th><th>slot</th><th>desired</th><th>actual</th><th>gadget</th><th>result</th>"
                       "</tr></thead>\n<tbody>\n")
            out += ['<tr class="connection connection-%s" data-status="%s"><td><code>%s</code></td><td><code>%s</code></td>'
                    '<td>%s</td><td>%s</td><td>%s</td><td class="result">%s</td></tr>\n'
                    % (e(row["status"]), e(row["status"]), e(row["plug"]), e(row["slot"]),
                       e(row["desired"] or "not listed"), e(row["actual"]), _gadget(row), e(row["status"]))
                    for row in host["connections"]]
            out.append("</tbody>\n</table>\n")
        elif host["connections"] is not None:
            out.append('<p class="connections">Shared-memory connections: none desired, none found.</p>\n')
        if host["actions"]:
            out.append('<ul class="actions">\n')
            out += ["<li>%s <code>%s</code> / <code>%s</code> (%s)</li>\n"
                    % (e(action.get("action") or ""), e(action.get("plug") or ""), e(action.get("slot") or ""),
                       e(action.get("reason") or "no reason given")) for action in host["actions"]]
            out.append("</ul>\n")
        if host.get("detail") == "counts":
            out.append('<p class="detail">From a slice\'s artifact, which carries counts only; the findings and '
                       "connections are in that slice's report.</p>\n")
        if host["findings"]:
            out.append('<table class="findings">\n<thead><tr><th>severity</th><th>code</th><th>subject</th><th>message</th>'
                       "</tr></thead>\n<tbody>\n")
            out += ['<tr class="finding" data-code="%s"><td class="severity-%s">%s</td><td><code>%s</code></td>'
                    "<td>%s</td><td>%s</td></tr>\n"
                    % (e(finding.get("code") or ""), e(finding.get("severity") or ""), e(finding.get("severity") or ""),
                       e(finding.get("code") or ""), e(finding.get("subject") or ""), e(finding.get("message") or ""))
                    for finding in host["findings"]]
            out.append("</tbody>\n</table>\n")
        elif host["status"] in ("compliant", "non-compliant") and host.get("detail") != "counts":
            out.append("<p>No findings.</p>\n")
        out.append("</section>\n")
    out.append("</body>\n</html>\n")
    return "".join(out)


def rollout_text(report):
    """Where a canary rollout stands after this batch, in words; None outside one."""
    rollout = report.get("rollout")
    if not rollout:
        return None
    where = "batch %d of %d (%d hosts; %d of %d hosts reached)" % (
        rollout["batch"], rollout["batches"], rollout["sizes"][rollout["batch"] - 1], rollout["hosts_reached"],
        rollout["hosts"])
    if rollout["stopped"]:
        return "rollout STOPPED at %s: the compliance gate failed, so no later batch runs" % where
    if report["gate"]["passed"]:
        return "rollout at %s: %s" % (where, "every batch done" if rollout["batch"] == rollout["batches"]
                                      else "passed, the next batch follows")
    return "rollout at %s, the last: the compliance gate failed" % where


def _published_gate(gate, results):
    """The gate as published; with results, the first NAMES_SHOWN hosts that failed it and their count (the results
    say which hosts failed), so that an artifact does not grow by a name for every failing host."""
    if not results or len(gate["failed_by"]) <= NAMES_SHOWN:
        return gate
    return dict(gate, failed_by=gate["failed_by"][:NAMES_SHOWN], failed_by_count=len(gate["failed_by"]))


def _failures(report):
    """The hosts the role fails: every failed host, and the unreachable ones when they are beyond the tolerance."""
    unreachable = report["gate"].get("unreachable") or {"within": False}
    failing = ("failed",) if unreachable["within"] else ("failed", "unreachable")
    return {host["name"]: host["message"] for host in report["hosts"] if host["status"] in failing}


_METRIC_CONNECTION_STATES = ("connected", "missing", "undesired", "unexpected", "disconnected")
_SEVERITIES = ("error", "warning", "info")


def prometheus_label(value):
    """A label value in the Prometheus text format: backslash, double quote and line feed escaped."""
    return _as_text(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _timestamp(generated):
    try:
        moment = datetime.datetime.strptime(_as_text(generated), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return int(moment.replace(tzinfo=datetime.timezone.utc).timestamp())


def render_prometheus(report):
    """The report as metrics in the Prometheus text format (0.0.4), for node_exporter's textfile collector or a
    Pushgateway: per host (label host) and over the fleet. Every family has HELP and TYPE; all are gauges."""
    out = []

    def family(name, helptext, samples):
        out.append("# HELP %s %s\n# TYPE %s gauge\n" % (name, helptext, name))
        out.extend("%s%s %s\n" % (name, "{%s}" % ",".join('%s="%s"' % (key, prometheus_label(value))
                                                          for key, value in labels) if labels else "", value)
                   for labels, value in samples)

    hosts, summary, gate = report["hosts"], report["summary"], report["gate"]
    timestamp = _timestamp(report.get("generated"))
    if timestamp is not None:
        family("shm_report_timestamp_seconds", "When the shared-memory report was made, in seconds since the epoch.",
               [((), timestamp)])
    family("shm_report_check_mode", "1 when the report comes from a check-mode run (changes predicted, not made).",
           [((), int(bool(report.get("check_mode"))))])
    family("shm_host_compliant", "1 when the host is compliant with its shared-memory spec, else 0.",
           [((("host", host["name"]),), int(host["status"] == "compliant")) for host in hosts])
    family("shm_host_status", "1 for the host's status in the report (compliant, non-compliant, failed, unreachable, "
           "unverified).", [((("host", host["name"]), ("status", host["status"])), 1) for host in hosts])
    family("shm_host_findings", "The host's findings by severity.",
           [((("host", host["name"]), ("severity", severity)), host["summary"][severity])
            for host in hosts for severity in _SEVERITIES])
    connection_samples = []
    for host in hosts:
        counts = dict.fromkeys(_METRIC_CONNECTION_STATES, 0)
        for row in host["connections"] or ():
            if row["status"] in counts:
                counts[row["status"]] += 1
        for state in counts:
            counts[state] += (host.get("connection_counts") or {}).get(state, 0)
        connection_samples += [((("host", host["name"]), ("state", state)), counts[state])
                               for state in _METRIC_CONNECTION_STATES]
    family("shm_host_connections", "The host's shared-memory connections by state, desired against actual.",
           connection_samples)
    family("shm_fleet_hosts", "Hosts of the report by status.",
           [((("status", status),), summary[status]) for status in HOST_STATUSES])
    family("shm_fleet_findings", "Findings over every host by severity.",
           [((("severity", severity),), summary["findings"][severity]) for severity in _SEVERITIES])
    family("shm_fleet_connections", "Shared-memory connections over every host by state.",
           [((("state", state),), summary["connections"][state]) for state in _METRIC_CONNECTION_STATES])
    family("shm_fleet_gate_passed", "1 when the report's compliance gate passed, else 0.", [((), int(gate["passed"]))])
    unreachable = gate.get("unreachable") or {}
    family("shm_fleet_unreachable_allowed", "How many unreachable hosts the run tolerates (-1: judged by the fleet "
           "report).", [((), -1 if unreachable.get("allowed") is None else unreachable["allowed"])])
    return "".join(out)


def shm_report_views(report, formats=FORMATS, title="Shared-memory compliance", results=False, key=None):
    """The views dict documented above."""
    if not isinstance(report, dict) or not isinstance(report.get("hosts"), list) or "gate" not in report:
        raise AnsibleFilterError("shm_report_views expects the report of the shm_fleet_report filter, got %r"
                                 % (type(report).__name__,))
    unknown = [name for name in formats if name not in FORMATS]
    if unknown or isinstance(formats, (str, bytes)):
        raise AnsibleFilterError("shm_report_views: formats must be a list of json, markdown, html and prometheus, got %r"
                                 % (formats,))
    renderers = {
        "json": lambda: json.dumps(report, indent=2, default=_as_text) + "\n",
        "markdown": lambda: render_markdown(report, title),
        "html": lambda: render_html(report, title),
        "prometheus": lambda: render_prometheus(report),
    }
    hosts = report["hosts"]
    published = json.dumps({host["name"]: compact_entry(host) for host in hosts}, separators=(",", ":")) \
        if results else None
    return {
        "files": {name: renderers[name]() for name in formats},
        # with results, each host's status is in them: the summary leaves hosts out, to keep an artifact small
        "summary": dict({"generated": report.get("generated"), "check_mode": report.get("check_mode"),
                         "summary": report["summary"], "gate": _published_gate(report["gate"], results)},
                        **({"rollout": report["rollout"]} if report.get("rollout") else {}),
                        **({} if results else {"hosts": {host["name"]: host["status"] for host in hosts}})),
        "failures": _failures(report),
        "verdict": _verdict(report["gate"], str),
        "not_seen": not_seen(report["gate"]),
        "rollout": rollout_text(report),
        "results": published,
        "signature": results_signature(key, published) if published is not None and key else None,
    }


class FilterModule:
    def filters(self):
        return {"shm_report_views": shm_report_views}
