# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A FAKE `snap` command, for unit tests only: `snap debug api`, `snap watch`, `snap connect` and `snap disconnect`
against the fake snapd.

It answers as snapd's CLI does (the envelope pretty-printed with two-space indentation and sorted keys,
errors on stderr with exit 1), talking to the FakeSnapd socket named by $FAKE_SNAPD_SOCKET. With
$FAKE_SNAP_NO_DEBUG_API set it behaves like a snapd older than 2.64, which has no `debug api`; with
$FAKE_SNAP_START_SECONDS each process first sleeps that long, as a slow device's `snap` takes to start; with
$FAKE_SNAP_BARRIER each waits for the others (wait_for_the_others); with $FAKE_SNAP_LOG each appends what it does to
that file, one line at a time (log); with $FAKE_SNAP_CLI_GIVES_UP `snap connect` and `snap disconnect` exit 1 as soon as
snapd accepted their change, as the CLI does when snapd stays away longer than it waits, and with $FAKE_SNAP_CLI_HANGS
they hang once their change is Done.
"""

import http.client
import json
import os
import socket
import sys
import time


class _Unix(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(os.environ["FAKE_SNAPD_SOCKET"])


def _request(method, path, body=None, headers=None):
    connection = _Unix("localhost")
    try:
        connection.request(method, path, body=body, headers=headers or {})
        return connection.getresponse().read()
    except OSError as error:
        sys.stderr.write("error: cannot communicate with server: %s\n" % error)
        sys.exit(1)
    finally:
        connection.close()


def log(event):
    """One line of $FAKE_SNAP_LOG: what this process does now (appended whole, so processes never interleave)."""
    if os.environ.get("FAKE_SNAP_LOG"):
        fd = os.open(os.environ["FAKE_SNAP_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, ("%s %d\n" % (event, os.getpid())).encode())
        finally:
            os.close(fd)


def debug_api(args):
    if os.environ.get("FAKE_SNAP_NO_DEBUG_API"):
        if os.environ.get("LC_ALL", os.environ.get("LANGUAGE", "")).startswith("de"):
            # snap's messages are translated (i18n.G): what a German locale gets
            sys.stderr.write('Fehler: unbekannter Befehl "api", siehe \'snap help debug\'.\n')
        else:
            sys.stderr.write('error: unknown command "api", see \'snap help debug\'.\n')
        sys.exit(1)
    method, headers = "GET", {}
    while args[0] in ("-X", "-H"):
        if args[0] == "-X":
            method = args[1]
        else:
            name, value = args[1].split(": ", 1)
            headers[name] = value
        args = args[2:]
    body = sys.stdin.buffer.read() if method == "POST" else None
    if method == "POST":
        log("post-sent" if body else "post-empty")
    raw = _request(method, args[0], body, headers)
    try:
        text = json.dumps(json.loads(raw), indent=2, sort_keys=True)
    except ValueError:
        text = raw.decode("utf-8", "replace")  # what Python cannot re-indent (a number of 5,000 digits) goes out as is
    sys.stdout.write(text + "\n")


def watch(change_id):
    """As snapd's `snap watch`: exit 0 only when the change is ready and Done, else the error and exit 1."""
    log("watch-start")
    while True:
        change = json.loads(_request("GET", "/v2/changes/" + change_id)).get("result", {})
        if change.get("ready"):
            log("watch-end")
            break
        time.sleep(0.05)
    if change.get("status") != "Done":
        sys.stderr.write("error: %s\n" % (change.get("err") or "change finished in status %r" % change.get("status")))
        sys.exit(1)


def change_action(action, args):
    """As snapd's `snap connect`/`snap disconnect [--forget] [--] PLUG SLOT`: POST the request, then wait for its change
    as `snap watch` does; snapd's refusal on stderr with exit 1."""
    forget = "--forget" in args
    plug, slot = [arg.split(":", 1) for arg in args if arg not in ("--forget", "--")]
    body = {"action": action, "plugs": [{"snap": plug[0], "plug": plug[1]}], "slots": [{"snap": slot[0], "slot": slot[1]}]}
    if forget:
        body["forget"] = True
    log("cli " + action)
    answer = json.loads(_request("POST", "/v2/interfaces", json.dumps(body).encode(), {"Content-Type": "application/json"}))
    if answer.get("type") == "error":
        sys.stderr.write("error: %s\n" % answer["result"]["message"])
        sys.exit(1)
    if os.environ.get("FAKE_SNAP_CLI_GIVES_UP"):
        sys.stderr.write("error: cannot communicate with server: connection refused\n")
        sys.exit(1)
    watch(answer["change"])
    if os.environ.get("FAKE_SNAP_CLI_HANGS"):
        log("hangs")
        time.sleep(600)


def wait_for_the_others(barrier):
    """$FAKE_SNAP_BARRIER=DIR:N: wait until N `snap` processes have started, up to 20 s; a process that waited
    them out writes DIR/waited-out (the processes ran one after another)."""
    directory, count = barrier.rsplit(":", 1)
    with open(os.path.join(directory, "started-%d" % os.getpid()), "w"):
        pass
    for dummy in range(400):
        if len([name for name in os.listdir(directory) if name.startswith("started-")]) >= int(count):
            return
        time.sleep(0.05)
    with open(os.path.join(directory, "waited-out"), "w"):
        pass


def main(args):
    # a slow device: every `snap` process takes this long to start (about a second under emulation)
    time.sleep(float(os.environ.get("FAKE_SNAP_START_SECONDS") or 0))
    if os.environ.get("FAKE_SNAP_BARRIER"):
        wait_for_the_others(os.environ["FAKE_SNAP_BARRIER"])
    if args[:2] == ["debug", "api"]:
        log("start" + (" post" if "POST" in args else ""))
        debug_api(args[2:])
    elif args[:1] == ["watch"]:
        watch(args[1])
    elif args[:1] in (["connect"], ["disconnect"]):
        change_action(args[0], args[1:])
    else:
        sys.stderr.write("fake snap: unsupported %r\n" % (args,))
        sys.exit(2)


main(sys.argv[1:])
