# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ``snap debug api`` transport: a device reached through the Ansible connection, no Python on it.

snapd 2.64 and later has ``snap debug api [-X METHOD] [-H 'Name: value'] PATH`` (body on stdin), which
prints the JSON envelope snapd's socket answers. ``DebugApiHost`` is the host object of
``module_utils/_shm_run`` built on it: each step is ONE plain POSIX sh script sent to ``sh`` on stdin
through the connection, and everything else happens on the controller with the same code the module runs;
snapd's protocol (bodies, envelopes, types, what to retry) is ``module_utils/_snapd_protocol``'s.

- ``read``: the effective uid, the GETs of one snapshot and, when asked, the raw /proc facts of the
  processes of the snaps the run is about;
- ``apply``: each POST /v2/interfaces, then ``snap watch``, and a GET of the change only when the watch did
  not see it Done, stopping at the first failure; then the connections re-read. snapd refuses a change to a
  snap while another is in flight, so the changes go one at a time, but the ``snap`` process of each next
  POST starts while the change before is waited for, and sends its request only then. An answer worth retrying
  (snapd restarting, a conflicting change) ends the script, and the controller sends the rest again.

The script's output is hostile (snapd's answers quote snap.yaml text, /proc and /dev/shm names are
anyone's). Every frame line starts with a random nonce that never leaves the controller but on stdin;
file texts travel in base64, file names C-quoted (``ls --quoting-style=c``), cgroups hex-encoded; every
answer, listing and process record is cut on the device at a bound, and a cut is said, never silent
(``_sh_frames`` reads the frames strictly). Every value put in a script is a constant, a checked name or
quoted with ``shlex.quote``.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import time

from ansible_collections.snapfleet.snapd.plugins.module_utils._read_plan import (
    HostReadError,
    Processes,
    facts_from_results,
    plan_for,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run import Applied, Host, HostReads
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_state import CONNECTIONS_REQUEST, WARNINGS_REQUEST, state_requests
from ansible_collections.snapfleet.snapd.plugins.module_utils._proc_scan import (
    CUT_BYTES,
    CUT_TIME,
    FDS_TOO_LONG,
    MAPS_TOO_LONG,
    PROCESS_SHM_BYTES,
    SCAN_BYTES,
    ProcessRecord,
    ProcessScan,
    scan_from_records,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_versions import DEBUG_API_SINCE, version_text
from ansible_collections.snapfleet.snapd.plugins.module_utils import _snapd_protocol as protocol
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_protocol import (
    SnapdError,
    change_failure,
    change_not_ready,
    checked_envelope,
    checked_result,
    envelope_error,
    interfaces_body,
    resent_disconnect_done,
)
from ansible_collections.snapfleet.snapd.plugins.plugin_utils._sh_frames import (
    OUTPUT_BYTES,
    MalformedOutput,
    Output,
    c_unquote,
    decimal,
)
from ansible_collections.snapfleet.snapd.plugins.plugin_utils._sh_read_plan import SETTINGS, plan_script, results_from_output

CALL_TIMEOUT = 60  # seconds for one snap debug api call; the whole step is bounded by the task's timeout
# what the remote shell runs: the script comes on stdin, read whole before any of it runs, so that no command
# of the script can read the rest of it, and so that neither the script nor its nonce is in any argv
# (/proc/PID/cmdline is world-readable, and sudo logs the command)
STDIN_COMMAND = 'script=$(cat) && exec </dev/null && eval "$script"'
# waits between the sends of a request snapd answered "retry" (restarting, or a conflicting change running)
_RETRY_DELAYS = (1, 2, 4)


class ChangesByModule(Exception):
    """``transport: auto`` on a device with Python has something to change: the module makes it. It waits for each
    change inside one process, where over snap debug api every wait is a ``snap`` process (about a second on a
    slow device); raised before anything is sent."""


class NoDebugApi(Exception):
    """This host's snapd has no ``snap debug api``. ``python`` is the host's python3 path, or None."""

    def __init__(self, message, python=None):
        super().__init__(message)
        self.python = python


def query_path(path, query):
    """``path?k=v&...`` as snapd's client would send it; only constants from _shm_state reach here."""
    if not query:
        return path
    return path + "?" + "&".join("%s=%s" % (key, value) for key, value in query)


# --- the scripts ---------------------------------------------------------------------------------------------------

# Shared by every script: NONCE, UNTIL (the deadline, in /proc/uptime's centiseconds: read with a builtin, so
# every loop can look at it for free) and the helpers. `call NAME PATH` prints one framed answer; the rc line
# is inside the cut, so a cut answer shows as one without its rc. LC_ALL=C: snap's messages untranslated, and
# ${#var}, [0-9] and awk's length() in bytes.
_PRELUDE = r"""
LC_ALL=C
export LC_ALL
NL='
'
frame() { printf '\n%s %s\n' "$NONCE" "$*"; }
late() { IFS=' ' read -r up _ < /proc/uptime; up=${up%.*}${up#*.}; [ "$up" -ge "$UNTIL" ]; }
remaining() { late; r=$(( (UNTIL - up + 99) / 100 )); [ "$r" -gt 0 ] || r=1; [ "$r" -lt "$CALL" ] || r=$CALL; echo "$r"; }
call() {
    frame begin "$1"
    { timeout "$(remaining)" snap debug api "$2" 2>&1; printf '\n%s rc %s\n' "$NONCE" "$?"; } | head -c "$MAX"
    frame end "$1"
}
capped() {
    # at most $1 bytes of whole lines, then a line `!cut` (no ls line starts with `!`)
    awk -v max="$1" '{ n += length($0) + 1; if (n > max) { print "!cut"; exit } print }'
}
"""

_READ = r"""
frame uid "$(id -u)"
if ! command -v snap >/dev/null 2>&1; then
    frame no-snap
    exit 0
fi
frame python "$(command -v "$PYTHON" 2>/dev/null || echo none)"
"""


# The reads of one snapshot, all at once: the parts of a pipeline run concurrently, and each part after the
# first takes its own answer whole before it passes the one before it on, so the answers come out in order
# and never interleave. Each `snap` process costs most of a second on a slow device; started at once they
# overlap only partly (measured on an emulated 2-vCPU forky guest: one 0.8 s, three 1.5-2.1 s), so runs
# read only what they need.
def _concurrently(calls):
    script = calls[-1]
    for call in reversed(calls[:-1]):
        script = "%s | { later=$(%s); cat; printf '%%s\\n' \"$later\"; }" % (call, script)
    return script + "\n"


# The raw /proc facts of the processes of the snaps in $OWNERS ("*" for any snap): a snap's AppArmor label, or,
# where there is no label at all, a cgroup naming one (hex-encoded, it is any user's text). Builtins only per
# process; the rest runs for those processes only: their fd links and maps lines are filtered for /dev/shm
# with grep -F and cut at PROCESS (a process past it is one `E` record: unseen). All records together are cut
# at BUDGET bytes (`X bytes`), and the deadline is looked at before each process and thread (`X time`).
_PROCESSES = r"""
owned() {
    [ "$OWNERS" != "*" ] || return 0
    for s in $OWNERS; do
        case "$1" in "snap.$s."*|"snap-update-ns.$s"|"snap-update-ns.$s "*|*"/snap.$s."*) return 0 ;; esac
    done
    return 1
}
shm_lines() {
    # the lines on stdin with one of the fixed strings given, at most PROCESS+1 bytes of them (x: $() drops newlines)
    grep -F "$@" | head -c "$((PROCESS + 1))"
    echo x
}
scan() {
    frame begin processes
    spent=0 seen=0
    for d in "$ROOT"/proc/[0-9]*; do
        pid=${d##*/}
        case "$pid" in *[!0-9]*) continue ;; esac
        if late; then printf 'X time\n'; break; fi
        [ -d "$d" ] || continue
        seen=$((seen + 1))
        label=
        IFS= read -r label < "$d/attr/current" 2>/dev/null
        cgroup=
        case "$label" in
            snap.*|snap-update-ns.*) owned "$label" || continue ;;
            unconfined|*' ('*')') continue ;;
            *)
                c=$(head -c 4096 "$d/cgroup" 2>/dev/null)
                case "$c" in *snap.*) owned "$c" || continue ;; *) continue ;; esac
                cgroup=$(printf '%s' "$c" | od -An -v -tx1 | tr -d ' \n') ;;
        esac
        out="P $pid${NL}L $label$NL"
        [ -z "$cgroup" ] || out="${out}C $cgroup$NL"
        fds=$(timeout "$(remaining)" ls -l --quoting-style=c "$d"/task/*/fd/ 2>&1 | shm_lines -e ' -> "/dev/shm/' -e 'ls: ')
        fds=${fds%x}
        if [ "${#fds}" -gt "$PROCESS" ]; then
            out="$out$FDS_CUT$NL"
        elif [ -n "$fds" ]; then
            out="$out$(printf '%s' "$fds" | sed -n -e 's/^ls: .*: /E fd: /p' -e 's/^[^>]* -> "/F "/p' | sort -u)$NL"
        fi
        for m in "$d"/task/*/maps; do
            if late; then out="${out}E maps: $CUT_TIME$NL"; break; fi
            if [ ! -r "$m" ]; then
                [ ! -e "$m" ] || out="${out}E maps: Permission denied$NL"
                continue
            fi
            first=
            IFS= read -r first < "$m" 2>/dev/null
            [ -n "$first" ] || continue  # a thread that has exited has no address space: ask the next
            maps=$(shm_lines -e ' /dev/shm/' < "$m" 2>/dev/null)
            maps=${maps%x}
            if [ "${#maps}" -gt "$PROCESS" ]; then
                out="$out$MAPS_CUT$NL"
            elif [ -n "$maps" ]; then
                out="$out$(printf '%s' "$maps" | sed -n 's|^[^/]*\(/.*\)$|M \1|p' | sort -u)$NL"
            fi
            break
        done
        [ -d "$d" ] || continue  # ended meanwhile
        spent=$((spent + ${#out}))
        if [ "$spent" -gt "$BUDGET" ]; then printf 'X bytes\n'; break; fi
        printf '%s' "$out"
    done
    printf 'N %s\n' "$seen"
    frame end processes
}
"""

# The changes, in order, each waited for (snapd refuses a change to a snap while another is in flight). A `snap`
# process takes most of a second to start on a slow device: the POST of the next change is started while the one
# before is waited for, and sends its request only when released (its body comes on stdin, and `snap debug api`
# reads stdin only to send it). A POST never released is killed unsent.
_APPLY = r"""
hold() {
    # hold INDEX BODY: start the POST of BODY now, its request held until `release`; its answer goes to
    # $HOLD/out.INDEX. Fd 4 keeps the fifo open for writing meanwhile, so that the reader never waits to open it.
    mkfifo -m 600 "$HOLD/go.$1" || return 1
    exec 4<> "$HOLD/go.$1"
    { { IFS= read -r go < "$HOLD/go.$1"; [ "$go" != go ] || printf '%s' "$2"; } |
        sh -c 'echo "$$" > "$0" && exec "$@"' "$HOLD/pid.$1" timeout "$(remaining)" snap debug api -X POST \
            -H 'Content-Type: application/json' /v2/interfaces 2>&1
      printf '\n%s rc %s\n' "$NONCE" "$?"; } 4>&- | head -c "$MAX" > "$HOLD/out.$1" &
    held=$!
}
release() {
    # release INDEX: send the held POST and wait for its answer; `release INDEX stop` kills it unsent
    if [ "$2" = stop ] && IFS= read -r pid < "$HOLD/pid.$1" 2>/dev/null; then kill "$pid" 2>/dev/null; fi
    echo "${2:-go}" >&4
    exec 4>&-
    wait "$held"
}
settle() {
    # settle INDEX CHANGE: wait for the change; `snap watch` exits 0 only when it is ready and Done, and then there
    # is nothing more to read; any other end (an error, snapd restarting, the time up) is told by the change itself
    if timeout "$(remaining)" snap watch "$2" >/dev/null 2>&1; then
        frame done "$1"
        return 0
    fi
    while :; do
        state=$( { timeout "$(remaining)" snap debug api "/v2/changes/$2" 2>&1; printf '\n%s rc %s\n' "$NONCE" "$?"; } | head -c "$MAX")
        case "$state" in *"$NL    \"ready\": true"*) break ;; esac
        late && break
        sleep 1
        timeout "$(remaining)" snap watch "$2" >/dev/null 2>&1
    done
    frame begin "change $1"
    printf '%s\n' "$state"
    frame end "change $1"
    case "$state" in *"$NL    \"status\": \"Done\""*) return 0 ;; esac
    return 1
}
apply() {
    # apply BODY...: POST each body in turn, each change waited for before the next is sent; stop at the first
    # that fails (the controller reads why from the frames)
    HOLD=$(mktemp -d) || return 1
    trap 'rm -rf "$HOLD"' EXIT
    index=0 failed=
    hold 0 "$1"
    while [ $# -gt 0 ]; do
        shift
        release "$index"
        frame begin "post $index"
        cat "$HOLD/out.$index"
        frame end "post $index"
        change=$(sed -n 's/^  "change": "\([0-9][0-9]*\)",\{0,1\}$/\1/p' "$HOLD/out.$index")
        if [ -z "$change" ]; then failed=1; break; fi
        [ $# -eq 0 ] || hold $((index + 1)) "$1"
        if ! settle "$index" "$change"; then
            [ $# -eq 0 ] || release $((index + 1)) stop
            failed=1
            break
        fi
        index=$((index + 1))
    done
    rm -rf "$HOLD"
    [ -z "$failed" ]
}
"""


def _script(nonce, deadline_seconds, *parts, **variables):
    """The script: its settings, then the parts, all of whose output is cut at OUTPUT_BYTES on the device."""
    lines = [
        "NONCE=%s" % shlex.quote(nonce),
        "CALL=%d" % CALL_TIMEOUT,
        "MAX=%d" % protocol.MAX_ANSWER_BYTES,
        # the deadline is the device's own clock plus the task's timeout: device and controller clocks may differ
        "IFS=' ' read -r up _ < /proc/uptime",
        "UNTIL=$(( ${up%%.*}${up#*.} + %d ))" % max(0, int(deadline_seconds * 100)),
    ]
    lines += ["%s=%s" % (name, shlex.quote(str(value))) for name, value in sorted(variables.items())]
    return "\n".join(lines) + "\n{\n" + "".join(parts) + "\n} | head -c %d\n" % OUTPUT_BYTES


def _scan_settings(owners):
    """The variables the /proc scan reads: the snaps whose processes it keeps ("*": any snap's)."""
    if owners is not True:
        owners = " ".join(_checked_name(name) for name in sorted(set(owners)))
    return dict(OWNERS="*" if owners is True else owners, PROCESS=PROCESS_SHM_BYTES, BUDGET=SCAN_BYTES,
                MAPS_CUT="E " + MAPS_TOO_LONG, FDS_CUT="E " + FDS_TOO_LONG, CUT_TIME=CUT_TIME)


def read_script(nonce, timeout, processes=(), python="python3", root="", warnings=True, system_info=True):
    """The script of one snapshot; with ``processes`` (snap names, or True for any snap's) the /proc scan too."""
    calls = _concurrently(["call %s %s" % (name, shlex.quote(query_path(path, query)))
                           for name, path, query in state_requests(warnings, system_info)])
    scan = (_PROCESSES, "scan\n") if processes else ()
    return _script(nonce, timeout, _PRELUDE, _READ, calls, *scan, PYTHON=python, ROOT=root,
                   **(_scan_settings(processes) if processes else {}))


def scan_script(nonce, timeout, snaps, root=""):
    return _script(nonce, timeout, _PRELUDE, _PROCESSES, "scan\n", ROOT=root, **_scan_settings(snaps))


def apply_script(nonce, timeout, bodies):
    name, path, query = CONNECTIONS_REQUEST
    steps = "apply %s || exit 0\n" % " ".join(shlex.quote(body) for body in bodies)
    return _script(nonce, timeout * max(1, len(bodies)), _PRELUDE, _APPLY, steps,
                   "call connections %s\n" % shlex.quote(query_path(path, query)))


def get_script(nonce, timeout, path):
    return _script(nonce, timeout, _PRELUDE, "call answer %s\n" % shlex.quote(path))


# --- reading what came back ----------------------------------------------------------------------------------------

def _answer_text(lines):
    return "\n".join(lines).strip()


def _not_snapd(what, said):
    return SnapdError("snapd answered %s through snap debug api with %s; check snapd on the host "
                      "(snap debug api /v2/system-info)" % (what, said))


def parse_answer(lines, what, rc=0):
    """snapd's envelope from a section's lines: ``(payload, error, retry)``; exactly one of payload/error.

    ``rc`` is the section's exit status line, None when the device cut the answer at MAX_ANSWER_BYTES.
    """
    text = _answer_text(lines or [])
    if not text:
        return None, SnapdError("snapd gave no answer to %s through snap debug api (cut off, or timed out)" % what), True
    if rc is None:
        return None, _not_snapd(what, "more than %d bytes" % protocol.MAX_ANSWER_BYTES), False
    if not text.startswith(("{", "[")):
        return None, _cli_error(text, what), "cannot communicate with server" in text
    try:
        payload = protocol.decode_answer(text, what, _not_snapd)
    except SnapdError as error:
        return None, error, False
    failed = envelope_error(payload, what)
    if failed is not None:
        return None, failed[0], failed[1]
    try:
        return checked_envelope(payload, what, _not_snapd), None, False
    except SnapdError as error:
        return None, error, False


def _cli_error(text, what):
    first = text.splitlines()[0][:200]
    if "cannot communicate with server" in text:
        return SnapdError("cannot reach snapd for %s through snap debug api: %s; is snapd installed and running "
                          "(systemctl status snapd.socket)?" % (what, first))
    return SnapdError("snap debug api failed for %s: %s" % (what, first))


def _no_debug_api(text):
    """Whether `snap` said it has no `debug api` (the script runs it with LC_ALL=C: the message is snapd's own)."""
    return text.startswith("error: unknown command") and '"api"' in text.splitlines()[0]


class DebugApiHost(Host):
    """A device reached with ``run(script) -> (rc, stdout, stderr)`` (the action plugin's remote shell; the
    script is to go to ``STDIN_COMMAND`` on stdin).

    ``timeout`` bounds each step as the module's option does on the socket path; ``python`` is the
    interpreter the module path would use (a path, or a name looked up on PATH).
    """

    transport = "snap-debug-api"
    # a snapd that answers snap debug api is at least this new
    snapd_since = DEBUG_API_SINCE

    def __init__(self, run, timeout, python="python3", root="/", hand_over=None):
        self._run = run
        self.timeout = timeout
        self.python = python  # the interpreter the module would run with, looked for when snapd lacks debug api
        self.host_python = None  # its path on the device, found by the read; None where there is none
        # hand_over(host) -> whether apply() leaves the changes to the module (the action plugin's policy)
        self.hand_over = hand_over
        # where the host's files are read from, as LocalHost's root (the unit tests point both at a fake tree)
        self.root = root.rstrip("/")
        self.request_count = 0
        self.remote_commands = 0
        self._uid = None
        self._scanned = None  # (the snaps the read's /proc scan kept, or True for any; its section's lines)

    def _execute(self, script_for_nonce):
        nonce = secrets.token_hex(16)
        rc, stdout, stderr = self._run(script_for_nonce(nonce))
        self.remote_commands += 1
        output = Output(stdout, nonce)
        if not output.values and not output.sections:
            said = (stderr or stdout or "").strip().splitlines()
            raise SnapdError("the snap debug api script did not run on the host (exit %s): %s"
                             % (rc, said[-1][:200] if said else "no output"))
        return output

    def uid(self):
        return self._uid

    def read(self, processes=(), warnings=True, system_info=True):
        output = self._execute(lambda nonce: read_script(nonce, self.timeout, processes, self.python, self.root,
                                                         warnings, system_info))
        self._uid = decimal(output.values["uid"], "the uid") if "uid" in output.values else None
        if "no-snap" in output.values:
            raise SnapdError("snapd is not installed on this host (no snap command); install snapd")
        python = output.values.get("python")
        self.host_python = None if python in (None, "", "none") else python
        answers = {"system_info": None}
        for index, (name, path, query) in enumerate(state_requests(warnings, system_info)):
            what = "GET " + path
            lines = output.sections.get(name)
            if index == 0 and python is not None and _no_debug_api(_answer_text(lines or [])):
                raise NoDebugApi("snapd on this host has no 'snap debug api' (it came in snapd %s)"
                                 % version_text(DEBUG_API_SINCE), self.host_python)
            self.request_count += 1 if lines is not None else 0
            payload, error, retry = parse_answer(lines, what, output.rc.get(name))
            if error is not None:
                raise error
            answers[name] = checked_result(payload, what, path, _not_snapd)
        if processes:
            self._scanned = (processes, output.sections.get("processes"))
        return HostReads(answers["system_info"], answers["connections"],
                         (answers["warnings"] or []) if warnings else None, self._uid)

    def warnings(self):
        """snapd's warnings, in a round trip of their own (shm_connection reads them only to word a refusal)."""
        name, path, query = WARNINGS_REQUEST
        return self.get(path, dict(query)) or []

    def processes(self, snaps):
        """The ProcessScan of ``snaps``: from the read's scan when it kept their processes, else a scan of its own."""
        if not snaps:
            return ProcessScan()
        if self._scanned is not None and (self._scanned[0] is True or set(snaps) <= set(self._scanned[0])):
            return scan_of(self._scanned[1], snaps)
        output = self._execute(lambda nonce: scan_script(nonce, self.timeout, snaps, self.root))
        return scan_of(output.sections.get("processes"), snaps)

    def get(self, path, query=None):
        """One GET in its own round trip (only used to word a refusal, never on the normal path)."""
        what = "GET " + path
        full = query_path(path, sorted((query or {}).items()))
        output = self._execute(lambda nonce: get_script(nonce, self.timeout, full))
        self.request_count += 1
        payload, error, retry = parse_answer(output.sections.get("answer"), what, output.rc.get("answer"))
        if error is not None:
            raise error
        return checked_result(payload, what, path, _not_snapd)

    def snap_interfaces(self, snaps):
        from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_state import read_snap_interfaces

        return read_snap_interfaces(self, snaps)

    def apply(self, actions):
        """Send the actions in order, each waited for; an answer worth retrying (snapd restarting, a conflicting
        change) is sent again from the controller, with the same waits as the socket client's, until the deadline."""
        if self.hand_over is not None and self.hand_over(self):
            raise ChangesByModule()
        deadline = time.monotonic() + self.timeout * max(1, len(actions))
        done = []
        resent = False
        delays = iter(_RETRY_DELAYS)
        delay = 0
        while True:
            pending = actions[len(done):]
            applied, retry = self._apply_once(pending, resent, deadline)
            done += applied.done
            if retry is None:
                return Applied(tuple(done), error=applied.error, connections=applied.connections,
                               reread_error=applied.reread_error)
            delay = next(delays, delay)
            if time.monotonic() + delay >= deadline:
                return Applied(tuple(done), error=retry)
            # the request may have reached snapd before it went away: a resent disconnect may find nothing to do
            resent = resent or "cannot communicate with server" in str(retry)
            time.sleep(delay)

    def _apply_once(self, actions, resent, deadline):
        """``(Applied, error to retry on or None)`` of one script sending ``actions``."""
        bodies = [json.dumps(interfaces_body(**action.request()), sort_keys=True) for action in actions]
        left = max(1.0, deadline - time.monotonic())
        output = self._execute(lambda nonce: apply_script(nonce, left / max(1, len(bodies)), bodies))
        done = []
        for index, action in enumerate(actions):
            name, lines = output.section("post %d" % index)
            if lines is None:
                return Applied(tuple(done), error=SnapdError(
                    "the %s of %s to %s was not sent: the script stopped (timed out?)" % (action.action, action.plug, action.slot))), None
            self.request_count += 1
            payload, error, retry = parse_answer(lines, "POST /v2/interfaces", output.rc.get(name))
            if error is not None:
                if resent_disconnect_done(action.request(), error, resent):
                    done.append(action)  # the first POST reached snapd before it restarted; nothing left to do
                    continue
                return Applied(tuple(done), error=error), (error if retry else None)
            if payload.get("type") != "async":
                done.append(action)
                continue
            change_id = payload["change"]
            if ("done", str(index)) in output.values:
                done.append(action)  # `snap watch` saw it ready and Done
                continue
            change_name, change_lines = output.section("change %d" % index)
            self.request_count += 1
            path = "/v2/changes/%s" % change_id
            change, error, retry = parse_answer(change_lines, "GET " + path, output.rc.get(change_name))
            if error is not None:
                return Applied(tuple(done), error=error), None
            change = checked_result(change, "GET " + path, path, _not_snapd)
            if not change.get("ready"):
                return Applied(tuple(done), error=change_not_ready(change_id, change, self.timeout)), None
            failure = change_failure(change_id, change)
            if failure:
                return Applied(tuple(done), error=failure), None
            done.append(action)
        lines = output.sections.get("connections")
        self.request_count += 1
        name, path, query = CONNECTIONS_REQUEST
        payload, error, retry = parse_answer(lines, "GET " + path, output.rc.get("connections"))
        if error is not None:
            return Applied(tuple(done), reread_error=error), None
        try:
            return Applied(tuple(done), connections=checked_result(payload, "GET " + path, path, _not_snapd)), None
        except SnapdError as error:
            return Applied(tuple(done), reread_error=error), None

    def run_plan(self, plan):
        """{record key: raw value} of a read plan (module_utils/_read_plan), as _shm_host.run_plan gives them: the plan
        compiled to one sh script (_sh_read_plan) and its frames read back. An empty plan sends no remote command."""
        scan = [_scan_settings(record.snaps) for record in plan if isinstance(record, Processes)]
        output = Output("", "")
        if plan:
            output = self._execute(lambda nonce: _script(nonce, self.timeout, _PRELUDE, *((_PROCESSES,) if scan else ()),
                                                         plan_script(plan), ROOT=self.root,
                                                         **dict(SETTINGS, **(scan[0] if scan else {}))))
        return results_from_output(output, plan, scan_of)

    def facts(self, families, apps, private_snaps, user_snaps, slot_paths):
        """shm_verify's host facts: the read plan run over snap debug api, decoded as the module decodes its own."""
        for name in [snap for snap, app in apps] + [app for snap, app in apps if app is not None] + list(private_snaps):
            _checked_name(name)
        plan = plan_for(families, apps, private_snaps, user_snaps, slot_paths)
        return facts_from_results(self.run_plan(plan), families, apps, private_snaps, user_snaps, slot_paths)


_CUTS = {"time": CUT_TIME, "bytes": CUT_BYTES}


def parse_process_records(lines):
    """``(records, seen, cut)`` from the processes section: a ProcessRecord for each process the scan kept, how
    many processes it saw (0 when /proc could not be listed), and why it stopped early (None when it did not).

    Every line is a record the scan printed; any other line is MalformedOutput.
    """
    records = []
    current = None
    seen = None
    cut = None
    for line in lines:
        kind, dummy, value = line.partition(" ")
        if kind == "P":
            current = {"pid": decimal(value, "a pid"), "label": "", "cgroup": None, "targets": [], "problems": []}
            records.append(current)
        elif kind == "N" and seen is None:
            seen = decimal(value, "the count of processes")
        elif kind == "X" and value in _CUTS and cut is None:
            cut = _CUTS[value]
        elif current is None or kind not in ("L", "C", "F", "M", "E"):
            raise MalformedOutput("a process record %r where the scan prints none" % line[:40])
        elif kind == "L":
            current["label"] = value
        elif kind == "C":
            try:
                current["cgroup"] = bytes.fromhex(value).decode("utf-8", "replace")
            except ValueError:
                current["problems"].append("cgroup: unreadable")
        elif kind == "F":
            try:
                target, rest = c_unquote(value[1:]) if value.startswith('"') else (None, None)
            except ValueError:
                target = None
            if target is None or rest:
                raise MalformedOutput("a descriptor record that is not one C-quoted path")
            current["targets"].append(target.decode("utf-8", "surrogateescape"))
        elif kind == "M":
            current["targets"].append(value)
        else:
            current["problems"].append(value)
    if seen is None:
        raise MalformedOutput("the process scan did not say how many processes it saw")
    return [ProcessRecord(r["pid"], r["label"], r["cgroup"], tuple(r["targets"]), tuple(r["problems"]))
            for r in records], seen, cut


def scan_of(lines, snaps):
    """The ProcessScan of `snaps` from the processes section's lines (None when the script printed none)."""
    if lines is None:
        return scan_from_records((), snaps, proc_error="the scan printed nothing")
    records, seen, cut = parse_process_records(lines)
    return scan_from_records(records, snaps, proc_error=None if seen or cut else "cannot be listed", cut=cut)


# --- shm_verify's facts from the facts script's output -------------------------------------------------------------

# snap, instance and app names as snapd allows them (snap/validate.go); anything else never reaches a script
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*(?:_[a-z0-9]{1,10})?|[A-Za-z0-9](?:-?[A-Za-z0-9])*")


def _checked_name(name):
    if not isinstance(name, str) or len(name) > 80 or not _NAME.fullmatch(name):
        raise HostReadError("refusing to look up %r on the host: not a snap or app name" % (name,))
    return name
