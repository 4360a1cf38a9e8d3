# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The action group ``snapfleet.snapd.shm`` with ``module_defaults``, as meta/runtime.yml documents it.

The playbook test runs ansible-playbook on localhost against the FAKE snapd of tests/unit/fake_snapd.py:
the group's ``socket`` default is the only way the task can find that fake socket.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import yaml

from ansible_collections.snapfleet.snapd.plugins.doc_fragments._snapd import ModuleDocFragment
from ansible_collections.snapfleet.snapd.plugins.modules import shm_connection, shm_info, shm_lint, shm_verify

MODULES = {"shm_connection": shm_connection, "shm_info": shm_info, "shm_lint": shm_lint, "shm_verify": shm_verify}
COLLECTION = os.path.dirname(os.path.dirname(os.path.dirname(shm_info.__file__)))
# the options meta/runtime.yml's comment names as the group's defaults
GROUP_OPTIONS = {"transport", "socket", "timeout"}


def runtime():
    with open(os.path.join(COLLECTION, "meta", "runtime.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def documented_options(name):
    """The module's options, with those of the collection's doc fragments it extends."""
    doc = yaml.safe_load(MODULES[name].DOCUMENTATION)
    options = set(doc.get("options") or {})
    for fragment in doc.get("extends_documentation_fragment") or []:
        assert fragment.startswith("snapfleet.snapd._snapd"), fragment
        attribute = fragment.rpartition(".")[2].upper() if fragment.count(".") == 3 else "DOCUMENTATION"
        options |= set(yaml.safe_load(getattr(ModuleDocFragment, attribute)).get("options") or {})
    return options


def test_every_group_member_takes_the_group_defaults():
    members = runtime()["action_groups"]["shm"]
    missing = {name: sorted(GROUP_OPTIONS - documented_options(name)) for name in members}
    assert members and {name: gone for name, gone in missing.items() if gone} == {}


def test_shm_lint_is_not_in_the_group_since_it_takes_none_of_its_options():
    assert "shm_lint" not in runtime()["action_groups"]["shm"]
    assert documented_options("shm_lint") & GROUP_OPTIONS == set()


def _collections_path():
    # .../ansible_collections/snapfleet/snapd as imported (a symlink from a plain checkout)
    return os.path.dirname(os.path.dirname(os.path.dirname(COLLECTION)))


def test_module_defaults_on_the_group_reach_shm_info_and_leave_shm_lint_alone(snapd, tmp_path):
    snapd.add_slot("provider", "shmem", {"shared-memory": "foo", "write": ["bar"]})
    snapd.add_plug("consumer", "shmem", {"shared-memory": "foo"})
    snapd.add_connection("consumer:shmem", "provider:shmem")
    playbook = tmp_path / "group.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - name: The group's defaults apply to its members only
          hosts: localhost
          gather_facts: false
          module_defaults:
            group/snapfleet.snapd.shm:
              transport: python
              socket: {snapd.socket_path}
              timeout: 5
          tasks:
            - name: Read snapd through the socket the group names
              snapfleet.snapd.shm_info:
              register: info
            - name: Lint a snap.yaml; the group's options must not reach it
              snapfleet.snapd.shm_lint:
                content: "name: inline\\nslots: {{shmem: {{interface: shared-memory, write: [inline]}}}}\\n"
              register: lint
            - name: Write both results for the test
              ansible.builtin.copy:
                dest: {tmp_path}/results.json
                mode: "0600"
                content: "{{{{ {{'connections': info.connections | map(attribute='plug') | list,
                          'version': info.version, 'lint_failed': lint.failed, 'findings': lint.findings}} | to_json }}}}"
        """))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_path(), ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1")
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from ansible.cli.playbook import main; main(['ansible-playbook'] + sys.argv[1:])",
         "-i", "localhost,", "-c", "local", str(playbook)],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    shown = json.loads((tmp_path / "results.json").read_text())
    assert shown == {"connections": ["consumer:shmem"], "version": "2.63", "lint_failed": False, "findings": []}
    assert [path for _method, path, _query, _body in snapd.requests][:1] == ["/v2/system-info"]
