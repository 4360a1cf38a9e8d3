"""What a lab host is made of: the flavours, their packages, the guest configuration and the VM shape.

Everything here feeds the cache keys (see ``images.py``): change a package, a config file or the VM
shape and the affected images are rebuilt; change nothing and a warm cache is reused.
"""

import hashlib
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from tests.lab import LabError
from tests.lab.paths import SNAP_SOURCES

# Bump when the code of a stage changes what it produces (not for refactors).
TREE_STAGE_VERSION = 1
BAKE_STAGE_VERSION = 1
NO_PYTHON_STAGE_VERSION = 1

# The lab snaps every host carries, installed in this order after the snapd and bare stand-ins.
LAB_SNAPS = (
    "shm-provider",
    "shm-consumer",
    "shm-stranger",
    "shm-private",
    "shm-multi",
    "shm-broken",
    "shm-hub",
    "shm-many",
)

_COMMON_PACKAGES = (
    "systemd", "systemd-sysv", "udev", "dbus", "dbus-user-session", "libpam-systemd",
    "openssh-server", "python3", "snapd", "squashfs-tools", "linux-image-amd64", "sudo",
    "apparmor", "iproute2", "kmod", "busybox-static", "util-linux", "procps", "less",
    "ca-certificates",
)


@dataclass(frozen=True)
class Flavour:
    """A kind of lab host: a Debian suite with its snapd generation, with or without Python."""
    name: str
    suite: str
    snapd_series: str  # the snapd version prefix a host of this flavour must report
    packages: tuple
    # debootstrap's script for the suite, for suites older debootstraps have none for (their
    # "sid" script bootstraps every testing suite); empty: the one named after the suite.
    debootstrap_script: str = ""
    # Guest files of this flavour only, on top of GUEST_FILES.
    guest_files: dict = field(default_factory=dict, hash=False)
    # False: the variant without any Python interpreter (see REMOVE_PYTHON), as on Ubuntu Core 26.
    python: bool = True

    @property
    def label(self) -> str:
        """The name users give on the command line: `forky`, or `forky:nopython` for the variant."""
        return self.name if self.python else f"{self.name}:{NO_PYTHON}"

    @property
    def cache_name(self) -> str:
        """Its folder in the image cache."""
        return self.name if self.python else f"{self.name}-{NO_PYTHON}"

    @property
    def with_python(self) -> "Flavour":
        return replace(self, python=True)


NO_PYTHON = "nopython"

FLAVOURS = {
    "bookworm": Flavour("bookworm", "bookworm", "2.57.", _COMMON_PACKAGES),
    "trixie": Flavour("trixie", "trixie", "2.68.", _COMMON_PACKAGES),
    "forky": Flavour(
        "forky", "forky", "2.77.", _COMMON_PACKAGES, debootstrap_script="sid",
        guest_files={
            # A frozen mirror's testing Release goes past its Valid-Until within a week, and apt then
            # refuses it ("is no longer valid"); its signatures are still checked. (debootstrap does
            # not read Valid-Until.)
            "etc/apt/apt.conf.d/50snapfleet-lab": 'Acquire::Check-Valid-Until "false";\n',
        },
    ),
}

# `mixed`: one host of each snapd generation in turn, oldest first, so that a 2-host fleet is
# bookworm and trixie, and a 3-host fleet adds forky.
MIXED = "mixed"


def parse_flavours(spec: str) -> list:
    """The flavours a --flavour SPEC names, in order: a comma-separated list of flavour names, each
    optionally followed by `:nopython`; `mixed` stands for bookworm,trixie,forky."""
    flavours = []
    for item in spec.split(","):
        name, colon, option = item.strip().partition(":")
        names = list(FLAVOURS) if name == MIXED else [name]
        if (colon and option != NO_PYTHON) or any(one not in FLAVOURS for one in names):
            raise LabError(
                f"unknown flavour {item.strip()!r} in {spec!r}: give {', '.join(FLAVOURS)} or {MIXED}, "
                f"each optionally followed by :{NO_PYTHON}, separated by commas"
            )
        flavours += [replace(FLAVOURS[one], python=not colon) for one in names]
    return flavours


def fleet_plan(spec: str, count=None) -> list:
    """The flavour of each host of a fleet: the spec's flavours in turn, starting over when they run
    out; without a count, one host per flavour the spec names."""
    flavours = parse_flavours(spec)
    count = len(flavours) if count is None else count
    if count < 1:
        raise LabError("--hosts must be at least 1")
    return [flavours[index % len(flavours)] for index in range(count)]

# The VM shape. A saved machine state can only be resumed by a qemu started with the same
# machine, CPU, memory, devices and kernel command line, so all of it is part of the bake key.
VM_MEMORY_MB = 1024
VM_CPUS = 2
KERNEL_APPEND = (
    "root=/dev/vda rw console=ttyS0 net.ifnames=0 apparmor=1 security=apparmor "
    "quiet systemd.show_status=0"
)
QEMU_MACHINE = ("-machine", "q35", "-accel", "tcg,thread=multi,tb-size=256", "-cpu", "max")

# Units that only slow a lab boot down (timers, DHCP, networkd, e2scrub).
MASKED_UNITS = (
    "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "e2scrub_reap.service",
    "fstrim.timer", "man-db.timer", "systemd-timesyncd.service", "networking.service",
    "ifupdown-pre.service", "systemd-networkd.service", "systemd-networkd.socket",
    "systemd-networkd-wait-online.service",
)

# qemu's user-mode network always hands out these addresses, so the guest needs no DHCP.
LAB_NET_UNIT = """\
[Unit]
Description=Static address on qemu's user-mode network (snapfleet lab)
DefaultDependencies=no
Wants=network.target
Before=network.target network-online.target
BindsTo=sys-subsystem-net-devices-eth0.device
After=sys-subsystem-net-devices-eth0.device

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/ip link set lo up
ExecStart=/bin/ip link set eth0 up
ExecStart=/bin/ip addr add 10.0.2.15/24 dev eth0
ExecStart=/bin/ip route add default via 10.0.2.2

[Install]
WantedBy=multi-user.target
"""

GUEST_FILES = {
    "etc/fstab": "/dev/vda / ext4 defaults,errors=remount-ro 0 1\n",
    "etc/hostname": "snapfleet-lab\n",
    "etc/hosts": "127.0.0.1 localhost\n127.0.1.1 snapfleet-lab\n",
    "etc/resolv.conf": "nameserver 10.0.2.3\n",
    "etc/ssh/sshd_config.d/lab.conf": (
        "UseDNS no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
    ),
    "etc/systemd/system/lab-net.service": LAB_NET_UNIT,
    "etc/systemd/journald.conf.d/lab.conf": "[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n",
}


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses ($SNAPFLEET_LAB_MIRROR overrides it)."""
    explicit = os.environ.get("SNAPFLEET_LAB_MIRROR")
    if explicit:
        return explicit
    candidates = []
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.is_file():
        candidates += re.findall(r"^URIs:\s*(\S+)", sources.read_text(), re.MULTILINE)
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        candidates += re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", legacy.read_text(), re.MULTILINE)
    for uri in candidates:
        if uri.rstrip("/").endswith("/debian"):
            return uri
    raise LabError(
        "cannot find a Debian mirror in this machine's apt sources; "
        "set SNAPFLEET_LAB_MIRROR to one (e.g. the URI of your Debian archive)"
    )


def guest_files(flavour: Flavour) -> dict:
    return {**GUEST_FILES, **flavour.guest_files}


def _digest(parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def tree_key(flavour: Flavour) -> str:
    """Key of the base image: suite, packages and guest configuration (the same with or without Python)."""
    parts = {
        "stage": TREE_STAGE_VERSION,
        "suite": flavour.suite,
        "packages": flavour.packages,
        "files": guest_files(flavour),
        "masked": MASKED_UNITS,
    }
    if flavour.debootstrap_script:  # only then: the keys of the flavours without one stay as they were
        parts["debootstrap_script"] = flavour.debootstrap_script
    return _digest(parts)


def snaps_digest() -> str:
    """Digest of every file of the lab snaps' sources (names, modes and contents)."""
    parts = []
    for path in sorted(SNAP_SOURCES.rglob("*")):
        if path.is_file():
            parts.append([str(path.relative_to(SNAP_SOURCES)), path.stat().st_mode & 0o111 != 0,
                          hashlib.sha256(path.read_bytes()).hexdigest()])
    return _digest(parts)


def bake_key(flavour: Flavour) -> str:
    """Key of the ready image and its saved machine state."""
    if not flavour.python:
        return _digest({
            "stage": NO_PYTHON_STAGE_VERSION,
            "from": bake_key(flavour.with_python),
            "remove": REMOVE_PYTHON,
            "check": FIND_PYTHON,
        })
    return _digest({
        "stage": BAKE_STAGE_VERSION,
        "tree": tree_key(flavour),
        "snaps": snaps_digest(),
        "lab_snaps": LAB_SNAPS,
        "vm": [VM_MEMORY_MB, VM_CPUS, KERNEL_APPEND, QEMU_MACHINE],
    })


# The Python-less variant of a flavour is made from the flavour's ready host: resumed, every Python
# package purged with dpkg, and saved again. dpkg refuses to purge a package that something left
# still depends on, so the build fails rather than break the host; nothing in the lab's package
# list depends on Python (iproute2 only suggests it), and debootstrap installs no Recommends.
# (dpkg-query's abbreviated status: a second letter "n" is a package that is not installed.)
REMOVE_PYTHON = """\
set -eu
packages=$(dpkg-query -W -f '${db:Status-Abbrev} ${Package}\\n' \\
    | awk 'substr($1, 2, 1) != "n" && $2 ~ /^(lib)?python/ {print $2}')
if [ -z "$packages" ]; then echo "no Python package installed" >&2; exit 1; fi
dpkg --purge $packages >&2
problems=$(dpkg --audit 2>&1 || true)
if [ -n "$problems" ]; then echo "dpkg --audit after the purge: $problems" >&2; exit 1; fi
echo $packages
"""

# Prints every Python interpreter left in the guest (executables and links named python* or pypy*
# on the root file system, and the Python packages dpkg still knows), one per line; nothing when clean.
FIND_PYTHON = """\
find / -xdev \\( -name 'python*' -o -name 'pypy*' \\) \\( -type l -o -type f -perm /111 \\) -print
dpkg-query -W -f '${db:Status-Abbrev} ${Package}\\n' \\
    | awk 'substr($1, 2, 1) != "n" && $2 ~ /^(lib)?python|^pypy/ {print "package " $2}'
"""
