# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Transport to snapd's REST API over its unix socket.

Only requests, change polling, retries and error mapping live here; what a
shared-memory connection means is the business of the ``_shm_*`` module utils.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import time
from urllib.parse import quote, urlencode

from ansible.module_utils.common.text.converters import to_text

DEFAULT_SOCKET = "/run/snapd.socket"
DEFAULT_TIMEOUT = 300.0

# Change statuses that end a change without doing what was asked (overlord/state/change.go).
FAILED_CHANGE_STATUSES = ("Error", "Undone", "Hold")

# Retries while snapd restarts or a conflicting change runs: back off up to a second.
_FIRST_DELAY = 0.05
_MAX_DELAY = 1.0
# Polling a change: a connect takes about a second under emulation and less on hardware, so poll
# soon and never more than a quarter second late (the snap CLI itself polls every 100 ms).
_POLL_FIRST_DELAY = 0.05
_POLL_GROWTH = 1.5
_POLL_MAX_DELAY = 0.25
# A socket nobody listens on (snapd.socket stopped) before snapd ever answered this run: retried only this
# long, then reported, rather than until the timeout. systemd holds the socket while snapd restarts, so a
# restart does not refuse connections; a refusal after snapd answered is retried until the deadline.
_UNREACHED_GRACE = 3.0
# snapd's largest answer here, /v2/connections of a busy device, is well under a megabyte; a socket that
# answers more is not snapd, and is not read into memory whole
MAX_ANSWER_BYTES = 16 * 1024 * 1024


def client_argument_spec():
    """Argument spec of the options every module passes to SnapdClient (documented in doc_fragments/_snapd.py)."""
    return dict(
        socket=dict(type="path", default=DEFAULT_SOCKET),
        timeout=dict(type="float", default=DEFAULT_TIMEOUT),
    )


def client_params_error(params):
    """Why the client options in ``params`` cannot work (one sentence), or None when they can."""
    timeout = params["timeout"]
    if not (math.isfinite(timeout) and timeout > 0):
        return "timeout must be a number of seconds above 0, not %s" % timeout
    return None


class SnapdError(Exception):
    """A failure talking to snapd, phrased as one sentence that says what to do.

    ``kind``, ``status_code`` and ``value`` are snapd's own (``result.kind``,
    ``status-code``, ``result.value``) when snapd answered; ``change_id`` is set
    when an asynchronous change failed or did not finish in time.
    """

    def __init__(self, message, kind=None, status_code=None, value=None, change_id=None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status_code = status_code
        self.value = value
        self.change_id = change_id

    def __str__(self):
        return self.message


class _Transient(Exception):
    """A failure worth retrying until the deadline: snapd restarting or busy.

    ``maybe_delivered`` is true when the connection dropped after the request
    went out, so snapd may have acted on it.
    """

    def __init__(self, error, maybe_delivered=False):
        super().__init__(str(error))
        self.error = error
        self.maybe_delivered = maybe_delivered


def _backoff_delays(first=_FIRST_DELAY, growth=2, maximum=_MAX_DELAY):
    delay = first
    while True:
        yield delay
        delay = min(delay * growth, maximum)


class _DeadlineSocket(socket.socket):
    """A socket whose every wait ends by one deadline (time.monotonic()).

    A plain socket timeout starts again with each byte received, so an answer dripped a byte at a time
    would run far past the timeout; here each send and receive only gets the time left.
    """

    deadline = None

    def _time_left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out")
        self.settimeout(left)

    def connect(self, address):
        self._time_left()
        return super().connect(address)

    def sendall(self, data, flags=0):
        self._time_left()
        return super().sendall(data, flags)

    def recv_into(self, buffer, nbytes=0, flags=0):
        self._time_left()
        return super().recv_into(buffer, nbytes, flags)


class _UnixHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP over a unix socket, every wait of one request bounded by one deadline.

    Not ansible's ``Request``: it builds an SSL context and loads the CA store on every request,
    which costs about 0.6 s per request on an emulated device and is never used on a unix socket.
    """

    def __init__(self, socket_path, deadline):
        super().__init__("localhost")
        self.socket_path = socket_path
        self.deadline = deadline

    def connect(self):
        sock = _DeadlineSocket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.deadline = self.deadline
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class SnapdClient:
    """Talks to snapd over its unix socket, one client per module run.

    ``timeout`` (seconds) bounds every public call, including its retries and
    change polling. ``request_count`` counts the HTTP requests sent, so callers
    can report how much they asked of snapd.
    """

    def __init__(self, socket_path=DEFAULT_SOCKET, timeout=DEFAULT_TIMEOUT):
        self.socket_path = socket_path
        self.timeout = float(timeout)
        self.request_count = 0
        self._reached = False
        self._resent_after_drop = False

    # --- public calls -----------------------------------------------------------------

    def get(self, path, query=None, expect=object):
        """GET ``path`` (e.g. ``/v2/connections``) and return snapd's ``result``, which must be of type ``expect``."""
        deadline = time.monotonic() + self.timeout
        return self._result(self._call_with_retries("GET", path, query, None, deadline), "GET %s" % path, expect)

    def system_info(self):
        """Return ``/v2/system-info`` (``version``, ``confinement``, ...)."""
        return self.get("/v2/system-info", expect=dict)

    def connections(self, snap=None, interface="shared-memory", select="all"):
        """Return ``/v2/connections``: ``established``, ``undesired``, ``plugs``, ``slots``."""
        query = {"select": select}
        if interface:
            query["interface"] = interface
        if snap:
            query["snap"] = snap
        return self.get("/v2/connections", query, expect=dict)

    def warnings(self):
        """Return every warning snapd holds; reading them never acknowledges them."""
        return self.get("/v2/warnings", {"select": "all"}, expect=(list, type(None))) or []

    def interfaces_action(self, action, plug_snap, plug, slot_snap, slot, forget=False):
        """POST one connect/disconnect to ``/v2/interfaces`` and wait for its change.

        Returns the finished change. Raises SnapdError when snapd refuses the
        request, when the change ends in Error/Undone/Hold, or when it is not
        ready within the client's timeout.
        """
        body = {
            "action": action,
            "plugs": [{"snap": plug_snap, "plug": plug}],
            "slots": [{"snap": slot_snap, "slot": slot}],
        }
        if forget:
            body["forget"] = True
        deadline = time.monotonic() + self.timeout
        try:
            payload = self._call_with_retries("POST", "/v2/interfaces", None, body, deadline)
        except SnapdError as error:
            if action == "disconnect" and error.status_code == 400 and self._resent_after_drop:
                # the first POST reached snapd before it restarted; the resend finds nothing left to do
                return {}
            raise
        if payload.get("type") != "async":
            return self._result(payload, "POST /v2/interfaces", (dict, type(None))) or {}
        return self._wait_for_change(payload["change"], deadline)

    # --- internals --------------------------------------------------------------------

    def _wait_for_change(self, change_id, deadline):
        delays = _backoff_delays(_POLL_FIRST_DELAY, _POLL_GROWTH, _POLL_MAX_DELAY)
        change = {}
        path = "/v2/changes/%s" % quote(str(change_id))
        while True:
            change = self._result(self._call_with_retries("GET", path, None, None, deadline), "GET %s" % path, dict)
            if change.get("ready"):
                break
            delay = next(delays)
            if time.monotonic() + delay > deadline:
                raise change_not_ready(change_id, change, self.timeout)
            time.sleep(delay)
        failure = change_failure(change_id, change)
        if failure:
            raise failure
        return change

    def _call_with_retries(self, method, path, query, body, deadline):
        delays = _backoff_delays()
        self._resent_after_drop = False
        grace_ends = time.monotonic() + _UNREACHED_GRACE
        while True:
            try:
                # the grace only shortens the retries; an answer being read may take until the deadline
                return self._call(method, path, query, body, deadline)
            except _Transient as transient:
                self._resent_after_drop = self._resent_after_drop or transient.maybe_delivered
                delay = next(delays)
                if time.monotonic() + delay > (deadline if self._reached else min(deadline, grace_ends)):
                    raise transient.error
                time.sleep(delay)

    def _call(self, method, path, query, body, deadline):
        url = path
        if query:
            url += "?" + urlencode(query)
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        what = "%s %s" % (method, path)
        self.request_count += 1
        connection = _UnixHTTPConnection(self.socket_path, deadline)
        try:
            try:
                connection.connect()
            except socket.timeout:
                raise self._too_slow(what)
            except OSError as error:
                raise self._unreachable(error)
            try:
                connection.request(method, url, body=data, headers=headers)
                # snapd puts its JSON envelope on every answer, errors included: the status is in it
                raw = connection.getresponse().read(MAX_ANSWER_BYTES + 1)
            except socket.timeout:
                raise self._too_slow(what)
            except (OSError, http.client.RemoteDisconnected, http.client.IncompleteRead) as error:
                # the connection dropped after the request went out: snapd is restarting
                raise _Transient(self._socket_error(error), maybe_delivered=True)
            except http.client.HTTPException as error:
                raise self._not_snapd(what, "an answer that is not HTTP (%s)" % type(error).__name__)
        finally:
            connection.close()
        self._reached = True
        if len(raw) > MAX_ANSWER_BYTES:
            raise self._not_snapd(what, "more than %d bytes" % MAX_ANSWER_BYTES)
        payload = self._decode(raw, what)
        if payload.get("type") == "error":
            raise self._api_error(payload, what)
        if payload.get("type") == "sync" and "result" in payload:
            return payload
        if payload.get("type") == "async" and isinstance(payload.get("change"), str) and payload["change"]:
            return payload
        raise self._not_snapd(what, "JSON that is not snapd's envelope (no sync result, async change or error)")

    def _decode(self, raw, what):
        try:
            payload = json.loads(to_text(raw or b"{}", errors="surrogate_or_strict"))
        except (ValueError, RecursionError):
            # RecursionError: json gives up on deep nesting such as [[[[...
            raise self._not_snapd(what, "something that is not JSON (%r)" % to_text(raw[:80], errors="surrogate_or_replace"))
        if not isinstance(payload, dict):
            raise self._not_snapd(what, "JSON that is not an object (%s)" % type(payload).__name__)
        return payload

    def _result(self, payload, what, expect):
        """snapd's ``result`` of a sync answer, refused when it is not of the type the call expects."""
        result = payload.get("result")
        if not isinstance(result, expect):
            raise self._not_snapd(what, "a result of type %s where snapd sends another" % type(result).__name__)
        return result

    def _not_snapd(self, what, answer):
        return SnapdError("snapd answered %s with %s; is %s really snapd's socket?" % (what, answer, self.socket_path))

    def _too_slow(self, what):
        return SnapdError("snapd did not answer %s within the timeout of %g seconds; check snapd (systemctl status "
                          "snapd) or raise the timeout option" % (what, self.timeout))

    def _socket_error(self, cause):
        return SnapdError(
            "cannot reach snapd at %s: %s; is snapd installed and running (systemctl status snapd.socket)?"
            % (self.socket_path, to_text(cause))
        )

    def _unreachable(self, cause):
        if isinstance(cause, PermissionError):
            return SnapdError(
                "cannot open snapd's socket %s: %s; run the task as root (become: true)" % (self.socket_path, to_text(cause))
            )
        error = self._socket_error(cause)
        if isinstance(cause, FileNotFoundError) and not self._reached:
            # a socket that never existed means no snapd; once reached, a vanished socket means a restart
            return error
        if isinstance(cause, (FileNotFoundError, ConnectionError, TimeoutError, socket.timeout)):
            return _Transient(error)
        return error

    def _api_error(self, payload, what):
        error, transient = api_error(payload, what)
        return _Transient(error) if transient else error


def change_not_ready(change_id, change, timeout):
    """The error for a change still not ready when the time ran out (``change`` is its last ``result``)."""
    return SnapdError(
        "snapd change %s (%s) was not ready after %g seconds, last status %s; it may still finish: "
        "check it with 'snap change %s' or raise the timeout option"
        % (change_id, change.get("kind", "unknown kind"), timeout, change.get("status", "unknown"), change_id),
        change_id=change_id,
        value=change.get("status"),
    )


def change_failure(change_id, change):
    """The error for a ready change that ended in Error, Undone or Hold, or None when it is Done."""
    status = change.get("status")
    if status not in FAILED_CHANGE_STATUSES:
        return None
    detail = change.get("err") or "no error text from snapd"
    return SnapdError(
        "snapd change %s (%s) ended in %s: %s; see 'snap change %s' for the task log"
        % (change_id, change.get("kind", "unknown kind"), status, to_text(detail).strip(), change_id),
        change_id=change_id,
        value=status,
    )


def api_error(payload, what):
    """snapd's error envelope ``payload`` as ``(SnapdError, transient)``, the same for every transport.

    ``transient`` is true for answers worth retrying until the deadline: snapd restarting, or another
    change on the same snap in progress.
    """
    result = payload.get("result")
    if not isinstance(result, dict):
        result = {}
    message = to_text(result.get("message") or payload.get("status") or "no message")
    kind = result.get("kind")
    status_code = payload.get("status-code")
    value = result.get("value")
    maintenance = payload.get("maintenance")
    said = "snapd refused %s: %s (%s)" % (what, message, _describe(kind, status_code))
    if maintenance or kind in ("daemon-restart", "system-restart"):
        note = maintenance.get("message") if isinstance(maintenance, dict) else None
        return SnapdError(
            "%s; snapd is restarting (%s) and did not come back in time, retry later" % (said, note or kind),
            kind=kind, status_code=status_code, value=value,
        ), True
    if kind == "snap-change-conflict":
        return SnapdError(
            "%s; another change on the same snap kept running, wait for it ('snap changes') and retry" % said,
            kind=kind, status_code=status_code, value=value,
        ), True
    if status_code in (401, 403):
        return SnapdError("%s; run the task as root (become: true)" % said, kind=kind, status_code=status_code,
                          value=value), False
    return SnapdError(said, kind=kind, status_code=status_code, value=value), False


def _describe(kind, status_code):
    parts = []
    if kind:
        parts.append("kind %s" % kind)
    if status_code:
        parts.append("HTTP %s" % status_code)
    return ", ".join(parts) or "no kind"
