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
- ``apply``: each change made by ``snap connect`` or ``snap disconnect``, one ``snap`` process a change (snapd
  refuses a change to a snap while another is in flight, so they go one at a time), stopping at the first that
  fails; then the connections re-read. A failed step is looked up in snapd's changes: the change it made gives
  snapd's reason, and a request that made none is sent again over ``snap debug api`` for snapd's own answer, and
  retried from the controller when that answer says so (snapd restarting, a conflicting change).

The script's output is hostile (snapd's answers quote snap.yaml text, /proc and /dev/shm names are
anyone's). Every frame line starts with a random nonce that never leaves the controller but on stdin;
file texts travel in base64, file names C-quoted (``ls --quoting-style=c``), cgroups hex-encoded; every
answer, listing and process record is cut on the device at a bound, and a cut is said, never silent
(``_sh_frames`` reads the frames strictly). Every value put in a script is a constant, a checked name or
quoted with ``shlex.quote``.
"""

from __future__ import annotations

import itertools
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
    Retry,
    SnapdError,
    change_made_by,
    checked_envelope,
    checked_result,
    envelope_error,
    interfaces_body,
    resent_disconnect_done,
    sent_until_answered,
    wait_for_change,
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
# between two looks at a change a failed step left running: each look is a remote command of its own
_POLL_DELAY = 1.0


def _delays(waits):
    """The waits given, then the last of them again and again."""
    return itertools.chain(waits, itertools.repeat(waits[-1]))


class ChangesByModule(Exception):
    """``transport: auto`` on a device with Python has something to change: the module makes it. It makes and waits
    for every change inside one process, where over snap debug api each change is a ``snap connect`` or ``snap
    disconnect`` process (about a second on a slow device); raised before anything is sent."""


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

# The changes, in order, each made by snapd's own CLI: `snap connect` and `snap disconnect` send the request and wait
# for its change in one process (snapd refuses a change to a snap while another is in flight, so one change at a
# time is all a device can do, and a `snap` process costs most of a second on a slow one). The steps run in one
# `sh` under one `timeout`, which stops them all at the deadline (it signals its whole process group), so a step
# forks nothing but its `snap`. A step that fails ends them with the uptime it started at and snapd's changes of its
# snap, in which the controller finds whether it made a change (change_made_by; the `clock` frame ties uptime to the
# wall clock snapd stamps changes with): snapd's reason is then read from that change, or from the request sent
# again over snap debug api when it made none, never from the CLI's words. A step the deadline stopped is looked up
# the same way, from the controller.
_APPLY = r"""
step() {
    # step INDEX SNAP ARG...: `snap ARG...`, framed `made INDEX UPTIME`, or `failed INDEX UPTIME` (when it started)
    # and the changes of SNAP
    late
    at=$up n=$1 s=$2
    shift 2
    if snap "$@" >/dev/null 2>&1; then
        late
        frame made "$n" "$up"
        return 0
    fi
    frame failed "$n" "$at"
    call "changes $n" "/v2/changes?select=all&for=$s"
    return 1
}
"""

# One POST /v2/interfaces, its body (a constant made on the controller) on stdin; only to read why a step failed.
_POST = r"""
post() {
    # post BODY: one POST /v2/interfaces, its answer framed
    frame begin post
    { printf '%s' "$1" | timeout "$(remaining)" snap debug api -X POST -H 'Content-Type: application/json' \
        /v2/interfaces 2>&1; printf '\n%s rc %s\n' "$NONCE" "$?"; } | head -c "$MAX"
    frame end post
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


def cli_step(action):
    """The snap command line of one action: ``(snap whose changes tell its outcome, [arguments])``."""
    request = action.request()
    names = [_checked_name(request[key]) for key in ("plug_snap", "plug", "slot_snap", "slot")]
    flags = ["--forget"] if request["forget"] else []
    return names[0], [request["action"]] + flags + ["--", "%s:%s" % tuple(names[:2]), "%s:%s" % tuple(names[2:])]


def apply_script(nonce, timeout, actions):
    """The steps of ``actions`` (within ``timeout`` seconds in all), then the connections re-read."""
    name, path, query = CONNECTIONS_REQUEST
    steps = "".join("step %d %s || exit 1\n" % (index, " ".join(shlex.quote(word) for word in [snap] + argv))
                    for index, (snap, argv) in enumerate(cli_step(action) for action in actions))
    # the wall clock in nanoseconds, then the uptime (centiseconds) read after it; the steps' sh is given the
    # settings in its environment (private to root), never in its argv, which any user reads
    run = ('now=$(date +%%s%%N)\nlate\nframe clock "$now $up"\nexport NONCE CALL MAX UNTIL\n'
           # never `timeout 0`, which is no timeout at all
           't=$(( (UNTIL - up + 99) / 100 ))\n[ "$t" -gt 0 ] || t=1\n'
           'timeout "$t" sh -c %s && call connections %s\n'
           % (shlex.quote(_PRELUDE + _APPLY + steps), shlex.quote(query_path(path, query))))
    return _script(nonce, timeout, _PRELUDE, run)


def post_script(nonce, timeout, body):
    return _script(nonce, timeout, _PRELUDE, _POST, "post %s\n" % shlex.quote(body))


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
        error = _cli_error(text, what)
        return None, error, isinstance(error, _Unreached)
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


class _Unreached(SnapdError):
    """The snap CLI could not reach snapd: worth sending again, and the request may have gone out before snapd went
    away (so a resent disconnect may find nothing left to do)."""


def _cli_error(text, what):
    first = text.splitlines()[0][:200]
    if "cannot communicate with server" in text:
        return _Unreached("cannot reach snapd for %s through snap debug api: %s; is snapd installed and running "
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
        """One GET in its own round trip (only used to word a refusal or follow a change, never on the normal path)."""
        result, error, retry = self._get(query_path(path, sorted((query or {}).items())), path)
        if error is not None:
            raise error
        return result

    def _get(self, full, path=None):
        """``(result, error, retry)`` of one GET of ``full`` (``path`` without its query)."""
        path = path or full
        what = "GET " + path
        output = self._execute(lambda nonce: get_script(nonce, self.timeout, full))
        self.request_count += 1
        payload, error, retry = parse_answer(output.sections.get("answer"), what, output.rc.get("answer"))
        if error is not None:
            return None, error, retry
        try:
            return checked_result(payload, what, path, _not_snapd), None, False
        except SnapdError as error:
            return None, error, False

    def snap_interfaces(self, snaps):
        from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_state import read_snap_interfaces

        return read_snap_interfaces(self, snaps)

    def apply(self, actions):
        """The actions in order, each made by ``snap connect``/``snap disconnect`` in one script, one ``snap`` process
        a change. A step that failed is looked up in snapd's changes of its snap: the change it made is reported,
        or waited for while it runs, and never made again; a request that made no change is sent again over snap
        debug api, for snapd's own reason, and retried as the socket client retries it. Then the rest go on."""
        if self.hand_over is not None and self.hand_over(self):
            raise ChangesByModule()
        deadline = time.monotonic() + self.timeout * max(1, len(actions))
        done = []
        while True:
            pending = actions[len(done):]
            left = max(1.0, deadline - time.monotonic())
            output = self._execute(lambda nonce: apply_script(nonce, left, pending))
            made = self._steps_made(output, pending)
            done += pending[:made]
            if made == len(pending):
                return self._applied(tuple(done), output)
            try:
                self._recover(output, made, pending[made], deadline)
            except SnapdError as error:
                return Applied(tuple(done), error=error)
            done.append(pending[made])
            if len(done) < len(actions) and time.monotonic() >= deadline:
                action = actions[len(done)]
                return Applied(tuple(done), error=SnapdError(
                    "the %s of %s to %s was not made: the timeout (%g seconds a change) ran out before it; raise the "
                    "timeout option" % (action.action, action.plug, action.slot, self.timeout), timed_out=True))

    def _steps_made(self, output, actions):
        """How many of the script's steps exited 0 (it stops at the first that did not)."""
        for index in range(len(actions)):
            if ("made", str(index)) not in output.values:
                self.request_count += ("failed", str(index)) in output.values
                return index
            self.request_count += 1
        return len(actions)

    def _recover(self, output, index, action, deadline):
        """Finish the failed step ``index``: its change waited for, or its request sent again; SnapdError if it failed."""
        clock = (output.values.get("clock") or "").split(" ")
        if len(clock) != 2:
            raise SnapdError("the %s of %s to %s was not made: the script stopped before it (timed out?)"
                             % (action.action, action.plug, action.slot))
        started = output.values.get(("failed", str(index)))
        path = "/v2/changes"
        if started is not None:
            self.request_count += 1
            listing, lines = output.section("changes %d" % index)
            payload, error, retry = parse_answer(lines, "GET " + path, output.rc.get(listing))
            changes = checked_result(payload, "GET " + path, path, _not_snapd) if error is None else None
        else:
            # stopped by the deadline (or cut off): it started once the step before it was made, or with the script
            started = output.values.get(("made", str(index - 1))) if index else clock[1]
            changes, error, retry = self._get(query_path(path, (("select", "all"), ("for", cli_step(action)[0]))), path)
        if error is not None and not retry:
            raise error
        # when the step started, on the wall clock, at the earliest (uptime counts whole centiseconds)
        since = decimal(clock[0], "the device's clock") + (
            decimal(started, "an uptime") - decimal(clock[1], "an uptime") - 1) * 10 ** 7
        change = change_made_by(action.request(), changes, since) if error is None else None
        if change is not None:
            self._wait(decimal(change["id"], "a change id"), deadline, change)
        else:
            # no change made, or none known (snapd went away): sent again, a disconnect answered 400 is then done
            self._post(action, deadline, resent=error is not None)

    def _post(self, action, deadline, resent):
        """One POST /v2/interfaces over snap debug api, sent again while snapd says to, and its change waited for."""
        request = action.request()
        body = json.dumps(interfaces_body(**request), sort_keys=True)
        sent = [resent]

        def send():
            output = self._execute(lambda nonce: post_script(nonce, max(1.0, deadline - time.monotonic()), body))
            self.request_count += 1
            payload, error, retry = parse_answer(output.sections.get("post"), "POST /v2/interfaces", output.rc.get("post"))
            if error is None:
                return payload
            if resent_disconnect_done(request, error, sent[0]):
                return {}  # the first request reached snapd before it went away; nothing left to do
            # the request may have reached snapd before it went away: a resent disconnect may find nothing to do
            sent[0] = sent[0] or isinstance(error, _Unreached)
            raise Retry(error) if retry else error

        payload = sent_until_answered(send, deadline, _delays(_RETRY_DELAYS), time.monotonic, time.sleep)
        if payload.get("type") == "async":
            self._wait(decimal(payload["change"], "a change id"), deadline)

    def _wait(self, change_id, deadline, change=None):
        """Change ``change_id`` polled to its end over snap debug api (``change``: its result as last seen)."""
        path = "/v2/changes/%d" % change_id
        seen = [change] if change is not None else []

        def send():
            result, error, retry = self._get(path)
            if error is not None:
                raise Retry(error) if retry else error  # snapd restarting: the change goes on once it is back
            return result

        def fetch():
            return seen.pop() if seen else sent_until_answered(send, deadline, _delays([_POLL_DELAY]), time.monotonic, time.sleep)

        wait_for_change(fetch, change_id, deadline, self.timeout, _delays([_POLL_DELAY]), time.monotonic, time.sleep)

    def _applied(self, done, output):
        """Applied with the connections the script re-read after its steps."""
        self.request_count += 1
        name, path, query = CONNECTIONS_REQUEST
        payload, error, retry = parse_answer(output.sections.get("connections"), "GET " + path, output.rc.get("connections"))
        try:
            if error is not None:
                raise error
            return Applied(done, connections=checked_result(payload, "GET " + path, path, _not_snapd))
        except SnapdError as error:
            return Applied(done, reread_error=error)

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
