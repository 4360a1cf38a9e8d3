# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The sh executor of shm_verify's read plan (module_utils/_read_plan): the plan compiled to sh, one small snippet
per record kind, and the script's frames turned back into the raw values the Python executor
(module_utils/_shm_host.run_plan) gives, for the one decoder, ``_read_plan.facts_from_results``.

What the snippets keep: files are read only when they are regular files and not symlinks, cut at the record's
bound plus one byte (so an oversized one shows) and sent in base64; /dev/shm and its entries are only lstat'ed
(stat and ls -l never follow the last component), names come back C-quoted by ``ls``; a listing is cut at its
bound with an explicit ``!cut`` line, and every loop looks at the deadline and says ``cut`` when it passed. A
snap's namespace mounts are read from /proc/PID/mountinfo of a process inside that namespace, since entering it
would mean running a program of the snap's base as root. Only checked names and shlex-quoted values reach the
script: the record keys and paths are built from names the caller checked (``_snap_debug_api._checked_name``).
The process scan (``Processes``) is the snap debug api transport's own: it defines ``scan``, reads its section
with ``scan_of``, and hands both to ``plan_script`` and ``results_from_output``.
"""

from __future__ import annotations

import re
import shlex
import stat

from ansible_collections.snapfleet.snapd.plugins.module_utils._read_plan import (
    PROFILES_DIR,
    SNAP_MOUNT_DIR,
    TIME_UP,
    DevShmEntry,
    DevShmNames,
    HookProfiles,
    InstalledSnaps,
    Listing,
    Lstat,
    NamespaceMounts,
    Processes,
    ReadProblem,
    SnapYamls,
    Text,
    examined_names,
    file_facts,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import MAX_YAML_BYTES
from ansible_collections.snapfleet.snapd.plugins.plugin_utils._sh_frames import (
    FileText,
    MalformedOutput,
    c_unquote,
    decimal,
)

# The helpers every compiled plan defines (frame, late and capped come from the transport's prelude).
_HELPERS = r"""
lstat() {
    if out=$(stat -c '%f %u %g' -- "$2" 2>&1); then frame stat "$1" "$out"; return; fi
    case "$out" in
        *"No such file or directory"*|*"Not a directory"*) frame stat "$1" absent ;;
        *) frame stat "$1" error "${out##*: }" ;;
    esac
}
encoded() {
    # section "text $1": the first $2 bytes of file $3, in base64
    frame begin "text $1"; head -c "$2" -- "$3" 2>/dev/null | base64; frame end "text $1"
}
text() {
    if [ -L "$3" ]; then frame text "$1" symlink
    elif [ ! -e "$3" ]; then frame text "$1" absent
    elif [ ! -f "$3" ]; then frame text "$1" not-regular
    elif [ ! -r "$3" ]; then frame text "$1" unreadable
    else encoded "$1" "$2" "$3"; fi
}
hookprofiles() {
    # the hooks' profiles of snap $1, each up to $2 bytes; the decoder checks each name again
    for f in "$ROOT$PROFILES/snap.$1.hook."*; do
        if late; then frame cut "hooks:$1"; return 0; fi
        h=${f#"$ROOT$PROFILES/snap.$1.hook."}
        case "$h" in ''|*[!a-z0-9-]*) continue ;; esac
        text "hooks:$1:$h" "$2" "$f"
    done
}
snapyaml() {
    # snapd's current -> REVISION link is read, no link below it is followed, and only a file that may declare
    # shared-memory (the name, or a backslash that could spell it) is sent back
    d=$ROOT$SNAPS/$1
    if [ ! -L "$d/current" ]; then [ ! -e "$d/current" ] || frame text "yaml:$1" not-a-revision; return 0; fi
    rev=$(readlink "$d/current")
    r=${rev#x}
    case "$r" in ''|*[!0-9]*) frame text "yaml:$1" not-a-revision; return 0 ;; esac
    for p in "$d/$rev" "$d/$rev/meta"; do
        if [ -L "$p" ]; then frame text "yaml:$1" symlink; return 0; fi
        [ -e "$p" ] || return 0
        if [ ! -d "$p" ]; then frame text "yaml:$1" unreadable; return 0; fi
    done
    f=$d/$rev/meta/snap.yaml
    if [ -L "$f" ]; then frame text "yaml:$1" symlink; return 0; fi
    [ -e "$f" ] || return 0
    if [ ! -f "$f" ]; then frame text "yaml:$1" not-regular; return 0; fi
    if [ ! -r "$f" ]; then frame text "yaml:$1" unreadable; return 0; fi
    head -c "$YAML" -- "$f" 2>/dev/null | grep -q -F -e shared-memory -e '\' || return 0
    encoded "yaml:$1" "$YAML" "$f"
}
nsmounts() {
    # the mountinfo of a process in snap $1's preserved mount namespace, up to $2 bytes
    ns=$ROOT/run/snapd/ns/$1.mnt
    [ -e "$ns" ] || return 0
    for d in "$ROOT"/proc/[0-9]*; do
        if late; then frame cut "ns-mounts:$1"; return 0; fi
        [ "$d/ns/mnt" -ef "$ns" ] || continue
        encoded "ns-mounts:$1" "$2" "$d/mountinfo"
        return 0
    done
    frame text "ns-mounts:$1" no-process
}
"""

# the variables the helpers read
SETTINGS = dict(YAML=MAX_YAML_BYTES + 1, SNAPS=SNAP_MOUNT_DIR, PROFILES=PROFILES_DIR)


def _under_root(path):
    return '"$ROOT"%s' % shlex.quote(path)


def _snippet(record):
    """The sh that reads one record."""
    if isinstance(record, Lstat):
        return "lstat %s %s" % (shlex.quote(record.key), _under_root(record.path))
    if isinstance(record, DevShmEntry):
        # as the Python executor looks the entry up in /dev/shm's directory fd: never through a /dev/shm symlink
        return 'if [ -L "$ROOT/dev/shm" ]; then frame stat %s absent; else lstat %s %s; fi' % (
            shlex.quote(record.key), shlex.quote(record.key), _under_root(record.path))
    if isinstance(record, Text):
        return "text %s %d %s" % (shlex.quote(record.key), record.limit + 1, _under_root(record.path))
    if isinstance(record, HookProfiles):
        return "hookprofiles %s %d" % (shlex.quote(record.snap), record.limit + 1)
    if isinstance(record, NamespaceMounts):
        return "nsmounts %s %d" % (shlex.quote(record.snap), record.limit + 1)
    if isinstance(record, DevShmNames):
        return ('[ -L "$ROOT/dev/shm" ] || [ ! -d "$ROOT/dev/shm" ] || { frame begin listing; '
                'ls -lan --quoting-style=c --time-style=+%%s "$ROOT/dev/shm/" 2>&1 | capped %d; frame end listing; }'
                % record.max_bytes)
    if isinstance(record, InstalledSnaps):
        return ('[ ! -d "$ROOT$SNAPS" ] || { frame begin snaps; ls -1A --quoting-style=c "$ROOT$SNAPS"/ 2>/dev/null | '
                'capped %d; frame end snaps; }' % record.max_bytes)
    if isinstance(record, SnapYamls):
        # names the decoder would refuse are left out here already
        return ('for d in "$ROOT$SNAPS"/*/; do if late; then frame cut %s; break; fi; n=${d%%/}; n=${n##*/}; '
                "case \"$n\" in ''|*[!a-z0-9_-]*) continue ;; esac; snapyaml \"$n\"; done" % shlex.quote(record.key))
    if isinstance(record, Processes):
        return "scan"  # the transport's /proc scan, defined with its settings by the transport
    raise ValueError("no sh for %r" % (record,))


def plan_script(plan):
    """The sh of a read plan: the helpers, then one snippet per record (their variables are SETTINGS, and ROOT)."""
    return _HELPERS + "".join(_snippet(record) + "\n" for record in plan)


# --- the frames back into raw values -------------------------------------------------------------------------------

_MODE = re.compile(r"[0-9a-f]{1,8}")


def _stat_value(output, key):
    """Lstat's raw value from the `stat` frame."""
    if key not in output.stats:
        raise MalformedOutput("no stat frame for %s" % key)
    value = output.stats[key]
    if value == "absent":
        return None
    if value == "error" or value.startswith("error "):
        return ReadProblem("unreadable", value[6:] or None)
    fields = value.split(" ")
    if len(fields) != 3 or not _MODE.fullmatch(fields[0]):
        raise MalformedOutput("the stat frame for %s is %r" % (key, value[:40]))
    return file_facts(int(fields[0], 16), decimal(fields[1], "a uid"), decimal(fields[2], "a gid"))


_SNAP_YAML_STATES = ("not-a-revision", "symlink", "not-regular", "unreadable")
_STATES = {"symlink": ReadProblem("symlink"), "not-regular": ReadProblem("not-regular"),
           "unreadable": ReadProblem("unreadable", "Permission denied"), "no-process": ReadProblem("no-process")}


def _text_value(output, key, states=("absent", "symlink", "not-regular", "unreadable")):
    """Text's raw value from a `text` frame or section."""
    if key not in output.texts:
        raise MalformedOutput("no text frame for %s" % key)
    value = output.texts[key]
    if isinstance(value, FileText):
        return str(value)
    if value not in states:
        raise MalformedOutput("the text %s has the state %r" % (key, value[:40]))
    return None if value == "absent" else _STATES[value]


def _keyed_texts(output, prefix):
    return dict((key[len(prefix):], key) for key in output.texts if key.startswith(prefix))


def _listing(lines, examined):
    cut = bool(lines) and lines[-1] == "!cut"
    entries, errors = parse_ls_listing(lines[:-1] if cut else lines)
    names = tuple(sorted(list(entries) + list(errors)))
    found = dict((name, errors.get(name, entries.get(name))) for name in examined(names)
                 if name in entries or name in errors)
    return Listing(names, found, cut)


def _raw_value(output, record, scan_of):
    if isinstance(record, (Lstat, DevShmEntry)):
        return _stat_value(output, record.key)
    if isinstance(record, Text):
        return _text_value(output, record.key)
    if isinstance(record, HookProfiles):
        return dict((hook, _text_value(output, key))
                    for hook, key in _keyed_texts(output, record.key + ":").items())
    if isinstance(record, NamespaceMounts):
        return _text_value(output, record.key, ("no-process",)) if record.key in output.texts else None
    if isinstance(record, DevShmNames):
        lines = output.sections.get("listing")
        return None if lines is None else _listing(lines, lambda names: examined_names(names, record.paths))
    if isinstance(record, InstalledSnaps):
        lines = output.sections.get("snaps")
        if lines is None:
            return None
        cut = bool(lines) and lines[-1] == "!cut"
        return Listing(tuple(sorted(name for name in (_quoted_name(line) for line in lines) if name is not None)),
                       cut=cut)
    if isinstance(record, SnapYamls):
        found = {}
        for snap, key in _keyed_texts(output, "yaml:").items():
            value = output.texts[key]
            if not isinstance(value, FileText) and value not in _SNAP_YAML_STATES:
                raise MalformedOutput("the snap.yaml of %s has the state %r" % (snap[:40], value[:40]))
            found[snap] = str(value) if isinstance(value, FileText) else ReadProblem(value)
        return found
    if isinstance(record, Processes):
        return scan_of(output.sections.get("processes"), record.snaps)
    raise ValueError("no decoding for %r" % (record,))


def results_from_output(output, plan, scan_of):
    """{record key: raw value} of `plan` from the compiled script's Output (_sh_frames), the values the Python
    executor gives; ``scan_of(lines, snaps)`` reads the transport's process scan section. A record whose loop met
    the deadline (a ``cut`` frame) is TIME_UP."""
    cut = set(key for verb, key in (name for name in output.values if isinstance(name, tuple)) if verb == "cut")
    return dict((record.key, TIME_UP if record.key in cut else _raw_value(output, record, scan_of)) for record in plan)


def _quoted_name(line):
    """The name of one `ls --quoting-style=c` line that is only a name, None for any other line."""
    if not line.startswith('"'):
        return None
    try:
        name, rest = c_unquote(line[1:])
    except ValueError:
        return None
    return None if rest else name.decode("utf-8", "surrogateescape")


_TYPES = {"d": stat.S_IFDIR, "l": stat.S_IFLNK, "-": stat.S_IFREG, "c": stat.S_IFCHR, "b": stat.S_IFBLK,
          "p": stat.S_IFIFO, "s": stat.S_IFSOCK}
_SPECIAL = {2: ("sS", stat.S_ISUID), 5: ("sS", stat.S_ISGID), 8: ("tT", stat.S_ISVTX)}


def mode_from_ls(text):
    """st_mode from `ls -l`'s mode string (``drwxrwxrwt``); raises ValueError on one ls could not fill in."""
    if len(text) < 10 or text[0] not in _TYPES:
        raise ValueError(text)
    mode = _TYPES[text[0]]
    bits = (stat.S_IRUSR, stat.S_IWUSR, stat.S_IXUSR, stat.S_IRGRP, stat.S_IWGRP, stat.S_IXGRP,
            stat.S_IROTH, stat.S_IWOTH, stat.S_IXOTH)
    for index, bit in enumerate(bits):
        char = text[1 + index]
        special = _SPECIAL.get(index)
        if special and char in special[0]:
            mode |= special[1] | (bit if char.islower() else 0)
        elif char != "-":
            if char not in "rwx":
                raise ValueError(text)
            mode |= bit
    return mode


def _ls_number(text):
    """A uid or gid `ls -n` printed; ValueError for anything but ASCII digits (ls prints `?` where lstat failed)."""
    if not (text.isascii() and text.isdigit() and len(text) <= 19):
        raise ValueError(text)
    return int(text)


def parse_ls_listing(lines):
    """``({name: FileFacts}, {name: error})`` from `ls -lan --quoting-style=c` of a directory, stderr mixed in.

    lstat of each entry, never followed; an entry lstat failed on shows as ``?`` fields, with ls's error
    (its strerror taken, in order) on a line of its own.
    """
    entries, failed, reasons = {}, [], []
    for line in lines:
        if line.startswith("ls: cannot access "):
            reasons.append(line.rpartition(": ")[2].strip())
            continue
        head, quote, rest = line.partition(' "')
        fields = head.split()
        if not quote or len(fields) < 5:
            continue
        try:
            name = c_unquote(rest)[0].decode("utf-8", "surrogateescape")
        except ValueError:
            continue
        if name in (".", ".."):
            continue
        try:
            entries[name] = file_facts(mode_from_ls(fields[0]), _ls_number(fields[2]), _ls_number(fields[3]))
        except ValueError:
            failed.append(name)
    errors = dict((name, reasons[index] if index < len(reasons) else "cannot be examined")
                  for index, name in enumerate(failed))
    return entries, errors
