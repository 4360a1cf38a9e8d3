"""`make bench-controller`: what the controller itself spends per device on a no-op, at fleet scale (no lab).

Issue 19 asks that one controller, or one AWX execution node, spend at most 1.3 times per device on a
shared-memory no-op what `raw` spends running the same `snap debug api` command. This measures it on 500
inventory hosts (HOSTS), forks 20 (FORKS), each variant REPEAT times in alternating order:

- `ours`: the `snapfleet.snapd.shm_connection` no-op (the desired connection is there) with the default
  `transport: auto`, which reads over `snap debug api`;
- `raw`: `ansible.builtin.raw: snap debug api /v2/connections` on the same hosts.

The hosts are reached with the `local` connection, so the "devices" run on this machine: a FAKE `snap`
(benchmark only) replays the answers that the unit tests' fake snapd gave to the same requests, recorded at
the start. To keep the devices' work out of the controller's, every command a device runs goes through a
FAKE device shell (Ansible's `executable`, benchmark only) that writes the CPU time the command took (its
`times`) to a file; the controller's CPU is the whole ansible-playbook process tree's CPU minus those. Both
variants pay the same for that shell, and for the fork and exec of the `local` connection.

Every run is checked: every host ok and unchanged; for `ours`, every host's result says it went over
`snap debug api` with the number of snapd requests of a no-op. Reported per variant: the medians of wall
time, controller CPU per host, device CPU per host and the peak resident memory of the largest process, and
the ratio of the controller CPU per host within each repetition; written to
tests/benchmarks/results/controller/. Fails when a run fails its check. The ratio is judged against the
target (TARGET) in the table, not by the exit code: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.unit.fake_snapd import FakeSnapd  # noqa: E402  (the unit tests' fake, to record answers from)

RESULTS = REPO / "tests" / "benchmarks" / "results" / "controller"
TARGET = 1.3
PROVIDER, CONSUMER = "shm-provider:shmem", "shm-consumer:shmem"
RAW_COMMAND = "snap debug api /v2/connections"

# A FAKE device shell, benchmark only: runs the command with /bin/sh, then appends to a file of its own the CPU
# time the command took (its children) and the time it took itself, both to the microsecond (the shell's
# `times` counts in clock ticks of 10 ms, too coarse for a command of a few milliseconds).
DEVICE_SHELL = """#!%s -SI
# FAKE device shell (tests/benchmarks/controller_cost.py, benchmark only)
import os, resource, sys
rc = os.spawnv(os.P_WAIT, "/bin/sh", ["/bin/sh"] + sys.argv[1:])
own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
with open(os.path.join(os.environ["BENCH_DEVICE_TIMES"], str(os.getpid())), "a") as out:
    out.write("%%.6f %%.6f\\n" %% (kids.ru_utime + kids.ru_stime, own.ru_utime + own.ru_stime))
sys.exit(rc if rc >= 0 else 128 - rc)
""" % sys.executable

# The recorder: the unit tests' FAKE snap in front of the fake snapd, saving each answer for the replay.
RECORDER = """#!/bin/sh
# FAKE snap recorder (tests/benchmarks/controller_cost.py, benchmark only)
n=$$  # the reads of a run start at once
printf '%s\\n' "$*" >"$BENCH_CANNED/$n.args"
"$BENCH_REAL_SNAP" "$@" >"$BENCH_CANNED/$n.out" 2>&1
rc=$?
echo "$rc" >"$BENCH_CANNED/$n.rc"
cat "$BENCH_CANNED/$n.out"
exit "$rc"
"""


def log(message):
    print("[bench-controller %s] %s" % (time.strftime("%H:%M:%S"), message), file=sys.stderr, flush=True)


def _quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def replay_snap(canned: Path) -> str:
    """A FAKE `snap`, benchmark only: a `case` over the recorded arguments, each answered by `cat` of its file."""
    arms = []
    for args_file in sorted(canned.glob("*.args")):
        number = args_file.stem
        args = args_file.read_text().rstrip("\n")
        rc = int((canned / (number + ".rc")).read_text())
        arms.append("  %s) cat %s; exit %d;;" % (_quote(args), _quote(str(canned / (number + ".out"))), rc))
    return "\n".join(["#!/bin/sh", "# FAKE snap (tests/benchmarks/controller_cost.py, benchmark only): recorded answers",
                      'case "$*" in'] + arms +
                     ["  *) echo \"error: the FAKE snap has no recorded answer for: $*\" >&2; exit 1;;", "esac", ""])


class Bench:
    def __init__(self, work: Path, hosts: int, forks: int):
        self.work, self.hosts, self.forks = work, hosts, forks
        self.bin = work / "bin"
        self.bin.mkdir()
        collections = work / "collections" / "ansible_collections" / "snapfleet"
        collections.mkdir(parents=True)
        (collections / "snapd").symlink_to(REPO)
        self.collections = work / "collections"
        shell = work / "device-sh"
        shell.write_text(DEVICE_SHELL)
        shell.chmod(0o755)
        self.device_shell = shell
        self.times = work / "times"
        self.times.mkdir()
        self.record = work / "record.jsonl"
        (work / "ours.yml").write_text(
            "- hosts: all\n  gather_facts: false\n  tasks:\n"
            "    - snapfleet.snapd.shm_connection:\n"
            "        connections: [{plug: %s, slot: %s}]\n" % (CONSUMER, PROVIDER))
        (work / "raw.yml").write_text(
            "- hosts: all\n  gather_facts: false\n  tasks:\n"
            "    - ansible.builtin.raw: %s\n      changed_when: false\n" % RAW_COMMAND)

    def inventory(self, hosts):
        path = self.work / ("hosts-%d.yml" % hosts)
        lines = ["all:", "  vars:", "    ansible_connection: local",
                 "    ansible_python_interpreter: %s" % sys.executable,
                 "    ansible_shell_executable: /bin/sh", "  hosts:"]
        lines += ["    device%04d:" % number for number in range(hosts)]
        path.write_text("\n".join(lines) + "\n")
        return path

    def env(self):
        env = dict(os.environ)
        env.update({
            "PATH": "%s:%s" % (self.bin, env.get("PATH", "")),
            "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
            "ANSIBLE_EXECUTABLE": str(self.device_shell),
            "ANSIBLE_FORKS": str(self.forks),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "tests" / "benchmarks" / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "bench_record",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_NOCOLOR": "1",
            "SNAPFLEET_BENCH_RECORD": str(self.record),
            "BENCH_DEVICE_TIMES": str(self.times),
            "PYTHONWARNINGS": "ignore",
        })
        return env

    def record_answers(self):
        """One host's no-op against the unit tests' fake snapd, through the recorder: the answers to replay."""
        canned = self.work / "canned"
        canned.mkdir()
        fake = FakeSnapd(version="2.77")
        fake.add_system_slot()
        fake.add_slot("shm-provider", "shmem", {"shared-memory": "lab-shm", "write": ["lab-shm-*"]})
        fake.add_plug("shm-consumer", "shmem", {"shared-memory": "lab-shm"})
        fake.add_connection(CONSUMER, PROVIDER)
        recorder = self.bin / "snap"
        recorder.write_text(RECORDER)
        recorder.chmod(0o755)
        env = dict(self.env(), BENCH_CANNED=str(canned), FAKE_SNAPD_SOCKET=fake.socket_path,
                   FAKE_SNAP_PYTHON=sys.executable, BENCH_REAL_SNAP=str(REPO / "tests" / "unit" / "fake_snap_bin" / "snap"))
        with fake:
            for playbook in ("ours.yml", "raw.yml"):
                done = self._playbook(playbook, self.inventory(1), env)
                if done["rc"] != 0:
                    raise SystemExit("recording the answers failed (%s):\n%s" % (playbook, done["output"][:3000]))
        recorder.write_text(replay_snap(canned))
        log("recorded %d snapd answers: %s" % (len(list(canned.glob("*.args"))), ", ".join(
            sorted({path.read_text().split()[2] for path in canned.glob("*.args")}))))

    def _playbook(self, playbook, inventory, env):
        """Run ansible-playbook in a child of a fresh measuring process: its tree's CPU and largest RSS alone."""
        command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), playbook]
        done = subprocess.run([sys.executable, __file__, "--measure"] + command, cwd=self.work, env=env,
                              capture_output=True, text=True, check=False)
        measured = json.loads(done.stdout.splitlines()[-1])
        return measured

    def run(self, variant, inventory):
        for path in self.times.glob("*"):
            path.unlink()
        if self.record.exists():
            self.record.unlink()
        done = self._playbook(variant + ".yml", inventory, self.env())
        self.check(variant, done)
        device, shells = self.device_cpu()
        return {"wall_s": done["wall_s"], "cpu_s": done["cpu_s"], "device_cpu_s": device, "device_shells_cpu_s": shells,
                "controller_cpu_s": done["cpu_s"] - device - shells, "peak_rss_mib": done["peak_rss_mib"]}

    def check(self, variant, done):
        output = done["output"]
        recap = output[output.rfind("PLAY RECAP"):]
        good = recap.count("ok=1    changed=0    unreachable=0    failed=0")
        if done["rc"] != 0 or good != self.hosts:
            raise SystemExit("%s: %d of %d hosts ok and unchanged (rc %s):\n%s"
                             % (variant, good, self.hosts, done["rc"], output[-3000:]))
        if variant == "ours":
            records = [json.loads(line) for line in self.record.read_text().splitlines()]
            wrong = [record for record in records if record["transport"] != "snap-debug-api" or record["changed"]]
            if len(records) != self.hosts or wrong:
                raise SystemExit("ours: %d results recorded for %d hosts; not a no-op over snap debug api: %s"
                                 % (len(records), self.hosts, wrong[:3]))
            self.requests = sorted({record["api_requests"] for record in records})
            self.remote_commands = sorted({record["remote_commands"] for record in records})

    def device_cpu(self):
        """``(device, shells)``: the CPU time of the devices' commands, and of the FAKE device shells themselves."""
        device = shells = 0.0
        for path in self.times.iterdir():
            for line in path.read_text().splitlines():
                command, own = line.split()
                device += float(command)
                shells += float(own)
        return device, shells


# the arguments each module gets for the payload measurement: the module runs on the local host, where there is
# no snapd (it fails, after its payload was sent, which is what is measured)
PAYLOAD_ARGS = {"shm_connection": "plug=%s slot=%s transport=python" % (CONSUMER, PROVIDER),
                "shm_info": "transport=python", "shm_verify": "transport=python", "shm_lint": "content=name:x"}


def payload_sizes(bench):
    """Bytes of each module's AnsiballZ payload as Ansible sends it: one run each, without pipelining, keeping the
    remote files, and the size of the AnsiballZ file left in the remote temporary directory."""
    sizes = {}
    for module, arguments in PAYLOAD_ARGS.items():
        remote = bench.work / ("remote-" + module)
        remote.mkdir()
        env = dict(bench.env(), ANSIBLE_PIPELINING="0", ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_REMOTE_TMP=str(remote),
                   ANSIBLE_CALLBACKS_ENABLED="bench_record")
        done = subprocess.run([str(Path(sys.executable).parent / "ansible"), "-i", str(bench.inventory(1)), "device0000",
                        "-m", "snapfleet.snapd." + module, "-a", arguments], cwd=bench.work, env=env,
                       capture_output=True, text=True, check=False, timeout=300)
        found = sorted(remote.glob("*/AnsiballZ_%s.py" % module))
        if len(found) != 1:
            raise SystemExit("payload of %s: expected one AnsiballZ file under %s, found %d:\n%s"
                             % (module, remote, len(found), (done.stdout + done.stderr)[-3000:]))
        sizes[module] = found[0].stat().st_size
    return sizes


def measure(command):
    """--measure: run COMMAND and print one JSON line: rc, wall time, the tree's CPU time, the largest RSS."""
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"rc": done.returncode, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
                      "peak_rss_mib": usage.ru_maxrss / 1024, "output": done.stdout + done.stderr}))


def summarise(runs, hosts):
    summary = {}
    for variant in ("ours", "raw"):
        rows = runs[variant]
        summary[variant] = {
            "wall_s": statistics.median(row["wall_s"] for row in rows),
            "controller_cpu_ms_per_host": statistics.median(row["controller_cpu_s"] for row in rows) * 1000 / hosts,
            "device_cpu_ms_per_host": statistics.median(row["device_cpu_s"] for row in rows) * 1000 / hosts,
            "peak_rss_mib": statistics.median(row["peak_rss_mib"] for row in rows),
        }
    ratios = [ours["controller_cpu_s"] / raw["controller_cpu_s"] for ours, raw in zip(runs["ours"], runs["raw"])]
    summary["ratios"] = ratios
    summary["ratio_median"] = statistics.median(ratios)
    return summary


def table(results):
    summary, hosts = results["summary"], results["hosts"]
    lines = ["controller cost of a no-op: %d hosts, forks %d, %d repetitions (medians)" % (
        hosts, results["forks"], results["repeat"]),
        "%-6s %10s %22s %18s %14s" % ("", "wall s", "controller CPU ms/host", "device CPU ms/host", "peak RSS MiB")]
    for variant in ("ours", "raw"):
        row = summary[variant]
        lines.append("%-6s %10.1f %22.1f %18.1f %14.1f" % (
            variant, row["wall_s"], row["controller_cpu_ms_per_host"], row["device_cpu_ms_per_host"],
            row["peak_rss_mib"]))
    verdict = "within" if summary["ratio_median"] <= TARGET else "OVER"
    lines.append("ours / raw, controller CPU per host: %.2fx (per repetition: %s); target %.1fx: %s" % (
        summary["ratio_median"], ", ".join("%.2f" % ratio for ratio in summary["ratios"]), TARGET, verdict))
    lines.append("ours: %s snapd requests and %s remote commands per host" % (
        results["api_requests"], results["remote_commands"]))
    lines.append("payload per module, the AnsiballZ file Ansible sends where the module runs: %s" % ", ".join(
        "%s %.1f KiB" % (module, size / 1024) for module, size in results["payload_bytes"].items()))
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--measure"]:
        measure(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-controller-") as tmp:
        bench = Bench(Path(tmp), args.hosts, args.forks)
        bench.record_answers()
        payloads = payload_sizes(bench)
        log("payload per module (bytes): %s" % ", ".join("%s %d" % item for item in payloads.items()))
        inventory = bench.inventory(args.hosts)
        runs = {"ours": [], "raw": []}
        for repetition in range(args.repeat):
            order = ("ours", "raw") if repetition % 2 == 0 else ("raw", "ours")
            for variant in order:
                row = bench.run(variant, inventory)
                runs[variant].append(row)
                log("%s, repetition %d: %.1f s wall, controller CPU %.1f ms/host, device CPU %.1f ms/host" % (
                    variant, repetition + 1, row["wall_s"], row["controller_cpu_s"] * 1000 / args.hosts,
                    row["device_cpu_s"] * 1000 / args.hosts))
        results = {
            "hosts": args.hosts, "forks": args.forks, "repeat": args.repeat, "target": TARGET,
            "runs": runs, "summary": summarise(runs, args.hosts),
            "api_requests": bench.requests, "remote_commands": bench.remote_commands, "payload_bytes": payloads,
            "machine": "%s, %d CPUs; Python %s" % (platform.processor() or platform.machine(), os.cpu_count(),
                                                   platform.python_version()),
            "duration_s": round(time.monotonic() - started, 1),
        }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    text = table(results)
    (args.results / "table.txt").write_text(text + "\n")
    print(text)
    log("wrote %s and table.txt, in %.0f s" % (args.results / "results.json", results["duration_s"]))


if __name__ == "__main__":
    main()
