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
from tests.lab.recipe import FLAVOURS


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
    timed = ("python3 -c 'import subprocess, time; s = time.monotonic(); "
             "subprocess.run([\"snap\", \"{verb}\", \"shm-consumer:shmem\", \"shm-provider:shmem\"], check=True, "
             "stdout=subprocess.DEVNULL); print(time.monotonic() - s)'")
    with Guest(host["port"], Path(host["key_file"])) as guest:
        _, connect, _ = guest.run(timed.format(verb="connect"))
        _, disconnect, _ = guest.run(timed.format(verb="disconnect"))
    return float(connect.strip()), float(disconnect.strip())


def _stats(values):
    return f"{statistics.median(values):.1f} s (min {min(values):.1f}, max {max(values):.1f}, n={len(values)})"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m tests.lab.measure", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))  # still stop the fleet
    for name in FLAVOURS:
        images.build(name)
    with tempfile.TemporaryDirectory(prefix="snapfleet-measure-") as run:
        env = dict(os.environ, SNAPFLEET_LAB_RUN=run)
        up1, up3, rss, connects = [], [], [], {name: ([], []) for name in FLAVOURS}
        try:
            for _ in range(args.rounds):
                up1.append(_lab("up", "--hosts", "1", "--flavour", "bookworm", env=env))
                _lab("down", env=env)
                up3.append(_lab("up", "--hosts", "3", "--flavour", "mixed", env=env))
                hosts = _fleet(env)
                rss += [_rss_mb(host["pid"]) for host in hosts]
                for host in hosts[:2]:  # one host of each flavour, one at a time
                    connect, disconnect = _connect_seconds(host)
                    connects[host["flavour"]][0].append(connect)
                    connects[host["flavour"]][1].append(disconnect)
                _lab("down", env=env)
        finally:
            _lab("down", env=env)
    print("| what | measured |\n|---|---|")
    for name in FLAVOURS:
        record = images.cached_image(name).ready_dir / "build-times.json"
        if not record.is_file():
            print(f"| cold build, {name} | not recorded (image built before build-times.json existed) |")
            continue
        times = json.loads(record.read_text())
        print(f"| cold build, {name} | {times['base_s'] + times['bake_s']:.0f} s "
              f"(debootstrap + image {times['base_s']:.0f} s, boot + snaps + saved state {times['bake_s']:.0f} s) |")
    print(f"| warm `up`, 1 host (bookworm) | {_stats(up1)} |")
    print(f"| warm `up`, 3 hosts (mixed) | {_stats(up3)} |")
    print(f"| qemu RSS per VM, after `up` | {statistics.median(rss):.0f} MB (min {min(rss):.0f}, max {max(rss):.0f}) |")
    for name, (connect, disconnect) in connects.items():
        print(f"| `snap connect` shm-consumer to shm-provider, {name} | {_stats(connect)} |")
        print(f"| `snap disconnect`, {name} | {_stats(disconnect)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
