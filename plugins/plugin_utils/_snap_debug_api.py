# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ``snap debug api`` transport: a device reached through the Ansible connection, no Python on it.

snapd 2.64 and later has ``snap debug api [-X METHOD] [-H 'Name: value'] PATH`` (body on stdin), which
prints the JSON envelope snapd's socket answers. ``DebugApiHost`` is the host object of
``module_utils/_shm_run`` built on it: each step is ONE plain POSIX sh script run through the
connection, and everything else happens on the controller with the same code the module runs.

- ``read``: the effective uid, the GETs of one snapshot and, when asked, the raw /proc facts of the
  snap processes that hold /dev/shm objects;
- ``apply``: each POST /v2/interfaces, retried while snapd restarts or another change on the snap runs,
  then ``snap watch`` and one GET of the change, stopping at the first failure; then the connections
  re-read.

The script's output is hostile (snapd's answers quote snap.yaml text, /proc and /dev/shm names are
anyone's): every frame line starts with a random nonce the device cannot guess, every answer is cut at
``MAX_ANSWER_BYTES`` on the device, file names travel C-quoted (``ls --quoting-style=c``) or hex-encoded,
and every value put in a script is a constant or quoted with ``shlex.quote``.
"""

from __future__ import annotations

import json
import secrets
import shlex

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_run import Applied, HostReads
from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_state import CONNECTIONS_REQUEST, STATE_REQUESTS
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd import (
    SnapdError,
    api_error,
    change_failure,
    change_not_ready,
)

# snap debug api arrived in snapd 2.64 (canonical/snapd#14116)
DEBUG_API_SINCE = "2.64"
MAX_ANSWER_BYTES = 16 * 1024 * 1024
CALL_TIMEOUT = 60  # seconds for one snap debug api call; the whole step is bounded by the task's timeout


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

# Shared by every script: NONCE, DEADLINE (epoch seconds) and the helpers. `call NAME PATH` prints one
# framed answer; the rc line is inside the cut, so a cut answer shows as one without its rc.
_PRELUDE = r"""
NL='
'
frame() { printf '\n%s %s\n' "$NONCE" "$*"; }
remaining() { r=$((DEADLINE - $(date +%s))); [ "$r" -gt 0 ] || r=1; [ "$r" -lt "$CALL" ] || r=$CALL; echo "$r"; }
call() {
    frame begin "$1"
    { timeout "$(remaining)" snap debug api "$2" 2>&1; printf '\n%s rc %s\n' "$NONCE" "$?"; } | head -c "$MAX"
    frame end "$1"
}
"""

# A snapd answer that means "retry": another change on the snap in progress, snapd in maintenance (restarting),
# or snapd not listening. Matched on the pretty-printed envelope's own lines (a newline and the exact
# indentation), which no string value can forge: JSON strings carry no raw newline.
_TRANSIENT = r"""
transient() {
    case "$1" in
        *"$NL    \"kind\": \"snap-change-conflict\""*|*"$NL  \"maintenance\": {"*) return 0 ;;
        *"$NL  \"status-code\": "*) return 1 ;;
        *"cannot communicate with server"*) return 0 ;;
    esac
    return 1
}
"""

_READ = r"""
frame uid "$(id -u)"
if ! command -v snap >/dev/null 2>&1; then
    frame no-snap
    exit 0
fi
info=$( { timeout "$(remaining)" snap debug api /v2/system-info 2>&1; printf '\n%s rc %s\n' "$NONCE" "$?"; } | head -c "$MAX")
frame begin system_info
printf '%s\n' "$info"
frame end system_info
case "$info" in
    *"$NL  \"status-code\": "*) ;;
    *)
        frame python "$(command -v "$PYTHON" 2>/dev/null || echo none)"
        exit 0 ;;
esac
"""

# The raw /proc facts of candidate snap processes: a snap's AppArmor label, or, where there is no label
# at all, a cgroup naming a snap unit (hex-encoded, it is any user's text). Builtins only per process;
# ls and od run only for candidates.
_PROCESSES = r"""
frame begin processes
seen=0
for d in /proc/[0-9]*; do
    [ -d "$d" ] || continue
    seen=$((seen + 1))
    label=
    IFS= read -r label < "$d/attr/current" 2>/dev/null
    cgroup=
    case "$label" in
        snap.*|snap-update-ns.*) ;;
        '')
            c=$(head -c 4096 "$d/cgroup" 2>/dev/null)
            case "$c" in *snap.*) cgroup=$(printf '%s' "$c" | od -An -v -tx1 | tr -d ' \n') ;; *) continue ;; esac ;;
        *) continue ;;
    esac
    printf 'P %s\n' "${d#/proc/}"
    printf 'L %s\n' "$label"
    [ -z "$cgroup" ] || printf 'C %s\n' "$cgroup"
    ls -l --quoting-style=c "$d/fd/" "$d"/task/*/fd/ 2>/dev/null | head -c "$MAX" | while IFS= read -r line; do
        case "$line" in *' -> "/dev/shm/'*) printf 'F %s\n' "$line" ;; esac
    done
    for m in "$d/maps" "$d"/task/*/maps; do
        found=0
        while IFS= read -r line; do
            found=1
            case "$line" in *' /dev/shm/'*) printf 'M %s\n' "$line" ;; esac
        done < "$m" 2>/dev/null
        [ "$found" = 0 ] || break
    done
done
printf 'N %s\n' "$seen"
frame end processes
"""

_APPLY_ONE = r"""
post_and_wait() {
    index=$1 body=$2
    resent=0 delay=1
    while :; do
        out=$( { printf '%s' "$body" | timeout "$(remaining)" snap debug api -X POST -H 'Content-Type: application/json' /v2/interfaces 2>&1; printf '\n%s rc %s\n' "$NONCE" "$?"; } | head -c "$MAX")
        transient "$out" || break
        # the request may have reached snapd before it went away: a resent disconnect may find nothing to do
        case "$out" in *"cannot communicate with server"*) resent=1 ;; esac
        [ "$(date +%s)" -lt "$DEADLINE" ] || break
        sleep "$delay"
        [ "$delay" -ge 4 ] || delay=$((delay * 2))
    done
    frame begin "post $index resent=$resent"
    printf '%s\n' "$out"
    frame end "post $index"
    change=$(printf '%s\n' "$out" | sed -n 's/^  "change": "\([0-9][0-9]*\)",\{0,1\}$/\1/p')
    [ -n "$change" ] || return 1
    while :; do
        timeout "$(remaining)" snap watch "$change" >/dev/null 2>&1
        state=$( { timeout "$(remaining)" snap debug api "/v2/changes/$change" 2>&1; printf '\n%s rc %s\n' "$NONCE" "$?"; } | head -c "$MAX")
        case "$state" in *"$NL    \"ready\": true"*) break ;; esac
        [ "$(date +%s)" -lt "$DEADLINE" ] || break
        sleep 1
    done
    frame begin "change $index"
    printf '%s\n' "$state"
    frame end "change $index"
    case "$state" in *"$NL    \"status\": \"Done\""*) return 0 ;; esac
    return 1
}
"""


def _script(nonce, deadline_seconds, *parts, **variables):
    lines = [
        "NONCE=%s" % shlex.quote(nonce),
        "CALL=%d" % CALL_TIMEOUT,
        "MAX=%d" % MAX_ANSWER_BYTES,
        # the deadline is the device's clock plus the task's timeout: device and controller clocks may differ
        "DEADLINE=$(( $(date +%%s) + %d ))" % max(1, int(deadline_seconds)),
    ]
    lines += ["%s=%s" % (name, shlex.quote(value)) for name, value in sorted(variables.items())]
    return "\n".join(lines) + "".join(parts)


def read_script(nonce, timeout, processes, python="python3"):
    calls = "".join("call %s %s\n" % (name, shlex.quote(query_path(path, query)))
                    for name, path, query in STATE_REQUESTS if name != "system_info")
    return _script(nonce, timeout, _PRELUDE, _READ, calls, _PROCESSES if processes else "", PYTHON=python)


def apply_script(nonce, timeout, bodies):
    name, path, query = CONNECTIONS_REQUEST
    steps = "".join("post_and_wait %d %s || exit 0\n" % (index, shlex.quote(body)) for index, body in enumerate(bodies))
    return _script(nonce, timeout * max(1, len(bodies)), _PRELUDE, _TRANSIENT, _APPLY_ONE, steps,
                   "call connections %s\n" % shlex.quote(query_path(path, query)))


def get_script(nonce, timeout, path):
    return _script(nonce, timeout, _PRELUDE, "call answer %s\n" % shlex.quote(path))


# --- reading what came back ----------------------------------------------------------------------------------------

class Output:
    """The frames of one script's output: ``values`` of one-line frames, ``sections`` of begin/end frames."""

    def __init__(self, text, nonce):
        self.values = {}
        self.sections = {}
        marker = nonce + " "
        current = None
        lines = []
        for line in text.split("\n"):
            if not line.startswith(marker):
                if current is not None:
                    lines.append(line)
                continue
            verb, _, rest = line[len(marker):].partition(" ")
            if verb == "begin":
                current, lines = rest, []
            elif verb == "end":
                if current is not None:
                    self.sections[current] = lines
                current = None
            elif verb == "rc" and current is not None:
                self.values[(current, "rc")] = rest
            else:
                self.values[verb] = rest

    def section(self, prefix):
        """The (name, lines) of the first section whose name starts with ``prefix``, or (None, None)."""
        for name, lines in self.sections.items():
            if name == prefix or name.startswith(prefix + " "):
                return name, lines
        return None, None


def _answer_text(lines):
    return "\n".join(lines).strip()


def parse_answer(lines, what):
    """snapd's envelope from a section's lines: ``(payload, error, transient)``; exactly one of payload/error."""
    text = _answer_text(lines or [])
    if not text:
        return None, SnapdError("snapd gave no answer to %s through snap debug api (cut off, or timed out)" % what), True
    if not text.startswith("{"):
        return None, _cli_error(text, what), "cannot communicate with server" in text
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        return None, SnapdError("snapd's answer to %s through snap debug api is not JSON, or larger than %d bytes; "
                                "check snapd on the host (snap debug api /v2/system-info)" % (what, MAX_ANSWER_BYTES)), False
    if not isinstance(payload, dict):
        return None, SnapdError("snapd answered %s with unexpected JSON through snap debug api" % what), False
    if payload.get("type") == "error":
        error, transient = api_error(payload, what)
        return None, error, transient
    return payload, None, False


def _cli_error(text, what):
    first = text.splitlines()[0][:200]
    if "cannot communicate with server" in text:
        return SnapdError("cannot reach snapd for %s through snap debug api: %s; is snapd installed and running "
                          "(systemctl status snapd.socket)?" % (what, first))
    return SnapdError("snap debug api failed for %s: %s" % (what, first))


def result_of(payload, what):
    if "result" not in payload:
        raise SnapdError("snapd's answer to %s has no result; check snapd on the host" % what)
    return payload["result"]


class DebugApiHost:
    """A device reached with ``run(script) -> (rc, stdout, stderr)`` (the action plugin's remote shell).

    ``timeout`` bounds each step as the module's option does on the socket path; ``python`` is the
    interpreter the module path would use (a path, or a name looked up on PATH).
    """

    transport = "snap-debug-api"

    def __init__(self, run, timeout, python="python3"):
        self._run = run
        self.timeout = timeout
        self.python = python  # the interpreter the module would run with, looked for when snapd lacks debug api
        self.request_count = 0
        self.remote_commands = 0
        self._uid = None
        self._processes = None

    def _execute(self, script_for_nonce):
        nonce = secrets.token_hex(16)
        rc, stdout, stderr = self._run(script_for_nonce(nonce))
        self.remote_commands += 1
        output = Output(stdout, nonce)
        if "uid" not in output.values and not output.sections:
            said = (stderr or stdout or "").strip().splitlines()
            raise SnapdError("the snap debug api script did not run on the host (exit %s): %s"
                             % (rc, said[-1][:200] if said else "no output"))
        return output

    def uid(self):
        return self._uid

    def read(self, processes=False):
        output = self._execute(lambda nonce: read_script(nonce, self.timeout, processes, self.python))
        try:
            self._uid = int(output.values.get("uid", ""))
        except ValueError:
            self._uid = None
        if "no-snap" in output.values:
            raise SnapdError("snapd is not installed on this host (no snap command); install snapd")
        answers = {}
        for name, path, query in STATE_REQUESTS:
            what = "GET " + path
            lines = output.sections.get(name)
            if name == "system_info" and "python" in output.values:
                text = _answer_text(lines or [])
                python = output.values["python"]
                if "unknown command" in text.lower():
                    raise NoDebugApi("snapd on this host has no 'snap debug api' (it came in snapd %s)" % DEBUG_API_SINCE,
                                     None if python in ("", "none") else python)
            self.request_count += 1 if lines is not None else 0
            payload, error, transient = parse_answer(lines, what)
            if error is not None:
                raise error
            answers[name] = result_of(payload, what)
        if processes:
            self._processes = output.sections.get("processes")
        return HostReads(answers["system_info"], answers["connections"], answers["warnings"] or [], self._uid)

    def processes(self, snaps):
        from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_users import snap_processes_from_records

        if self._processes is None:
            self.read(processes=True)
        return snap_processes_from_records(parse_process_records(self._processes or []), snaps)

    def get(self, path, query=None):
        """One GET in its own round trip (only used to word a refusal, never on the normal path)."""
        what = "GET " + path
        full = query_path(path, sorted((query or {}).items()))
        output = self._execute(lambda nonce: get_script(nonce, self.timeout, full))
        self.request_count += 1
        payload, error, transient = parse_answer(output.sections.get("answer"), what)
        if error is not None:
            raise error
        return result_of(payload, what)

    def snap_interfaces(self, snaps):
        from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_state import read_snap_interfaces

        return read_snap_interfaces(self, snaps)

    def apply(self, actions):
        bodies = [json.dumps(_body(action.request()), sort_keys=True) for action in actions]
        output = self._execute(lambda nonce: apply_script(nonce, self.timeout, bodies))
        done = []
        for index, action in enumerate(actions):
            name, lines = output.section("post %d" % index)
            if lines is None:
                return Applied(tuple(done), error=SnapdError(
                    "the %s of %s to %s was not sent: the script stopped (timed out?)" % (action.action, action.plug, action.slot)))
            self.request_count += 1
            request = action.request()
            payload, error, transient = parse_answer(lines, "POST /v2/interfaces")
            if error is not None:
                if (request["action"] == "disconnect" and error.status_code == 400 and name.endswith("resent=1")):
                    done.append(action)  # the first POST reached snapd before it restarted; nothing left to do
                    continue
                return Applied(tuple(done), error=error)
            change_id = payload.get("change")
            if payload.get("type") != "async" or not change_id:
                done.append(action)
                continue
            change_name, change_lines = output.section("change %d" % index)
            self.request_count += 1
            change, error, transient = parse_answer(change_lines, "GET /v2/changes/%s" % change_id)
            if error is not None:
                return Applied(tuple(done), error=error)
            change = result_of(change, "GET /v2/changes/%s" % change_id)
            if not isinstance(change, dict) or not change.get("ready"):
                return Applied(tuple(done), error=change_not_ready(change_id, change if isinstance(change, dict) else {},
                                                                   self.timeout))
            failure = change_failure(change_id, change)
            if failure:
                return Applied(tuple(done), error=failure)
            done.append(action)
        lines = output.sections.get("connections")
        self.request_count += 1
        payload, error, transient = parse_answer(lines, "GET /v2/connections")
        if error is not None:
            return Applied(tuple(done), reread_error=error)
        return Applied(tuple(done), connections=result_of(payload, "GET /v2/connections"))

    def facts(self, families, apps, private_snaps, user_snaps):
        raise SnapdError("shm_verify over snap debug api is not available yet")


def _body(request):
    body = {
        "action": request["action"],
        "plugs": [{"snap": request["plug_snap"], "plug": request["plug"]}],
        "slots": [{"snap": request["slot_snap"], "slot": request["slot"]}],
    }
    if request["forget"]:
        body["forget"] = True
    return body


def _c_unquote(text):
    """Decode one C-quoted string as ``ls --quoting-style=c`` writes it (text starts after the opening quote).

    Returns ``(bytes, rest)``; raises ValueError on a malformed string.
    """
    out = bytearray()
    index = 0
    simple = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92, '"': 34, "'": 39, "?": 63}
    while index < len(text):
        char = text[index]
        if char == '"':
            return bytes(out), text[index + 1:]
        if char != "\\":
            out += char.encode("utf-8", "surrogateescape")
            index += 1
            continue
        index += 1
        if index >= len(text):
            break
        escape = text[index]
        if escape in simple:
            out.append(simple[escape])
            index += 1
        elif escape in "01234567":
            digits = text[index:index + 3]
            out.append(int(digits, 8) & 0xFF)
            index += len(digits)
        else:
            raise ValueError("unknown escape \\%s" % escape)
    raise ValueError("unterminated quoted name")


def parse_process_records(lines):
    """The raw per-process records of the processes section: dicts with pid, label, cgroup, fd_targets, maps.

    ``fd_targets`` are the /dev/shm paths the process's fd links name, ``maps`` its maps lines that name
    /dev/shm; ``seen`` on the last record is how many processes the scan saw.
    """
    records = []
    current = None
    seen = None
    for line in lines:
        kind, _, value = line.partition(" ")
        if kind == "P" and value.isdigit():
            current = {"pid": int(value), "label": "", "cgroup": "", "fd_targets": [], "maps": []}
            records.append(current)
        elif kind == "N" and value.isdigit():
            seen = int(value)
        elif current is None:
            continue
        elif kind == "L":
            current["label"] = value
        elif kind == "C":
            try:
                current["cgroup"] = bytes.fromhex(value).decode("utf-8", "replace")
            except ValueError:
                current["cgroup"] = ""
        elif kind == "F":
            _, arrow, quoted = value.partition(' -> "')
            if arrow:
                try:
                    target, _ = _c_unquote(quoted)
                except ValueError:
                    continue
                current["fd_targets"].append(target.decode("utf-8", "surrogateescape"))
        elif kind == "M":
            current["maps"].append(value)
    return {"records": records, "seen": seen}
