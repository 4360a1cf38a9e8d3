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

import calendar
import json
import re
import time

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
    "/v2/changes/": dict,  # one change
    "/v2/changes": list,  # the list of ?select=...&for=SNAP
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
        path = "/v2/changes/"
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


class Retry(Exception):
    """An answer worth sending the request again for (snapd restarting, a conflicting change, snapd out of reach).

    ``maybe_delivered`` is true when the request may have reached snapd before it went away, so snapd may have
    acted on it (see resent_disconnect_done).
    """

    def __init__(self, error, maybe_delivered=False):
        super().__init__(str(error))
        self.error = error
        self.maybe_delivered = maybe_delivered


def sent_until_answered(send, deadline, delays, clock=time.monotonic, sleep=time.sleep, give_up_at=None):
    """``send()``'s answer, sent again while it raises Retry, waiting the next of ``delays`` between sends.

    When the next send would start after ``give_up_at()`` (by default the deadline), the last Retry's error is
    raised. Any other SnapdError ends it; one that timed out while a resend waited for its answer is reported
    as the failure being retried, since that is what used the time up. Both transports send this way.
    """
    retried = None
    while True:
        try:
            return send()
        except Retry as transient:
            retried = transient
            delay = next(delays)
            if clock() + delay > (give_up_at() if give_up_at else deadline):
                raise transient.error
            sleep(delay)
        except SnapdError as error:
            if retried is not None and error.timed_out:
                raise retried.error
            raise


def wait_for_change(fetch, change_id, deadline, timeout, delays, clock=time.monotonic, sleep=time.sleep):
    """Poll ``fetch()`` (the change's ``result``, or SnapdError) until the change is ready; return it when Done.

    Raises its change_failure when it ended otherwise, and change_not_ready when the deadline passes first, be it
    between polls or during one. ``delays`` gives the waits between polls; both transports wait this way.
    """
    change = {}
    while True:
        try:
            change = fetch()
        except SnapdError as error:
            if change and error.timed_out:
                raise change_not_ready(change_id, change, timeout)
            raise
        if change.get("ready"):
            break
        delay = next(delays)
        if clock() + delay > deadline:
            raise change_not_ready(change_id, change, timeout)
        sleep(delay)
    failure = change_failure(change_id, change)
    if failure:
        raise failure
    return change


# snapd's times, RFC 3339 with up to nanoseconds (time.Time's JSON): "2026-12-06T19:17:50.236020951Z"
_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
                   r"(?:Z|([+-])([0-9]{2}):([0-9]{2}))")


def epoch_ns(text):
    """Nanoseconds since the epoch of one of snapd's times, or None for anything else."""
    match = _TIME.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        return None
    if match.group(8):
        offset = (int(match.group(9)) * 60 + int(match.group(10))) * 60
        seconds -= offset if match.group(8) == "+" else -offset
    return seconds * 10 ** 9 + int((match.group(7) or "0").ljust(9, "0"))


def change_made_by(request, changes, since_ns):
    """The change a POST /v2/interfaces of ``request`` made, from snapd's changes of its plug snap, or None.

    It is the first change of the request's kind (``connect-snap``, ``disconnect-snap``) spawned at or after
    ``since_ns`` (the device's clock when the request was about to be sent): snapd refuses a change to a snap
    while another is in flight, so a later one of that kind on that snap comes after ours ended. Entries that
    are not change objects, or have no id or time, are not it.
    """
    kind = request["action"] + "-snap"
    found = None
    for change in changes if isinstance(changes, list) else ():
        if not isinstance(change, dict) or change.get("kind") != kind:
            continue
        spawned = epoch_ns(change.get("spawn-time"))
        if spawned is None or spawned < since_ns or not isinstance(change.get("id"), str) or not change["id"]:
            continue
        if found is None or spawned < found[0]:
            found = (spawned, change)
    return found[1] if found else None


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
