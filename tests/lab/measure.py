"""Measure the lab on this machine: warm `up` of 1 and 3 hosts, RAM per VM, one `snap connect` per flavour.

Run from the repo root: ``python3 -m tests.lab.measure [--rounds N]``. Prints a Markdown table of
medians (and min/max) for tests/lab/README.md. It starts and stops its own fleets in a separate run
folder, so it never touches a fleet you have up.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.lab import images
from tests.lab.paths import REPO
from tests.lab.recipe import FLAVOURS, MIXED, NO_PYTHON, parse_flavours

PYTHON_LESS = f"forky:{NO_PYTHON}"


def _lab(*args, env):
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "tests.lab", *args], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def _fleet(env):
    return json.loads((Path(env["SNAPFLEET_LAB_RUN"]) / "fleet.json").read_text())["hosts"]


def _rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _connect_seconds(host):
    from tests.lab.ssh import Guest
    # Timed inside the guest with the shell alone (a host may have no Python).
    timed = ("start=$(date +%s.%N); snap {verb} shm-consumer:shmem shm-provider:shmem >/dev/null; "
             "echo $start $(date +%s.%N)")
    seconds = []
    with Guest(host["port"], Path(host["key_file"])) as guest:
        for verb in ("connect", "disconnect"):
            start, end = guest.run(timed.format(verb=verb))[1].split()
            seconds.append(float(end) - float(start))
    return tuple(seconds)


def _stats(values):
    return f"{statistics.median(values):.1f} s (min {min(values):.1f}, max {max(values):.1f}, n={len(values)})"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m tests.lab.measure", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))  # still stop the fleet
    measured = parse_flavours(f"{MIXED},{PYTHON_LESS}")
    for flavour in measured:
        images.build(flavour)
    with tempfile.TemporaryDirectory(prefix="snapfleet-measure-") as run:
        env = dict(os.environ, SNAPFLEET_LAB_RUN=run)
        up1, up1_python_less, up3, rss, connects = [], [], [], [], {name: ([], []) for name in FLAVOURS}
        try:
            for _ in range(args.rounds):
                up1.append(_lab("up", "--hosts", "1", "--flavour", "bookworm", env=env))
                _lab("down", env=env)
                up1_python_less.append(_lab("up", "--flavour", PYTHON_LESS, env=env))
                rss += [_rss_mb(host["pid"]) for host in _fleet(env)]
                _lab("down", env=env)
                up3.append(_lab("up", "--hosts", "3", "--flavour", MIXED, env=env))
                hosts = _fleet(env)
                rss += [_rss_mb(host["pid"]) for host in hosts]
                for host in hosts:  # one host of each flavour, one at a time
                    connect, disconnect = _connect_seconds(host)
                    connects[host["flavour"]][0].append(connect)
                    connects[host["flavour"]][1].append(disconnect)
                _lab("down", env=env)
        finally:
            _lab("down", env=env)
    print("| what | measured |\n|---|---|")
    for flavour in measured:
        record = images.cached_image(flavour).ready_dir / "build-times.json"
        if not record.is_file():
            print(f"| cold build, {flavour.label} | not recorded (image built before build-times.json existed) |")
            continue
        times = json.loads(record.read_text())
        if not flavour.python:
            print(f"| cold build, {flavour.label} (after {flavour.name}) | {times['remove_python_s']:.0f} s "
                  f"(resume, purge Python, check, saved state) |")
            continue
        print(f"| cold build, {flavour.label} | {times['base_s'] + times['bake_s']:.0f} s "
              f"(debootstrap + image {times['base_s']:.0f} s, boot + snaps + saved state {times['bake_s']:.0f} s) |")
    print(f"| warm `up`, 1 host (bookworm) | {_stats(up1)} |")
    print(f"| warm `up`, 1 host ({PYTHON_LESS}) | {_stats(up1_python_less)} |")
    print(f"| warm `up`, 3 hosts ({MIXED}: {', '.join(FLAVOURS)}) | {_stats(up3)} |")
    print(f"| qemu RSS per VM, after `up` | {statistics.median(rss):.0f} MB (min {min(rss):.0f}, max {max(rss):.0f}) |")
    for name, (connect, disconnect) in connects.items():
        print(f"| `snap connect` shm-consumer to shm-provider, {name} | {_stats(connect)} |")
        print(f"| `snap disconnect`, {name} | {_stats(disconnect)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
