"""The lab's own SSH work (readiness, copying snaps, commands) through paramiko: exec and SFTP."""

import logging
import socket
import time
from pathlib import Path

from tests.lab import LabError

try:
    import paramiko
except ImportError:  # the CLI must say what to do, not print a traceback
    paramiko = None

# paramiko logs every refused handshake of a booting guest with a traceback; the lab reports its own errors.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class Guest:
    """An SSH session to one lab host as root."""

    def __init__(self, port: int, key_file: Path, host: str = "127.0.0.1"):
        if paramiko is None:
            raise LabError("the lab needs paramiko: run it with the project's venv (`make bootstrap`)")
        self.port = port
        self._client = paramiko.SSHClient()
        self._client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        self._client.connect(
            host, port=port, username="root", key_filename=str(key_file),
            look_for_keys=False, allow_agent=False, timeout=10, banner_timeout=30, auth_timeout=30,
        )

    def run(self, command: str, timeout: float = 600, check: bool = True):
        """Run a command; returns (exit status, stdout, stderr)."""
        _, stdout, stderr = self._client.exec_command(command, timeout=timeout)
        try:
            out = stdout.read().decode(errors="replace")
            err = stderr.read().decode(errors="replace")
        except socket.timeout:
            raise LabError(f"command timed out after {timeout:.0f} s on port {self.port}: {command}") from None
        status = stdout.channel.recv_exit_status()
        if check and status != 0:
            raise LabError(
                f"command failed with status {status} on port {self.port}: {command}: "
                f"{(err or out).strip()[-400:]}"
            )
        return status, out, err

    def put(self, local: Path, remote: str):
        with self._client.open_sftp() as sftp:
            sftp.put(str(local), remote)

    def close(self):
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_for_ssh(port: int, key_file: Path, timeout: float, alive=lambda: True) -> Guest:
    """Connect as soon as sshd answers; alive() is polled so a dead VM fails fast."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise LabError(f"the VM on port {port} stopped while booting (see its console.log)")
        try:
            return Guest(port, key_file)
        except LabError:
            raise
        except (OSError, EOFError, paramiko.SSHException) as err:
            last_error = str(err) or type(err).__name__
            time.sleep(0.25)
    raise LabError(f"ssh on 127.0.0.1:{port} did not answer within {timeout:.0f} s ({last_error})")
