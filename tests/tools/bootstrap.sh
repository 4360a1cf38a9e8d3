#!/usr/bin/env bash
# Sets up everything the test suite needs on this machine, and reuses what is already there:
#   - the apt packages of the qemu lab (apt-get update + install only when one is missing);
#   - promtool (tests/report checks the report's metrics with it), taken out of Debian's prometheus package
#     without installing that package (a server, its service and a dozen JavaScript packages) into
#     ${SNAPFLEET_CACHE:-...}/tools/promtool;
#   - one virtualenv per tests/requirements/*.txt, cached under
#     ${SNAPFLEET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapfleet}/venvs/<name>-<hash>,
#     where <hash> covers the requirements file and the interpreter, so a changed pin builds a new
#     venv and an unchanged one is reused as is;
#   - stable links in the repo: .venv (Python 3.11, ansible-core 2.19, all tools),
#     .venv-core2.20 (Python 3.13, ansible-core 2.20) and .venv-core2.21 (Python 3.12,
#     ansible-core 2.21), both for sanity.
# Prints one line per step with the elapsed time. Safe to run repeatedly and concurrently.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${SNAPFLEET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/snapfleet}
VENVS=$CACHE/venvs
# chromium: headless, renders the HTML report in its tests; gcc and libc6-dev: test_hostile.py builds a static
# threaded holder (a confined app whose main thread exited) for the lab
APT_PACKAGES=(qemu-system-x86 qemu-utils debootstrap e2fsprogs squashfs-tools openssh-client debian-archive-keyring
    chromium gcc libc6-dev)
T0=$EPOCHREALTIME

log() {
    local now=$EPOCHREALTIME
    printf '[bootstrap %7.1fs] %s\n' "$(awk -v a="$T0" -v b="$now" 'BEGIN { print b - a }')" "$*"
}

die() {
    log "ERROR: $*"
    exit 1
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

ensure_apt_packages() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) != "install ok installed" ]]; then
            missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "apt: all ${#APT_PACKAGES[@]} packages present"
        return
    fi
    log "apt: missing ${missing[*]}; running apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    log "apt: installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    log "apt: done"
}

# Prints the path of a working interpreter for version $1 (e.g. 3.12), looking on PATH first and
# then in pyenv's versions (a pyenv shim for a version that is not "global" is on PATH but fails).
find_python() {
    local version=$1 candidate
    for candidate in "python$version" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version"; do
        if "$candidate" -c 'import sys, venv' >/dev/null 2>&1; then
            "$candidate" -c 'import sys; print(sys.executable)'
            return
        fi
    done
    return 1
}

# ensure_venv NAME PYTHON_VERSION REQUIREMENTS LINK
ensure_venv() {
    local name=$1 version=$2 requirements=$3 link=$4 python key dir
    python=$(find_python "$version") || die "no Python $version found (on PATH or under pyenv); install it first"
    key=$( { cat "$requirements"; "$python" -VV; } | sha256sum | cut -c1-16)
    dir=$VENVS/$name-$key
    if [[ -f $dir/.snapfleet-complete ]]; then
        log "venv $name: reusing $dir"
        touch "$dir/.snapfleet-requirements.txt"  # newer than the requirements: make sees it ready
    else
        log "venv $name: creating $dir with $("$python" -V)"
        rm -rf "$dir"
        "$python" -m venv "$dir"
        log "venv $name: pip install -r ${requirements#"$ROOT"/}"
        # The image's pip.conf names local index folders that may not exist: drop that noise only.
        "$dir/bin/python" -m pip install --quiet --no-input -r "$requirements" 2>&1 \
            | { grep -v "^WARNING: Location 'file:" || true; }
        "$dir/bin/python" -m pip check >/dev/null || die "venv $name: pip check failed: $("$dir/bin/python" -m pip check)"
        cp "$requirements" "$dir/.snapfleet-requirements.txt"
        touch "$dir/.snapfleet-complete"
        log "venv $name: ready"
    fi
    link_venv "$dir" "$ROOT/$link"
}

link_venv() {
    local target=$1 link=$2
    if [[ -e $link && ! -L $link ]]; then
        # A venv made by hand before bootstrap existed: keep it, out of the way.
        local aside
        aside="$link-replaced-$(date +%s)"
        mv "$link" "$aside"
        log "moved the existing directory ${link#"$ROOT"/} to ${aside#"$ROOT"/}"
    fi
    if [[ $(readlink "$link" 2>/dev/null) != "$target" ]]; then
        ln -sfn "$target" "$link.tmp.$$"
        mv -T "$link.tmp.$$" "$link"
        log "linked ${link#"$ROOT"/} -> $target"
    fi
}

# promtool alone: `apt-get download` fetches the prometheus .deb (about 19 MB) and only usr/bin/promtool is kept.
ensure_promtool() {
    local dir=$CACHE/tools tmp
    if [[ -x $dir/promtool ]]; then
        log "promtool: present"
        return
    fi
    mkdir -p "$dir"
    tmp=$(mktemp -d "$dir/.download.XXXXXX")
    chmod 0755 "$tmp"  # apt-get download writes as the _apt user where it can
    if ! (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); then
        log "promtool: running apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1) || { rm -rf "$tmp"; die "apt-get download prometheus failed"; }
    fi
    dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool
    mv "$tmp/usr/bin/promtool" "$dir/promtool.tmp.$$" && mv "$dir/promtool.tmp.$$" "$dir/promtool"
    rm -rf "$tmp"
    log "promtool: $("$dir/promtool" --version 2>&1 | head -1)"
}

main() {
    log "start (cache: $CACHE)"
    ensure_apt_packages
    ensure_promtool
    mkdir -p "$VENVS"
    # One bootstrap at a time per cache: a second one waits, then finds the venvs complete.
    exec 9>"$VENVS/.lock"
    flock 9
    ensure_venv controller 3.11 "$ROOT/tests/requirements/controller.txt" .venv
    ensure_venv core-2.20 3.13 "$ROOT/tests/requirements/core-2.20.txt" .venv-core2.20
    ensure_venv core-2.21 3.12 "$ROOT/tests/requirements/core-2.21.txt" .venv-core2.21
    log "done"
}

main "$@"
