"""Building the lab images, offline, from Debian packages only, into a cache keyed by the recipe.

Two cached stages per flavour, each in its own folder under ``<cache>/<flavour>/``:

``base-<tree key>/``
    debootstrapped, configured guest tree turned into ``base.img`` (raw ext4), plus the kernel,
    initrd, the SSH key baked into it, and the files the snaps are packed from (busybox, the
    snap-confine AppArmor profile).
``ready-<bake key>/``
    ``ready.qcow2`` (an overlay on base.img with the stand-in and lab snaps installed) and
    ``state``, a saved machine state of that host, booted and seeded, that ``up`` resumes.

A stage folder is written under a ``.tmp`` name and renamed when complete, so an interrupted
build leaves nothing that looks finished; a complete folder is never rebuilt.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.lab import LabError
from tests.lab import qemu
from tests.lab.paths import SNAP_SOURCES, cache_dir
from tests.lab.progress import run_logged, say, step
from tests.lab.recipe import (
    FLAVOURS, GUEST_FILES, LAB_SNAPS, MASKED_UNITS, Flavour, bake_key, debian_mirror, tree_key,
)
from tests.lab.ssh import wait_for_ssh

# Mount points snap-confine needs in a base snap.
BARE_DIRS = (
    "bin boot dev etc home lib lib64 media mnt opt proc root run sbin snap srv sys tmp usr/bin "
    "usr/lib/snapd usr/src usr/share var/lib/snapd var/lib/extrausers var/log var/snap var/tmp "
    "lib/modules lib/firmware writable"
).split()
SNAP_CONFINE_PROFILE = "etc/apparmor.d/usr.lib.snapd.snap-confine.real"


@dataclass(frozen=True)
class Image:
    """A built flavour: what ``up`` needs to start hosts of it."""
    flavour: str
    base_dir: Path
    ready_dir: Path

    @property
    def key_file(self) -> Path:
        return self.base_dir / "keys" / "id_ed25519"

    @property
    def disk(self) -> Path:
        return self.ready_dir / "ready.qcow2"

    @property
    def state(self) -> Path:
        return self.ready_dir / "state"

    @property
    def meta(self) -> dict:
        return json.loads((self.base_dir / "meta.json").read_text())


def _flavour_dir(flavour: Flavour) -> Path:
    return cache_dir() / flavour.name


def cached_image(flavour_name: str):
    """The complete cached image of a flavour for the current recipe, or None."""
    flavour = FLAVOURS[flavour_name]
    base = _flavour_dir(flavour) / f"base-{tree_key(flavour)}"
    ready = _flavour_dir(flavour) / f"ready-{bake_key(flavour)}"
    if (base / "meta.json").is_file() and (ready / "state").is_file():
        return Image(flavour.name, base, ready)
    return None


def build(flavour_name: str) -> Image:
    """Build what is missing for a flavour; a warm cache returns at once."""
    image = cached_image(flavour_name)
    if image:
        say(f"{flavour_name}: cached image {image.ready_dir.name} reused")
        return image
    flavour = FLAVOURS[flavour_name]
    qemu.require_tools("qemu-system-x86_64", "qemu-img", "debootstrap", "mkfs.ext4", "mksquashfs")
    if os.geteuid() != 0:
        raise LabError("building lab images needs root (debootstrap); run it as root")
    started = time.monotonic()
    base = _build_base(flavour)
    base_done = time.monotonic()
    ready = _bake(flavour, base)
    finished = time.monotonic()
    # Kept for tests/lab/measure.py: what a cold build of this recipe cost on this machine.
    (ready / "build-times.json").write_text(json.dumps(
        {"base_s": round(base_done - started, 1), "bake_s": round(finished - base_done, 1)}) + "\n")
    _prune(flavour, keep=(base.name, ready.name))
    say(f"{flavour_name}: image built in {finished - started:.0f} s")
    return Image(flavour.name, base, ready)


def _check_space(where: Path, need_gb: float):
    where.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(where).free / 2**30
    if free < need_gb:
        raise LabError(f"not enough disk space in {where}: {free:.1f} GiB free, the lab build needs {need_gb} GiB")


def _fresh_work_dir(final: Path) -> Path:
    work = final.with_name(final.name + ".tmp")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    return work


def _build_base(flavour: Flavour) -> Path:
    final = _flavour_dir(flavour) / f"base-{tree_key(flavour)}"
    if (final / "meta.json").is_file():
        say(f"{flavour.name}: cached base {final.name} reused")
        return final
    _check_space(final.parent, 6)
    work = _fresh_work_dir(final)
    tree = work / "tree"
    mirror = debian_mirror()
    with step(f"{flavour.name}: debootstrap {flavour.suite} ({len(flavour.packages)} packages)"):
        run_logged([
            "debootstrap", "--variant=minbase", "--include=" + ",".join(flavour.packages),
            "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg",
            flavour.suite, str(tree), mirror,
        ], work / "debootstrap.log", f"debootstrap of {flavour.suite}")
    with step(f"{flavour.name}: configure the guest"):
        meta = _configure_tree(tree, work)
    with step(f"{flavour.name}: make base.img"):
        subprocess.run(["truncate", "-s", "4G", str(work / "base.img")], check=True)
        run_logged(["mkfs.ext4", "-q", "-F", "-L", "snapfleet-lab", "-d", str(tree), str(work / "base.img")],
                   work / "mkfs.log", "mkfs.ext4")
        shutil.rmtree(tree)
    (work / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    work.rename(final)
    return final


def _dpkg_version(tree: Path, package: str) -> str:
    status = (tree / "var/lib/dpkg/status").read_text()
    for stanza in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " ")
        if fields.get("Package") == package and "installed" in fields.get("Status", ""):
            return fields["Version"]
    raise LabError(f"{package} is not installed in the guest tree; see debootstrap.log")


def _configure_tree(tree: Path, work: Path) -> dict:
    for relative, content in GUEST_FILES.items():
        target = tree / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    units = tree / "etc/systemd/system"
    for unit in MASKED_UNITS:
        link = units / unit
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to("/dev/null")
    wants = units / "multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "lab-net.service").symlink_to("/etc/systemd/system/lab-net.service")
    (tree / "etc/machine-id").write_text(os.urandom(16).hex() + "\n")

    keys = work / "keys"
    keys.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "snapfleet-lab",
                    "-f", str(keys / "id_ed25519")], check=True)
    ssh_dir = tree / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    authorized = ssh_dir / "authorized_keys"
    authorized.write_text((keys / "id_ed25519.pub").read_text())
    authorized.chmod(0o600)
    if not list((tree / "etc/ssh").glob("ssh_host_*_key")):
        # Host keys made now, not at first boot: that costs half a minute under emulation.
        subprocess.run(["ssh-keygen", "-A", "-f", str(tree)], check=True)

    kernels = sorted((tree / "boot").glob("vmlinuz-*"))
    initrds = sorted((tree / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise LabError("the guest tree has no kernel or initrd in /boot; see debootstrap.log")
    shutil.copy2(kernels[-1], work / "vmlinuz")
    shutil.copy2(initrds[-1], work / "initrd.img")
    shutil.copy2(tree / "bin/busybox", work / "busybox")
    shutil.copy2(tree / SNAP_CONFINE_PROFILE, work / "snap-confine.apparmor")
    return {
        "snapd_version": _dpkg_version(tree, "snapd"),
        "kernel": kernels[-1].name.replace("vmlinuz-", ""),
        "apparmor_version": _dpkg_version(tree, "apparmor"),
        "python3_version": _dpkg_version(tree, "python3"),
    }


def pack_snap(source: Path, out: Path):
    """Pack a snap folder the way `snap pack` does (squashfs, xz, all files owned by root)."""
    subprocess.run(
        ["mksquashfs", str(source), str(out), "-noappend", "-comp", "xz", "-no-fragments",
         "-no-progress", "-all-root", "-no-xattrs"],
        check=True, capture_output=True,
    )


def _stage_snaps(base: Path, out: Path, snapd_version: str) -> list:
    """Pack the snapd and bare stand-ins and the lab snaps; returns the .snap files in install order."""
    out.mkdir(parents=True, exist_ok=True)
    packed = []
    with tempfile.TemporaryDirectory(prefix="snapfleet-snaps-") as scratch:
        for name in ("snapd", "bare") + LAB_SNAPS:
            tree = Path(scratch) / name
            shutil.copytree(SNAP_SOURCES / name, tree)
            if name == "snapd":
                yaml_path = tree / "meta/snap.yaml"
                upstream = snapd_version.split("-")[0]
                yaml_path.write_text(yaml_path.read_text().replace("@SNAPD_VERSION@", upstream))
                apparmor = tree / "etc/apparmor.d"
                apparmor.mkdir(parents=True)
                # snapd derives the snapd snap's snap-confine profile from this file; without it
                # installing the stand-in fails under AppArmor ("cannot open apparmor profile").
                for profile in ("usr.lib.snapd.snap-confine", "usr.lib.snapd.snap-confine.real"):
                    shutil.copy2(base / "snap-confine.apparmor", apparmor / profile)
                (tree / "usr/lib/snapd").mkdir(parents=True)
            elif name == "bare":
                for directory in BARE_DIRS:
                    (tree / directory).mkdir(parents=True, exist_ok=True)
            else:
                (tree / "bin").mkdir(exist_ok=True)
                shutil.copy2(base / "busybox", tree / "bin/busybox")
            for path in [tree, *tree.rglob("*")]:
                if path.is_dir():
                    path.chmod(0o755)
                elif path.suffix == ".sh" or path.name == "busybox":
                    path.chmod(0o755)
                else:
                    path.chmod(0o644)
            target = out / f"{name}.snap"
            pack_snap(tree, target)
            packed.append(target)
    return packed


def _bake(flavour: Flavour, base: Path) -> Path:
    final = _flavour_dir(flavour) / f"ready-{bake_key(flavour)}"
    if (final / "state").is_file():
        return final
    _check_space(final.parent, 3)
    work = _fresh_work_dir(final)
    meta = json.loads((base / "meta.json").read_text())
    with step(f"{flavour.name}: pack the stand-in and lab snaps"):
        snaps = _stage_snaps(base, work / "snaps", meta["snapd_version"])
    # Relative backing path: the folder is renamed once complete, and may be moved as a whole.
    qemu.create_overlay(work / "ready.qcow2", base / "base.img", "raw", relative=True)
    vm_dir = work / "vm"
    port = qemu.free_port()
    pid = qemu.launch(f"bake-{flavour.name}", work / "ready.qcow2", base, vm_dir, port)
    marker = str((work / "ready.qcow2").resolve())
    try:
        with step(f"{flavour.name}: first boot until ssh answers"):
            guest = wait_for_ssh(port, base / "keys/id_ed25519", timeout=900,
                                 alive=lambda: qemu.pid_alive(pid))
        with guest:
            with step(f"{flavour.name}: wait for snapd to seed"):
                guest.run("snap wait system seed.loaded", timeout=900)
            with step(f"{flavour.name}: copy {len(snaps)} snaps"):
                guest.run("mkdir -p /root/lab-snaps")
                for snap in snaps:
                    guest.put(snap, f"/root/lab-snaps/{snap.name}")
            for name in ("snapd", "bare"):
                with step(f"{flavour.name}: snap install --dangerous {name}.snap"):
                    guest.run(f"snap install --dangerous /root/lab-snaps/{name}.snap", timeout=1200)
            with step(f"{flavour.name}: snap install --dangerous the {len(LAB_SNAPS)} lab snaps"):
                files = " ".join(f"/root/lab-snaps/{name}.snap" for name in LAB_SNAPS)
                guest.run(f"snap install --dangerous {files}", timeout=1800)
            _, listing, _ = guest.run("snap list")
            installed = {line.split()[0] for line in listing.splitlines()[1:] if line.strip()}
            missing = set(LAB_SNAPS) - installed
            if missing:
                raise LabError(f"{flavour.name}: lab snaps missing after install: {sorted(missing)}")
            guest.run("rm -rf /root/lab-snaps && sync")
        with step(f"{flavour.name}: save the machine state"):
            _save_state(vm_dir / "qmp.sock", work / "state")
    finally:
        qemu.stop(pid, marker)
    shutil.rmtree(work / "snaps")
    for frozen in (work / "ready.qcow2", work / "state"):
        frozen.chmod(0o444)  # the overlays of every resumed host read them: never change after the save
    work.rename(final)
    return final


def _save_state(qmp_socket: Path, state: Path, timeout: float = 600):
    monitor = qemu.Qmp(qmp_socket)
    try:
        monitor.execute("migrate-set-parameters", **{"max-bandwidth": 8 * 2**30})
        monitor.execute("migrate", uri=f"exec:cat > {state.resolve()}")
        deadline = time.monotonic() + timeout
        while True:
            status = (monitor.execute("query-migrate") or {}).get("status")
            if status == "completed":
                break
            if status in ("failed", "cancelled") or time.monotonic() > deadline:
                raise LabError(f"saving the machine state ended as {status!r}; see {qmp_socket.parent}/console.log")
            time.sleep(0.2)
        monitor.execute("quit")
    finally:
        monitor.close()


def _prune(flavour: Flavour, keep):
    """Drop cached stages of older recipes of this flavour."""
    for entry in _flavour_dir(flavour).iterdir():
        if entry.name not in keep and entry.is_dir():
            for path in entry.rglob("*"):
                if not path.is_symlink():
                    path.chmod(0o755 if path.is_dir() else 0o644)
            shutil.rmtree(entry)
            say(f"{flavour.name}: removed stale cache entry {entry.name}")
