# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.

"""Which snapd version brought what, in one place, and how snapd's version strings compare.

The sources are in docs/snapd-shared-memory.md (sections 1.5, 1.7 and 7).
"""

from __future__ import annotations

import re

# the shared-memory interface
SHARED_MEMORY_SINCE = (2, 54, 0)
# private: true, with the implicit system slot it connects to
PRIVATE_SINCE = (2, 55, 3)
# slot rules written mrwlk instead of rwk: listed under 2.56.1 as well as 2.57, so 2.56.1-2.56.x may have either
EITHER_WRITE_FORM_SINCE = (2, 56, 1)
MRWLK_SINCE = (2, 57, 0)
# the private plug's rule covers /dev/shm/** instead of /dev/shm/*
PRIVATE_RECURSIVE_SINCE = (2, 60, 2)
# `snap debug api` (canonical/snapd#14116), the transport for hosts without Python
DEBUG_API_SINCE = (2, 64, 0)

_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_version(text):
    """Return snapd's version as a ``(major, minor, patch)`` tuple, or None if it has no leading number.

    ``2.61.3+24.04`` -> (2, 61, 3); ``2.64-106-gcec484a424`` -> (2, 64, 0).
    """
    match = _VERSION.match(text or "")
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


def before(text, since):
    """True when snapd version ``text`` is older than ``since``; an unparsable version counts as current."""
    version = parse_version(text)
    return version is not None and version < tuple(since)


def version_text(since):
    """``(2, 64, 0)`` as people write it: ``2.64``; ``(2, 55, 3)``: ``2.55.3``."""
    parts = list(since)
    while len(parts) > 2 and parts[-1] == 0:
        parts.pop()
    return ".".join(str(part) for part in parts)
