# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import os
import socket
import ssl
import tempfile
import threading
import time
import types

import pytest

from ansible_collections.snapfleet.snapd.plugins.module_utils import _snapd, _snapd_protocol
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd import SnapdClient, SnapdError


@pytest.fixture
def lab(snapd):
    """The fake with a provider slot and a consumer plug, nothing connected."""
    snapd.add_slot("provider", "shmem", {"shared-memory": "foo", "write": ["bar"]})
    snapd.add_plug("consumer", "shmem", {"shared-memory": "foo", "private": False})
    return snapd


def client_for(fake, timeout=5.0):
    return SnapdClient(fake.socket_path, timeout)


def connect(client):
    return client.interfaces_action("connect", "consumer", "shmem", "provider", "shmem")


def test_connect_waits_for_the_async_change_to_be_ready(lab):
    lab.polls_until_ready = 3
    change = connect(client_for(lab))
    assert (change["status"], change["ready"]) == ("Done", True)
    assert sum(1 for r in lab.requests if r[1] == "/v2/changes/1") == 4


def test_connect_posts_snapd_interface_action_body(lab):
    connect(client_for(lab))
    assert lab.requests[0] == ("POST", "/v2/interfaces", {}, {
        "action": "connect",
        "plugs": [{"snap": "consumer", "plug": "shmem"}],
        "slots": [{"snap": "provider", "slot": "shmem"}],
    })


def test_forget_is_sent_only_when_asked(lab):
    lab.add_connection("consumer:shmem", "provider:shmem")
    client_for(lab).interfaces_action("disconnect", "consumer", "shmem", "provider", "shmem", forget=True)
    assert lab.requests[0][3]["forget"] is True


def test_already_connected_pair_answers_202_with_a_done_change(lab):
    lab.add_connection("consumer:shmem", "provider:shmem")
    assert connect(client_for(lab))["status"] == "Done"


def test_change_conflict_is_retried_until_it_clears(lab):
    lab.conflicts = 2
    assert connect(client_for(lab))["status"] == "Done"
    assert [r[1] for r in lab.requests].count("/v2/interfaces") == 3


@pytest.fixture
def instant_waits(monkeypatch):
    """The client's waits between retries and polls take no real time: its clock jumps by each wait instead, so
    a test of its timeout does not depend on how loaded the machine is."""
    skipped = [0.0]
    real_monotonic = time.monotonic
    monkeypatch.setattr(_snapd.time, "monotonic", lambda: real_monotonic() + skipped[0])
    monkeypatch.setattr(_snapd.time, "sleep", lambda seconds: skipped.__setitem__(0, skipped[0] + seconds))


def test_change_conflict_that_outlasts_the_timeout_says_what_to_do(lab, instant_waits):
    lab.conflicts = 10_000
    with pytest.raises(SnapdError) as error:
        connect(client_for(lab, timeout=0.3))
    assert error.value.kind == "snap-change-conflict"
    assert error.value.status_code == 409
    assert str(error.value) == (
        'snapd refused POST /v2/interfaces: snap "consumer" has "auto-refresh" change in progress '
        "(kind snap-change-conflict, HTTP 409); another change on the same snap kept running, wait for it "
        "('snap changes') and retry"
    )


def test_maintenance_answer_is_retried_until_snapd_is_back(lab):
    lab.maintenance = 2
    assert client_for(lab).get("/v2/system-info")["version"] == "2.63"


def test_connection_dropped_while_snapd_restarts_is_retried(lab):
    lab.dropped = 2
    assert client_for(lab).get("/v2/system-info")["version"] == "2.63"


def test_missing_socket_fails_at_once_saying_to_check_snapd():
    path = os.path.join(tempfile.gettempdir(), "no-such-dir-for-snapd", "snapd.socket")
    client = SnapdClient(path, 30)
    with pytest.raises(SnapdError) as error:
        client.get("/v2/system-info")
    assert str(error.value) == (
        "cannot reach snapd at %s: [Errno 2] No such file or directory; is snapd installed and running "
        "(systemctl status snapd.socket)?" % path
    )
    assert client.request_count == 1


class FakeClock:
    """The client's time.monotonic and time.sleep: a sleep moves this clock on at once, nothing else does."""

    def __init__(self, monkeypatch):
        self.now = 0.0
        monkeypatch.setattr(_snapd, "time", types.SimpleNamespace(monotonic=lambda: self.now, sleep=self.sleep))

    def sleep(self, seconds):
        self.now += seconds


def test_socket_nobody_listens_on_fails_within_seconds_not_the_timeout(tmp_path, monkeypatch):
    path = str(tmp_path / "snapd.socket")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)  # bound but never listening: connect() is refused, as with snapd.socket stopped
    try:
        client = SnapdClient(path, 60)
        clock = FakeClock(monkeypatch)
        with pytest.raises(SnapdError) as error:
            client.get("/v2/system-info")
        # the client's own clock: it waited out the grace for a socket never reached, not the 60 s timeout
        assert 0 < clock.now <= _snapd._UNREACHED_GRACE
    finally:
        listener.close()
    assert str(error.value).startswith("cannot reach snapd at %s: [Errno 111] Connection refused;" % path)
    assert client.request_count > 1  # it was retried meanwhile


def test_failed_change_carries_its_id_status_and_snapd_err_text(lab):
    lab.change_error = 'connection not allowed by plug rule of interface "shared-memory"'
    with pytest.raises(SnapdError) as error:
        connect(client_for(lab))
    assert (error.value.change_id, error.value.value) == ("1", "Error")
    assert str(error.value) == (
        "snapd change 1 (connect-snap) ended in Error: cannot perform the following tasks:\n"
        '- connect-snap (connection not allowed by plug rule of interface "shared-memory"); '
        "see 'snap change 1' for the task log"
    )


def test_change_that_never_finishes_times_out_naming_the_change_and_its_status(lab, instant_waits):
    lab.never_ready = True
    with pytest.raises(SnapdError) as error:
        connect(client_for(lab, timeout=0.4))
    assert error.value.change_id == "1"
    assert str(error.value).startswith("snapd change 1 (connect-snap) was not ready after 0.4 seconds, last status Doing;")


def test_polling_a_change_backs_off_but_never_waits_more_than_a_quarter_second(lab, monkeypatch):
    # the waits asked for, not the polls counted: a loaded machine makes counts flaky
    waits = []
    real_sleep = _snapd.time.sleep
    monkeypatch.setattr(_snapd.time, "sleep", lambda seconds: waits.append(seconds) or real_sleep(seconds))
    lab.never_ready = True
    with pytest.raises(SnapdError):
        connect(client_for(lab, timeout=1.0))
    assert len(waits) >= 2
    assert waits == pytest.approx([0.05, 0.075, 0.1125, 0.16875, 0.25, 0.25, 0.25][:len(waits)])


def test_retries_back_off_up_to_a_second(lab, monkeypatch):
    waits = []
    monkeypatch.setattr(_snapd.time, "sleep", waits.append)
    lab.maintenance = 6
    client_for(lab).get("/v2/system-info")
    assert waits == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0]


def test_requests_build_no_tls_context(lab, monkeypatch):
    # loading the CA store costs about 0.6 s per request on an emulated device, for nothing on a unix socket
    def refuse(*args, **kwargs):
        raise AssertionError("a TLS context was built for a unix socket request")

    monkeypatch.setattr(ssl, "create_default_context", refuse)
    monkeypatch.setattr(ssl, "SSLContext", refuse)
    assert client_for(lab).get("/v2/system-info")["version"] == "2.63"


def test_snapd_error_carries_its_message_kind_and_status(lab):
    with pytest.raises(SnapdError) as error:
        client_for(lab).interfaces_action("connect", "consumer", "nope", "provider", "shmem")
    assert (error.value.status_code, error.value.kind) == (400, None)
    assert str(error.value) == 'snapd refused POST /v2/interfaces: snap "consumer" has no plug named "nope" (HTTP 400)'


@pytest.mark.parametrize("status", [401, 403])
def test_access_denied_says_to_run_as_root(lab, monkeypatch, status):
    monkeypatch.setattr(lab, "_post_interfaces", lambda body: (status, {
        "type": "error", "status-code": status, "status": "", "result": {"message": "access denied", "kind": "login-required"},
    }))
    with pytest.raises(SnapdError) as error:
        connect(client_for(lab))
    assert str(error.value) == (
        "snapd refused POST /v2/interfaces: access denied (kind login-required, HTTP %d); run the task as root "
        "(become: true)" % status
    )


def test_snap_not_found_maps_to_its_kind(lab):
    with pytest.raises(SnapdError) as error:
        client_for(lab).get("/v2/connections", {"select": "all", "snap": "ghost"})
    assert (error.value.kind, error.value.status_code, error.value.value) == ("snap-not-found", 404, "ghost")


def test_warnings_are_read_without_acknowledging_them(lab):
    lab.warnings.append({"message": "hello"})
    client = client_for(lab)
    assert client.get("/v2/warnings", {"select": "all"}) == [{"message": "hello"}]
    assert [(r[0], r[1], r[2]) for r in lab.requests] == [("GET", "/v2/warnings", {"select": "all"})]


def test_request_count_counts_every_http_request_including_retries(lab):
    lab.conflicts = 1
    client = client_for(lab)
    connect(client)
    assert client.request_count == len(lab.requests) == 3


# --- answers no snapd sends: the client bounds size and time, and says so in one line ------------------------------

class ScriptedSocket:
    """NOT snapd: a unix socket that answers every request with the same raw bytes, optionally a byte at a time."""

    def __init__(self, path, answer, drip=0.0):
        self.path = path
        self.answer = answer
        self.drip = drip
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(path)
        self.listener.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                connection, dummy = self.listener.accept()
            except OSError:
                return
            with connection:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    request += chunk
                try:
                    if self.drip:
                        for index in range(len(self.answer)):
                            connection.sendall(self.answer[index:index + 1])
                            time.sleep(self.drip)
                    else:
                        connection.sendall(self.answer)
                except OSError:
                    pass  # the client gave up

    def close(self):
        self.listener.close()


@pytest.fixture
def answering(tmp_path):
    """Start a ScriptedSocket answering with given bytes; every one started is closed after the test."""
    started = []

    def start(answer, drip=0.0):
        started.append(ScriptedSocket(str(tmp_path / ("snapd-%d.socket" % len(started))), answer, drip))
        return started[-1].path

    yield start
    for server in started:
        server.close()


def http_answer(body, status="200 OK"):
    if isinstance(body, str):
        body = body.encode()
    return b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        status.encode(), len(body), body)


def not_snapd(path, what, answer):
    return "snapd answered %s with %s; is %s really snapd's socket?" % (what, answer, path)


def test_an_answer_larger_than_the_limit_is_refused_without_reading_it_whole(answering, monkeypatch):
    monkeypatch.setattr(_snapd_protocol, "MAX_ANSWER_BYTES", 4096)
    path = answering(http_answer('{"type": "sync", "result": "%s"}' % ("x" * 100000)))
    client = SnapdClient(path, 5)
    with pytest.raises(SnapdError) as error:
        client.get("/v2/system-info")
    assert str(error.value) == not_snapd(path, "GET /v2/system-info", "more than 4096 bytes")


def test_an_answer_dripped_a_byte_at_a_time_ends_at_the_timeout(answering):
    # a socket timeout alone starts again with every byte: this answer would take 12 s to arrive
    path = answering(http_answer('{"type": "sync", "result": {"version": "2.63"}}'), drip=0.1)
    client = SnapdClient(path, 1.0)
    # without the one deadline the answer would arrive, whole, after 12 s: the error is the proof
    with pytest.raises(SnapdError) as error:
        client.get("/v2/system-info")
    assert str(error.value) == ("snapd did not answer GET /v2/system-info within the timeout of 1 seconds; check snapd "
                                "(systemctl status snapd) or raise the timeout option")


@pytest.mark.parametrize("body, answer", [
    ("[" * 100000 + "]" * 100000, "something that is not JSON ('%s')" % ("[" * 80)),
    ("[1, 2]", "JSON that is not an object (list)"),
    ('{"type": "sync", "status-code": 200}', "JSON that is not snapd's envelope (no sync result, async change or error)"),
    ('{"type": "async", "status-code": 202}', "JSON that is not snapd's envelope (no sync result, async change or error)"),
    ('{"result": {"version": "2.63"}}', "JSON that is not snapd's envelope (no sync result, async change or error)"),
    ('{"type": "sync", "result": ["2.63"]}', "a result of type list where snapd sends another"),
])
def test_a_malformed_answer_is_one_clear_error(answering, body, answer):
    path = answering(http_answer(body))
    with pytest.raises(SnapdError) as error:
        SnapdClient(path, 5).get("/v2/system-info")
    assert str(error.value) == not_snapd(path, "GET /v2/system-info", answer)


def test_an_answer_that_is_not_http_fails_at_once_and_is_not_retried_until_the_timeout(answering):
    path = answering(b"SSH-2.0-OpenSSH_9.2p1\r\n\r\n")
    client = SnapdClient(path, 30)
    with pytest.raises(SnapdError) as error:
        client.get("/v2/system-info")
    assert client.request_count == 1
    assert str(error.value) == not_snapd(path, "GET /v2/system-info", "an answer that is not HTTP (BadStatusLine)")


@pytest.mark.parametrize("change, answer", [
    ('"done"', "a result of type str where snapd sends another"),
    ("null", "a result of type NoneType where snapd sends another"),
])
def test_a_change_that_is_not_an_object_is_one_clear_error(snapd, monkeypatch, change, answer):
    snapd.add_slot("provider", "shmem", {"shared-memory": "foo", "write": ["bar"]})
    snapd.add_plug("consumer", "shmem", {"shared-memory": "foo", "private": False})
    answer_with = {"type": "sync", "status-code": 200, "result": json.loads(change)}
    monkeypatch.setattr(snapd, "_get_change", lambda change_id: (200, answer_with))
    with pytest.raises(SnapdError) as error:
        connect(client_for(snapd))
    assert str(error.value) == not_snapd(snapd.socket_path, "GET /v2/changes/1", answer)


def test_connections_that_are_not_an_object_are_one_clear_error(snapd, monkeypatch):
    answer_with = {"type": "sync", "status-code": 200, "result": "all of them"}
    monkeypatch.setattr(snapd, "_get_connections", lambda query: (200, answer_with))
    with pytest.raises(SnapdError) as error:
        client_for(snapd).get("/v2/connections", {"select": "all"})
    assert str(error.value) == not_snapd(snapd.socket_path, "GET /v2/connections",
                                         "a result of type str where snapd sends another")


def test_a_deadline_that_passes_while_a_retry_waits_for_its_answer_reports_what_was_retried(monkeypatch):
    """A conflict retried until the last answer does not come in time: the user hears of the conflict."""
    client = SnapdClient("/nonexistent/snapd.socket", 5.0)
    conflict = SnapdError("snapd refused POST /v2/interfaces: a conflicting change", kind="snap-change-conflict")
    answers = iter([_snapd.Retry(conflict), client._too_slow("POST /v2/interfaces")])

    def call(*args):
        raise next(answers)

    monkeypatch.setattr(client, "_call", call)
    monkeypatch.setattr(_snapd.time, "sleep", lambda seconds: None)
    with pytest.raises(SnapdError) as error:
        client._call_with_retries("POST", "/v2/interfaces", None, {}, time.monotonic() + 5.0)
    assert error.value is conflict
    # with nothing retried before it, a timeout is reported as the timeout
    answers = iter([client._too_slow("GET /v2/connections")])
    with pytest.raises(SnapdError, match="did not answer GET /v2/connections within the timeout of 5 seconds"):
        client._call_with_retries("GET", "/v2/connections", None, None, time.monotonic() + 5.0)


def test_a_deadline_that_passes_during_a_poll_reports_the_change_as_not_ready(monkeypatch):
    client = SnapdClient("/nonexistent/snapd.socket", 5.0)
    doing = {"type": "sync", "status-code": 200, "result": {"id": "7", "kind": "connect-snap", "status": "Doing",
                                                            "ready": False}}
    answers = iter([doing, client._too_slow("GET /v2/changes/7")])

    def call_with_retries(*args):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(client, "_call_with_retries", call_with_retries)
    monkeypatch.setattr(_snapd.time, "sleep", lambda seconds: None)
    with pytest.raises(SnapdError) as error:
        client._wait_for_change("7", time.monotonic() + 5.0)
    assert error.value.change_id == "7"
    assert str(error.value).startswith("snapd change 7 (connect-snap) was not ready after 5 seconds, last status Doing;")
