"""`make bench-report`: the fleet report at scale, on the controller alone (no lab).

For fleets of 100, 1,000, 3,000 and 10,000 fake hosts, runs playbook snapfleet.snapd.report (the report step after
the slices of a sliced job: aggregation of every host's recorded result, the JSON, Markdown and HTML files,
the artifacts and the gate) the two ways a fleet's results reach it:

- `cache`: each host's result in a jsonfile fact cache, written through ansible-core's own cache plugin
  (so in the format the installed ansible-core reads), as a run with a persistent fact cache leaves it;
- `artifacts`: the results in the artifacts of three slice jobs, passed as extra variables
  `shm_report_job_<id>` the way an AWX workflow passes them to its next job (a YAML file, every string
  `!unsafe`).

Each host's result is built by the shm_host_result filter from faked module results: most hosts compliant
with a few info findings and two connections, some with a warning, non-compliant ones with errors, a few
failed or unreachable, a few with no result at all. Every run is checked: one entry per host, the expected
count per status.

Measured per run: the wall time of the whole ansible-playbook command, its CPU time and the peak resident
memory of its largest process (ansible-playbook or a worker). Printed as a table, with the cost per host
added between sizes; written to tests/benchmarks/results/report/. Fails when 10,000 hosts take more than
the budget (60 s) or when the CPU time or memory per added host grows by more than half from one step of
sizes to the next (they should grow linearly). That is judged from 1,000 hosts on: below, the cost of the
hosts is within the noise of ansible-playbook's start-up (about a second and a few MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "tests" / "benchmarks" / "results" / "report"
SIZES = (100, 1000, 3000, 10000)
BUDGET_SECONDS = 60.0
# the cost of an added host may be this much above the step before (noise, caches) ...
LINEAR_TOLERANCE = 0.5
# ... from this size on: below it the hosts' cost is lost in ansible-playbook's start-up
LINEAR_FROM = 1000
SLICES = 3
SOURCES = ("cache", "artifacts")
# what a slice may publish per host in its artifacts (issue 21)
ARTIFACT_BUDGET = 300
# the SHM_REPORT_KEY the slices signed their artifacts with and the report job checks them with
KEY = "bench-report-key-" + "0" * 32


def _collections(tmp: Path) -> Path:
    """A collections path holding this checkout as snapfleet.snapd."""
    root = tmp / "collections"
    (root / "ansible_collections" / "snapfleet").mkdir(parents=True)
    (root / "ansible_collections" / "snapfleet" / "snapd").symlink_to(REPO)
    return root


# --- the fake fleet ----------------------------------------------------------------------------------------

WIRING = [{"plug": "shm-consumer:shmem", "slot": "shm-provider:shmem"}, {"plug": "shm-private:shared-memory"}]
CONNECTED = [{"plug": "shm-consumer:shmem", "slot": "shm-provider:shmem", "manual": True, "gadget": False},
             {"plug": "shm-private:shared-memory", "slot": "snapd:shared-memory", "manual": False, "gadget": False}]


def _finding(code, severity, subject, message, **evidence):
    return {"code": code, "severity": severity, "subject": subject, "message": message, "evidence": evidence}


def _objects(index):
    return [_finding("shm-object", "info", "slot shm-provider:shmem",
                     "/dev/shm/frames-%d-%d (file): uid 0 gid 0 mode 0644" % (index, n),
                     path="/dev/shm/frames-%d-%d" % (index, n), kind="file", uid=0, gid=0, mode="0644")
            for n in range(2)]


def fake_result(index, rnd, shm_host_result):
    """One host's recorded result, or None; the kind is returned with it for the check of the report."""
    roll = rnd.random()
    version = rnd.choice(["2.57.6", "2.68.3"])
    apply = {"changed": False, "actions": [], "connections": CONNECTED, "undesired": []}
    if roll < 0.005:
        return "none", None
    if roll < 0.01:
        apply = {"unreachable": True, "msg": "Failed to connect to the host via ssh: Connection timed out"}
        return "unreachable", shm_host_result({"skipped": True}, apply, desired=WIRING, recorded="2026-12-01T10:00:00Z")
    if roll < 0.02:
        verify = {"failed": True, "msg": "cannot reach snapd at /run/snapd.socket: [Errno 111] Connection refused"}
        return "failed", shm_host_result(verify, apply, desired=WIRING, recorded="2026-12-01T10:00:00Z")
    findings = _objects(index)
    kind = "compliant"
    if roll < 0.10:
        kind = "non-compliant"
        findings += [
            _finding("connection-missing", "error", "plug shm-consumer:shmem",
                     "shm-consumer:shmem is not connected to shm-provider:shmem",
                     plug="shm-consumer:shmem", slot="shm-provider:shmem", undesired=False),
            _finding("connection-unexpected", "error", "plug shm-stranger:shmem",
                     "shm-stranger:shmem is connected to shm-provider:shmem, which no expected connection names",
                     plug="shm-stranger:shmem", slot="shm-provider:shmem", manual=True),
            _finding("private-dir-squatted", "error", "private shm-private",
                     "/dev/shm/snap.shm-private is owned by uid 1000, not root", path="/dev/shm/snap.shm-private",
                     uid=1000, gid=1000, mode="0755")]
    elif roll < 0.15:
        findings.append(_finding("path-too-broad", "warning", "slot shm-multi:alpha",
                                 "a lone * grants a whole /dev/shm level to both snaps", path="*"))
    if rnd.random() < 0.05:
        apply["changed"] = True
        apply["actions"] = [{"action": "connect", "plug": "shm-consumer:shmem", "slot": "shm-provider:shmem",
                             "reason": "listed as connected"}]
    verify = {"changed": False, "compliant": kind == "compliant", "snapd_version": version, "findings": findings}
    return kind, shm_host_result(verify, apply, desired=WIRING, recorded="2026-12-01T10:%02d:00Z" % (index % 60))


def make_fleet(size, where: Path):
    """The inventory, and by host the results and the flavours, and the expected count per status."""
    sys.path.insert(0, str(where.parent / "collections"))
    from ansible_collections.snapfleet.snapd.plugins.filter.shm_host_result import shm_host_result

    rnd = random.Random(size)
    groups = {"robots": {}, "gateways": {}}
    results, flavours, expected = {}, {}, {}
    for index in range(1, size + 1):
        name = "device%d" % index
        groups["robots" if index % 4 else "gateways"][name] = None
        flavours[name] = "bookworm" if index % 4 else "trixie"
        kind, result = fake_result(index, rnd, shm_host_result)
        expected["failed" if kind == "none" else kind] = expected.get("failed" if kind == "none" else kind, 0) + 1
        if result is not None:
            results[name] = dict(result, flavour=flavours[name])
    inventory = {"all": {"children": {
        "robots": {"hosts": groups["robots"], "vars": {"shared_memory_flavour": "bookworm"}},
        "gateways": {"hosts": groups["gateways"], "vars": {"shared_memory_flavour": "trixie"}}}}}
    (where / "inventory.json").write_text(json.dumps(inventory))
    return results, flavours, expected


def write_cache(results_file: Path, cache_dir: Path):
    """Run in a child process whose environment names the cache: store each result as the role's fact does."""
    from ansible import constants as C
    from ansible.plugins.loader import cache_loader, init_plugin_loader

    init_plugin_loader()
    cache = cache_loader.get(C.CACHE_PLUGIN)
    for name, result in json.loads(results_file.read_text()).items():
        cache.set(name, {"shared_memory_result": result})


def write_artifacts(results, flavours, path: Path):
    """The extra variables an AWX workflow passes to its next job: the merged artifacts of three slice jobs, each
    with its hosts' entries of its report as JSON text and the status of each (AWX slices the hosts ordered by
    name, every third one), written as AWX writes extra variables (YAML, every string !unsafe)."""
    from ansible_collections.snapfleet.snapd.plugins.filter.shm_fleet_report import (
        compact_entry, results_signature, shm_fleet_report,
    )
    from tests.system.awx import extravars_file

    names = sorted(results)
    artifacts = {}
    for number in range(SLICES):
        # each slice's report publishes its hosts' results as the role does: compact, signed
        hosts = shm_fleet_report(names[number::SLICES], {name: dict(results[name], flavour=flavours[name])
                                                         for name in names[number::SLICES]})["hosts"]
        text = json.dumps({host["name"]: compact_entry(host) for host in hosts}, separators=(",", ":"))
        artifacts["shm_report_job_%d" % (101 + number)] = {"results": text, "signature": results_signature(KEY, text)}
    path.write_text(extravars_file(artifacts))
    # what AWX stores and passes on: the artifacts as JSON, per host of the fleet
    return len(json.dumps(artifacts, separators=(",", ":"))) / max(len(names), 1)


# --- one measured run --------------------------------------------------------------------------------------

def run_report(source, size, work: Path, collections: Path, venv_bin: Path):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    command = [str(venv_bin / "ansible-playbook"), "-i", str(work / "inventory.json"), "snapfleet.snapd.report",
               "-e", "shm_report_dir=%s" % (work / ("out-" + source)), "-e", "shm_report_fail_on=never"]
    if source == "cache":
        env.update(ANSIBLE_CACHE_PLUGIN="jsonfile", ANSIBLE_CACHE_PLUGIN_CONNECTION=str(work / "cache"),
                   ANSIBLE_CACHE_PLUGIN_TIMEOUT="0")
    else:
        command += ["-e", "@%s" % (work / "artifacts.yml")]
        env["SHM_REPORT_KEY"] = KEY
    started = time.monotonic()
    with open(work / ("output-%s.txt" % source), "w") as output:
        process = subprocess.Popen(command, cwd=work, env=env, stdout=output, stderr=subprocess.STDOUT)
        # wait4: the resource use of the whole process tree it reaped (the workers included)
        pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit("the report of %d hosts from the %s failed (%d): see %s"
                         % (size, source, process.returncode, work / ("output-%s.txt" % source)))
    out = work / ("out-" + source)
    return {
        "source": source, "hosts": size, "seconds": round(seconds, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "files_mib": round(sum(path.stat().st_size for path in out.iterdir()) / 2 ** 20, 1),
        "report": json.loads((out / "shm-report.json").read_text()),
    }


def check(run, expected):
    report = run.pop("report")
    counts = {status: report["summary"][status] for status in ("compliant", "non-compliant", "failed", "unreachable")}
    want = {status: expected.get(status, 0) for status in counts}
    if len(report["hosts"]) != run["hosts"] or counts != want:
        raise SystemExit("the report of %d hosts from the %s is wrong: %d entries, %s, expected %s"
                         % (run["hosts"], run["source"], len(report["hosts"]), counts, want))


# --- the table and the verdict ------------------------------------------------------------------------------

def per_host_growth(runs, key):
    """For each size after the first, the cost per added host, and its ratio to the step before when that step
    started at LINEAR_FROM hosts or more."""
    rows, before = {}, None
    for smaller, larger in zip(runs, runs[1:]):
        cost = (larger[key] - smaller[key]) / (larger["hosts"] - smaller["hosts"])
        rows[larger["hosts"]] = (cost, cost / before if before and before > 0 else None)
        before = cost if smaller["hosts"] >= LINEAR_FROM else None
    return rows


def table_and_verdict(runs_by_source):
    lines = ["snapfleet.snapd.report on fake fleets (aggregation, JSON + Markdown + HTML + metrics, artifacts, gate)",
             "%-9s %7s %9s %9s %10s %8s %16s %16s %10s" % ("source", "hosts", "wall s", "CPU s", "peak MiB", "files MiB",
                                                           "ms/host added", "KiB/host added", "B/host art")]
    problems = []
    for source, runs in runs_by_source.items():
        time_growth = per_host_growth(runs, "cpu_seconds")
        memory_growth = per_host_growth(runs, "peak_rss_mib")
        for run in runs:
            cpu, cpu_ratio = time_growth.get(run["hosts"], (None, None))
            rss, rss_ratio = memory_growth.get(run["hosts"], (None, None))
            lines.append("%-9s %7d %9.1f %9.1f %10.1f %8.1f %16s %16s %10s" % (
                source, run["hosts"], run["seconds"], run["cpu_seconds"], run["peak_rss_mib"], run["files_mib"],
                "-" if cpu is None else "%.2f" % (cpu * 1000) + (" (x%.2f)" % cpu_ratio if cpu_ratio else ""),
                "-" if rss is None else "%.1f" % (rss * 1024) + (" (x%.2f)" % rss_ratio if rss_ratio else ""),
                "%.0f" % run["artifact_bytes_per_host"] if "artifact_bytes_per_host" in run else "-"))
            if run["hosts"] >= max(SIZES) and run["seconds"] > BUDGET_SECONDS:
                problems.append("%s: %d hosts took %.1f s, over the %d s budget"
                                % (source, run["hosts"], run["seconds"], BUDGET_SECONDS))
            for what, ratio in (("CPU time", cpu_ratio), ("memory", rss_ratio)):
                if ratio and ratio > 1 + LINEAR_TOLERANCE:
                    problems.append("%s: %s per added host grew x%.2f up to %d hosts: not linear"
                                    % (source, what, ratio, run["hosts"]))
    lines.append("(ms/host and KiB/host added: CPU time and peak memory per host added since the size before; (xN) "
                 "compares that with the step before, from %d hosts on; linear growth keeps it near 1. B/host art: "
                 "bytes per host the three slices publish as artifacts, at most %d)" % (LINEAR_FROM, ARTIFACT_BUDGET))
    largest = max(run["hosts"] for runs in runs_by_source.values() for run in runs)
    budget = ("%d hosts within %d s" % (largest, BUDGET_SECONDS) if largest >= max(SIZES)
              else "the %d s budget applies at %d hosts, not run" % (BUDGET_SECONDS, max(SIZES)))
    lines.append("verdict: " + ("; ".join(problems) if problems else "linear, and " + budget))
    return "\n".join(lines), problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--write-cache", nargs=2, metavar=("RESULTS_JSON", "CACHE_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write_cache:
        return write_cache(Path(args.write_cache[0]), Path(args.write_cache[1]))

    venv_bin = Path(sys.executable).parent
    runs_by_source = {source: [] for source in SOURCES}
    with tempfile.TemporaryDirectory(prefix="snapfleet-bench-report-") as tmp:
        collections = _collections(Path(tmp))
        for size in sorted(args.sizes):
            work = Path(tmp) / str(size)
            work.mkdir()
            results, flavours, expected = make_fleet(size, work)
            (work / "results.json").write_text(json.dumps(results))
            subprocess.run([sys.executable, "-m", "tests.benchmarks.fleet_report", "--write-cache",
                            str(work / "results.json"), str(work / "cache")], cwd=REPO, check=True,
                           env=dict(os.environ, ANSIBLE_CACHE_PLUGIN="jsonfile",
                                    ANSIBLE_CACHE_PLUGIN_CONNECTION=str(work / "cache")))
            artifact_bytes = write_artifacts(results, flavours, work / "artifacts.yml")
            for source in SOURCES:
                run = run_report(source, size, work, collections, venv_bin)
                check(run, expected)
                if source == "artifacts":
                    run["artifact_bytes_per_host"] = round(artifact_bytes, 1)
                    if artifact_bytes > ARTIFACT_BUDGET:
                        raise SystemExit("the slices publish %.0f bytes a host, over the %d-byte budget"
                                         % (artifact_bytes, ARTIFACT_BUDGET))
                runs_by_source[source].append(run)
                print("[bench-report] %-9s %6d hosts: %6.1f s wall, %6.1f s CPU, %7.1f MiB peak"
                      % (source, size, run["seconds"], run["cpu_seconds"], run["peak_rss_mib"]), flush=True)
            shutil.rmtree(work)
    text, problems = table_and_verdict(runs_by_source)
    print("\n" + text)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "table.txt").write_text(text + "\n")
    (args.results / "results.json").write_text(json.dumps({
        "runs": runs_by_source, "budget_seconds": BUDGET_SECONDS,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
    }, indent=2) + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
