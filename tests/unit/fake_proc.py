# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A fake /proc under a tmp_path root, holding just what _shm_users reads of a process."""

from __future__ import annotations

import os


def add_process(root, pid, label=None, cgroup=None, fds=(), maps=()):
    """Write proc/PID under root: attr/current (label), cgroup, fd/N links to `fds` targets, maps lines for `maps`.

    A None label or cgroup leaves that file out, as when it cannot be read.
    """
    process = os.path.join(str(root), "proc", str(pid))
    os.makedirs(os.path.join(process, "attr"), exist_ok=True)
    os.makedirs(os.path.join(process, "fd"), exist_ok=True)
    if label is not None:
        with open(os.path.join(process, "attr", "current"), "w") as handle:
            handle.write(label + "\n")
    if cgroup is not None:
        with open(os.path.join(process, "cgroup"), "w") as handle:
            handle.write(cgroup)
    for number, target in enumerate(fds):
        os.symlink(target, os.path.join(process, "fd", str(number)))
    with open(os.path.join(process, "maps"), "w") as handle:
        for index, path in enumerate(maps):
            handle.write("7f00%08x-7f01%08x rw-s 00000000 00:1a %d                        %s\n" % (index, index, 100 + index, path))
    return process
