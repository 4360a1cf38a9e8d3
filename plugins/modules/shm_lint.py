#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) snapfleet maintainers
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: shm_lint
short_description: Check shared-memory plugs and slots of a snap.yaml or snapcraft.yaml against snapd's rules
version_added: 0.1.0
description:
  - Applies every rule snapd applies to C(shared-memory) plugs and slots, and reports each broken rule
    with snapd's own message. snapd installs such a snap anyway but silently drops the bad plug or slot,
    leaving the reason only in C(snap warnings); this module catches it before the snap ships.
  - Also reports, as warnings, what the interface documentation asks for but snapd does not enforce,
    such as a path listed in both C(read) and C(write), or a lone C(*) or C(.) path.
  - "Understands the shorthand forms C(plugs: [shared-memory]) or C(slots: [shared-memory]) in an app or hook,
    C(plug-name: shared-memory), a plug or slot named after its interface, and explicit C(interface: shared-memory)
    entries."
  - >-
    Reads the YAML the way snapd does (go-yaml v2, YAML 1.1), not the way Python's YAML libraries do, so that
    C(private: y) is a bool, C(write: [y]) is the list C([true]), C(write: [12:30]) a list of one string and
    C(shared-memory: 0o17) the number 15, as snapd sees them. A C(snapcraft.yaml) is read the same way, as if it
    were the C(snap.yaml) snapcraft writes from it.
  - Also reports what makes snapd refuse the whole snap, for plugs and slots of any interface, in snapd's words,
    a plug or slot it cannot read, an invalid plug, slot or interface name, and a plug and a slot with the same
    name.
  - "Runs on a target or on the controller (C(delegate_to: localhost)); it only reads."
  - The finding codes are listed in the RV(findings) return value and in C(docs/findings.md).
author:
  - snapfleet maintainers (@snapfleet)
requirements:
  - "PyYAML on the host that runs the module. The Ansible controller always has it; on a target without
    C(python3-yaml) run the task with C(delegate_to: localhost)."
options:
  path:
    description:
      - A C(snap.yaml) or C(snapcraft.yaml) file, or a directory holding C(meta/snap.yaml),
        C(snap/snapcraft.yaml), C(snapcraft.yaml) or C(.snapcraft.yaml) (the first one found, in that order).
      - Symbolic links are refused, not followed, see the notes.
      - Mutually exclusive with O(content).
    type: path
  content:
    description:
      - The YAML text itself. Mutually exclusive with O(path).
    type: str
  snapd_version:
    description:
      - Apply the rules of this snapd release, such as V(2.54.3), instead of the newest snapd's.
      - "Before 2.54.4 snapd refuses any C(*) in a path and an empty C(read) or C(write) list; before 2.55.3 it
        ignores C(private)."
    type: str
  fail_on:
    description:
      - Fail the task when a finding of this severity or worse is found. The findings are returned
        either way.
      - V(error) fails on what snapd would drop, V(warning) also on the unenforced rules,
        V(never) only fails when the input cannot be read or parsed.
    type: str
    choices: [error, warning, never]
    default: error
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
notes:
  - Input is limited to 1 MiB, also after YAML alias expansion, to 64 levels of nesting and to 200000 nodes after
    alias expansion; larger or self-referencing input, and a path that is not a regular file (a FIFO, a device),
    is refused with a clear message rather than read or parsed.
  - The file is never read through a symbolic link, since a project under review can link its C(snapcraft.yaml) to
    any file of the host, a key or a token among them. A O(path) naming a link, or a directory whose candidate file
    or C(snap)/C(meta) folder is a link, is refused.
  - A finding repeats at most 64 characters of any one value, name or path from the file, marked as cut, so that
    not even a file that parses as one long string comes back whole in the result or the job log.
  - Messages are snapd's own, as snapd 2.54 to 2.77 word them.
seealso:
  - module: snapfleet.snapd.shm_verify
"""

EXAMPLES = r"""
- name: Lint the snap being built, on the controller
  snapfleet.snapd.shm_lint:
    path: "{{ playbook_dir }}/../my-snap"
  delegate_to: localhost

- name: Lint inline content and keep going whatever it finds
  snapfleet.snapd.shm_lint:
    content: |
      name: provider
      slots:
        shmem:
          interface: shared-memory
          write: [bar]
    fail_on: never
  register: lint

- name: Show what snapd would drop
  ansible.builtin.debug:
    msg: "{{ lint.findings | selectattr('severity', 'equalto', 'error') | map(attribute='message') | list }}"

- name: Treat the unenforced rules as failures too
  snapfleet.snapd.shm_lint:
    path: /snap/provider/current/meta/snap.yaml
    fail_on: warning
"""

RETURN = r"""
valid:
  description: True when no finding has severity V(error), that is, snapd would keep every shared-memory plug and slot.
  returned: success
  type: bool
  sample: false
source:
  description: The file that was read, or V(content) for inline input.
  returned: always
  type: str
  sample: /home/dev/my-snap/snap/snapcraft.yaml
summary:
  description: Number of findings per severity.
  returned: success
  type: dict
  sample: {"error": 1, "warning": 0, "info": 0}
findings:
  description:
    - One entry per broken rule, in snapd's order of checks.
    - "Codes: V(declaration-malformed), V(name-invalid), V(interface-name-invalid), V(plug-slot-same-name),
      V(identifier-not-string), V(private-not-bool), V(private-with-identifier),
      V(private-with-other-plugs), V(private-with-slots), V(paths-not-string-list), V(paths-missing), V(path-empty),
      V(path-spaces), V(path-reserved-char), V(path-double-star), V(path-slash), V(path-not-clean) (errors);
      V(path-duplicate), V(path-too-broad), V(plug-paths-ignored), V(slot-private-ignored) (warnings).
      C(docs/findings.md) explains each one."
  returned: success
  type: list
  elements: dict
  contains:
    code:
      description: Stable kebab-case code of the rule.
      type: str
      sample: path-slash
    severity:
      description: V(error) where snapd drops the plug or slot, V(warning) for unenforced rules.
      type: str
      sample: error
    subject:
      description: The plug or slot, as C(plug SNAP:NAME) or C(slot SNAP:NAME), or the snap, as C(snap SNAP).
      type: str
      sample: slot provider:shmem
    message:
      description: snapd's own message for errors; for warnings, what is wrong and why.
      type: str
      sample: "shared-memory interface path should not contain '/': \"/dev/shm/bar\""
    evidence:
      description: The offending attribute and value.
      type: dict
      sample: {"snap": "provider", "slot": "shmem", "attribute": "write", "path": "/dev/shm/bar"}
"""

import errno
import os
import stat

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.snapfleet.snapd.plugins.module_utils._shm_findings import ERROR, WARNING, summarize
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_quoting import go_quote
from ansible_collections.snapfleet.snapd.plugins.module_utils._declaration_rules import lint_snap
from ansible_collections.snapfleet.snapd.plugins.module_utils._snap_yaml import (
    HAS_YAML,
    MAX_YAML_BYTES,
    YAML_IMPORT_ERROR,
    SnapYamlError,
    load_snap_yaml,
)
from ansible_collections.snapfleet.snapd.plugins.module_utils._snapd_versions import SHARED_MEMORY_SINCE, before, parse_version

# snapcraft's own lookup order for a project, after the built snap's meta/snap.yaml
CANDIDATES = ("meta/snap.yaml", "snap/snapcraft.yaml", "snapcraft.yaml", ".snapcraft.yaml")
FAILING = {"error": (ERROR,), "warning": (ERROR, WARNING), "never": ()}


_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _refuse_link(path):
    return SnapYamlError("refusing %s: it is a symbolic link, which shm_lint never follows (a project's link can point "
                         "at any file of the host, a secret too); give the path of the file it points to if you trust it"
                         % path)


def _open_below(directory_fd, directory, candidate):
    """An fd on the regular file `candidate` below a directory, None when there is none; no link is followed."""
    parts = candidate.split("/")
    fds = []
    try:
        current = directory_fd
        for index, part in enumerate(parts):
            path = os.path.join(directory, *parts[:index + 1])
            try:
                if stat.S_ISLNK(os.stat(part, dir_fd=current, follow_symlinks=False).st_mode):
                    raise _refuse_link(path)
                last = index == len(parts) - 1
                fd = os.open(part, _FILE_FLAGS if last else _DIRECTORY_FLAGS, dir_fd=current)
            except OSError as error:
                if error.errno in (errno.ENOENT, errno.ENOTDIR):
                    return None
                if error.errno == errno.ELOOP:
                    raise _refuse_link(path)  # swapped for a link after the lstat
                raise SnapYamlError("cannot read %s: %s" % (path, error.strerror))
            if last and not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                return None
            fds.append(fd)
            current = fd
        return fds.pop()
    finally:
        for fd in fds:
            os.close(fd)


def open_source(path):
    """(the file to lint, an fd open on it) for a path that is a file or a snap/project directory.

    The path is taken as given, but nothing is read through a symbolic link: not the file it names, and no
    component below a directory, so a project's snap/snapcraft.yaml -> ~/.ssh/id_ed25519 is refused, not read.
    """
    if not os.path.isdir(path):
        try:
            return path, os.open(path, _FILE_FLAGS)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise _refuse_link(path)
            raise SnapYamlError("cannot read %s: %s" % (path, error.strerror or error))
    try:
        directory_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise SnapYamlError("cannot read %s: %s" % (path, error.strerror or error))
    try:
        for candidate in CANDIDATES:
            fd = _open_below(directory_fd, path, candidate)
            if fd is not None:
                return os.path.join(path, candidate), fd
    finally:
        os.close(directory_fd)
    raise SnapYamlError("%s holds none of %s" % (path, ", ".join(CANDIDATES)))


def read_bounded(fd, path):
    """The bytes of the regular file open on fd (closed here), refusing more than the YAML size limit.

    Opened without blocking and checked first: reading a FIFO would wait for a writer, a device may never end.
    """
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SnapYamlError("refusing %s: not a regular file" % path)
        try:
            raw = handle.read(MAX_YAML_BYTES + 1)
        except (IOError, OSError) as error:
            raise SnapYamlError("cannot read %s: %s" % (path, error.strerror or error))
    if len(raw) > MAX_YAML_BYTES:
        raise SnapYamlError("refusing %s: larger than %d bytes" % (path, MAX_YAML_BYTES))
    return raw


def one_line(message, limit=300):
    """A finding's message for the task's msg: control characters escaped as Go does, cut after limit characters."""
    text = "".join(char if char.isprintable() else go_quote(char)[1:-1] for char in message)
    return text if len(text) <= limit else text[:limit] + "..."


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path"),
            content=dict(type="str"),
            fail_on=dict(type="str", choices=["error", "warning", "never"], default="error"),
            snapd_version=dict(type="str"),
        ),
        mutually_exclusive=[("path", "content")],
        required_one_of=[("path", "content")],
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML", reason="to parse snap.yaml; or run the task with "
                                                  "delegate_to: localhost"), exception=YAML_IMPORT_ERROR)
    path = module.params["path"]
    if path is not None and (not path or "\x00" in path):
        module.fail_json(msg="path %r is not a file name: give a snap.yaml or snapcraft.yaml, or a directory "
                             "holding one" % path, source=path)
    source = path if path is not None else "content"
    snapd_version = module.params["snapd_version"]
    if snapd_version is not None and (parse_version(snapd_version) is None or before(snapd_version, SHARED_MEMORY_SINCE)):
        module.fail_json(msg="snapd_version %r is not a snapd release with the shared-memory interface: give one such "
                             "as 2.54.3 or 2.68 (2.54 or later)" % snapd_version, source=source)
    try:
        if path is not None:
            source, fd = open_source(path)
            document = load_snap_yaml(read_bounded(fd, source))
        else:
            document = load_snap_yaml(module.params["content"])
    except SnapYamlError as error:
        module.fail_json(msg="cannot lint %s: %s" % (source, error), source=source)
    findings = lint_snap(document, snapd_version=snapd_version)
    summary = summarize(findings)
    result = dict(changed=False, source=source, findings=findings, summary=summary, valid=summary[ERROR] == 0)
    failing = [item for item in findings if item["severity"] in FAILING[module.params["fail_on"]]]
    if failing:
        module.fail_json(msg="%d shared-memory declaration finding(s) at or above %s; first: %s"
                         % (len(failing), module.params["fail_on"], one_line(failing[0]["message"])), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
