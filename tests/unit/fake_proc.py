# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A fake /proc under a tmp_path root, holding just what _proc_scan reads of a process and its threads."""

from __future__ import annotations

import os


def _write_objects(directory, fds, maps):
    """fd/N links to the `fds` targets and maps lines for the `maps` paths, in one /proc/PID or /proc/PID/task/TID."""
    os.makedirs(os.path.join(directory, "fd"), exist_ok=True)
    for number, target in enumerate(fds):
        os.symlink(target, os.path.join(directory, "fd", str(number)))
    with open(os.path.join(directory, "maps"), "w") as handle:
        for index, path in enumerate(maps):
            handle.write("7f00%08x-7f01%08x rw-s 00000000 00:1a %d                        %s\n" % (index, index, 100 + index, path))


def add_process(root, pid, label=None, cgroup=None, fds=(), maps=(), threads=None, leader_exited=False):
    """Write proc/PID under root as the kernel shows it: attr/current (label), cgroup, fd and maps, and task/TID.

    A None label or cgroup leaves that file out, as when it cannot be read. The main thread (task/PID) holds
    `fds` and `maps`; `threads` maps more thread ids to (fds, maps) of their own. With leader_exited, the main
    thread has exited while the others live on: /proc/PID/fd and /proc/PID/maps, like task/PID, show nothing.
    """
    process = os.path.join(str(root), "proc", str(pid))
    os.makedirs(os.path.join(process, "attr"), exist_ok=True)
    if label is not None:
        with open(os.path.join(process, "attr", "current"), "w") as handle:
            handle.write(label + "\n")
    if cgroup is not None:
        with open(os.path.join(process, "cgroup"), "w") as handle:
            handle.write(cgroup)
    leader = ((), ()) if leader_exited else (fds, maps)
    _write_objects(process, *leader)
    _write_objects(os.path.join(process, "task", str(pid)), *leader)
    for tid, objects in sorted((threads or {}).items()):
        _write_objects(os.path.join(process, "task", str(tid)), *objects)
    return process
