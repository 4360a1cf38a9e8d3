#!/usr/bin/env bash
# Usage: tests/tools/run-in-collection.sh [--shipped] VENV COMMAND [ARG...]
#
# Runs COMMAND (VENV/bin first on PATH) inside a throw-away copy of the collection laid out as
# <tmp>/ansible_collections/snapfleet/snapd, which ansible-test and antsibull-docs require: a
# symlink to the repo does not do, since they resolve the physical path.
#   default     the copy holds what git would commit (tracked, and untracked but not ignored
#               files), so no venv, cache or test output leaks in: for ansible-lint, which also
#               lints molecule/ and other repo-only content.
#   --shipped   the copy holds exactly what the built tarball holds (plus galaxy.yml): for
#               ansible-test, so sanity and unit tests judge what users install, not the lab
#               tooling that build_ignore leaves out.
#
# It also seeds ~/.ansible/test/cache/get_pip_<version>.py with an offline shim and pip's wheel
# from PyPI: ansible-test would otherwise download that script from a host that is not PyPI.
# tests/output of the run is copied back to the repo's tests/output/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
shipped=false
if [[ ${1:-} == --shipped ]]; then
    shipped=true
    shift
fi
VENV=$(cd "${1:?usage: $0 [--shipped] VENV COMMAND [ARG...]}" && pwd -P)
shift
PYTHON=$VENV/bin/python

seed_get_pip() {
    local cache=$HOME/.ansible/test/cache version
    version=$("$PYTHON" - <<'EOF'
import pathlib, re, ansible_test
source = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
print(re.search(r"pip='([0-9.]+)'", source.read_text()).group(1))
EOF
)
    mkdir -p "$cache"
    # one seeding at a time: `make test` runs ansible-test in the foreground and in the background at once
    exec 9>"$cache/.snapfleet-seed.lock"
    flock 9
    if [[ ! -f $cache/pip-$version-py3-none-any.whl ]]; then
        "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --dest "$cache" "pip==$version" 2>&1 \
            | { grep -v "^WARNING: Location 'file:" || true; }
        [[ -f $cache/pip-$version-py3-none-any.whl ]] || { echo "could not fetch pip $version from PyPI" >&2; exit 1; }
    fi
    cp "$ROOT/tests/tools/get_pip_offline.py" "$cache/get_pip_${version//./_}.py"
    exec 9>&-
}

copy_committable_files() {
    # --ignore-failed-read: a tracked file deleted in the working tree is simply not copied.
    git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
        | tar -C "$ROOT" --null --files-from=- --ignore-failed-read -cf - 2>/dev/null \
        | tar -C "$1" -xf -
}

copy_shipped_files() {
    local dest=$1 build=$work/build
    (cd "$ROOT" && "$VENV/bin/ansible-galaxy" collection build --force --output-path "$build" >/dev/null)
    tar -C "$dest" -xzf "$build"/snapfleet-snapd-*.tar.gz
    rm "$dest/MANIFEST.json" "$dest/FILES.json"
    cp "$ROOT/galaxy.yml" "$dest/"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/snapfleet-collection.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/ansible_collections/snapfleet/snapd
mkdir -p "$tree"
if $shipped; then
    copy_shipped_files "$tree"
else
    copy_committable_files "$tree"
fi
seed_get_pip

status=0
(cd "$tree" && PATH=$VENV/bin:$PATH "$@") || status=$?

if [[ -d $tree/tests/output ]]; then
    mkdir -p "$ROOT/tests/output"
    cp -a "$tree/tests/output/." "$ROOT/tests/output/"
fi
exit "$status"
