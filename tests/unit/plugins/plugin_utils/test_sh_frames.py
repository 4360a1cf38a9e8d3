# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The strict reader of a snap debug api script's frames: what it takes, and the one line for what it refuses."""

from __future__ import annotations

import base64

import pytest

from ansible_collections.snapfleet.snapd.plugins.plugin_utils._sh_frames import (
    FileText,
    MalformedOutput,
    Output,
    decimal,
)

N = "0123abcd"


def framed(*lines):
    return "\n".join(N + " " + line if not line.startswith("|") else line[1:] for line in lines) + "\n"


def test_values_sections_exit_statuses_and_base64_texts_are_read():
    text = base64.b64encode("a\n\xe9 \\x".encode("utf-8") + b"\xff").decode()
    output = Output(framed("uid 0", "python /usr/bin/python3", "begin answer", '|{"type": "sync"}', "rc 0", "end answer",
                           "stat dev_shm 41ff 0 0", "text fstab:x absent", "begin text yaml:x", "|" + text,
                           "end text yaml:x", "made 3", "failed 4 1234", "clock 99 12"), N)
    assert output.values["uid"] == "0" and output.values["python"] == "/usr/bin/python3"
    assert output.sections["answer"] == ['{"type": "sync"}'] and output.rc == {"answer": 0}
    assert output.stats == {"dev_shm": "41ff 0 0"}
    assert output.texts["fstab:x"] == "absent" and not isinstance(output.texts["fstab:x"], FileText)
    assert output.texts["yaml:x"] == "a\n\xe9 \\x\udcff" and isinstance(output.texts["yaml:x"], FileText)
    assert output.values[("made", "3")] == "" and output.values[("failed", "4")] == "1234" and output.values["clock"] == "99 12"


def test_lines_outside_every_section_are_never_read():
    output = Output("sudo: chatter\n" + framed("uid 0") + "more chatter\n", N)
    assert output.values == {"uid": "0"} and output.sections == {}


def test_a_pty_s_carriage_returns_are_taken_off():
    output = Output(framed("uid 0", "begin answer", "|{}", "end answer").replace("\n", "\r\n"), N)
    assert output.values == {"uid": "0"} and output.sections == {"answer": ["{}"]}


MALFORMED = {
    "an unknown frame": (["uid 0", "listing x"], "unknown frame 'listing'"),
    "a section inside a section": (["begin a", "begin b", "end b", "end a"], "section b began inside section a"),
    "a section twice": (["begin a", "end a", "begin a", "end a"], "section a came twice"),
    "a section never ended": (["begin a", "|x"], "section a never ended"),
    "an end of another section": (["begin a", "end b"], "end of section b where a was open"),
    "a value twice": (["uid 0", "uid 1000"], "the uid frame  came twice"),
    "a keyed value twice": (["stat k absent", "stat k 41ff 0 0"], "the stat frame k came twice"),
    "a value inside a section": (["begin a", "uid 0", "end a"], "a uid frame inside section a"),
    "a text and a text section of one key": (["text k absent", "begin text k", "end text k"], "text k came twice"),
    "a text that is not base64": (["begin text k", "|not base64!", "end text k"], "section text k is not base64"),
    "an exit status that is not a number": (["begin a", "rc \u00b2", "end a"], "an exit status is not a decimal"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_broken_frame_is_one_line_saying_the_output_was_malformed(case):
    lines, reason = MALFORMED[case]
    with pytest.raises(MalformedOutput) as raised:
        Output(framed(*lines), N)
    message = str(raised.value)
    assert message.startswith("the host's output was malformed (") and reason in message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["\u00b2", "1\u00b2", "\u0661", "9" * 5000, "", "-1", " 1", "0x1"])
def test_numbers_are_ascii_decimal_and_short(text):
    with pytest.raises(MalformedOutput) as raised:
        decimal(text, "a pid")
    assert "a pid is not a decimal number" in str(raised.value) and "\n" not in str(raised.value)


def test_a_decimal_number_is_read():
    assert decimal("0", "a pid") == 0 and decimal("4194304", "a pid") == 4194304
