# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading the shm_report HTML page back: its host rows, finding codes and text (tests/report and the lab's
fleet test, which feeds it the DOM headless Chromium rendered)."""

from __future__ import annotations

from html.parser import HTMLParser


class Page(HTMLParser):
    """The host rows, finding codes, text and any reference to an outside resource of an HTML page."""

    def __init__(self, html):
        super().__init__()
        self.rows, self.codes, self.text, self.external, self.tags = {}, [], [], [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "tr" and "data-host" in attrs:
            self.rows[attrs["data-host"]] = attrs["data-status"]
        if tag == "tr" and "data-code" in attrs:
            self.codes.append(attrs["data-code"])
        for name in ("src", "href"):
            if attrs.get(name) and not attrs[name].startswith("#"):
                self.external.append(attrs[name])

    def handle_data(self, data):
        self.text.append(data)
