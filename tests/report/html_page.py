# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The shm_report HTML page as a browser shows it: headless Chromium renders it (its DOM, and a screenshot),
and Page reads the DOM back (host rows, finding codes, connection rows, the gate, the text). Used by
tests/report and by the lab's fleet tests."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path


class Page(HTMLParser):
    """The host rows, finding codes, connection rows per host, the gate, the text and any reference to an
    outside resource of an HTML page."""

    def __init__(self, html):
        super().__init__()
        self.rows, self.codes, self.text, self.external, self.tags = {}, [], [], [], []
        self.connections = {}  # host -> [(status, [cell texts])]
        self.gate = None  # (data-passed, text)
        self._section = self._row = self._gate_text = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "tr" and "data-host" in attrs:
            self.rows[attrs["data-host"]] = attrs["data-status"]
        if tag == "tr" and "data-code" in attrs:
            self.codes.append(attrs["data-code"])
        if tag == "section" and "data-host" in attrs:
            self._section = attrs["data-host"]
        if tag == "tr" and "connection" in (attrs.get("class") or "").split():
            self._row = (attrs["data-status"], [])
            self.connections.setdefault(self._section, []).append(self._row)
        if tag == "td" and self._row is not None:
            self._row[1].append("")
        if tag == "td" and attrs.get("id") == "gate":
            self._gate_text = [attrs.get("data-passed")]
        for name in ("src", "href"):
            if attrs.get(name) and not attrs[name].startswith("#"):
                self.external.append(attrs[name])

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None
        if tag == "td" and self._gate_text is not None:
            self.gate = (self._gate_text[0], "".join(self._gate_text[1:]))
            self._gate_text = None

    def handle_data(self, data):
        self.text.append(data)
        if self._row is not None and self._row[1]:
            self._row[1][-1] += data
        if self._gate_text is not None:
            self._gate_text.append(data)


def _chromium(html_file: Path, *args, timeout=120):
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: `make bootstrap` installs Debian's chromium package"
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--user-data-dir=" + str(html_file.parent / ".chromium"), *args, html_file.as_uri()],
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def rendered_dom(html_file: Path) -> str:
    """The page's DOM after headless Chromium loaded and rendered it (Debian's chromium package)."""
    dom = _chromium(html_file, "--dump-dom")
    assert "<html" in dom, dom[-2000:]
    return dom


def screenshot(html_file: Path, png: Path, width=1280, height=1600) -> Path:
    """A PNG of the page as headless Chromium draws it; fails unless one was written."""
    png.parent.mkdir(parents=True, exist_ok=True)
    _chromium(html_file, "--hide-scrollbars", "--window-size=%d,%d" % (width, height), "--screenshot=" + str(png))
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "no PNG screenshot at %s" % png
    return png
