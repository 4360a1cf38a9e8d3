# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: shm_fleet_report
short_description: The fleet's shared-memory compliance report from every host's result
version_added: 0.1.0
description:
  - Builds the report document of the C(snapfleet.snapd.shm_report) role, whose JSON file is the source of
    truth and whose Markdown and HTML pages are views of it.
  - Hosts are listed by name in natural order (V(lab2) before V(lab10)); a run of digits of any length compares
    by its length, then its digits.
  - Everything a host's result holds is checked or bounded before it is sorted or rendered, as a compromised
    device may have written it. C(snapd_version) is a short version string or V(unknown); other text is cut to
    1024 characters (host names come from the inventory and are kept whole); a finding's evidence longer than 2048 characters as JSON is left out; a result
    with an unknown status makes that host V(failed), never the report.
  - A host with no result is listed as V(failed) when it is no longer in the play (it failed or was
    unreachable before it recorded one) or, with O(source=recorded), when nothing recorded one; else as
    V(unverified).
author:
  - snapfleet maintainers (@snapfleet)
options:
  _input:
    description: The hosts to report on, for example every host of the play (C(ansible_play_hosts_all)).
    type: list
    elements: str
    required: true
  results:
    description:
      - Each host's result, as the P(snapfleet.snapd.shm_host_result#filter) filter builds it, by host name.
      - Or a list of such mappings, one per source (for example the artifacts of each earlier job of a workflow);
        a host's newest result by its C(recorded) time is used, the later source on a tie.
    type: raw
  hostvars:
    description:
      - The C(hostvars) variable. The hosts that O(results) and O(artifacts) do not cover are read from it in one
        pass, their result from the host variable C(shared_memory_result) (with O(source=recorded), from their
        facts, C(ansible_facts.shared_memory_result)). No other variable is read, so no variable name given at
        launch can bring another variable, such as a secret, into the report.
      - With O(hostvars), the report is refused when C(shared_memory_result), C(shared_memory_apply_result),
        C(shared_memory_verify_result) or C(ansible_facts) is an extra variable of the run, which would replace
        what every host recorded.
      - A host's flavour is the C(flavour) its result carries, if any.
    type: raw
  artifacts:
    description:
      - What earlier jobs of an AWX workflow published (the extra variables C(shm_report_job_<id>)), by name.
      - Only an artifact whose C(signature) is the HMAC-SHA256 of its C(results) under O(key) is read; every other
        one is refused (without O(key), every one), counted in the report (C(artifacts.refused)), and can neither add a
        host's result nor replace one.
    type: dict
  key:
    description:
      - The key the reports of the earlier jobs signed their results with (C(SHM_REPORT_KEY) in their
        environment), at least 32 characters.
    type: str
  max_unreachable:
    description:
      - How many unreachable hosts the gate lets through, a count (V(3)) or a percentage of the hosts (V(5%)).
        Unreachable hosts beyond it fail the gate, every one of them.
    type: raw
    default: 0
  batches:
    description:
      - The batches of a canary rollout, as the play's C(serial) (for example V([1, "10%", "100%"])). The report then
        covers the hosts of O(batch) and of the batches before it, and says in RV(_value.rollout) which batch it is.
    type: raw
  batch:
    description: With O(batches), the hosts of the current batch (C(ansible_play_batch)).
    type: list
    elements: str
  scope:
    description:
      - V(fleet) when the hosts are the whole fleet; V(part) for one part of it (a slice of a sliced job), where a
        percentage in O(max_unreachable) is left to the fleet report, since only it knows the fleet's size.
    type: str
    choices: [fleet, part]
    default: fleet
  active:
    description: The hosts still in the play (C(ansible_play_hosts)); the others failed earlier.
    type: list
    elements: str
  source:
    description:
      - V(play) for the results of this play's hosts; V(recorded) for results recorded by earlier jobs
        (the C(fleet) entry point of the role), where a host without one is V(failed).
    type: str
    choices: [play, recorded]
    default: play
  fail_on:
    description:
      - The compliance gate. With V(error) a host that is non-compliant or failed fails it, and the unreachable
        hosts beyond O(max_unreachable); with V(warning) also a host with a warning finding; V(never) always passes.
    type: str
    choices: [error, warning, never]
    default: error
  generated:
    description: When the report was made, as an ISO 8601 string.
    type: str
  check_mode:
    description: Whether the run was in check mode.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Aggregate every host of the play
  ansible.builtin.set_fact:
    fleet_report: >-
      {{ ansible_play_hosts_all | snapfleet.snapd.shm_fleet_report(hostvars=hostvars, active=ansible_play_hosts) }}
  run_once: true

- name: Aggregate the results two earlier jobs recorded, and the fact cache for the hosts they do not cover
  ansible.builtin.set_fact:
    fleet_report: >-
      {{ groups['all'] | snapfleet.snapd.shm_fleet_report(results=[first_job_results, second_job_results],
                                                          hostvars=hostvars, source='recorded',
                                                          max_unreachable='5%') }}
  run_once: true
"""

RETURN = r"""
_value:
  description: The report. C(schema_version) changes only when a key changes meaning or goes away.
  type: dict
  contains:
    schema_version:
      description: V(1).
      type: int
    generated:
      description: The O(generated) time.
      type: str
    check_mode:
      description: The O(check_mode) flag; the actions of a host are then what would change.
      type: bool
    summary:
      description:
        - C(hosts), one count per status (C(compliant), C(non-compliant), C(failed), C(unreachable),
          C(unverified)), C(changed) (hosts with changes), C(findings) (counts per severity),
          C(connections) (rows per connection status over every host, and C(gadget), the rows of gadget-made
          connections) and C(snapd_versions) (hosts per snapd version).
      type: dict
    gate:
      description:
        - C(fail_on), C(passed) (bool), C(failed_by), the hosts that failed it, in report order, and
          C(unreachable), with C(hosts) (how many were not seen), C(max) (O(max_unreachable)), C(allowed) (as a
          count; V(null) when a percentage is left to the fleet report) and C(within) (bool).
      type: dict
    artifacts:
      description: C(used), how many artifacts of earlier jobs were read, and C(refused), the names of the others.
      type: dict
    rollout:
      description:
        - With O(batches) only. C(batch), the number of the current batch from 1, C(batches), how many there are,
          C(sizes), their sizes, C(hosts_reached) and C(hosts), and C(stopped), whether this batch failed the gate
          with batches left, which stops the rollout.
      type: dict
    hosts:
      description:
        - One entry per host in natural order of names, with C(name), C(status), C(message), C(snapd_version),
          C(flavour), C(summary), C(findings), C(connections), C(changed), C(actions) and C(recorded) (when
          the result was recorded; for a host without one, O(generated)).
      type: list
      elements: dict
"""

import hashlib
import hmac
import json
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import SEVERITIES

SCHEMA_VERSION = 1
STATUSES = ("compliant", "non-compliant", "failed", "unreachable", "unverified")
CONNECTION_STATUSES = ("connected", "missing", "undesired", "unexpected", "disconnected")
# the one host variable (and, for recorded results, the one fact) the report reads a host's result from
RESULT_VAR = "shared_memory_result"
NOT_IN_PLAY = "no shared-memory result: the host failed or was unreachable earlier in the run"
NOT_RECORDED = "no shared-memory result was recorded for this host"
NEVER_RECORDED = ("no recorded shared-memory result: no job that ran the shared_memory role covered this host, "
                  "or its job kept neither facts nor artifacts")
REFUSED = ("; %d artifacts of earlier jobs were refused (unsigned, or signed with another key): give every job of the "
           "workflow the same SHM_REPORT_KEY (docs/awx.md)")
UNREADABLE = "its recorded shared-memory result cannot be read (%s); run the shared_memory role on it again"
UNKNOWN_VERSION = "unknown"
# what a device may put in the report: a snapd version is a short version string or shown as unknown; other text
# is cut to a bound; evidence larger than its bound is left out (it is in the JSON file only).
_SNAPD_VERSION = re.compile(r"[0-9]{1,4}(\.[0-9]{1,6}){0,4}([+~-][0-9A-Za-z.+~_-]{1,40})?")
TEXT_LIMIT = 1024
EVIDENCE_LIMIT = 2048
_DIGITS = re.compile(r"(\d+)")
_PERCENT = re.compile(r"([0-9]{1,3}(?:\.[0-9]{1,3})?)%")
SIGNATURE_PREFIX = "hmac-sha256:"
# shortest SHM_REPORT_KEY accepted: 128 bits as hex
KEY_MIN = 32


def natural_key(name):
    """``lab2`` before ``lab10``: runs of digits compare by value as ``(length, digits)`` without leading zeros (a
    run of any length, with no conversion to int), the rest case-insensitively."""
    parts = _DIGITS.split(name)
    return [(len(part.lstrip("0")), part.lstrip("0")) if index % 2 else part.lower()
            for index, part in enumerate(parts)], name


def bounded_text(value, limit=TEXT_LIMIT):
    """Device text for the report: ``None`` stays ``None``, anything else becomes text of at most LIMIT characters
    (an integer too long to print in full is named, not converted)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "(a %d-bit number)" % value.bit_length()
    text = value if isinstance(value, str) else (value.isoformat() if hasattr(value, "isoformat") else repr(value))
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def snapd_version_text(value):
    """snapd's version as reported, when it looks like one; ``unknown`` for anything else."""
    if value is None:
        return None
    return value if isinstance(value, str) and _SNAPD_VERSION.fullmatch(value) else UNKNOWN_VERSION


def _count(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 31 else 0


def _evidence(value):
    if not isinstance(value, dict):
        return {}
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):  # a number too long to print, a cycle
        return {"left_out": "unprintable"}
    return value if len(text) <= EVIDENCE_LIMIT else {"left_out": "%d characters" % len(text)}


def _record(value, keys):
    """A dict of the given keys, each as bounded text, from whatever a result holds there."""
    value = value if isinstance(value, dict) else {}
    return {key: bounded_text(value.get(key)) for key in keys}


def _finding(value):
    finding = _record(value, ("code", "severity", "subject", "message"))
    finding = {key: text or "" for key, text in finding.items()}
    finding["evidence"] = _evidence(value.get("evidence") if isinstance(value, dict) else None)
    return finding


def _connection(value):
    row = _record(value, ("plug", "slot", "desired", "actual", "status"))
    row["plug"], row["slot"], row["actual"], row["status"] = (row["plug"] or "", row["slot"] or "", row["actual"] or "",
                                                              row["status"] or "")
    gadget = value.get("gadget") if isinstance(value, dict) else None
    row["gadget"] = gadget if isinstance(gadget, bool) else None
    return row


def _list(value):
    return value if isinstance(value, list) else []


def parse_max_unreachable(value):
    """``(count, percent)``, one of them ``None``: a count (an int or its text) or a percentage text such as ``5%``."""
    text = ("%s" % (value,)).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    if text is not None and text.isdigit() and len(text) <= 9:
        return int(text), None
    found = _PERCENT.fullmatch(text or "")
    if found and float(found.group(1)) <= 100:
        return None, float(found.group(1))
    raise AnsibleFilterError("shm_fleet_report: max_unreachable must be a count of hosts (such as 3) or a percentage "
                             "of the hosts (such as \"5%%\"), not %r" % (value,))


def results_signature(key, text):
    """The signature a report publishes with its hosts' results (JSON text): HMAC-SHA256 under SHM_REPORT_KEY."""
    check_key(key)
    return SIGNATURE_PREFIX + hmac.new(key.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def check_key(key):
    if not isinstance(key, str) or len(key) < KEY_MIN:
        raise AnsibleFilterError("shm_report: SHM_REPORT_KEY must be at least %d characters (for example the output of "
                                 "`openssl rand -hex 32`); it is shorter or not text" % KEY_MIN)


def _safe_int(text):
    """json.loads' int parser for artifacts: a run of digits too long for a count is kept as text."""
    return int(text) if len(text) <= 18 else text


def verified_results(artifacts, key):
    """``(sources, refused)`` from the artifacts of earlier jobs (``{name: published}``): the results of each
    artifact whose signature is right under KEY; every other artifact is refused (without a key, all of them)."""
    sources, refused = [], []
    for name in sorted(artifacts or {}, key=natural_key):
        published = artifacts[name]
        text = published.get("results") if isinstance(published, dict) else None
        signature = published.get("signature") if isinstance(published, dict) else None
        if not isinstance(text, str):
            continue  # a summary without results: nothing to read, nothing to trust
        good = bool(key) and isinstance(signature, str) and hmac.compare_digest(
            results_signature(key, "%s" % text), "%s" % signature)
        try:
            loaded = json.loads(text, parse_int=_safe_int) if good else None
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            sources.append({host: _expanded(record) for host, record in loaded.items()})
        else:
            refused.append(name)
    return sources, refused


# A host's result as a slice publishes it for the fleet report: counts, not detail, so that a slice's artifact
# stays within COMPACT_BUDGET bytes a host (the detail is in the fact cache and in the slice's own report files).
COMPACT_BUDGET = 300
COMPACT_MESSAGE = 100
COMPACT_CONNECTIONS = CONNECTION_STATUSES + ("gadget",)


def compact_entry(host):
    """A report entry as the few keys a slice publishes per host (keys with no value left out)."""
    counts = dict.fromkeys(COMPACT_CONNECTIONS, 0)
    for row in host.get("connections") or ():
        if row.get("status") in counts:
            counts[row["status"]] += 1
        counts["gadget"] += bool(row.get("gadget"))
    record = {"s": host["status"], "m": bounded_text(host.get("message"), COMPACT_MESSAGE),
              "v": host.get("snapd_version"), "f": host.get("flavour"), "r": host.get("recorded"),
              "n": [host["summary"][severity] for severity in SEVERITIES],
              "c": None if host.get("connections") is None else [counts[state] for state in COMPACT_CONNECTIONS],
              "x": 1 if host.get("changed") else None}
    return {key: value for key, value in record.items() if value is not None}


def _expanded(record):
    """A published compact record as a result the report reads; a full result passes as it is."""
    if not isinstance(record, dict) or "s" not in record:
        return record
    counts = _list(record.get("n"))
    connections = record.get("c")
    return {"status": record.get("s"), "message": record.get("m"), "snapd_version": record.get("v"),
            "flavour": record.get("f"), "recorded": record.get("r"), "changed": record.get("x") == 1,
            "counts": {severity: _count(counts[index]) if index < len(counts) else 0
                       for index, severity in enumerate(SEVERITIES)},
            "connection_counts": None if not isinstance(connections, list) else {
                state: _count(connections[index]) if index < len(connections) else 0
                for index, state in enumerate(COMPACT_CONNECTIONS)}}


def _newest(sources, name):
    """The host's result with the latest ``recorded`` time over every source; a later source wins a tie."""
    best = None
    for results in sources:
        result = results.get(name)
        if not isinstance(result, dict):
            continue
        if best is None or "%s" % (result.get("recorded") or "") >= "%s" % (best.get("recorded") or ""):
            best = result
    return best


# what a launch-time extra variable would replace on every host: the result the report reads, the registered
# results it is made from, and the facts a recorded result is read from (extra variables outrank all of them)
RESULT_SOURCES = (RESULT_VAR, "shared_memory_apply_result", "shared_memory_verify_result", "ansible_facts")
FROM_OUTSIDE = ("shm_fleet_report: the extra variable %s would replace what every host reported (extra variables "
                "outrank the results the shared_memory role records); remove it from the job's variables and run again")


def given_from_outside(hostvars):
    """The names of RESULT_SOURCES given as extra variables of this run, read from Ansible's variable manager."""
    manager = getattr(hostvars, "_variable_manager", None)
    extra = getattr(manager, "extra_vars", None)
    return [name for name in RESULT_SOURCES if name in extra] if isinstance(extra, Mapping) else []


def _from_hostvars(hostvars, names, facts):
    """The hosts' results, reading each host's variables once (each read computes them all)."""
    results = {}
    for name in names:
        host = hostvars[name]
        results[name] = (host.get("ansible_facts") or {}).get(RESULT_VAR) if facts else host.get(RESULT_VAR)
    return results


def _host_entry(name, result, missing_message, generated):
    if not result:
        # dated now: in a later fleet report this status outranks an older result of the host
        result = {"status": "unverified" if missing_message is None else "failed",
                  "message": missing_message or NOT_RECORDED, "recorded": generated}
    status = result.get("status")
    if status not in STATUSES:
        result = {"status": "failed", "message": UNREADABLE % ("status %r" % (bounded_text(status, 40),)),
                  "recorded": result.get("recorded")}
        status = "failed"
    findings = [_finding(finding) for finding in _list(result.get("findings"))]
    connections = result.get("connections")
    counts = result.get("counts")
    entry = {
        "name": name,
        "status": status,
        "message": bounded_text(result.get("message")),
        "snapd_version": snapd_version_text(result.get("snapd_version")),
        "flavour": bounded_text(result.get("flavour"), 64) or None,
        "summary": dict(counts) if isinstance(counts, dict) else {
            severity: sum(1 for finding in findings if finding["severity"] == severity) for severity in SEVERITIES},
        "findings": findings,
        "connections": None if connections is None else [_connection(row) for row in _list(connections)],
        "changed": result.get("changed") is True,
        "actions": [_record(action, ("action", "plug", "slot", "reason")) for action in _list(result.get("actions"))],
        "recorded": bounded_text(result.get("recorded"), 40),
    }
    if isinstance(counts, dict):
        # from a slice's artifact: counts, without the findings and connections (in the slice's own report)
        entry["detail"] = "counts"
        entry["connection_counts"] = result.get("connection_counts")
    return entry


def _fails_gate(host, fail_on):
    if fail_on == "never":
        return False
    if host["status"] in ("non-compliant", "failed"):
        return True
    return fail_on == "warning" and host["summary"]["warning"] > 0


def unreachable_gate(entries, max_unreachable, scope):
    """How many hosts were not seen, how many may be, and whether that is within the tolerance. In a part of the
    fleet (a slice) a percentage cannot be judged, so only a count bounds it there; the fleet report judges both."""
    count, percent = parse_max_unreachable(max_unreachable)
    unreachable = sum(1 for host in entries if host["status"] == "unreachable")
    if count is not None:
        allowed = count
    elif scope == "fleet":
        allowed = int(percent * len(entries) // 100)
    else:
        allowed = None  # judged by the fleet report
    return {"hosts": unreachable, "max": ("%s" % (max_unreachable,)).strip(), "allowed": allowed,
            "within": allowed is None or unreachable <= allowed}


def _batch_size(value, count):
    """One entry of ``serial`` as ansible-playbook reads it: a count, or a percentage of the play's hosts (at least 1)."""
    text = ("%s" % (value,)).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if text.isdigit() and len(text) <= 9 and int(text) > 0:
        return int(text)
    if text.endswith("%") and text[:-1].isdigit() and len(text) <= 4 and 0 < int(text[:-1]) <= 100:
        return int(int(text[:-1]) / 100.0 * count) or 1
    raise AnsibleFilterError("shm_fleet_report: each batch must be a count of hosts above 0 (such as 1) or a percentage "
                             "(such as \"10%%\"), not %r" % (bounded_text(value, 40),))


def rollout_batches(hosts, batches):
    """The batches ansible-playbook makes of the play's hosts, in play order, for ``serial: BATCHES``: each entry in
    turn, the last one repeated until every host is in a batch."""
    entries = [batches] if isinstance(batches, (int, str)) else list(batches or ())
    if not entries:
        raise AnsibleFilterError("shm_fleet_report: batches must name at least one batch size")
    left, groups, index = list(hosts), [], 0
    while left:
        size = _batch_size(entries[index], len(hosts))
        groups.append(left[:size])
        left = left[size:]
        index = min(index + 1, len(entries) - 1)
    return groups


PLAY_ORDERS = ("inventory", "reverse_inventory", "sorted", "reverse_sorted")


def play_order(hosts, order):
    """The play's hosts as ansible-playbook orders them for ``order: ORDER``, from inventory order."""
    order = order or "inventory"
    if order not in PLAY_ORDERS:
        raise AnsibleFilterError("shm_fleet_report: order must be one of %s with batches (a shuffled play's batches "
                                 "cannot be known), not %r" % (", ".join(PLAY_ORDERS), bounded_text(order, 40)))
    if order.endswith("sorted"):
        return sorted(hosts, reverse=order == "reverse_sorted")
    return hosts[::-1] if order == "reverse_inventory" else list(hosts)


def _rollout(hosts, batch, batches, order=None):
    """``(reached hosts, rollout)`` of a batched run: the hosts of this batch and the ones before it."""
    groups = rollout_batches(play_order(hosts, order), batches)
    current = set(batch or ())
    number = next((index for index, group in enumerate(groups, 1) if current & set(group)), None)
    if number is None:
        raise AnsibleFilterError("shm_fleet_report: the batch's hosts are not among the play's hosts")
    reached = [name for group in groups[:number] for name in group]
    return reached, {"batch": number, "batches": len(groups), "sizes": [len(group) for group in groups],
                     "hosts_reached": len(reached), "hosts": len(hosts)}


def _summary(hosts):
    versions = {}
    connections = dict.fromkeys(CONNECTION_STATUSES + ("gadget",), 0)
    for host in hosts:
        if host["snapd_version"]:
            versions[host["snapd_version"]] = versions.get(host["snapd_version"], 0) + 1
        for row in host["connections"] or ():
            if row["status"] in connections:
                connections[row["status"]] += 1
            connections["gadget"] += bool(row["gadget"])
        for state, count in (host.get("connection_counts") or {}).items():
            connections[state] += count
    summary = {"hosts": len(hosts)}
    summary.update({status: sum(1 for host in hosts if host["status"] == status) for status in STATUSES})
    summary["changed"] = sum(1 for host in hosts if host["changed"])
    summary["findings"] = {severity: sum(host["summary"][severity] for host in hosts) for severity in SEVERITIES}
    summary["connections"] = connections
    summary["snapd_versions"] = dict(sorted(versions.items(), key=lambda item: natural_key(item[0])))
    return summary


def shm_fleet_report(hosts, results=None, hostvars=None, active=None, source="play", fail_on="error", generated=None,
                     check_mode=False, artifacts=None, key=None, max_unreachable=0, scope="fleet", batch=None,
                     batches=None, order=None):
    """The report dict documented above."""
    if fail_on not in ("error", "warning", "never"):
        raise AnsibleFilterError("shm_fleet_report: fail_on must be error, warning or never, not %r" % (fail_on,))
    if source not in ("play", "recorded"):
        raise AnsibleFilterError("shm_fleet_report: source must be play or recorded, not %r" % (source,))
    if scope not in ("fleet", "part"):
        raise AnsibleFilterError("shm_fleet_report: scope must be fleet or part, not %r" % (scope,))
    sources = list(results) if isinstance(results, (list, tuple)) else [results or {}]
    if not all(isinstance(found, dict) for found in sources):
        raise AnsibleFilterError("shm_fleet_report: results must be a dict of host names to results, or a list of "
                                 "such dicts, got %r" % (bounded_text(results, 80),))
    if artifacts is not None and not isinstance(artifacts, dict):
        raise AnsibleFilterError("shm_fleet_report: artifacts must be a dict of artifact names to what each job "
                                 "published, got %r" % (bounded_text(artifacts, 80),))
    if key:
        check_key(key)
    signed, refused = verified_results(artifacts, key)
    sources += signed
    if hostvars is not None:
        outside = given_from_outside(hostvars)
        if outside:
            raise AnsibleFilterError(FROM_OUTSIDE % ", ".join(outside))
    rollout = None
    if batches is not None:
        hosts, rollout = _rollout(list(hosts), batch, batches, order)
    names = sorted(set(hosts), key=natural_key)
    if hostvars is not None:
        uncovered = [name for name in names if not any(name in found for found in sources)]
        sources.insert(0, _from_hostvars(hostvars, uncovered, facts=source == "recorded"))
    active = set(hosts if active is None else active)

    def missing_message(name):
        if source == "recorded":
            return NEVER_RECORDED + (REFUSED % len(refused) if refused else "")
        return None if name in active else NOT_IN_PLAY

    entries = [_host_entry(name, _newest(sources, name), missing_message(name), generated) for name in names]
    unreachable = unreachable_gate(entries, max_unreachable, scope)
    failed_by = [host["name"] for host in entries if _fails_gate(host, fail_on)
                 or (host["status"] == "unreachable" and not unreachable["within"] and fail_on != "never")]
    report = {
        "schema_version": SCHEMA_VERSION,
        "generated": generated,
        "check_mode": bool(check_mode),
        "summary": _summary(entries),
        "gate": {"fail_on": fail_on, "passed": not failed_by, "failed_by": failed_by, "unreachable": unreachable},
        "artifacts": {"used": len(signed), "refused": refused},
        "hosts": entries,
    }
    if rollout is not None:
        # a failed gate fails the batch, and ansible-playbook runs no later batch
        rollout["stopped"] = bool(failed_by) and rollout["batch"] < rollout["batches"]
        report["rollout"] = rollout
    return report


class FilterModule:
    def filters(self):
        return {"shm_fleet_report": shm_fleet_report}
