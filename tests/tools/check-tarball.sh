#!/usr/bin/env bash
# Usage: tests/tools/check-tarball.sh snapfleet-snapd-X.Y.Z.tar.gz
# Fails unless every path in the built collection is one of the collection's own files, so that
# tool state (.ansible/, collections/, venvs, caches, test output, lab images) never ships.
# Keep the allowed list in step with build_ignore in galaxy.yml.
set -euo pipefail

tarball=${1:?usage: $0 TARBALL}

# Paths a built snapfleet.snapd may hold (ansible-galaxy adds MANIFEST.json and FILES.json).
allowed='^(MANIFEST\.json|FILES\.json|README\.md|LICENSE|LICENSES/GPL-3\.0-or-later\.txt|LICENSES/?|CHANGELOG\.rst|tests/config\.yml|tests/?)$'
allowed+='|^(plugins|roles|playbooks|meta|docs|examples|changelogs)(/|$)'
allowed+='|^tests/(unit|integration|sanity)(/|$)'
# Never: hidden files and folders, bytecode and nested tarballs anywhere; the lab's pytest
# drivers at the top of tests/ and any .py at the top of tests/integration/ (tests/system/ is not allowed at all).
forbidden='(^|/)(\.[^/]+|__pycache__)(/|$)|\.py[co]$|\.tar\.gz$'
forbidden+='|^tests/(integration/)?[^/]+\.py$'

listing=$(tar -tzf "$tarball")
junk=$(grep -Ev "$allowed" <<<"$listing" || true)
junk+=$'\n'$(grep -E "$forbidden" <<<"$listing" || true)
junk=$(sed '/^$/d' <<<"$junk" | sort -u)

for required in MANIFEST.json FILES.json README.md LICENSE meta/runtime.yml; do
    grep -qx "$required" <<<"$listing" || junk+=$'\n'"(missing) $required"
done
junk=$(sed '/^$/d' <<<"$junk")

if [[ -n $junk ]]; then
    echo "FAIL: $tarball holds paths that are not the collection's own files (fix build_ignore in galaxy.yml):"
    while IFS= read -r path; do echo "  $path"; done <<<"$junk"
    exit 1
fi
echo "OK: $tarball holds $(wc -l <<<"$listing") entries, all collection files"
