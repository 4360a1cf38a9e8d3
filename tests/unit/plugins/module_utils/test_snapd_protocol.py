# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""snapd's protocol as both transports use it: bodies, envelopes, result types, what is retried."""

from __future__ import annotations

import pytest

from ansible_collections.snapfleet.snapd.plugins.module_utils import _snapd_protocol as protocol

from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_protocol import (
    SnapdError,
    checked_result,
    decode_answer,
    envelope_error,
    interfaces_body,
    resent_disconnect_done,
)

MAINTENANCE = {"kind": "daemon-restart", "message": "daemon is restarting"}


def not_snapd(what, said):
    return SnapdError("%s: %s" % (what, said))


def test_a_body_names_one_plug_and_one_slot_and_forgets_only_when_asked():
    assert interfaces_body("disconnect", "a", "p", "b", "s") == {
        "action": "disconnect", "plugs": [{"snap": "a", "plug": "p"}], "slots": [{"snap": "b", "slot": "s"}]}
    assert interfaces_body("disconnect", "a", "p", "", "s", forget=True)["forget"] is True


RETRIES = {
    "an accepted change while a restart is pending": (
        {"type": "async", "status-code": 202, "change": "7", "maintenance": MAINTENANCE}, None),
    "a success while a restart is pending": ({"type": "sync", "status-code": 200, "result": {}, "maintenance": MAINTENANCE}, None),
    "snapd restarting": ({"type": "error", "status-code": 503, "result": {"message": "m", "kind": "daemon-restart"},
                          "maintenance": MAINTENANCE}, True),
    "a conflicting change": ({"type": "error", "status-code": 409, "result": {"message": "m", "kind": "snap-change-conflict"}},
                             True),
    "a refusal": ({"type": "error", "status-code": 400, "result": {"message": "m"}}, False),
}


@pytest.mark.parametrize("case", sorted(RETRIES))
def test_only_error_answers_are_retried(case):
    payload, retry = RETRIES[case]
    found = envelope_error(payload, "POST /v2/interfaces")
    assert (found if found is None else found[1]) == retry


def test_an_error_with_fields_of_the_wrong_type_is_still_one_error():
    error, retry = envelope_error({"type": "error", "status-code": "400", "result": {"kind": ["x"], "message": "m"}}, "GET x")
    assert (error.kind, error.status_code, retry) == (None, None, False)
    assert str(error) == "snapd refused GET x: m (no kind)"


RESULTS = {
    "/v2/system-info": ([1], "a result of type list where snapd sends another"),
    "/v2/connections": ({"plugs": [1]}, "a result whose plugs is not a list of objects"),
    "/v2/warnings": ([1], "warnings that are not objects"),
    "/v2/changes/7": ("Done", "a result of type str where snapd sends another"),
}


@pytest.mark.parametrize("path", sorted(RESULTS))
def test_a_result_not_shaped_as_snapds_is_refused(path):
    result, said = RESULTS[path]
    with pytest.raises(SnapdError) as raised:
        checked_result({"type": "sync", "result": result}, "GET " + path, path, not_snapd)
    assert str(raised.value) == "GET %s: %s" % (path, said)


def test_results_shaped_as_snapds_pass():
    assert checked_result({"result": None}, "GET /v2/warnings", "/v2/warnings", not_snapd) is None
    assert checked_result({"result": {"plugs": [{}]}}, "GET /v2/connections", "/v2/connections", not_snapd) == {"plugs": [{}]}


@pytest.mark.parametrize("raw, said", [
    (b"[1]", "JSON that is not an object (list)"),
    (b'{"a": ' + b"9" * 5000 + b"}", "something that is not JSON"),
    (b"[" * 100000, "something that is not JSON"),
])
def test_an_answer_that_is_not_an_object_is_refused(raw, said):
    with pytest.raises(SnapdError) as raised:
        decode_answer(raw, "GET x", not_snapd)
    assert str(raised.value).startswith("GET x: " + said)


@pytest.mark.parametrize("action, status, resent, done", [
    ("disconnect", 400, True, True),
    ("disconnect", 400, False, False),
    ("disconnect", 409, True, False),
    ("connect", 400, True, False),
])
def test_a_resent_disconnect_answered_400_is_done(action, status, resent, done):
    request = dict(action=action, plug_snap="a", plug="p", slot_snap="b", slot="s", forget=False)
    assert resent_disconnect_done(request, SnapdError("x", status_code=status), resent) is done


# --- the change a request made, among snapd's changes of its snap ----------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2026-12-06T19:17:50.236020951Z", 1796584670236020951),
    ("2026-12-06T19:17:50.2Z", 1796584670200000000),
    ("2026-12-06T19:17:50Z", 1796584670000000000),
    ("2026-12-06T20:17:50.236020951+01:00", 1796584670236020951),
    ("2026-12-06T18:47:50.236020951-00:30", 1796584670236020951),
    ("2026-12-06 19:17:50Z", None),
    ("2026-13-06T19:17:50Z", None),
    ("2026-12-06T19:17:50.1234567890Z", None),
    ("２026-12-06T19:17:50Z", None),
    (1796584670, None),
])
def test_snapds_times_are_read_to_the_nanosecond_and_anything_else_is_none(text, expected):
    assert protocol.epoch_ns(text) == expected


def change(change_id, kind, spawned, **more):
    return dict({"id": change_id, "kind": kind, "spawn-time": spawned, "status": "Done", "ready": True}, **more)


CONNECT = dict(action="connect", plug_snap="a", plug="p", slot_snap="b", slot="s", forget=False)
SINCE = protocol.epoch_ns("2026-12-06T19:00:00Z")


def test_the_change_made_is_the_first_of_its_kind_spawned_since_the_request():
    changes = [
        change("7", "connect-snap", "2026-12-06T18:59:59.999999999Z"),  # an earlier connect of ours
        change("9", "connect-snap", "2026-12-06T19:00:03Z"),  # later: another's, after ours ended
        change("8", "connect-snap", "2026-12-06T19:00:00.5Z"),
        change("10", "disconnect-snap", "2026-12-06T19:00:00.1Z"),  # another kind
    ]
    assert protocol.change_made_by(CONNECT, changes, SINCE)["id"] == "8"
    assert protocol.change_made_by(dict(CONNECT, action="disconnect"), changes, SINCE)["id"] == "10"
    assert protocol.change_made_by(CONNECT, changes[:1], SINCE) is None


@pytest.mark.parametrize("changes", [
    None, {}, "x", [1, None, "change"],
    [change("", "connect-snap", "2026-12-06T19:00:01Z")],
    [change(8, "connect-snap", "2026-12-06T19:00:01Z")],
    [change("8", "connect-snap", "soon")],
    [change("8", ["connect-snap"], "2026-12-06T19:00:01Z")],
])
def test_hostile_change_lists_yield_no_change(changes):
    assert protocol.change_made_by(CONNECT, changes, SINCE) is None


def test_waiting_for_a_change_polls_until_ready_and_reports_how_it_ended():
    seen = iter([{"status": "Doing"}, {"status": "Doing"}, {"status": "Done", "ready": True, "id": "3"}])
    slept = []
    assert protocol.wait_for_change(lambda: next(seen), "3", 100, 5, iter([1, 2, 3]), lambda: 0, slept.append)["id"] == "3"
    assert slept == [1, 2]
    failed = iter([{"status": "Error", "ready": True, "err": "boom", "kind": "connect-snap"}])
    with pytest.raises(protocol.SnapdError, match=r"change 4 \(connect-snap\) ended in Error: boom"):
        protocol.wait_for_change(lambda: next(failed), "4", 100, 5, iter([1]), lambda: 0, slept.append)
    with pytest.raises(protocol.SnapdError, match="change 5 .* was not ready after 5 seconds"):
        protocol.wait_for_change(lambda: {"status": "Doing"}, "5", 10, 5, iter([1] * 20), lambda: 10, slept.append)


def sender(*answers):
    """send() giving each of ``answers`` in turn: an exception is raised, anything else returned."""
    answers = iter(answers)

    def send():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer
    return send


def test_a_request_is_sent_again_while_snapd_says_to_and_its_answer_returned():
    busy = protocol.Retry(SnapdError("busy"))
    slept = []
    assert protocol.sent_until_answered(sender(busy, busy, "ok"), 100, iter([1, 2, 3]), lambda: 0, slept.append) == "ok"
    assert slept == [1, 2]


def test_resending_stops_at_the_deadline_with_the_last_reason_and_at_once_on_any_other_error():
    with pytest.raises(SnapdError, match="^busy$"):
        protocol.sent_until_answered(sender(protocol.Retry(SnapdError("busy"))), 10, iter([1]), lambda: 10, None)
    slept = []
    with pytest.raises(SnapdError, match="^refused$"):
        protocol.sent_until_answered(sender(SnapdError("refused"), "ok"), 100, iter([1]), lambda: 0, slept.append)
    assert slept == []
    # a resend that timed out waiting for its answer: what used the time up was the failure being retried
    with pytest.raises(SnapdError, match="^conflict$"):
        protocol.sent_until_answered(sender(protocol.Retry(SnapdError("conflict")), SnapdError("late", timed_out=True)),
                                     100, iter([1]), lambda: 0, slept.append)
    # the grace: a give-up time of its own, earlier than the deadline
    with pytest.raises(SnapdError, match="^unreached$"):
        protocol.sent_until_answered(sender(protocol.Retry(SnapdError("unreached")), "ok"), 100, iter([1]), lambda: 5,
                                     slept.append, give_up_at=lambda: 5)
