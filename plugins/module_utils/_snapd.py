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

from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_protocol import (  # noqa: F401 (SnapdError is this module's API)
    MAX_ANSWER_BYTES,
    Retry,
    SnapdError,
    checked_envelope,
    checked_result,
    decode_answer,
    envelope_error,
    interfaces_body,
    resent_disconnect_done,
    sent_until_answered,
    wait_for_change,
)

DEFAULT_SOCKET = "/run/snapd.socket"
DEFAULT_TIMEOUT = 300.0

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

    def get(self, path, query=None):
        """GET ``path`` (e.g. ``/v2/connections``) and return snapd's ``result``, checked to be of the type snapd sends."""
        deadline = time.monotonic() + self.timeout
        payload = self._call_with_retries("GET", path, query, None, deadline)
        return checked_result(payload, "GET %s" % path, path, self._not_snapd)

    def interfaces_action(self, action, plug_snap, plug, slot_snap, slot, forget=False):
        """POST one connect/disconnect to ``/v2/interfaces`` and wait for its change.

        Returns the finished change. Raises SnapdError when snapd refuses the
        request, when the change ends in Error/Undone/Hold, or when it is not
        ready within the client's timeout.
        """
        request = dict(action=action, plug_snap=plug_snap, plug=plug, slot_snap=slot_snap, slot=slot, forget=forget)
        deadline = time.monotonic() + self.timeout
        try:
            payload = self._call_with_retries("POST", "/v2/interfaces", None, interfaces_body(**request), deadline)
        except SnapdError as error:
            if resent_disconnect_done(request, error, self._resent_after_drop):
                return {}
            raise
        if payload.get("type") != "async":
            return {}
        return self._wait_for_change(payload["change"], deadline)

    # --- internals --------------------------------------------------------------------

    def _wait_for_change(self, change_id, deadline):
        path = "/v2/changes/%s" % quote(str(change_id))

        def fetch():
            answer = self._call_with_retries("GET", path, None, None, deadline)
            return checked_result(answer, "GET %s" % path, path, self._not_snapd)

        return wait_for_change(fetch, change_id, deadline, self.timeout,
                               _backoff_delays(_POLL_FIRST_DELAY, _POLL_GROWTH, _POLL_MAX_DELAY), time.monotonic, time.sleep)

    def _call_with_retries(self, method, path, query, body, deadline):
        self._resent_after_drop = False
        grace_ends = time.monotonic() + _UNREACHED_GRACE

        def send():
            try:
                # the grace only shortens the retries; an answer being read may take until the deadline
                return self._call(method, path, query, body, deadline)
            except Retry as transient:
                self._resent_after_drop = self._resent_after_drop or transient.maybe_delivered
                raise

        return sent_until_answered(send, deadline, _backoff_delays(), time.monotonic, time.sleep,
                                   lambda: deadline if self._reached else min(deadline, grace_ends))

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
                raise Retry(self._socket_error(error), maybe_delivered=True)
            except http.client.HTTPException as error:
                raise self._not_snapd(what, "an answer that is not HTTP (%s)" % type(error).__name__)
        finally:
            connection.close()
        self._reached = True
        payload = decode_answer(raw, what, self._not_snapd)
        error = envelope_error(payload, what)
        if error is not None:
            raise Retry(error[0]) if error[1] else error[0]
        return checked_envelope(payload, what, self._not_snapd)

    def _not_snapd(self, what, answer):
        return SnapdError("snapd answered %s with %s; is %s really snapd's socket?" % (what, answer, self.socket_path))

    def _too_slow(self, what):
        return SnapdError("snapd did not answer %s within the timeout of %g seconds; check snapd (systemctl status "
                          "snapd) or raise the timeout option" % (what, self.timeout), timed_out=True)

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
            return Retry(error)
        return error
