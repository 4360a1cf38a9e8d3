"""qemu for lab hosts: one command line for booting and resuming, a small QMP client, and stopping."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.lab import LabError
from tests.lab.recipe import KERNEL_APPEND, QEMU_MACHINE, VM_CPUS, VM_MEMORY_MB

QEMU = "qemu-system-x86_64"


def require_tools(*tools):
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise LabError(
            f"missing host tools: {', '.join(missing)}; install them with "
            "`apt-get install qemu-system-x86 qemu-utils debootstrap e2fsprogs squashfs-tools` "
            "(or run `make bootstrap`)"
        )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def create_overlay(overlay: Path, backing: Path, backing_format: str, relative: bool = False):
    backing_ref = os.path.relpath(backing, overlay.parent) if relative else str(backing.resolve())
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", backing_ref, "-F", backing_format, str(overlay)],
        check=True, capture_output=True, text=True,
    )


def launch(name: str, disk: Path, kernel_dir: Path, workdir: Path, ssh_port: int,
           incoming_state: Path = None) -> int:
    """Start a daemonized qemu for one lab host; returns its pid.

    Every path is absolute: a daemonized qemu chdirs to / and reopens its images when a
    migration completes, so relative paths break resumes (real-snapd-lab.md, blocker met in Q2).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    pidfile = workdir / "qemu.pid"
    argv = [
        QEMU, "-name", name, *QEMU_MACHINE, "-smp", str(VM_CPUS), "-m", str(VM_MEMORY_MB),
        "-kernel", str((kernel_dir / "vmlinuz").resolve()),
        "-initrd", str((kernel_dir / "initrd.img").resolve()),
        "-append", KERNEL_APPEND,
        "-drive", f"file={disk.resolve()},if=virtio,format=qcow2,cache=unsafe,discard=unmap",
        "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{ssh_port}-:22",
        "-device", "virtio-net-pci,netdev=n0",
        "-device", "virtio-rng-pci",
        "-device", "vmgenid,guid=auto",
        "-display", "none", "-monitor", "none",
        "-serial", f"file:{(workdir / 'console.log').resolve()}",
        "-qmp", f"unix:{(workdir / 'qmp.sock').resolve()},server=on,wait=off",
        "-daemonize", "-pidfile", str(pidfile.resolve()),
    ]
    if incoming_state is not None:
        argv += ["-incoming", f"exec:cat {incoming_state.resolve()}"]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(f"qemu did not start for {name}: {done.stderr.strip() or done.stdout.strip()}")
    return int(pidfile.read_text().strip())


class Qmp:
    """A minimal QMP client: one command at a time, events skipped."""

    def __init__(self, path: Path, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.settimeout(timeout)
                self._sock.connect(str(path))
                break
            except OSError as err:
                self._sock.close()
                if time.monotonic() > deadline:
                    raise LabError(f"cannot reach qemu's QMP socket {path}: {err}") from None
                time.sleep(0.1)
        self._buffer = b""
        self._sent = 0
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict:
        while b"\n" not in self._buffer:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise LabError("qemu closed its QMP socket")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command: str, **arguments):
        """Send one command and return its reply's "return"; events, and replies that carry another command's id
        (one left over from an earlier command), are skipped."""
        self._sent += 1
        message = {"execute": command, "id": self._sent}
        if arguments:
            message["arguments"] = arguments
        self._sock.sendall(json.dumps(message).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply or reply.get("id") != self._sent:
                continue
            if "error" in reply:
                raise LabError(f"qemu refused {command}: {reply['error'].get('desc')}")
            return reply.get("return")

    def close(self):
        self._sock.close()


def wait_until_running(qmp_socket: Path, timeout: float = 300):
    """Wait until a qemu started with -incoming has loaded its saved state and runs; a state saved
    from a stopped machine loads paused, and is continued."""
    monitor = Qmp(qmp_socket, timeout=60)
    try:
        deadline = time.monotonic() + timeout
        while True:
            state = (monitor.execute("query-status") or {}).get("status")
            if state == "running":
                return
            if state in ("paused", "postmigrate", "prelaunch"):
                monitor.execute("cont")
            elif state not in ("inmigrate", None) or time.monotonic() > deadline:
                raise LabError(f"resuming ended in qemu state {state!r}; see {qmp_socket.parent}/console.log")
            time.sleep(0.05)
    finally:
        monitor.close()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_lab_qemu(pid: int, marker: str) -> bool:
    """True when pid is a qemu whose command line mentions marker (guards against reused pids)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return QEMU in cmdline and marker in cmdline


def stop(pid: int, marker: str, grace: float = 5.0):
    """Stop a lab qemu: SIGTERM, then SIGKILL after the grace period."""
    if not is_lab_qemu(pid, marker):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid) and is_lab_qemu(pid, marker):
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + grace
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
