"""AWX's side of a job, done the way AWX does it, for ansible-runner tests without an AWX.

What AWX does and where (ansible/awx, awx/main): a project update copies the project and installs its
collections/requirements.yml (tasks/jobs.py, RunProjectUpdate); an inventory update imports the source with
ansible-inventory; each job gets a private data dir with the project, the inventory written as an executable
script printing JSON (tasks/jobs.py, write_inventory_file; for a slice only its hosts: models/inventory.py,
get_sliced_hosts, the hosts ordered by name, every slice_count-th from slice_number - 1), survey answers and
AWX's own variables as extra variables in env/extravars (YAML, every string `!unsafe`), and, with fact storage
on, a jsonfile fact cache that AWX fills from its
database before the job and reads back after it (tasks/facts.py: files named after the host, read back when
changed during the job). The set_stats data of a job are its artifacts; a workflow passes the artifacts of a
node's parents (for a sliced job, of every slice, merged key by key in the order the slices finished:
models/workflow.py, get_effective_artifacts) to the node as extra variables.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import yaml

from tests.system.conftest import ansible_bin, ansible_env


class _UnsafeStrings(yaml.SafeDumper):
    """awx/main/utils/safe_yaml.py, safe_dump: every string of the extra variables a job did not get from its
    template (survey answers, artifacts of earlier jobs) is written `!unsafe`, so Ansible never templates it."""


_UnsafeStrings.add_representer(str, lambda dumper, text: dumper.represent_scalar("!unsafe", text))


def extravars_file(variables) -> str:
    return yaml.dump(variables, Dumper=_UnsafeStrings, default_flow_style=False)


class Project:
    """A project as AWX syncs it, with its collections installed as a project update installs them; its
    collections/requirements.yml is pointed at the built tarball, as a user points it at their source."""

    def __init__(self, source: Path, workdir: Path, tarball: Path, hosts: dict):
        self.path = workdir / "project"
        shutil.copytree(source, self.path, symlinks=False)
        (self.path / "collections" / "requirements.yml").write_text(
            yaml.safe_dump({"collections": [{"name": str(tarball), "type": "file"}]}))
        # the user's devices in place of the example ones
        (self.path / "inventory" / "hosts").write_text(yaml.safe_dump(hosts, sort_keys=False))
        self.collections = workdir / "requirements_collections"
        subprocess.run([ansible_bin("ansible-galaxy"), "collection", "install", "-r",
                        str(self.path / "collections" / "requirements.yml"), "-p", str(self.collections)],
                       check=True, capture_output=True, text=True, timeout=300)

    # awx/main/utils/ansible.py: what AWX offers as a job template's playbook and as an inventory file
    _PLAYBOOK_LINE = re.compile(r"^\s*?-?\s*?(?:hosts|(ansible\.builtin\.)?include|(ansible\.builtin\.)?import_playbook):\s*?.*?$")
    _SKIPPED = ("roles", "tasks", "group_vars", "host_vars")

    def _files(self):
        for directory, dummy, names in os.walk(self.path):
            parts = Path(directory).relative_to(self.path).parts
            if not any(part in self._SKIPPED or part.startswith(".") for part in parts):
                yield from (Path(directory) / name for name in names)

    def playbooks(self):
        """The playbooks AWX lists for the project: .yml/.yaml files with a line naming hosts or an import."""
        return sorted(str(path.relative_to(self.path)) for path in self._files() if path.suffix in (".yml", ".yaml")
                      and any(self._PLAYBOOK_LINE.match(line) for line in path.read_text().splitlines()))

    def inventory_files(self):
        """The files AWX offers as a project-sourced inventory (by name: inventory, hosts, .ini, executables)."""
        return sorted(str(path.relative_to(self.path)) for path in self._files()
                      if path.name in ("inventory", "hosts") or path.suffix == ".ini" or os.access(path, os.X_OK))

    def survey_answers(self, name):
        """The default answer of every question of surveys/NAME.json, as AWX passes answers: strings."""
        spec = json.loads((self.path / "surveys" / (name + ".json")).read_text())
        return {question["variable"]: str(question["default"]) for question in spec["spec"]}


class Inventory:
    """An inventory imported from sources (ansible-inventory --list --export, as an inventory update does),
    written for a job as AWX writes it."""

    def __init__(self, *sources: Path):
        command = [ansible_bin("ansible-inventory"), "--list", "--export"]
        for source in sources:
            command += ["-i", str(source)]
        done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=120, env=ansible_env())
        self.data = json.loads(done.stdout)

    def hosts(self):
        return sorted(self.data["_meta"]["hostvars"])

    def slice_hosts(self, number=1, count=1):
        hosts = self.hosts()
        return hosts[number - 1::count] if count > 1 else hosts

    def script_data(self, number=1, count=1):
        """The JSON of the inventory script of slice NUMBER of COUNT: every group with its variables and children,
        only the slice's hosts."""
        kept = set(self.slice_hosts(number, count))
        data = {"_meta": {"hostvars": {name: dict(variables) for name, variables in self.data["_meta"]["hostvars"].items()
                                       if name in kept}}}
        for group, content in self.data.items():
            if group == "_meta":
                continue
            entry = {key: value for key, value in content.items() if key in ("vars", "children")}
            hosts = [name for name in content.get("hosts", []) if name in kept]
            if hosts:
                entry["hosts"] = hosts
            data[group] = entry
        return data

    def write(self, directory: Path, number=1, count=1) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        script = directory / "hosts"
        script.write_text("#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n"
                          % json.dumps(self.script_data(number, count)))
        script.chmod(0o700)
        return script


class Job:
    def __init__(self, ident, runner, hosts, started, finished):
        self.id, self.runner, self.hosts = ident, runner, hosts
        self.started, self.finished = started, finished  # time.time()
        self.status, self.rc = runner.status, runner.rc
        self.artifacts = next((event["event_data"].get("artifact_data") or {} for event in runner.events
                               if event["event"] == "playbook_on_stats"), {})

    def results(self, action):
        """Per host, the result of each task of this action (FQCN) that ran and did not fail."""
        return {event["event_data"]["host"]: event["event_data"]["res"] for event in self.runner.events
                if event["event"] == "runner_on_ok" and event["event_data"].get("resolved_action") == action}

    def output(self, chars=4000):
        return self.runner.stdout.read()[-chars:]


class Awx:
    """Runs jobs of one project as AWX would, keeping AWX's host facts (its database) between them."""

    def __init__(self, project: Project, inventory: Inventory, workdir: Path, credential_env=None):
        """credential_env: the environment variables a credential of every job template injects (AWX's custom
        credential types inject env variables into the job's environment)."""
        self.project, self.inventory, self.workdir = project, inventory, workdir
        self.credential_env = dict(credential_env or {})
        self.facts = {}  # host -> facts, as AWX stores them with fact storage on
        self._next_id = 100
        self._lock = threading.Lock()

    def new_id(self):
        with self._lock:
            self._next_id += 1
            return self._next_id

    def _envvars(self):
        env = ansible_env(self.project.collections, PATH=str(Path(ansible_bin("ansible-playbook")).parent) + ":"
                          + os.environ["PATH"])
        return dict({key: env[key] for key in ("ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_HOST_KEY_CHECKING",
                                               "ANSIBLE_PIPELINING", "ANSIBLE_NOCOLOR", "PATH")}, **self.credential_env)

    def _start_fact_cache(self, hosts, cache: Path):
        cache.mkdir(parents=True, exist_ok=True)
        for host in hosts:
            if host in self.facts:
                (cache / host).write_text(json.dumps(self.facts[host]))
        return time.time()

    def _finish_fact_cache(self, hosts, cache: Path, written):
        for host in hosts:
            path = cache / host
            if path.exists() and path.stat().st_mtime >= written:
                with self._lock:
                    self.facts[host] = json.loads(path.read_text())

    def job(self, playbook, extravars, check=False, slice_of=(1, 1), workflow=None, fact_storage=True,
            shared_cache=None):
        """One job: its private data dir, its slice of the inventory, AWX's variables, and AWX's fact storage
        or, with shared_cache, a jsonfile fact cache in that folder instead (not something AWX does)."""
        ident = self.new_id()
        private = self.workdir / ("job-%d" % ident)
        shutil.copytree(self.project.path, private / "project")
        hosts = self.inventory.slice_hosts(*slice_of)
        script = self.inventory.write(private / "inventory", *slice_of)
        cache = private / "artifacts" / str(ident) / "fact_cache"
        written = self._start_fact_cache(hosts, cache) if fact_storage and not shared_cache else None
        awx_vars = {"awx_job_id": ident, "awx_job_launch_type": "workflow" if workflow else "manual",
                    "awx_job_template_name": playbook}
        if workflow:
            awx_vars.update(awx_workflow_job_id=workflow, awx_workflow_job_name="shared memory, sliced")
        import ansible_runner

        started = time.time()
        envvars = self._envvars()
        if shared_cache:
            fact_storage = False
            envvars.update(ANSIBLE_CACHE_PLUGIN="jsonfile", ANSIBLE_CACHE_PLUGIN_CONNECTION=str(shared_cache))
        (private / "env").mkdir()
        (private / "env" / "extravars").write_text(extravars_file(dict(extravars, **awx_vars)))
        runner = ansible_runner.run(
            private_data_dir=str(private), ident=str(ident), project_dir=str(private / "project"), playbook=playbook,
            inventory=str(script), cmdline="--check" if check else None, quiet=True, envvars=envvars,
            fact_cache_type="jsonfile" if fact_storage else "")
        finished = time.time()
        if written is not None:
            self._finish_fact_cache(hosts, cache, written)
        return Job(ident, runner, hosts, started, finished)

    def sliced(self, playbook, extravars, count):
        """A sliced job: COUNT jobs over the slices of the inventory, run at once, in a workflow of their own.
        Returns the jobs and their artifacts merged as AWX passes them to the next node of a workflow."""
        workflow = self.new_id()
        jobs = [None] * count

        def run(number):
            jobs[number - 1] = self.job(playbook, extravars, slice_of=(number, count), workflow=workflow)

        threads = [threading.Thread(target=run, args=(number,)) for number in range(1, count + 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        merged = {}
        for job in sorted(jobs, key=lambda job: (job.finished, job.id)):
            merged.update(job.artifacts)
        return jobs, merged


def shared_fact_cache(jobs, destination: Path) -> Path:
    """What one persistent jsonfile fact cache shared by the jobs would hold after them (a fact_caching_connection
    every job writes to): every file ansible-playbook wrote into each job's cache during the job."""
    destination.mkdir(parents=True, exist_ok=True)
    for job in jobs:
        cache = Path(job.runner.config.private_data_dir) / "artifacts" / str(job.id) / "fact_cache"
        for path in cache.iterdir():
            if path.stat().st_mtime >= job.started:
                shutil.copy2(path, destination / path.name)
    return destination
