"""`python3 -m tests.lab VERB`: build, up, down, status, ssh."""

import argparse
import signal
import sys

from tests.lab import LabError
from tests.lab.recipe import FLAVOURS, MIXED, NO_PYTHON, parse_flavours

FLAVOUR_HELP = (
    f"{', '.join(FLAVOURS)} or {MIXED} (= {','.join(FLAVOURS)}), each optionally followed by :{NO_PYTHON} "
    f"(that flavour built without any Python), or a comma-separated list of them, e.g. "
    f"bookworm,trixie,forky:{NO_PYTHON}"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m tests.lab",
        description="Real snapd hosts in qemu, built offline from Debian packages (see tests/lab/README.md).",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    build = verbs.add_parser("build", help="build the host images (a warm cache rebuilds nothing)")
    build.add_argument("--flavour", default=MIXED, metavar="SPEC",
                       help=f"which images: {FLAVOUR_HELP} (default {MIXED})")

    up = verbs.add_parser("up", help="resume a fleet of lab hosts and write its Ansible inventory")
    up.add_argument("--hosts", type=int, metavar="N",
                    help="how many hosts; they take the flavours of --flavour in turn "
                         "(default: one host per flavour it names)")
    up.add_argument("--flavour", default=MIXED, metavar="SPEC",
                    help=f"the hosts' flavours: {FLAVOUR_HELP} (default {MIXED})")
    up.add_argument("--snaps", nargs="*", default=[], metavar="DIR",
                    help="extra snap source folders (meta/snap.yaml and files) to pack and install on every host")

    verbs.add_parser("down", help="stop every lab VM this lab started and remove the overlays")

    status = verbs.add_parser("status", help="list the running lab hosts")
    status.add_argument("--inventory", action="store_true", help="print only the path of the inventory file")

    ssh = verbs.add_parser("ssh", help="run a command on a lab host, or open a shell there")
    ssh.add_argument("host", help="host name from `status` (e.g. lab1)")
    ssh.add_argument("command", nargs=argparse.REMAINDER, help="command to run (default: an interactive shell)")
    return parser


def _terminate(signum, _frame):
    # SIGTERM (a CI timeout, a killed test) unwinds like Ctrl-C, so `up` stops what it started.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.verb == "build":
            from tests.lab import images
            for flavour in dict.fromkeys(parse_flavours(args.flavour)):
                images.build(flavour)
            return 0
        from tests.lab import fleet
        if args.verb == "up":
            fleet.up(args.hosts, args.flavour, args.snaps)
            return 0
        if args.verb == "down":
            fleet.down()
            return 0
        if args.verb == "status":
            return fleet.status(inventory_only=args.inventory)
        if args.verb == "ssh":
            return fleet.ssh(args.host, args.command)
    except LabError as err:
        print(f"lab: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130
    return 2
