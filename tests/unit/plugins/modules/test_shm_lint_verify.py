# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""shm_lint and shm_verify as Ansible runs them: arguments in, one JSON result out."""

from __future__ import annotations

import os
import signal

import pytest

from fake_proc import add_process
from module_run import run_module
from ansible_collections.snapfleet.snapd.plugins.module_utils import _shm_local
from ansible_collections.snapfleet.snapd.plugins.modules import shm_lint, shm_verify

BAD_SLOT = "name: provider\nslots:\n  shmem:\n    interface: shared-memory\n    write: [/dev/shm/bar]\n"
WARN_SLOT = "name: provider\nslots:\n  shmem:\n    interface: shared-memory\n    write: ['*']\n"


def run(capsys, module, **args):
    args.setdefault("_ansible_check_mode", True)
    return run_module(capsys, module, **args)


def test_lint_fails_on_error_by_default_and_still_returns_findings(capsys):
    result = run(capsys, shm_lint, content=BAD_SLOT)
    assert result["failed"] is True and result["valid"] is False
    assert [f["code"] for f in result["findings"]] == ["path-slash"]
    assert result["msg"].endswith("shared-memory interface path should not contain '/': \"/dev/shm/bar\"")


def test_lint_fail_on_never_reports_without_failing(capsys):
    result = run(capsys, shm_lint, content=BAD_SLOT, fail_on="never")
    assert result["rc"] == 0 and result["changed"] is False and result["valid"] is False
    assert result["summary"] == {"error": 1, "warning": 0, "info": 0}


@pytest.mark.parametrize("fail_on, failed", [("error", False), ("warning", True)])
def test_lint_warnings_fail_only_when_asked(capsys, fail_on, failed):
    result = run(capsys, shm_lint, content=WARN_SLOT, fail_on=fail_on)
    assert result.get("failed", False) is failed and result["valid"] is True


def test_lint_applies_the_rules_of_the_snapd_version_asked_for(capsys):
    glob = "name: provider\nslots:\n  shmem:\n    interface: shared-memory\n    write: [bar*]\n"
    assert run(capsys, shm_lint, content=glob)["valid"] is True
    old = run(capsys, shm_lint, content=glob, snapd_version="2.54.3", fail_on="never")
    assert [f["code"] for f in old["findings"]] == ["path-reserved-char"]


@pytest.mark.parametrize("version", ["2.53.4", "next", ""])
def test_lint_refuses_a_snapd_version_without_the_interface(capsys, version):
    result = run(capsys, shm_lint, content=BAD_SLOT, snapd_version=version)
    assert result["failed"] is True and "is not a snapd release with the shared-memory interface" in result["msg"]


def test_lint_finds_the_yaml_in_a_project_directory(capsys, tmp_path):
    (tmp_path / "snap").mkdir()
    (tmp_path / "snap" / "snapcraft.yaml").write_text(BAD_SLOT)
    result = run(capsys, shm_lint, path=str(tmp_path), fail_on="never")
    assert result["source"] == str(tmp_path / "snap" / "snapcraft.yaml")
    assert [f["code"] for f in result["findings"]] == ["path-slash"]


@pytest.mark.parametrize("args, message", [
    ({"path": "/nonexistent/snap.yaml"}, "cannot lint /nonexistent/snap.yaml: cannot read /nonexistent/snap.yaml: "
                                         "No such file or directory"),
    ({"content": "a: &a [*a]"}, "cannot lint content: refusing YAML with a recursive or undefined alias *a"),
    ({"content": "a: ["}, "cannot lint content: cannot parse YAML: "),
])
def test_lint_fails_cleanly_on_unreadable_input(capsys, args, message):
    result = run(capsys, shm_lint, **args)
    assert result["failed"] is True and result["msg"].startswith(message)


def blocked(*args):
    raise AssertionError("shm_lint blocked reading a FIFO")


def test_lint_refuses_a_fifo_instead_of_waiting_for_a_writer(capsys, tmp_path):
    fifo = tmp_path / "snap.yaml"
    os.mkfifo(str(fifo))
    signal.signal(signal.SIGALRM, blocked)
    signal.alarm(10)
    try:
        result = run(capsys, shm_lint, path=str(fifo))
    finally:
        signal.alarm(0)
    assert result["msg"] == "cannot lint %s: refusing %s: not a regular file" % (fifo, fifo)


def test_lint_failure_message_is_one_line_when_a_value_holds_a_newline(capsys):
    text = "name: consumer\nplugs:\n  shmem:\n    interface: shared-memory\n    private: \"a\\nb\"\n"
    result = run(capsys, shm_lint, content=text)
    assert result["msg"].endswith('first: shared-memory "private" attribute must be a bool, not a\\nb')
    assert result["findings"][0]["message"].endswith("not a\nb")


def test_lint_empty_directory(capsys, tmp_path):
    result = run(capsys, shm_lint, path=str(tmp_path))
    assert result["msg"].startswith("cannot lint %s: %s holds none of meta/snap.yaml" % (tmp_path, tmp_path))


# a secret as a token or key file holds it: one line that YAML reads as one long string
SECRET = "ghp_" + "S3cr3tT0k3n" * 12


def secret_file(tmp_path):
    secret = tmp_path / "home" / ".config" / "token"
    secret.parent.mkdir(parents=True)
    secret.write_text(SECRET + "\n")
    return secret


def refused_link(source, link):
    return ("cannot lint %s: refusing %s: it is a symbolic link, which shm_lint never follows (a project's link can "
            "point at any file of the host, a secret too); give the path of the file it points to if you trust it"
            % (source, link))


@pytest.mark.parametrize("link", ["snap/snapcraft.yaml", "meta/snap.yaml", "snapcraft.yaml", ".snapcraft.yaml"])
def test_lint_refuses_a_project_file_that_links_to_a_secret(capsys, tmp_path, link):
    project = tmp_path / "project"
    (project / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(str(secret_file(tmp_path)), str(project / link))
    result = run(capsys, shm_lint, path=str(project), fail_on="never")
    assert result["failed"] is True
    assert result["msg"] == refused_link(project, project / link)
    assert "S3cr3t" not in str(result)


def test_lint_refuses_a_project_folder_that_links_elsewhere(capsys, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    elsewhere = secret_file(tmp_path).parent
    (elsewhere / "snapcraft.yaml").write_text(SECRET + "\n")
    os.symlink(str(elsewhere), str(project / "snap"))
    result = run(capsys, shm_lint, path=str(project), fail_on="never")
    assert result["msg"] == refused_link(project, project / "snap")
    assert "S3cr3t" not in str(result)


def test_lint_refuses_a_path_that_is_a_link(capsys, tmp_path):
    link = tmp_path / "snapcraft.yaml"
    os.symlink(str(secret_file(tmp_path)), str(link))
    result = run(capsys, shm_lint, path=str(link), fail_on="never")
    assert result["msg"] == refused_link(link, link)
    assert "S3cr3t" not in str(result)


def test_lint_skips_a_candidate_that_is_not_a_file_and_reads_the_next(capsys, tmp_path):
    (tmp_path / "snap" / "snapcraft.yaml").mkdir(parents=True)
    (tmp_path / "snapcraft.yaml").write_text(BAD_SLOT)
    result = run(capsys, shm_lint, path=str(tmp_path), fail_on="never")
    assert result["source"] == str(tmp_path / "snapcraft.yaml")


def test_lint_repeats_only_a_short_marked_excerpt_of_a_file_that_is_one_string(capsys, tmp_path):
    # the file itself is the secret here (copied into a project by mistake): the finding may quote its start only
    (tmp_path / "snapcraft.yaml").write_text(SECRET + "\n")
    result = run(capsys, shm_lint, path=str(tmp_path))
    assert [f["code"] for f in result["findings"]] == ["declaration-malformed"]
    value = result["findings"][0]["evidence"]["value"]
    assert value == SECRET[:64] + "... (cut, %d characters)" % len(SECRET)
    assert SECRET[64:] not in str(result)


def test_lint_cuts_long_paths_and_values_in_messages_and_evidence(capsys):
    path = "/" + "p" * 5000
    text = ("name: provider\nslots:\n  shmem:\n    interface: shared-memory\n    write: ['%s']\n    private: '%s'\n"
            % (path, "v" * 5000))
    result = run(capsys, shm_lint, content=text, fail_on="never")
    findings = dict((f["code"], f) for f in result["findings"])
    assert findings["path-slash"]["message"] == (
        "shared-memory interface path should not contain '/': \"%s... (cut, 5001 characters)\"" % path[:64])
    assert findings["path-slash"]["evidence"]["path"] == path[:64] + "... (cut, 5001 characters)"
    assert findings["slot-private-ignored"]["evidence"]["value"] == "v" * 64 + "... (cut, 5000 characters)"
    assert len(str(result["findings"])) < 2000


def test_verify_needs_root(capsys, monkeypatch):
    monkeypatch.setattr(_shm_local.os, "geteuid", lambda: 1000)
    result = run(capsys, shm_verify)
    assert result["failed"] is True
    assert result["msg"].endswith("run the task with become: true")


def test_verify_reports_unreachable_snapd(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(_shm_local.os, "geteuid", lambda: 0)
    result = run(capsys, shm_verify, socket=str(tmp_path / "missing.socket"), timeout=1)
    assert result["failed"] is True
    assert result["msg"].startswith("cannot read snapd's shared-memory state: ")


def test_verify_rejects_a_bad_connections_item(capsys):
    result = run(capsys, shm_verify, connections=[{"plug": "consumer"}])
    assert result["failed"] is True and result["msg"].startswith("invalid connections item: ")


def test_verify_is_read_only_and_reports_findings(capsys, monkeypatch, snapd, tmp_path):
    snapd.add_slot("provider", "shmem", {"shared-memory": "foo", "write": ["bar"]})
    snapd.add_plug("consumer", "shmem", {"shared-memory": "foo", "private": False})
    monkeypatch.setattr(_shm_local.os, "geteuid", lambda: 0)
    monkeypatch.setattr(shm_verify, "HOST_ROOT", str(tmp_path))
    result = run(capsys, shm_verify, socket=snapd.socket_path, timeout=5,
                 connections=[{"plug": "consumer:shmem", "slot": "provider:shmem"}])
    assert result["changed"] is False and result["compliant"] is False
    assert "connection-missing" in [f["code"] for f in result["findings"]]
    assert "dev-shm-missing" in [f["code"] for f in result["findings"]]
    assert [r for r in snapd.requests if r[0] != "GET"] == []


def test_verify_reports_the_users_of_each_connection(capsys, monkeypatch, snapd, tmp_path):
    snapd.add_slot("provider", "shmem", {"shared-memory": "foo", "write": ["bar"]})
    snapd.add_plug("consumer", "shmem", {"shared-memory": "foo", "private": False})
    snapd.add_connection("consumer:shmem", "provider:shmem")
    add_process(tmp_path, 1234, "snap.consumer.app (enforce)", fds=["/dev/shm/bar"])
    monkeypatch.setattr(_shm_local.os, "geteuid", lambda: 0)
    monkeypatch.setattr(shm_verify, "HOST_ROOT", str(tmp_path))
    result = run(capsys, shm_verify, socket=snapd.socket_path, timeout=5)
    in_use = [f for f in result["findings"] if f["code"] == "connection-in-use"]
    assert [f["evidence"]["users"] for f in in_use] == [[{"pid": 1234, "snap": "consumer", "app": "app",
                                                          "paths": ["/dev/shm/bar"]}]]
