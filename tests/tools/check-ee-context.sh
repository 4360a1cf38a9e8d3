#!/usr/bin/env bash
# Usage: tests/tools/check-ee-context.sh CONTEXT_DIR
# Checks the build context `ansible-builder create` made from examples/execution-environment/ (`make ee`):
# ansible-builder only warns when the tarball glob matches nothing, and the image build would fail later.
#   - the context holds exactly one collection tarball, snapfleet-snapd-<galaxy.yml's version>.tar.gz,
#     and its MANIFEST.json names snapfleet.snapd at that version;
#   - the Containerfile installs that tarball in the galaxy stage and runs ansible-builder's introspection
#     afterwards, writing the Python and system requirements (not listed in the EE definition);
#   - introspection of the installed tarball finds the collection's own requirements: no Python package,
#     an SSH client as the system package (meta/execution-environment.yml, meta/ee-bindep.txt).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
context=${1:?usage: $0 CONTEXT_DIR}
VENV=$ROOT/.venv
fail() { echo "FAIL: $*" >&2; exit 1; }

version=$("$VENV/bin/python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["version"])' "$ROOT/galaxy.yml")
shopt -s nullglob
tarballs=("$context"/_build/collections/snapfleet-snapd-*.tar.gz)
[[ ${#tarballs[@]} -eq 1 ]] || fail "$context/_build/collections/ holds ${#tarballs[@]} snapfleet-snapd-*.tar.gz, not 1: put exactly one built tarball next to execution-environment.yml"
tarball=${tarballs[0]}
[[ $(basename "$tarball") == "snapfleet-snapd-$version.tar.gz" ]] || fail "$tarball is not version $version (galaxy.yml)"
manifest=$(tar -xzOf "$tarball" MANIFEST.json | "$VENV/bin/python" -c 'import json, sys; i = json.load(sys.stdin)["collection_info"]; print(i["namespace"], i["name"], i["version"])')
[[ $manifest == "snapfleet snapd $version" ]] || fail "$tarball's MANIFEST.json names '$manifest', not 'snapfleet snapd $version'"

# Containerfile for podman (ansible-builder's default runtime), Dockerfile when only docker is installed
containerfile=$context/Containerfile
[[ -f $containerfile ]] || containerfile=$context/Dockerfile
[[ -f $containerfile ]] || fail "no Containerfile or Dockerfile in $context: run ansible-builder create"
install_line=$(grep -n '^RUN ansible-galaxy collection install .*/build/collections/snapfleet-snapd-\*\.tar\.gz$' "$containerfile" | cut -d: -f1 || true)
introspect_line=$(grep -n '^RUN .*introspect.py introspect .*--write-bindep=.* --write-pip=' "$containerfile" | cut -d: -f1 || true)
[[ -n $install_line ]] || fail "$containerfile does not install the tarball (additional_build_steps.append_galaxy)"
[[ -n $introspect_line && $introspect_line -gt $install_line ]] || fail "$containerfile does not introspect the installed collection for its requirements"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$VENV/bin/ansible-galaxy" collection install --collections-path "$work" "$tarball" >/dev/null 2>&1 \
    || fail "ansible-galaxy cannot install $tarball"
"$VENV/bin/ansible-builder" introspect "$work" >"$work/introspect.yml"
"$VENV/bin/python" - "$work/introspect.yml" <<'PY' || exit 1
import sys, yaml
data = yaml.safe_load(open(sys.argv[1]).read().split("---", 1)[1])
want = {"python": [], "system": ["openssh-clients [platform:rpm]  # from collection snapfleet.snapd",
                                 "openssh-client [platform:dpkg]  # from collection snapfleet.snapd"]}
if data != want:
    sys.exit(f"FAIL: introspection of the collection found {data}, expected {want}")
PY
echo "OK: $context holds $(basename "$tarball"), installed in the galaxy stage; introspection finds no Python package and the SSH client"
