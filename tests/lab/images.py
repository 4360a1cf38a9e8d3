"""Building the lab images, offline, from Debian packages only, into a cache keyed by the recipe.

Two cached stages per flavour, each in its own folder under ``<cache>/<flavour>/``:

``base-<tree key>/``
    debootstrapped, configured guest tree turned into ``base.img`` (raw ext4), plus the kernel,
    initrd, the SSH key baked into it, and the files the snaps are packed from (busybox, the
    snap-confine AppArmor profile).
``ready-<bake key>/``
    ``ready.qcow2`` (an overlay on base.img with the stand-in and lab snaps installed) and
    ``state``, a saved machine state of that host, booted and seeded, that ``up`` resumes.

A flavour's Python-less variant has one stage of its own, ``<cache>/<flavour>-nopython/ready-<key>/``:
the flavour's ready host resumed, its Python packages purged, and saved again (``ready.qcow2`` is an
overlay on the flavour's, ``parent.json`` says which build of it).

A stage folder is written under a ``.tmp`` name and renamed when complete, so an interrupted
build leaves nothing that looks finished; a complete folder is never rebuilt.
"""

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.lab import LabError
from tests.lab import qemu
from tests.lab.paths import SNAP_SOURCES, cache_dir
from tests.lab.progress import run_logged, say, step
from tests.lab.recipe import (
    FIND_PYTHON, LAB_SNAPS, MASKED_UNITS, REMOVE_PYTHON, Flavour, bake_key, debian_mirror, guest_files, tree_key,
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
    flavour: Flavour
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
    return cache_dir() / flavour.cache_name


def cached_image(flavour: Flavour):
    """The complete cached image of a flavour (or of its Python-less variant) for the current recipe, or None."""
    ready = _flavour_dir(flavour) / f"ready-{bake_key(flavour)}"
    if not flavour.python:
        parent = cached_image(flavour.with_python)
        if parent and (ready / "state").is_file() and _parent_record(ready) == _parent_id(parent):
            return Image(flavour, parent.base_dir, ready)
        return None
    base = _flavour_dir(flavour) / f"base-{tree_key(flavour)}"
    if (base / "meta.json").is_file() and (ready / "state").is_file():
        return Image(flavour, base, ready)
    return None


# At most this many VMs bake at once: a bake is mostly one busy guest CPU, and the machine has two cores.
BAKES_AT_ONCE = 2


def build_all(flavours) -> list:
    """Build what is missing for several flavours, as much of it side by side as the machine allows.

    Every missing base is debootstrapped at once (mostly downloading and unpacking on the host); each
    flavour's bake starts as soon as its base is there, at most BAKES_AT_ONCE VMs at a time, and its
    Python-less variant right after it. A warm cache returns at once.
    """
    flavours = list(dict.fromkeys(flavours))
    missing = [flavour for flavour in flavours if cached_image(flavour) is None]
    if len(missing) > 1:
        qemu.require_tools("qemu-system-x86_64", "qemu-img", "debootstrap", "mkfs.ext4", "mksquashfs")
        vm_slots = threading.Semaphore(BAKES_AT_ONCE)

        def chain(parent):
            # base, bake, then the Python-less variants asked for, in order
            _build_base(parent)
            for flavour in [parent, *[f for f in missing if not f.python and f.with_python == parent]]:
                with vm_slots:
                    build(flavour)

        parents = list(dict.fromkeys(flavour.with_python for flavour in missing))
        with ThreadPoolExecutor(max_workers=len(parents)) as pool:
            chains = [pool.submit(chain, parent) for parent in parents]
        for done in chains:
            done.result()  # the first failure, now that every chain has ended
    return [build(flavour) for flavour in flavours]


def build(flavour: Flavour) -> Image:
    """Build what is missing for a flavour; a warm cache returns at once."""
    image = cached_image(flavour)
    if image:
        say(f"{flavour.label}: cached image {image.ready_dir.name} reused")
        return image
    if not flavour.python:
        return _build_without_python(flavour)
    qemu.require_tools("qemu-system-x86_64", "qemu-img", "debootstrap", "mkfs.ext4", "mksquashfs")
    started = time.monotonic()
    base = _build_base(flavour)
    base_done = time.monotonic()
    ready = _bake(flavour, base)
    finished = time.monotonic()
    _record_build_times(ready, base_s=base_done - started, bake_s=finished - base_done)
    _prune(flavour, keep=(base.name, ready.name))
    say(f"{flavour.label}: image built in {finished - started:.0f} s")
    return Image(flavour, base, ready)


def _build_without_python(flavour: Flavour) -> Image:
    parent = build(flavour.with_python)
    qemu.require_tools("qemu-system-x86_64", "qemu-img")
    started = time.monotonic()
    ready = _remove_python(flavour, parent)
    finished = time.monotonic()
    _record_build_times(ready, remove_python_s=finished - started)
    _prune(flavour, keep=(ready.name,))
    say(f"{flavour.label}: image built in {finished - started:.0f} s")
    return Image(flavour, parent.base_dir, ready)


def _record_build_times(ready: Path, **seconds):
    # Kept for tests/lab/measure.py: what a cold build of this recipe cost on this machine.
    rounded = {name: round(value, 1) for name, value in seconds.items()}
    (ready / "build-times.json").write_text(json.dumps(rounded) + "\n")


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
    if os.geteuid() != 0:
        raise LabError("building lab images needs root (debootstrap); run it as root")
    _check_space(final.parent, 6)
    work = _fresh_work_dir(final)
    tree = work / "tree"
    mirror = debian_mirror()
    script = [f"/usr/share/debootstrap/scripts/{flavour.debootstrap_script}"] if flavour.debootstrap_script else []
    with step(f"{flavour.name}: debootstrap {flavour.suite} ({len(flavour.packages)} packages)"):
        run_logged([
            "debootstrap", "--variant=minbase", "--include=" + ",".join(flavour.packages),
            "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg",
            flavour.suite, str(tree), mirror, *script,
        ], work / "debootstrap.log", f"debootstrap of {flavour.suite}")
    with step(f"{flavour.name}: configure the guest"):
        meta = _configure_tree(flavour, tree, work)
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


def _configure_tree(flavour: Flavour, tree: Path, work: Path) -> dict:
    for relative, content in guest_files(flavour).items():
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


def _parent_id(parent: Image) -> dict:
    """Which build of a flavour a variant was made from: its state file never changes once saved, so
    a rebuilt flavour (even under the same key, after a cache folder was deleted) tells itself apart."""
    saved = parent.state.stat()
    return {"ready": parent.ready_dir.name, "state": f"{saved.st_ino}-{saved.st_mtime_ns}"}


def _parent_record(ready: Path):
    try:
        return json.loads((ready / "parent.json").read_text())["parent"]
    except (OSError, ValueError, KeyError):
        return None


def _remove_python(flavour: Flavour, parent: Image) -> Path:
    """The flavour's ready host, resumed, with every Python package purged, saved again."""
    final = _flavour_dir(flavour) / f"ready-{bake_key(flavour)}"
    _check_space(final.parent, 1)
    work = _fresh_work_dir(final)
    # Relative backing path, as for the flavour's own ready.qcow2: the cache may move as a whole.
    qemu.create_overlay(work / "ready.qcow2", parent.disk, "qcow2", relative=True)
    vm_dir = work / "vm"
    port = qemu.free_port()
    pid = qemu.launch(f"bake-{flavour.cache_name}", work / "ready.qcow2", parent.base_dir, vm_dir, port,
                      incoming_state=parent.state)
    marker = str((work / "ready.qcow2").resolve())
    try:
        with step(f"{flavour.label}: resume {flavour.name}'s ready host"):
            qemu.wait_until_running(vm_dir / "qmp.sock")
            guest = wait_for_ssh(port, parent.key_file, timeout=300, alive=lambda: qemu.pid_alive(pid))
        with guest:
            with step(f"{flavour.label}: purge every Python package"):
                guest.run(f"date -u -s @{time.time():.3f} >/dev/null")
                _, purged, _ = guest.run(REMOVE_PYTHON, timeout=900)
            with step(f"{flavour.label}: check that no Python interpreter is left"):
                _, left, _ = guest.run(FIND_PYTHON, timeout=600)
            if left.strip():
                raise LabError(f"{flavour.label}: Python is still in the image after the purge: "
                               + ", ".join(left.split("\n")[:20]).strip(", "))
            guest.run("sync")
        with step(f"{flavour.label}: save the machine state"):
            _save_state(vm_dir / "qmp.sock", work / "state")
    finally:
        qemu.stop(pid, marker)
    (work / "parent.json").write_text(json.dumps({"parent": _parent_id(parent), "purged": purged.split()},
                                                 indent=2) + "\n")
    for frozen in (work / "ready.qcow2", work / "state"):
        frozen.chmod(0o444)
    if final.exists():  # made from an earlier build of the flavour, whose files are gone
        shutil.rmtree(final)
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
            say(f"{flavour.label}: removed stale cache entry {entry.name}")
