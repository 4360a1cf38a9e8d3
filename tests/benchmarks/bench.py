"""`make bench`: how long shared-memory wiring takes on a real snapd host, ours against the alternatives.

Variants, each connecting K plugs of the lab's shm-many to the matching slots of shm-hub on one forky
host (snapd 2.77, where both of our transports work):
  ours_auto     the snapfleet.snapd.shared_memory role (one shm_connection run for the whole list) with the
                default transport auto: on this host it reads over snap debug api, and the module makes any
                change; verification off (the others verify nothing, so verification is timed apart)
  ours_api      the same role with transport snap-debug-api forced (the path of a host without Python)
  ours_python   the same role with transport python forced: the module runs on the host and uses the socket
  snap_connect  community.general.snap_connect, one module run per connection
  naive         ansible.builtin.command `snap connect PLUG SLOT`, one run per connection
  floor         the same `snap connect` commands in one shell on the host, timed inside the guest:
                snapd's own time with no Ansible at all
and, in no-op runs only, the two sides of one `ansible` command each:
  ours_adhoc    `ansible HOST -m snapfleet.snapd.shm_connection` with transport snap-debug-api
  raw           `ansible HOST -m raw -a 'snap debug api /v2/connections'`: the bare API read
in two modes: `noop` (all K already connected) and `fresh` (none connected; every hub/many connection
is removed before the run, outside the timed part). Each repetition runs every variant once, in an
order rotated per repetition, and ratios are taken within the repetition (a "pair"), so a slow spell
on this shared machine hits both sides of a ratio. report.targets() turns them into issue 11's targets.

Every shm_connection run of ours is checked to have used the transport it names, and its snapd
requests and remote commands are recorded from its own result (callback_plugins/bench_record.py).

Also measured: shm_info and shm_verify per host and transport for K = 1 and 10, and the audit
playbook on 1 and 3 hosts with forks = 3. Ansible runs are timed as whole commands (ansible-playbook's
own startup included), with pipelining on, as the lab's integration tests run.

Run it from the repository root with the project's venv (the Makefile does):
    .venv/bin/python -m tests.benchmarks.bench --repeat 3 --ks 1 5 10
"""

import argparse
import json
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import yaml

from tests.benchmarks import report

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
REQUIREMENTS = REPO / "tests" / "requirements" / "bench.txt"
CACHE = Path(os.environ.get("SNAPFLEET_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "snapfleet")
AUTO, PYTHON, SNAP_DEBUG_API = "auto", "python", "snap-debug-api"
# what each variant of ours must report as its transport, in a no-op run and in a run from nothing
OURS = {"ours_auto": {"noop": SNAP_DEBUG_API, "fresh": PYTHON}, "ours_api": {"noop": SNAP_DEBUG_API, "fresh": SNAP_DEBUG_API},
        "ours_python": {"noop": PYTHON, "fresh": PYTHON}, "ours_adhoc": {"noop": SNAP_DEBUG_API}}
VARIANTS = {
    "noop": ("ours_auto", "ours_api", "ours_python", "snap_connect", "naive", "floor", "ours_adhoc", "raw"),
    "fresh": ("ours_auto", "ours_api", "ours_python", "snap_connect", "naive", "floor"),
}
PLUGS = tuple("p%02d" % i for i in range(1, 11))
BENCH_HOST = "lab3"  # forky in a mixed fleet: snapd 2.77, both transports
BENCH_FLAVOUR = "forky"
# read-only modules: bookworm (snapd 2.57) has only the module; forky both paths
INFO_RUNS = (("lab1", PYTHON), ("lab3", PYTHON), ("lab3", SNAP_DEBUG_API))


def log(message):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


def connections(k):
    return [{"plug": "shm-many:%s" % plug, "slot": "shm-hub:s%s" % plug[1:]} for plug in PLUGS[:k]]


# --- what the benchmark runs on ---------------------------------------------------------------


def community_general():
    """The community.general pinned in bench.txt, unpacked from the `ansible` wheel into the cache.

    Only ansible_collections/community/general is used, on ANSIBLE_COLLECTIONS_PATH: the venv's
    ansible-core stays as it is. The wheel says Python >= 3.12 for its own ansible-core; the
    collection itself runs on our 2.19 (its meta/runtime.yml asks for >= 2.17).
    """
    pin = next(line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines()
               if line.split("#")[0].strip())
    version = pin.split("==")[1]
    root = CACHE / "bench" / ("ansible-%s-collections" % version)
    if not (root / ".complete").exists():
        wheels = CACHE / "bench" / "wheels"
        wheel = wheels / ("ansible-%s-py3-none-any.whl" % version)
        if not wheel.exists():
            log("downloading %s (no dependencies) into %s" % (pin, wheels))
            subprocess.run([str(VENV_BIN / "python"), "-m", "pip", "download", "--quiet", "--no-deps",
                            "--only-binary=:all:", "--python-version", "3.12", "-d", str(wheels), pin], check=True)
        log("unpacking community.general from %s" % wheel.name)
        with zipfile.ZipFile(wheel) as archive:
            members = [n for n in archive.namelist() if n.startswith("ansible_collections/community/general/")]
            archive.extractall(root, members)
        (root / ".complete").touch()
    manifest = json.loads((root / "ansible_collections/community/general/MANIFEST.json").read_text())
    return root, pin, manifest["collection_info"]["version"]


def install_ours(run_dir):
    tarballs = sorted((REPO / "build").glob("snapfleet-snapd-*.tar.gz"))
    if not tarballs:
        raise SystemExit("no build/snapfleet-snapd-*.tar.gz: run `make build` first (make bench does)")
    target = run_dir / "collections"
    subprocess.run(["rm", "-rf", str(target)], check=True)
    subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "-p", str(target), str(tarballs[-1])],
                   check=True, stdout=subprocess.DEVNULL)
    return target


def machine():
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory = int(line.split()[1]) // (1024 * 1024)
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    core = subprocess.run([str(VENV_BIN / "ansible"), "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": memory,
        "os": platform.platform(),
        "qemu": qemu + ", TCG (software emulation), guests -smp 2 -m 1024",
        "ansible_core": core,
        "python": platform.python_version(),
    }


# --- the lab ----------------------------------------------------------------------------------


class Lab:
    """A mixed fleet in our own run folder, resumed by `up` and always stopped by `down`."""

    def __init__(self, run_dir, hosts):
        self.env = dict(os.environ, SNAPFLEET_LAB_RUN=str(run_dir))
        self.count = hosts
        self.inventory = None
        self.hosts = {}
        self._guests = {}

    def _lab(self, *args, capture=False):
        return subprocess.run([str(VENV_BIN / "python"), "-m", "tests.lab", *args], cwd=REPO, env=self.env,
                              check=True, text=True, stdout=subprocess.PIPE if capture else None)

    def up(self):
        self._lab("up", "--hosts", str(self.count), "--flavour", "mixed")
        self.inventory = Path(self._lab("status", "--inventory", capture=True).stdout.strip())
        data = yaml.safe_load(self.inventory.read_text())
        for group in data["all"]["children"]["lab"]["children"].values():
            self.hosts.update(group["hosts"])
        self.default_key = data["all"]["vars"]["ansible_ssh_private_key_file"]
        if self.hosts.get(BENCH_HOST, {}).get("snapd_flavour") != BENCH_FLAVOUR:
            raise RuntimeError("the mixed fleet has no %s host %s (hosts: %s); the lab's `mixed` changed"
                               % (BENCH_FLAVOUR, BENCH_HOST, sorted(self.hosts)))

    def down(self):
        for guest in self._guests.values():
            guest.close()
        self._guests = {}
        self._lab("down")

    def guest(self, host):
        from tests.lab.ssh import Guest

        if host not in self._guests:
            key = self.hosts[host].get("ansible_ssh_private_key_file", self.default_key)  # one key per flavour
            self._guests[host] = Guest(self.hosts[host]["ansible_port"], Path(key))
        return self._guests[host]

    def sh(self, host, script):
        return self.guest(host).run("bash -c %s" % shlex.quote(script), timeout=900)[1]

    def connected(self, host):
        """The shm-many plugs connected to their shm-hub slot, as `snap connections` lists them."""
        out = self.sh(host, "snap connections shm-many 2>/dev/null")
        return {m.group(1) for m in re.finditer(r"shm-many:(p\d\d)\s+shm-hub:s\d\d", out)}

    def wire(self, host, k):
        """Leave exactly the first k hub/many pairs connected (with the snap CLI; not timed)."""
        want = set(PLUGS[:k])
        now = self.connected(host)
        steps = ["snap disconnect shm-many:%s shm-hub:s%s" % (p, p[1:]) for p in sorted(now - want)]
        steps += ["snap connect shm-many:%s shm-hub:s%s" % (p, p[1:]) for p in sorted(want - now)]
        if steps:
            self.sh(host, "set -e; " + "; ".join(s + " 2>/dev/null" for s in steps))
        return now

    def floor(self, host, k):
        """K `snap connect` in one shell, timed inside the guest (seconds)."""
        connects = "; ".join("snap connect %s %s 2>/dev/null" % (c["plug"], c["slot"]) for c in connections(k))
        out = self.sh(host, "set -e; s=$(date +%%s%%N); %s; e=$(date +%%s%%N); echo $(( (e - s) / 1000 ))" % connects)
        return int(out.strip().splitlines()[-1]) / 1e6


# --- Ansible ----------------------------------------------------------------------------------


class Controller:
    def __init__(self, run_dir, lab, collections_path):
        self.run_dir = run_dir
        self.lab = lab
        self.playbooks = write_playbooks(run_dir)
        self.env = dict(
            os.environ,
            ANSIBLE_COLLECTIONS_PATH=collections_path,
            ANSIBLE_PIPELINING="1",
            ANSIBLE_HOST_KEY_CHECKING="False",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_DEPRECATION_WARNINGS="0",
            ANSIBLE_SSH_CONTROL_PATH_DIR=str(run_dir / "cp"),
            ANSIBLE_LOCAL_TEMP=str(run_dir / "tmp"),
            ANSIBLE_CALLBACK_PLUGINS=str(HERE / "callback_plugins"),
            ANSIBLE_CALLBACKS_ENABLED="bench_record",
            SNAPFLEET_BENCH_RECORD=str(run_dir / "record.jsonl"),
        )
        self.record = Path(self.env["SNAPFLEET_BENCH_RECORD"])

    def _vars(self, k, extra=None):
        path = self.run_dir / ("vars-%d.json" % k)
        data = {"bench_connections": connections(k), "shared_memory_connections": connections(k)}
        data.update(extra or {})
        path.write_text(json.dumps(data))
        return path

    def _run(self, argv, what):
        start = time.monotonic()
        done = subprocess.run(argv, cwd=self.run_dir, env=self.env, text=True, capture_output=True)
        elapsed = time.monotonic() - start
        if done.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s%s" % (what, done.returncode, done.stdout[-3000:], done.stderr[-2000:]))
        return elapsed, done.stdout

    def playbook(self, playbook, k, limit, forks=5, extra=None):
        argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(self.lab.inventory), "--limit", limit,
                "--forks", str(forks), "-e", "@%s" % self._vars(k, extra), str(playbook)]
        return self._run(argv, "ansible-playbook %s (K=%d, %s)" % (playbook, k, limit))[0]

    def recorded_playbook(self, playbook, k, host):
        """A timed playbook run and what its one shm_connection task reported (from the bench_record callback)."""
        self.record.unlink(missing_ok=True)
        seconds = self.playbook(playbook, k, host)
        records = [json.loads(line) for line in self.record.read_text().splitlines()] if self.record.exists() else []
        if len(records) != 1:
            raise RuntimeError("%s (K=%d) recorded %d shm_connection results, not 1" % (playbook.name, k, len(records)))
        return seconds, records[0]

    def adhoc(self, host, module, args):
        """One ad-hoc `ansible HOST -m MODULE -a ARGS` run: (wall seconds, what it printed)."""
        argv = [str(VENV_BIN / "ansible"), host, "-i", str(self.lab.inventory), "-m", module]
        if args:
            argv += ["-a", args if isinstance(args, str) else json.dumps(args)]
        return self._run(argv, "ansible %s -m %s" % (host, module))

    def module(self, host, module, args):
        """One ad-hoc module run: (wall seconds, the module's result)."""
        elapsed, out = self.adhoc(host, module, args)
        # the default callback prints `HOST | STATUS => {JSON result}`
        return elapsed, json.loads(out.split("=>", 1)[1])


def _ours(transport):
    # the role with verification off: the others verify nothing (the lab logs in as root, so no become)
    return {"roles": [{"role": "snapfleet.snapd.shared_memory", "vars": {
        "shared_memory_connections": "{{ bench_connections }}",
        "shared_memory_verify": False,
        "shared_memory_become": False,
        "shared_memory_transport": transport,
    }}]}


# The Ansible variants' playbooks, written into the run folder: community.general is only there at
# run time, so ansible-lint could not resolve snap_connect in a playbook kept in the repository.
PLAYBOOKS = {
    "ours_auto": _ours(AUTO),
    "ours_api": _ours(SNAP_DEBUG_API),
    "ours_python": _ours(PYTHON),
    "snap_connect": {"tasks": [{
        "name": "Connect one plug to its slot",
        "community.general.snap_connect": {"plug": "{{ item.plug }}", "slot": "{{ item.slot }}"},
        "loop": "{{ bench_connections }}",
    }]},
    "naive": {"tasks": [{
        "name": "Connect one plug to its slot",
        "ansible.builtin.command": {"argv": ["snap", "connect", "{{ item.plug }}", "{{ item.slot }}"]},
        "loop": "{{ bench_connections }}",
        "changed_when": True,
    }]},
}


def write_playbooks(run_dir):
    paths = {}
    for variant, body in PLAYBOOKS.items():
        play = {"name": "Benchmark - %s" % variant, "hosts": "all", "gather_facts": False}
        play.update(body)
        paths[variant] = run_dir / ("%s.yml" % variant)
        paths[variant].write_text(yaml.safe_dump([play], sort_keys=False))
    return paths


# a good answer in snapd's JSON envelope, as `snap debug api` prints it
API_ANSWER_OK = re.compile(r'"status-code":\s*200')


def timed_variant(variant, controller, lab, k, mode):
    """(seconds, what our shm_connection reported about the run, or None for the others)."""
    if variant == "floor":
        return lab.floor(BENCH_HOST, k), None
    if variant == "raw":
        seconds, out = controller.adhoc(BENCH_HOST, "raw", "snap debug api /v2/connections")
        if not API_ANSWER_OK.search(out):
            raise RuntimeError("`snap debug api /v2/connections` did not answer 200 on %s:\n%s" % (BENCH_HOST, out[-2000:]))
        return seconds, None
    if variant == "ours_adhoc":
        seconds, result = controller.module(BENCH_HOST, "snapfleet.snapd.shm_connection",
                                            {"connections": connections(k), "transport": SNAP_DEBUG_API})
        reported = {field: result.get(field) for field in ("transport", "api_requests", "remote_commands", "changed")}
    elif variant in OURS:
        seconds, reported = controller.recorded_playbook(controller.playbooks[variant], k, BENCH_HOST)
    else:
        return controller.playbook(controller.playbooks[variant], k, BENCH_HOST), None
    # the benchmark must time the path it names, and a no-op run must change nothing
    if reported["transport"] != OURS[variant][mode] or reported["changed"] != (mode == "fresh"):
        raise RuntimeError("%s (K=%d, %s) reported transport %s, changed %s" % (variant, k, mode, reported["transport"],
                                                                                 reported["changed"]))
    return seconds, reported


# --- the measurements -------------------------------------------------------------------------


def measure_apply(controller, lab, ks, repeat):
    """({mode: {K: {variant: [seconds per repetition]}}}, {mode: {K: {variant: [what ours reported]}}}).

    Runs alternate between variants, and the host's state is reset outside the timing."""
    # untimed: opens the SSH connection that every timed run then shares, so no variant pays for it
    controller.adhoc(BENCH_HOST, "raw", "true")
    samples = {mode: {k: {v: [] for v in variants} for k in ks} for mode, variants in VARIANTS.items()}
    counts = {mode: {k: {v: [] for v in variants if v in OURS} for k in ks} for mode, variants in VARIANTS.items()}
    for k in ks:
        for mode, variants in VARIANTS.items():
            for rep in range(repeat):
                order = variants[rep % len(variants):] + variants[:rep % len(variants)]
                for variant in order:
                    before = lab.wire(BENCH_HOST, k if mode == "noop" else 0)
                    seconds, reported = timed_variant(variant, controller, lab, k, mode)
                    after = lab.connected(BENCH_HOST)
                    if after != set(PLUGS[:k]):
                        raise RuntimeError("%s (K=%d, %s) left %s connected, not %s"
                                           % (variant, k, mode, sorted(after), list(PLUGS[:k])))
                    samples[mode][k][variant].append(seconds)
                    if reported is not None:
                        counts[mode][k][variant].append(reported)
                    log("K=%-2d %-5s rep %d/%d  %-12s %6.2f s  (%d connected before the reset)%s"
                        % (k, mode, rep + 1, repeat, variant, seconds, len(before),
                           "" if reported is None else "  %s: %s requests%s" % (
                               reported["transport"], reported["api_requests"],
                               "" if reported["remote_commands"] is None else
                               ", %s remote commands" % reported["remote_commands"])))
    return samples, counts


def measure_read_only(controller, lab, repeat, ks=(1, 10)):
    """``read_only``: shm_info and shm_verify wall time (ad-hoc, whole command) per host and transport with K
    connections in place; ``info_requests``: the snapd requests of shm_info as its result reports them."""
    samples, info_requests = {}, {}
    for host, transport in INFO_RUNS:
        flavour = lab.hosts[host]["snapd_flavour"]
        for k in ks:
            lab.wire(host, k)
            for module, args in (("shm_info", {}), ("shm_verify", {"connections": connections(k)})):
                key = "%s %s (%s, %s) K=%d" % (module, host, flavour, transport, k)
                samples[key] = []
                for _ in range(repeat):
                    seconds, result = controller.module(host, "snapfleet.snapd." + module, dict(args, transport=transport))
                    if result.get("transport") != transport:
                        raise RuntimeError("%s reported transport %s" % (key, result.get("transport")))
                    samples[key].append(seconds)
                    if module == "shm_info":
                        info_requests[key] = result["api_requests"]
                log("%-44s median %.2f s" % (key, statistics.median(samples[key])))
    return {"read_only": samples, "info_requests": info_requests}


def measure_audit(controller, lab, repeat, k):
    """``audit``: snapfleet.snapd.audit on 1 and on 3 hosts, forks = 3, alternating."""
    for host in lab.hosts:
        lab.wire(host, k)
    extra = {"shared_memory_become": False, "shm_report_fail_on": "never"}
    samples = {"1 host": [], "3 hosts": []}
    for rep in range(repeat):
        order = ("1 host", "3 hosts") if rep % 2 == 0 else ("3 hosts", "1 host")
        for what in order:
            limit = BENCH_HOST if what == "1 host" else "all"
            samples[what].append(controller.playbook("snapfleet.snapd.audit", k, limit, forks=3, extra=extra))
            log("audit %-7s rep %d/%d %6.2f s" % (what, rep + 1, repeat, samples[what][-1]))
    return {"audit": samples}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of every measurement (default 3)")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10], help="numbers of connections (1..10)")
    parser.add_argument("--results", type=Path, default=HERE / "results", help="where the table, JSON and chart go")
    parser.add_argument("--smoke", action="store_true", help="K=1, once: check every variant runs and the outputs are written")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeat, args.ks = 1, [1]
    if any(k < 1 or k > len(PLUGS) for k in args.ks):
        parser.error("K must be between 1 and %d" % len(PLUGS))

    # `down` must run even on Ctrl-C or a kill from make: turn SIGTERM into an exception
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    run_dir = Path(os.environ.get("SNAPFLEET_LAB_RUN") or REPO / ".lab" / "bench").resolve()
    (run_dir / "cp").mkdir(parents=True, exist_ok=True)
    (run_dir / "tmp").mkdir(parents=True, exist_ok=True)
    cg_root, pin, cg_version = community_general()
    ours = install_ours(run_dir)
    lab = Lab(run_dir, hosts=3)
    controller = Controller(run_dir, lab, "%s:%s" % (ours, cg_root))
    results = {
        "machine": machine(),
        "community_general": "%s (from the PyPI package %s)" % (cg_version, pin),
        "repeat": args.repeat,
        "ks": args.ks,
        "bench_host": BENCH_HOST,
        "notes": [
            "ours_auto, ours_api and ours_python run the shared_memory role with shared_memory_verify: false "
            "(snap_connect and snap connect verify nothing) and transport auto (the default), snap-debug-api or python; "
            "shm_verify is timed on its own",
            "every Ansible time is the wall time of the whole ansible-playbook/ansible command, pipelining on",
            "floor: the same snap connect commands in one shell on the host, timed inside the guest",
            "raw: ansible HOST -m raw -a 'snap debug api /v2/connections'; ours_adhoc: ansible HOST -m "
            "snapfleet.snapd.shm_connection with transport snap-debug-api, same inventory and settings",
            "each repetition runs every variant once in a rotated order; ratios are taken within a repetition",
            "snapd requests and remote commands: the api_requests and remote_commands fields of each timed "
            "shm_connection result (over snap debug api one request per snapd answer the remote script returned; "
            "over the socket one per HTTP request)",
        ],
    }
    try:
        lab.up()
        results["hosts"] = {name: {"flavour": h["snapd_flavour"], "snapd": h["snapd_version"]} for name, h in lab.hosts.items()}
        results["apply"], results["counts"] = measure_apply(controller, lab, args.ks, args.repeat)
        # a failed part is recorded and the rest still measured: a long run is not thrown away
        parts = (
            ("read_only", lambda: measure_read_only(controller, lab, args.repeat, ks=(1,) if args.smoke else (1, 10))),
            ("audit", lambda: measure_audit(controller, lab, args.repeat, max(args.ks))),
        )
        for name, measure in parts:
            try:
                results.update(measure())
            except Exception as error:  # noqa: BLE001 - reported in the outputs and by the smoke check
                log("%s failed: %s" % (name, error))
                results.setdefault("errors", {})[name] = str(error)
    finally:
        lab.down()
    results["duration_s"] = round(time.monotonic() - started, 1)
    results["command"] = "make bench REPEAT=%d KS=\"%s\"" % (args.repeat, " ".join(map(str, args.ks)))
    written = report.write(results, args.results)
    print(report.table(results))
    for path in written:
        log("wrote %s" % path)
    if args.smoke:
        report.check_complete(results, written)
        log("smoke: every variant ran and the outputs were written")
    log("done in %.0f s" % results["duration_s"])


if __name__ == "__main__":
    main()
