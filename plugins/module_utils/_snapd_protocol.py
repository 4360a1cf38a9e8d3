# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""snapd's REST protocol as pure functions, written once for both transports.

The socket client (``_snapd.SnapdClient``) and the ``snap debug api`` host (``plugins/plugin_utils``) only
move bytes; what a request body is, how an answer is read and type-checked, which answers are worth
retrying, and when a resent disconnect counts as done are decided here.
"""

from __future__ import annotations

import json

from ansible.module_utils.common.text.converters import to_text

# snapd's largest answer here, /v2/connections of a busy device, is well under a megabyte; an answer
# larger than this is not snapd's and is not read into memory whole
MAX_ANSWER_BYTES = 16 * 1024 * 1024

# Change statuses that end a change without doing what was asked (overlord/state/change.go).
FAILED_CHANGE_STATUSES = ("Error", "Undone", "Hold")

# error kinds that say snapd is going away and will be back (daemon/response.go)
_RESTART_KINDS = ("daemon-restart", "system-restart")
_CONFLICT_KIND = "snap-change-conflict"

_NONE = type(None)
# the type of the ``result`` each GET answers with; anything else is not snapd's answer
RESULT_TYPES = {
    "/v2/system-info": dict,
    "/v2/connections": dict,
    "/v2/warnings": (list, _NONE),
    "/v2/changes": dict,
}
# lists inside /v2/connections' result, each a list of objects
_CONNECTIONS_LISTS = ("plugs", "slots", "established", "undesired")


class SnapdError(Exception):
    """A failure talking to snapd, phrased as one sentence that says what to do.

    ``kind``, ``status_code`` and ``value`` are snapd's own (``result.kind``,
    ``status-code``, ``result.value``) when snapd answered; ``change_id`` is set
    when an asynchronous change failed or did not finish in time; ``timed_out`` is
    true when the deadline passed while an answer was awaited.
    """

    def __init__(self, message, kind=None, status_code=None, value=None, change_id=None, timed_out=False):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status_code = status_code
        self.value = value
        self.change_id = change_id
        self.timed_out = timed_out

    def __str__(self):
        return self.message


def interfaces_body(action, plug_snap, plug, slot_snap, slot, forget=False):
    """The JSON body of one POST /v2/interfaces."""
    body = {
        "action": action,
        "plugs": [{"snap": plug_snap, "plug": plug}],
        "slots": [{"snap": slot_snap, "slot": slot}],
    }
    if forget:
        body["forget"] = True
    return body


def decode_answer(raw, what, not_snapd):
    """snapd's envelope (a dict) from an answer's bytes or text; ``not_snapd(what, said)`` makes the error
    for anything else. An answer of more than MAX_ANSWER_BYTES is refused unread."""
    if len(raw) > MAX_ANSWER_BYTES:
        raise not_snapd(what, "more than %d bytes" % MAX_ANSWER_BYTES)
    if isinstance(raw, bytes):
        raw = to_text(raw, errors="surrogate_or_strict")
    try:
        payload = json.loads(raw or "{}")
    except (ValueError, RecursionError):
        # ValueError also for numbers of more than 4300 digits; RecursionError for deep nesting such as [[[[...
        raise not_snapd(what, "something that is not JSON (%r)" % raw[:80])
    if not isinstance(payload, dict):
        raise not_snapd(what, "JSON that is not an object (%s)" % type(payload).__name__)
    return payload


def envelope_error(payload, what):
    """``(SnapdError, retry)`` for an error answer, None for any other; only error answers are ever retried.

    snapd adds ``maintenance`` to EVERY answer while a restart is pending, successes included (daemon/daemon.go):
    a 202 carrying it is an accepted change, never a reason to send the request again.
    """
    if payload.get("type") != "error":
        return None
    return api_error(payload, what)


def checked_envelope(payload, what, not_snapd):
    """The payload when it is a sync answer with a result or an async one with a change id."""
    if payload.get("type") == "sync" and "result" in payload:
        return payload
    if payload.get("type") == "async" and isinstance(payload.get("change"), str) and payload["change"]:
        return payload
    raise not_snapd(what, "JSON that is not snapd's envelope (no sync result, async change or error)")


def expected_result_type(path):
    """The type snapd's ``result`` has for a GET of ``path``."""
    if path.startswith("/v2/changes/"):
        path = "/v2/changes"
    return RESULT_TYPES.get(path, object)


def checked_result(payload, what, path, not_snapd):
    """snapd's ``result`` of a sync answer to a GET of ``path``, refused when it is not of the type snapd sends."""
    result = payload.get("result")
    expect = expected_result_type(path)
    if not isinstance(result, expect):
        raise not_snapd(what, "a result of type %s where snapd sends another" % type(result).__name__)
    problem = _shape_problem(path, result)
    if problem:
        raise not_snapd(what, problem)
    return result


def _shape_problem(path, result):
    """Why a state answer's result is not shaped as snapd's, or None."""
    if path == "/v2/connections":
        for key in _CONNECTIONS_LISTS:
            value = result.get(key)
            if value is not None and not (isinstance(value, list) and all(isinstance(i, dict) for i in value)):
                return "a result whose %s is not a list of objects" % key
    elif path == "/v2/warnings" and result is not None:
        if not all(isinstance(warning, dict) for warning in result):
            return "warnings that are not objects"
    return None


def resent_disconnect_done(request, error, resent):
    """Whether a disconnect that failed with ``error`` is done after all: its first POST reached snapd before it
    went away, so the resend found nothing left to disconnect (400)."""
    return bool(resent) and request["action"] == "disconnect" and error.status_code == 400


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
    """snapd's error envelope ``payload`` as ``(SnapdError, retry)``, the same for every transport.

    ``retry`` is true for answers worth retrying until the deadline: snapd restarting, or another
    change on the same snap in progress.
    """
    result = payload.get("result")
    if not isinstance(result, dict):
        result = {}
    message = to_text(result.get("message") or payload.get("status") or "no message")
    kind = result.get("kind")
    kind = kind if isinstance(kind, str) else None
    status_code = payload.get("status-code")
    status_code = status_code if isinstance(status_code, int) and not isinstance(status_code, bool) else None
    value = result.get("value")
    maintenance = payload.get("maintenance")
    said = "snapd refused %s: %s (%s)" % (what, message, _describe(kind, status_code))
    if maintenance or kind in _RESTART_KINDS:
        note = maintenance.get("message") if isinstance(maintenance, dict) else None
        return SnapdError(
            "%s; snapd is restarting (%s) and did not come back in time, retry later" % (said, note or kind),
            kind=kind, status_code=status_code, value=value,
        ), True
    if kind == _CONFLICT_KIND:
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
