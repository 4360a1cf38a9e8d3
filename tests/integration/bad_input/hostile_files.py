# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Make the hostile files the shm_lint cases of corpus.yml name in their `file` key.

Usage: python hostile_files.py DIRECTORY -- prints {file: path} as JSON. The unit test imports make().
Files are made, not committed: a billion-laughs document in the tree would trip every YAML tool that reads it.
"""

from __future__ import annotations

import json
import os
import sys

MiB = 1024 * 1024
SLOT = "name: provider\nslots:\n  shmem:\n    interface: shared-memory\n"


def billion_laughs(levels=9):
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append("l%d: &l%d [%s]" % (level, level, ", ".join(["*l%d" % (level - 1)] * 9)))
    return "\n".join(lines) + "\n"


def long_path_aliases(length=200000, aliases=50):
    # small on disk, but every alias repeats a 200000-character path the rules would quote
    return "path: &p '%s'\n%s    write: [%s]\n" % ("x" * length, SLOT, ", ".join(["*p"] * aliases))


FILES = {
    "oversized.yaml": SLOT + "    write: [bar]\n" + "#" * MiB + "\n",
    "alias-bomb.yaml": billion_laughs(),
    "long-path-aliases.yaml": long_path_aliases(),
    "deep.yaml": "a: " + "[" * 100 + "]" * 100 + "\n",
    "not-utf8.yaml": (SLOT + "    write: [bar]\n").encode() + b"    read: [\xff\xfe]\n",
}


def make(directory):
    """Create the files under directory (which must exist) and return {name: path}, also for those left absent."""
    paths = {name: os.path.join(directory, name) for name in FILES}
    for name, content in FILES.items():
        with open(paths[name], "wb") as handle:
            handle.write(content if isinstance(content, bytes) else content.encode())
    special = {  # name: (file name, how to make it; None leaves it absent)
        "missing.yaml": ("missing.yaml", None),
        "fifo.yaml": ("fifo.yaml", os.mkfifo),
        "symlink-loop.yaml": ("symlink-loop.yaml", lambda path: os.symlink(path, path)),
        "empty-project": ("empty-project", os.mkdir),
        "snap-yaml-is-a-directory": ("snap-yaml-is-a-directory",
                                     lambda path: os.makedirs(os.path.join(path, "meta", "snap.yaml"))),
        "name-too-long.yaml": ("x" * 300 + ".yaml", None),  # NAME_MAX is 255
    }
    for name, (file_name, create) in special.items():
        paths[name] = os.path.join(directory, file_name)
        if create is not None:
            create(paths[name])
    return paths


if __name__ == "__main__":
    json.dump(make(sys.argv[1]), sys.stdout)
