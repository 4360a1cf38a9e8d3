"""The lab's QMP client against a FAKE qemu monitor (a unix socket served by a thread; no qemu): replies are
matched to their command by id, so a reply left over from an earlier command is never taken for the next one's."""

import json
import socket
import tempfile
import threading
from pathlib import Path

import pytest

from tests.lab import LabError, qemu


class FakeQmp:
    """A QMP server that answers each command with what answer(command, id) returns: a list of lines."""

    def __init__(self, path, answer):
        self.commands = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(1)
        self._answer = answer
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        conn, _ = self._listener.accept()
        with conn, conn.makefile("rwb") as stream:
            stream.write(b'{"QMP": {"version": {}, "capabilities": []}}\r\n')
            stream.flush()
            for line in stream:
                message = json.loads(line)
                self.commands.append(message["execute"])
                for reply in self._answer(message["execute"], message.get("id")):
                    stream.write(json.dumps(reply).encode() + b"\r\n")
                stream.flush()

    def close(self):
        self._listener.close()
        self._thread.join(timeout=5)


@pytest.fixture
def short_dir():
    # a unix socket path must stay under 108 bytes; pytest's tmp_path can be longer
    with tempfile.TemporaryDirectory(prefix="qmp-") as folder:
        yield folder


def test_a_stale_reply_and_events_are_skipped_and_the_paused_machine_is_continued(short_dir):
    states = iter(["inmigrate", "paused", "running"])

    def answer(command, ident):
        if command == "query-status":
            # a reply to no command of ours (a stale {} as `cont` gives), an event, then the real answer
            return [{"return": {}, "id": 999}, {"event": "RESUME", "data": {}},
                    {"return": {"status": next(states), "running": False}, "id": ident}]
        return [{"return": {}, "id": ident}]

    server = FakeQmp(short_dir + "/qmp.sock", answer)
    try:
        qemu.wait_until_running(Path(short_dir) / "qmp.sock", timeout=10)
    finally:
        server.close()
    assert server.commands == ["qmp_capabilities", "query-status", "query-status", "cont", "query-status"]


def test_a_machine_that_never_runs_ends_in_one_error_naming_its_state(short_dir):
    def answer(command, ident):
        if command == "query-status":
            return [{"return": {"status": "internal-error", "running": False}, "id": ident}]
        return [{"return": {}, "id": ident}]

    server = FakeQmp(short_dir + "/qmp.sock", answer)
    try:
        with pytest.raises(LabError, match="resuming ended in qemu state 'internal-error'"):
            qemu.wait_until_running(Path(short_dir) / "qmp.sock", timeout=10)
    finally:
        server.close()


def test_a_refused_command_raises_what_qemu_said(short_dir):
    def answer(command, ident):
        if command == "migrate":
            return [{"error": {"class": "GenericError", "desc": "no space"}, "id": ident}]
        return [{"return": {}, "id": ident}]

    server = FakeQmp(short_dir + "/qmp.sock", answer)
    try:
        monitor = qemu.Qmp(Path(short_dir) / "qmp.sock", timeout=10)
        with pytest.raises(LabError, match="qemu refused migrate: no space"):
            monitor.execute("migrate", uri="exec:true")
        monitor.close()
    finally:
        server.close()
