# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The snap debug api transport against the FAKE snapd: its sh scripts run in /bin/sh with a FAKE `snap`
command (tests/unit/fake_snap_bin/snap) in front of PATH, and every result is compared with the socket path's."""

from __future__ import annotations

import os

import pytest

from both_transports import hosts, item, outcome, params, sh_runner
from fake_proc import add_process
from shm_fixtures import BROKEN_SNAP_YAML, install_snap_yaml
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_facts import HostFacts, facts_needed
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import FAMILIES
from ansible_collections.snapfleet.snapd.plugins.module_utils._read_plan import FileFacts
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run import run_connection, run_info
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run_verify import LocalVerifyHost, run_verify
from ansible_collections.snapfleet.snapd.plugins.module_utils import _snapd_protocol
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd import SnapdClient
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_specs import AUTO
from ansible_collections.snapfleet.snapd.plugins.plugin_utils import _snap_debug_api
from ansible_collections.snapfleet.snapd.plugins.plugin_utils._shm_action import hands_over
from ansible_collections.snapfleet.snapd.plugins.plugin_utils._snap_debug_api import (
    DebugApiHost,
    NoDebugApi,
    Output,
    parse_process_records,
)

CASES = {
    "connect": params(plug="consumer:shmem", slot="provider:shmem"),
    "no-op": params(plug="logger:shmem", slot="provider:shmem"),
    "exclusive list": params(connections=[item("consumer:shmem", "provider:shmem"),
                                          item("shm-private:shmem-private")],
                             exclusive=True),
    "exclusive managing gadget connections": params(
        connections=[item("consumer:shmem", "provider:shmem")],
        exclusive=True, manage_gadget_connections=True),
    "gadget connection listed as disconnected": params(plug="sensor:shmem", slot="provider:shmem",
                                                       state="disconnected"),
    "forget": params(plug="shm-private:shmem-private", slot=":shared-memory", state="disconnected", forget=True),
    "refused mismatch": params(plug="stranger:shmem", slot="provider:shmem"),
    "mismatch let through": params(plug="stranger:shmem", slot="provider:shmem", allow_identifier_mismatch=True),
    "refused unknown snap": params(plug="ghost:shmem", slot="provider:shmem"),
}


# What each case must give, on each transport: changed, the actions made, or the one line of a refusal
CONNECT_CONSUMER = ("connect", "consumer:shmem", "provider:shmem")
DISCONNECT_LOGGER = ("disconnect", "logger:shmem", "provider:shmem")
EXPECTED = {
    "connect": dict(changed=True, actions=[CONNECT_CONSUMER]),
    "no-op": dict(changed=False, actions=[]),
    "exclusive list": dict(changed=True, actions=[
        DISCONNECT_LOGGER, CONNECT_CONSUMER, ("connect", "shm-private:shmem-private", "snapd:shared-memory")]),
    "exclusive managing gadget connections": dict(changed=True, actions=[
        DISCONNECT_LOGGER, ("disconnect", "sensor:shmem", "provider:shmem"), CONNECT_CONSUMER]),
    "gadget connection listed as disconnected": dict(changed=True, actions=[("disconnect", "sensor:shmem", "provider:shmem")]),
    "forget": dict(changed=True, actions=[("forget", "shm-private:shmem-private", "snapd:shared-memory")]),
    "refused mismatch": dict(failed=True, actions=[], msg=(
        "refused before changing anything: cannot connect stranger:shmem to provider:shmem: the plug's shared-memory "
        "identifier \"other\" does not match the slot's \"foo\"; snapd refuses this for store snaps and lets it through "
        "only for --dangerous ones, so make the shared-memory attributes in the two snap.yaml files agree (or, if a "
        "snap declaration of the store allows this pair, set allow_identifier_mismatch: true on it)")),
    "mismatch let through": dict(changed=True, actions=[("connect", "stranger:shmem", "provider:shmem")]),
    "refused unknown snap": dict(failed=True, actions=[], msg=(
        'refused before changing anything: snap "ghost" is not installed, so it has no plug "shmem"')),
}


def as_expected(result):
    """The fields EXPECTED pins down, of one result."""
    found = dict(actions=[(a["action"], a["plug"], a["slot"]) for a in result.get("actions", [])])
    if result.get("failed"):
        found.update(failed=True, msg=result["msg"])
    else:
        found.update(changed=result["changed"])
    return found


@pytest.mark.parametrize("transport", ["python", "snap-debug-api"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_transport_gives_the_expected_result_and_leaves_snapd_as_it_says(pair, case, transport):
    host = hosts(pair)[0 if transport == "python" else 1]
    fake = pair[0 if transport == "python" else 1]
    expected = EXPECTED[case]
    before = [dict(c) for c in fake.established]
    planned = as_expected(outcome(run_connection, CASES[case], host, check_mode=True))
    made = as_expected(outcome(run_connection, CASES[case], host))
    assert planned == expected and made == expected
    pairs = set((c["plug"]["snap"], c["slot"]["snap"]) for c in fake.established)
    for action, plug, slot in expected["actions"]:
        assert ((plug.split(":")[0], slot.split(":")[0]) in pairs) == (action == "connect"), (action, plug, slot)
    if expected.get("failed") or not expected["actions"]:
        assert fake.established == before
    again = as_expected(outcome(run_connection, CASES[case], host))
    assert again == (expected if expected.get("failed") else dict(changed=False, actions=[]))


@pytest.mark.parametrize("tty", [False, True], ids=["pipe", "pty"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_both_transports_give_the_same_result_and_leave_the_same_state(pair, case, tty):
    local, remote = hosts(pair, tty=tty)
    for check_mode in (True, False):
        expected = outcome(run_connection, CASES[case], local, check_mode=check_mode, diff=True)
        assert outcome(run_connection, CASES[case], remote, check_mode=check_mode, diff=True) == expected
    assert pair[0].established == pair[1].established
    assert pair[0].undesired == pair[1].undesired


def test_a_no_op_run_is_one_remote_command_and_one_request_whatever_the_list(pair):
    # a snapd that answers snap debug api is 2.64 or later, newer than every version shm_connection asks about: a
    # no-op reads the connections alone, one `snap` process
    items = [item("logger:shmem", "provider:shmem")] * 10
    remote = hosts(pair)[1]
    result = run_connection(params(connections=items), remote)
    assert result["changed"] is False
    assert (result["remote_commands"], result["api_requests"]) == (1, 1)
    assert [r[1] for r in pair[1].requests] == ["/v2/connections"]


def test_a_change_is_one_more_remote_command_whatever_the_number_of_actions(pair):
    remote = hosts(pair)[1]
    result = run_connection(CASES["exclusive list"], remote)
    assert [a["action"] for a in result["actions"]] == ["disconnect", "connect", "connect"]
    # the read, the in-use scan of the snaps the exclusive disconnect takes down (known only from the read), the
    # changes
    assert result["remote_commands"] == 3
    # the connections, 3 POSTs (one `snap connect` or `snap disconnect` each), then the connections again
    assert result["api_requests"] == 1 + 3 + 1


def test_each_change_is_one_snap_process_that_sends_it_and_waits_for_it(pair, tmp_path):
    # as snapd's own CLI makes a change (the benchmark's floor): no `snap debug api` POST, no `snap watch`
    log = tmp_path / "snap.log"
    remote = hosts(pair, FAKE_SNAP_LOG=str(log))[1]
    result = run_connection(CASES["exclusive list"], remote)
    assert [a["action"] for a in result["actions"]] == ["disconnect", "connect", "connect"]
    events = [line.rsplit(" ", 1)[0] for line in log.read_text().splitlines()]
    assert [e for e in events if e.startswith("cli ")] == ["cli disconnect", "cli connect", "cli connect"], events
    assert "start post" not in events
    assert [r[:2] for r in pair[1].requests if r[0] == "POST"] == [("POST", "/v2/interfaces")] * 3
    assert not [r for r in pair[1].requests if r[1] == "/v2/changes"]  # nothing failed: no change looked up


def posts(fake):
    return [r for r in fake.requests if r[0] == "POST"]


def test_a_change_that_failed_is_read_from_snapds_changes_and_never_made_again(pair):
    pair[1].fail_post_number = 2  # the second change ends in Error
    remote = hosts(pair)[1]
    result = outcome(run_connection, CASES["exclusive list"], remote)
    assert result["failed"] is True, result
    assert [a["action"] for a in result["actions"]] == ["disconnect"]
    assert "snapd change 2 (connect-snap) ended in Error: cannot perform the following tasks" in result["msg"], result["msg"]
    assert "see 'snap change 2'" in result["msg"]
    assert len(posts(pair[1])) == 2  # the failed connect was not sent again
    assert ("GET", "/v2/changes", {"select": "all", "for": "consumer"}, None) in pair[1].requests


def test_a_request_snapd_refused_is_sent_again_over_snap_debug_api_and_retried_as_on_the_socket(pair):
    pair[1].conflicts = 2  # the CLI's POST meets a conflicting change, and so does the first resend
    remote = hosts(pair)[1]
    result = outcome(run_connection, CASES["connect"], remote)
    assert result["changed"] is True and not result.get("failed"), result
    assert len(posts(pair[1])) == 3 and len(pair[1].changes) == 1  # the CLI's, the refused resend, the one that made it
    assert [c["plug"]["snap"] for c in pair[1].established].count("consumer") == 1


@pytest.mark.parametrize("transport", ["python", "snap-debug-api"])
def test_a_disconnect_snapd_made_before_it_went_away_is_done_when_its_resend_is_answered_400(pair, transport):
    # the first POST meets a conflict (over snap debug api: the `snap disconnect` step's, so the request is sent again
    # over snap debug api); snapd takes the next, makes the change and goes away unanswered; the resend finds nothing
    # to disconnect (400): the disconnect is done, not failed
    fake = pair[0] if transport == "python" else pair[1]
    fake.conflicts = 1
    fake.acted_then_dropped = 1
    host = hosts(pair)[0 if transport == "python" else 1]
    result = outcome(run_connection, params(plug="logger:shmem", slot="provider:shmem", state="disconnected"), host)
    assert as_expected(result) == dict(changed=True, actions=[DISCONNECT_LOGGER]), result
    assert len(posts(fake)) == 3
    assert "logger" not in [c["plug"]["snap"] for c in fake.established]


def test_a_refusal_that_never_clears_gives_the_socket_paths_message(pair):
    for fake in pair:
        fake.conflicts = 1000
    local, remote = hosts(pair, timeout=4)
    expected = outcome(run_connection, CASES["connect"], local)
    assert expected["failed"] is True and "another change on the same snap kept running" in expected["msg"]
    assert outcome(run_connection, CASES["connect"], remote) == expected


@pytest.mark.parametrize("polls", [0, 3], ids=["done", "still-running"])
def test_a_step_whose_snap_command_failed_after_sending_is_followed_to_its_change_not_sent_again(pair, polls):
    # the FAKE `snap connect` gives up right after its POST was accepted (as the CLI does when snapd stays away
    # longer than it waits): the change it made is found among snapd's changes and followed to its end
    pair[1].polls_until_ready = polls
    remote = hosts(pair, FAKE_SNAP_CLI_GIVES_UP="1")[1]
    result = outcome(run_connection, CASES["connect"], remote)
    assert result["changed"] is True and not result.get("failed"), result
    assert len(posts(pair[1])) == 1
    assert ("consumer", "provider") in [(c["plug"]["snap"], c["slot"]["snap"]) for c in pair[1].established]


def test_the_deadline_stops_every_step_and_a_change_it_cut_off_is_not_made_again(pair, tmp_path):
    # each FAKE `snap` hangs once its change is Done: the one timeout of the steps stops the first (and its `snap`),
    # its change is found Done among snapd's changes, and the run, past its deadline, makes no more
    log = tmp_path / "snap.log"
    remote = hosts(pair, timeout=1, FAKE_SNAP_CLI_HANGS="1", FAKE_SNAP_LOG=str(log))[1]
    result = outcome(run_connection, CASES["exclusive list"], remote)
    assert result["failed"] is True and [a["action"] for a in result["actions"]] == ["disconnect"], result
    assert "the connect of consumer:shmem to provider:shmem was not made: the timeout (1 seconds a change) ran out" \
        in result["msg"], result["msg"]
    assert len(posts(pair[1])) == 1
    hung = [int(line.split()[-1]) for line in log.read_text().splitlines() if line.startswith("hangs ")]
    assert len(hung) == 1
    assert not os.path.exists("/proc/%d" % hung[0]) or open("/proc/%d/stat" % hung[0]).read().split(") ")[-1][0] == "Z"


def test_auto_hands_a_change_to_the_module_where_the_device_has_python_before_anything_is_sent(pair):
    remote = DebugApiHost(sh_runner(pair[1]), 20, hand_over=lambda host: hands_over(AUTO, host))
    with pytest.raises(_snap_debug_api.ChangesByModule):
        run_connection(CASES["connect"], remote)
    assert remote.host_python and [r for r in pair[1].requests if r[0] == "POST"] == []
    # nothing to change: the run stays on snap debug api
    assert run_connection(params(connections=[item("logger:shmem", "provider:shmem")]), remote)["changed"] is False


def test_auto_makes_the_change_over_snap_debug_api_where_the_device_has_no_python(pair):
    local = hosts(pair)[0]
    remote = DebugApiHost(sh_runner(pair[1]), 20, python="no-such-python3",
                          hand_over=lambda host: hands_over(AUTO, host))
    expected = outcome(run_connection, CASES["connect"], local)
    assert outcome(run_connection, CASES["connect"], remote) == expected
    assert remote.host_python is None and [r for r in pair[1].requests if r[0] == "POST"]


def test_the_reads_of_one_run_start_their_snap_processes_at_once(pair, tmp_path):
    # each FAKE `snap` process waits until all three have started: run one after another, the first waits them out
    remote = DebugApiHost(sh_runner(pair[1], FAKE_SNAP_BARRIER="%s:3" % tmp_path), 60)
    result = run_info(dict(snaps=None), remote)
    assert result["api_requests"] == 3
    assert len(list(tmp_path.glob("started-*"))) == 3
    assert not (tmp_path / "waited-out").exists(), "the three reads ran one after another"


def test_a_no_op_run_reads_no_warnings_and_a_refusal_reads_them_to_say_why(pair):
    local, remote = hosts(pair)
    assert run_connection(params(connections=[item("logger:shmem", "provider:shmem")]), remote)["api_requests"] == 1
    assert not [r for r in pair[1].requests if r[1] in ("/v2/warnings", "/v2/system-info")]
    # shm-broken's declaration was dropped: the refusal quotes snapd's warning, on both transports alike
    case = params(connections=[item("shm-broken:shmem", "provider:shmem")])
    expected = outcome(run_connection, case, local)
    assert expected["failed"] is True and "snapd warned" in expected["msg"], expected
    assert outcome(run_connection, case, remote) == expected
    assert [r for r in pair[1].requests if r[1] == "/v2/warnings"]


def test_exclusive_keeps_the_gadget_connection_on_both_transports(pair):
    for host in hosts(pair):
        result = run_connection(CASES["exclusive list"], host, check_mode=True)
        assert [k["plug"] for k in result["kept"]] == ["sensor:shmem"]
        assert "sensor:shmem" not in [a["plug"] for a in result["actions"]]
    local, remote = hosts(pair)
    managed = CASES["exclusive managing gadget connections"]
    expected = outcome(run_connection, managed, local)
    assert outcome(run_connection, managed, remote) == expected
    assert [u for u in expected["undesired"] if u["plug"] == "sensor:shmem"] == [
        {"plug": "sensor:shmem", "slot": "provider:shmem", "manual": True, "gadget": True}]
    assert pair[0].undesired == pair[1].undesired


@pytest.mark.parametrize("transport", ["python", "snap-debug-api"])
def test_each_transport_lists_what_snapd_holds_with_the_users_it_finds(pair, tmp_path, transport):
    add_process(str(tmp_path), 777, "snap.logger.app (enforce)", fds=["/dev/shm/bar-1"])
    host = hosts(pair, root=str(tmp_path))[0 if transport == "python" else 1]
    result = run_info(dict(snaps=None), host)
    assert (result["changed"], result["version"], result["system_snap"]) == (False, "2.63", "snapd")
    assert [(c["plug"], c["slot"], c["manual"], c["gadget"], c["users"]) for c in result["connections"]] == [
        ("logger:shmem", "provider:shmem", True, False,
         [{"pid": 777, "snap": "logger", "app": "app", "paths": ["/dev/shm/bar-1"]}]),
        ("sensor:shmem", "provider:shmem", False, True, [])]
    assert [(u["plug"], u["slot"]) for u in result["undesired"]] == [("shm-private:shmem-private", "snapd:shared-memory")]
    assert sorted("%s:%s" % (p["snap"], p["plug"]) for p in result["plugs"]) == [
        "consumer:shmem", "logger:shmem", "sensor:shmem", "shm-private:shmem-private", "stranger:shmem"]
    assert [(d["snap"], d["name"]) for d in result["dropped_declarations"]] == [("shm-broken", "shmem")]
    assert "warnings" not in result


def test_info_is_the_same_on_both_transports(pair):
    local, remote = hosts(pair)
    assert outcome(run_info, dict(snaps=None), remote) == outcome(run_info, dict(snaps=None), local)


def test_conflicts_and_a_restart_are_waited_out_as_on_the_socket(pair):
    for fake in pair:
        fake.conflicts = 2
        fake.polls_until_ready = 3
    local, remote = hosts(pair)
    assert outcome(run_connection, CASES["connect"], remote) == outcome(run_connection, CASES["connect"], local)
    assert pair[1].established == pair[0].established


def test_a_change_ending_in_error_fails_with_the_socket_paths_message(pair):
    for fake in pair:
        fake.change_error = "cannot setup profiles: boom"
    local, remote = hosts(pair)
    expected = outcome(run_connection, CASES["connect"], local)
    assert expected["failed"] is True
    assert outcome(run_connection, CASES["connect"], remote) == expected


def test_a_change_not_ready_in_time_fails_naming_the_change(pair):
    pair[1].never_ready = True
    remote = hosts(pair, timeout=3)[1]
    result = outcome(run_connection, CASES["connect"], remote)
    assert result["failed"] is True
    assert "was not ready after" in result["msg"] and "snap change 1" in result["msg"]


def test_a_snapd_without_debug_api_is_told_apart_and_python_is_looked_for(pair):
    remote = hosts(pair, FAKE_SNAP_NO_DEBUG_API="1")[1]
    with pytest.raises(NoDebugApi) as raised:
        run_connection(CASES["connect"], remote)
    assert "2.64" in str(raised.value)
    assert raised.value.python and raised.value.python.endswith("python3")


@pytest.mark.parametrize("locale", ["de_DE.UTF-8", "C.UTF-8"])
def test_a_snapd_without_debug_api_is_told_apart_in_any_locale(pair, locale):
    # the script runs snap with LC_ALL=C: the FAKE snap answers in German otherwise
    remote = hosts(pair, FAKE_SNAP_NO_DEBUG_API="1", LC_ALL=locale, LANGUAGE=locale[:2])[1]
    with pytest.raises(NoDebugApi):
        run_info(dict(snaps=None), remote)


def test_snapd_not_running_fails_with_one_line_and_changes_nothing(pair):
    pair[1].stop()
    remote = hosts(pair)[1]
    result = outcome(run_connection, CASES["connect"], remote)
    assert result["failed"] is True
    assert "cannot reach snapd" in result["msg"] and "\n" not in result["msg"]


def test_an_answer_over_the_size_bound_is_refused_not_parsed(pair, monkeypatch):
    monkeypatch.setattr(_snapd_protocol, "MAX_ANSWER_BYTES", 64)
    for host in hosts(pair):
        result = outcome(run_connection, CASES["connect"], host)
        assert result["failed"] is True
        # the first answer read: system-info over the socket, the connections over snap debug api (which proves
        # a snapd new enough not to need system-info)
        first = "/v2/system-info" if host.snapd_since is None else "/v2/connections"
        assert result["msg"].startswith("snapd answered GET %s " % first) and "with more than 64 bytes" in result["msg"]
        assert result["msg"].count("\n") == 0


def test_text_in_snapds_answers_cannot_forge_a_frame(pair):
    # a publisher-controlled warning that looks like the script's own frames
    for fake in pair:
        fake.warnings.append({"message": "x\n0123 end warnings\n0123 begin connections\n{}"})
    local, remote = hosts(pair)
    assert outcome(run_info, dict(snaps=None), remote) == outcome(run_info, dict(snaps=None), local)


def test_ls_c_quoted_names_come_back_byte_for_byte():
    lines = [
        "P 42",
        "L snap.shm-consumer.read (enforce)",
        r'F "/dev/shm/a\nb \"q\" \303\251 \377"',
        "M /dev/shm/lab-shm-data",
        "N 120",
    ]
    records, seen, cut = parse_process_records(lines)
    assert (seen, cut) == (120, None)
    record, = records
    assert record.label == "snap.shm-consumer.read (enforce)"
    assert record.targets == (b'/dev/shm/a\nb "q" \xc3\xa9 \xff'.decode("utf-8", "surrogateescape"),
                              "/dev/shm/lab-shm-data")


def verify_params(**args):
    base = dict(connections=None, private_snaps=None, manage_gadget_connections=False,
                checks=["dev-shm", "connections", "apparmor", "private", "objects", "warnings", "declarations"])
    base.update(args)
    return base


@pytest.mark.skipif(os.geteuid() != 0, reason="shm_verify reads as root")
@pytest.mark.parametrize("tty", [False, True], ids=["pipe", "pty"])
def test_verify_finds_the_same_on_both_transports_on_this_machine(pair, tty):
    # both read this machine's real /dev/shm, /proc and /sys: the sh gatherer must see what Python sees,
    # including an object under the provider's bar-* path with a name no line-based reader survives
    name = "/dev/shm/bar-snapfleet-test-%d-\n\"q\"" % os.getpid()
    with open(name, "w") as handle:
        handle.write("x")
    try:
        local, remote = hosts(pair, tty=tty)
        expected = outcome(run_verify, verify_params(), local)
        found = outcome(run_verify, verify_params(), remote)
    finally:
        os.unlink(name)
    assert name in [f["evidence"].get("object") for f in expected["findings"]]
    assert found == expected


def test_verify_flags_a_gadget_connection_disconnected_by_hand_on_both_transports(pair):
    for fake in pair:
        fake.add_plug("gauge", "shmem", {"shared-memory": "foo", "private": False})
        fake.add_connection("gauge:shmem", "provider:shmem", manual=False, gadget=True, undesired=True)
    local, remote = hosts(pair)
    expected = outcome(run_verify, verify_params(checks=["connections"]), local)
    assert [f["code"] for f in expected["findings"] if f["subject"] == "plug gauge:shmem"] == ["gadget-connection-undesired"]
    assert expected["compliant"] is False
    assert outcome(run_verify, verify_params(checks=["connections"]), remote) == expected


@pytest.mark.skipif(os.geteuid() != 0, reason="shm_verify reads as root")
@pytest.mark.parametrize("tty", [False, True], ids=["pipe", "pty"])
def test_installed_snap_yamls_are_read_and_linted_the_same_on_both_transports(pair, tmp_path, monkeypatch, tty):
    install_snap_yaml(tmp_path, "shm-broken", BROKEN_SNAP_YAML, revision="7")
    install_snap_yaml(tmp_path, "sly", 'name: sly\nslots:\n  s:\n    interface: "shared\\x2dmemory"\n    write: [y]\n')
    install_snap_yaml(tmp_path, "plain", "name: plain\n")
    install_snap_yaml(tmp_path, "linked", "")
    os.rename(str(tmp_path / "snap" / "linked" / "x1" / "meta"), str(tmp_path / "elsewhere"))
    os.symlink(str(tmp_path / "elsewhere"), str(tmp_path / "snap" / "linked" / "x1" / "meta"))
    local = LocalVerifyHost(SnapdClient(pair[0].socket_path, 20), root=str(tmp_path))
    remote = DebugApiHost(sh_runner(pair[1], tty), 20, root=str(tmp_path))
    checks = ["warnings", "declarations"]
    for wanted in (None, [item("consumer:shmem", "provider:shmem")], [item("sly:s", "provider:shmem")]):
        expected = outcome(run_verify, verify_params(checks=checks, connections=wanted), local)
        assert outcome(run_verify, verify_params(checks=checks, connections=wanted), remote) == expected
    found = dict((f["subject"], f["code"]) for f in expected["findings"])
    assert found == {"shm-broken:shmem": "unrelated-declaration-dropped",
                     "shm-broken:bad-private": "unrelated-declaration-dropped",
                     "shm-broken:bad-path": "unrelated-declaration-dropped",
                     "sly:s": "declaration-dropped", "snap linked": "snap-yaml-unreadable"}
    assert expected["compliant"] is False


def fake_tree(root, files, dirs=()):
    for path, text in files.items():
        full = os.path.join(str(root), path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as handle:
            handle.write(text)
    for path, mode in dirs:
        os.makedirs(os.path.join(str(root), path), exist_ok=True)
        os.chmod(os.path.join(str(root), path), mode)


@pytest.mark.skipif(os.geteuid() != 0, reason="shm_verify reads as root")
def test_profiles_of_hooks_and_of_snap_update_ns_are_read_alike_on_both_transports(pair, tmp_path):
    profiles = "var/lib/snapd/apparmor/profiles/"
    fake_tree(tmp_path, {
        "proc/self/mountinfo": "25 24 0:23 / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw\n",
        "sys/module/apparmor/parameters/enabled": "Y\n",
        "sys/kernel/security/apparmor/profiles": "snap.logger.app (enforce)\nsnap.provider.app (enforce)\n"
                                                 "snap.logger.hook.configure (complain)\n",
        profiles + "snap.logger.app": '  "/{dev,run}/shm/bar" mrwlk,\n  "/{dev,run}/shm/bar-*" mrwlk,\n',
        profiles + "snap.provider.app": '  "/{dev,run}/shm/bar" mrwlk,\n  "/{dev,run}/shm/bar-*" mrwlk,\n',
        profiles + "snap.logger.hook.configure": '  "/{dev,run}/shm/bar" mrwlk,\n  "/{dev,run}/shm/other" r,\n',
        profiles + "snap.logger.hook.Bad": '  "/{dev,run}/shm/other" r,\n',
        profiles + "snap-update-ns.shm-private": "  mount options=(bind, rw) /dev/shm/snap.shm-private/ -> /dev/shm/,\n",
        profiles + "snap.consumer.app": 'profile "snap.consumer.app" flags=(complain) {\n}\n',
        "var/lib/snapd/mount/snap.shm-private.fstab": "/dev/shm/snap.shm-private /dev/shm none bind,rw 0 0\n",
    }, dirs=[("dev/shm", 0o1777), ("dev/shm/snap.shm-private", 0o755), ("snap", 0o755)])
    local = LocalVerifyHost(SnapdClient(pair[0].socket_path, 20), root=str(tmp_path))
    remote = DebugApiHost(sh_runner(pair[1]), 20, root=str(tmp_path))
    checks = ["dev-shm", "connections", "apparmor", "private", "warnings", "declarations"]
    expected = outcome(run_verify, verify_params(checks=checks), local)
    assert outcome(run_verify, verify_params(checks=checks), remote) == expected
    found = [(f["code"], f["subject"]) for f in expected["findings"] if f["code"].startswith("apparmor")]
    assert ("apparmor-rule-unexpected", "hook logger.configure") in found
    assert ("apparmor-profile-not-enforced", "hook logger.configure") in found
    assert ("apparmor-rule-unexpected", "update-ns shm-private") in found
    assert not [subject for code, subject in found if "consumer" in subject or "Bad" in subject]


# what the facts script sends back for each family, by frame key (the part before the snap name): nothing else
FRAMES_BY_FAMILY = {
    "dev-shm": {"dev_shm", "mountinfo"},
    "connections": set(),
    "apparmor": {"aa_enabled", "aa_profiles", "profile", "hooks", "update-ns"},
    "private": {"mountinfo", "fstab", "ns", "applied", "dir"},
    "objects": {"listing", "processes"},
    "warnings": {"snaps"},
    "declarations": {"yaml"},
}


def frames_of(script, stdout):
    """The frame keys of one facts script's output."""
    nonce = script.split("\n", 1)[0].partition("=")[2]
    output = Output(stdout, nonce)
    keys = set(output.stats) | set(output.texts) | set(name for name in output.sections if not name.startswith("text "))
    return set(key.split(":", 1)[0] for key in keys)


@pytest.mark.skipif(os.geteuid() != 0, reason="shm_verify reads as root")
@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_gathers_only_the_facts_the_table_gives_it_on_both_transports(pair, tmp_path, family):
    profiles = "var/lib/snapd/apparmor/profiles/"
    fake_tree(tmp_path, {
        "proc/self/mountinfo": "25 24 0:23 / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw\n",
        "sys/module/apparmor/parameters/enabled": "Y\n",
        "sys/kernel/security/apparmor/profiles": "snap.logger.app (enforce)\n",
        profiles + "snap.logger.app": '  "/{dev,run}/shm/bar" mrwlk,\n',
        profiles + "snap.logger.hook.configure": '  "/{dev,run}/shm/bar" mrwlk,\n',
        profiles + "snap-update-ns.logger": "",
        "var/lib/snapd/mount/snap.shm-private.fstab": "/dev/shm/snap.shm-private /dev/shm none bind,rw 0 0\n",
        "dev/shm/bar": "x",
    }, dirs=[("dev/shm", 0o1777), ("dev/shm/snap.shm-private", 0o1777)])
    install_snap_yaml(tmp_path, "provider", "name: provider\nslots:\n  s:\n    interface: shared-memory\n    write: [bar]\n")
    add_process(str(tmp_path), 1234, "snap.logger.app (enforce)", fds=["/dev/shm/bar"])
    ran = []
    runner = sh_runner(pair[1])

    def recording(script):
        rc, stdout, stderr = runner(script)
        ran.append((script, stdout))
        return rc, stdout, stderr

    local = LocalVerifyHost(None, root=str(tmp_path))
    remote = DebugApiHost(recording, 20, root=str(tmp_path))
    asked = dict(apps=[("logger", "app")], private_snaps=["shm-private"], user_snaps=["logger"], slot_paths=["bar"])
    gathered = [host.facts([family], **asked) for host in (local, remote)]
    for facts in gathered:
        assert [name for name, value in vars(facts).items() if facts.gathered(name)] == facts_needed([family])
    assert gathered[1] == gathered[0]
    assert [frames_of(*item) for item in ran] == ([FRAMES_BY_FAMILY[family]] if FRAMES_BY_FAMILY[family] else [])
    assert READ_BY_FAMILY[family](gathered[0])


# that the facts were really read from the fake tree, not left at an empty value
READ_BY_FAMILY = {
    "dev-shm": lambda facts: facts.dev_shm == FileFacts("dir", 0, 0, 0o1777) and len(facts.mounts) == 1,
    "connections": lambda facts: facts == HostFacts(),
    "apparmor": lambda facts: (facts.apparmor_enabled and facts.kernel_profiles == {"snap.logger.app": "enforce"}
                               and sorted(facts.profiles) == [("logger", "app"), ("logger", "hook.configure")]
                               and facts.update_ns_profiles == {"logger": ""}),
    "private": lambda facts: (facts.private["shm-private"].dir == FileFacts("dir", 0, 0, 0o1777)
                              and facts.private["shm-private"].desired_fstab is not None and len(facts.mounts) == 1),
    "objects": lambda facts: (list(facts.dev_shm_listing.objects) == ["bar"]
                              and [process.pid for process in facts.processes.processes] == [1234]),
    "warnings": lambda facts: facts.installed_snaps == ["provider"],
    "declarations": lambda facts: list(facts.snap_yamls) == ["provider"],
}


@pytest.mark.skipif(os.geteuid() != 0, reason="shm_verify reads as root")
def test_a_snap_bound_to_hooks_only_has_its_hooks_and_update_ns_profiles_read_on_both_transports(pair, tmp_path):
    # (snap, None) from _verify_checks.profile_apps: no app profile to read, the hooks' and snap-update-ns ones all the same
    profiles = "var/lib/snapd/apparmor/profiles/"
    fake_tree(tmp_path, {
        "sys/module/apparmor/parameters/enabled": "Y\n",
        "sys/kernel/security/apparmor/profiles": "snap.shm-hooky.hook.remove (enforce)\n",
        profiles + "snap.shm-hooky.hook.remove": '  "/dev/shm/**" mrwlkix,\n',
        profiles + "snap-update-ns.shm-hooky": "  mount options=(bind, rw) /dev/shm/snap.shm-hooky/ -> /dev/shm/,\n",
    })
    local = LocalVerifyHost(None, root=str(tmp_path))
    remote = DebugApiHost(sh_runner(pair[1]), 20, root=str(tmp_path))
    asked = dict(apps=[("shm-hooky", None)], private_snaps=[], user_snaps=[], slot_paths=[])
    gathered = [host.facts(["apparmor"], **asked) for host in (local, remote)]
    for facts in gathered:
        assert facts.profiles == {("shm-hooky", "hook.remove"): '  "/dev/shm/**" mrwlkix,\n'}
        assert facts.update_ns_profiles == {
            "shm-hooky": "  mount options=(bind, rw) /dev/shm/snap.shm-hooky/ -> /dev/shm/,\n"}
    assert gathered[1] == gathered[0]
