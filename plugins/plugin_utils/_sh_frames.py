# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The framing of what a ``snap debug api`` script prints, read strictly.

A frame line is ``NONCE VERB ...``; the nonce is random per run and travels to the device on stdin only, so
nothing the script prints on the device's behalf can start a line with it. Everything the script prints that
a local user or a publisher could choose is encoded on the device: file texts in base64 (coreutils), names
C-quoted by ``ls``, cgroup texts in hex. Still, the reader trusts nothing it was not expecting: an unknown
verb, a section opened inside another, a section or value seen twice, an ``end`` that does not match, or a
section left open is the one error ``MalformedOutput``, and no part of such an output is used.
"""

from __future__ import annotations

import base64
import binascii
import re

from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_protocol import SnapdError

# the whole output of one script: the largest snapd answer plus room for everything else a run reads
OUTPUT_BYTES = 24 * 1024 * 1024
# numbers from the device: ASCII digits only (str.isdigit() takes "²", int() refuses it), and short
_DECIMAL = re.compile(r"[0-9]{1,19}")

# one-line frames: VERB -> whether it carries a key (the value keyed by (VERB, KEY)) or is keyed by VERB alone
_VALUES = {"uid": False, "python": False, "no-snap": False, "stat": True, "text": True, "cut": True, "clock": False,
           "made": True, "failed": True}


class MalformedOutput(SnapdError):
    """The host's output broke the framing: forged, cut, or not from this script."""

    def __init__(self, reason):
        super().__init__("the host's output was malformed (%s): none of it was used; check the device (a local "
                         "user or a snap may be forging it), then run the task again" % reason)


def decimal(text, what):
    """An int from a device's number: ASCII decimal digits, at most 19 of them; MalformedOutput otherwise."""
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text):
        raise MalformedOutput("%s is not a decimal number: %r" % (what, (text or "")[:40]))
    return int(text)


def c_unquote(text):
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


class FileText(str):
    """A file's text, decoded from the base64 the device sent (as opposed to a one-word state such as ``absent``)."""


def decoded_text(lines, name):
    """The text of a base64 section, decoded as the Python reader decodes a file (UTF-8, surrogateescape)."""
    try:
        raw = base64.b64decode("".join(lines).encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise MalformedOutput("section %s is not base64" % name)
    return FileText(raw.decode("utf-8", "surrogateescape"))


class Output:
    """The frames of one script's output.

    ``values``: one-line frames, keyed by verb (``uid``) or ``(verb, key)`` (``("stat", "dev_shm")``);
    ``sections``: the lines between ``begin NAME`` and ``end NAME``; ``rc``: ``{section: exit status}``;
    ``stats`` and ``texts``: the stat and text frames by key, a text being a one-word state or a FileText.
    """

    def __init__(self, text, nonce):
        self.values = {}
        self.sections = {}
        self.rc = {}
        if len(text.encode("utf-8", "surrogateescape")) >= OUTPUT_BYTES:
            raise MalformedOutput("it reached the bound of %d bytes" % OUTPUT_BYTES)
        marker = nonce + " "
        split = text.split("\n")
        if any(line.startswith(marker) and line.endswith("\r") for line in split):
            # ssh -tt and paramiko's pty turn every newline into \r\n (onlcr): take exactly that \r off again
            split = [line[:-1] if line.endswith("\r") else line for line in split]
        current = None
        lines = []
        for line in split:
            if not line.startswith(marker):
                if current is not None:
                    lines.append(line)
                continue  # outside any section: a shell's or sudo's chatter, never read
            verb, dummy, rest = line[len(marker):].partition(" ")
            if verb == "begin":
                if current is not None:
                    raise MalformedOutput("section %s began inside section %s" % (rest, current))
                if not rest or rest in self.sections:
                    raise MalformedOutput("section %s came twice" % rest)
                current, lines = rest, []
            elif verb == "end":
                if rest != current:
                    raise MalformedOutput("end of section %s where %s was open" % (rest, current))
                if lines and lines[-1] == "":
                    del lines[-1]  # the newline `frame` starts with
                self.sections[current] = lines
                current = None
            elif verb == "rc" and current is not None:
                if current in self.rc:
                    raise MalformedOutput("two exit statuses in section %s" % current)
                self.rc[current] = decimal(rest, "an exit status")
            elif current is not None:
                raise MalformedOutput("a %s frame inside section %s" % (verb, current))
            elif verb in _VALUES:
                key, value = rest.partition(" ")[::2] if _VALUES[verb] else (None, rest)
                name = (verb, key) if _VALUES[verb] else verb
                if name in self.values:
                    raise MalformedOutput("the %s frame %s came twice" % (verb, key or ""))
                self.values[name] = value
            else:
                raise MalformedOutput("unknown frame %r" % verb[:40])
        if current is not None:
            raise MalformedOutput("section %s never ended (the script was cut off?)" % current)
        self.stats = dict((key, value) for (verb, key), value in self._keyed("stat"))
        self.texts = dict((key, value) for (verb, key), value in self._keyed("text"))
        for name, section in self.sections.items():
            if name.startswith("text "):
                if name[5:] in self.texts:
                    raise MalformedOutput("text %s came twice" % name[5:])
                self.texts[name[5:]] = decoded_text(section, name)

    def _keyed(self, verb):
        return [(name, value) for name, value in self.values.items() if isinstance(name, tuple) and name[0] == verb]

    def section(self, prefix):
        """The (name, lines) of the first section whose name starts with ``prefix``, or (None, None)."""
        for name, lines in self.sections.items():
            if name == prefix or name.startswith(prefix + " "):
                return name, lines
        return None, None
