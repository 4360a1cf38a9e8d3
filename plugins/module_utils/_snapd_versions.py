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
# one '*' glob in read/write paths, and empty read/write lists: 2.54.0-2.54.3 check paths with
# apparmor.ValidateNoAppArmorRegexp (which reserves '*') and refuse an empty list as "not a list of strings"
GLOBS_SINCE = (2, 54, 4)
# private: true, with the implicit system slot it connects to
PRIVATE_SINCE = (2, 55, 3)
# /dev/shm/snap.NAME made root 1777: 2.55.3-2.55.4's snap-update-ns drops the sticky bit (utils.go MkDir passes
# perm.Perm() of os.FileMode(01777)) and creates it under the umask of whoever runs it (0755 under snapd's 022)
PRIVATE_DIR_MODE_SINCE = (2, 55, 5)
# slot rules written mrwlk instead of rwk (commit aec8a32; the 2.56.1 tag already has it)
MRWLK_SINCE = (2, 56, 1)
# the private plug's rule covers /dev/shm/** instead of /dev/shm/*
PRIVATE_RECURSIVE_SINCE = (2, 60, 2)
# a connection stored without "private" (by 2.54.x) counts as not private; 2.55.3-2.60.2 panic on it ("plug is not
# sanitized") whenever they regenerate its profiles (commit 051b144, snapd #13107)
PRIVATE_UNSET_TOLERATED_SINCE = (2, 60, 3)
# `snap debug api` (canonical/snapd#14116), the transport for hosts without Python
DEBUG_API_SINCE = (2, 64, 0)

# the versions shm_connection's plan and in-use guard ask about (_shm_plan, _proc_scan): a transport that proves a
# newer snapd (snap debug api) needs no system-info read for them
CONNECTION_GATES = (SHARED_MEMORY_SINCE, PRIVATE_SINCE)

# ASCII digits only, at most 9 a part (a device's answer may hold any digits, and any number of them)
_VERSION = re.compile(r"^([0-9]{1,9})(?![0-9])(?:\.([0-9]{1,9})(?![0-9]))?(?:\.([0-9]{1,9})(?![0-9]))?")


def parse_version(text):
    """Return snapd's version as a ``(major, minor, patch)`` tuple, or None if it has no leading number (of
    ASCII digits, at most 9 a part).

    ``2.61.3+24.04`` -> (2, 61, 3); ``2.64-106-gcec484a424`` -> (2, 64, 0).
    """
    match = _VERSION.match(text) if isinstance(text, str) else None
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
