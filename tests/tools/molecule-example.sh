#!/usr/bin/env bash
# `make test-molecule-example`: the molecule scenario users copy (examples/molecule/), run the way its
# README tells a user to: the example project copied out of the repo, the built collection installed,
# inventory/hosts.yml written with real snapd hosts (a lab fleet here, SNAPFLEET_MOLECULE_EXAMPLE_FLAVOUR,
# default trixie,forky:nopython: snapd 2.68 with Python and 2.77 without), then `molecule test`.
# The fleet is stopped again, also when something fails or the run is interrupted.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
export SNAPFLEET_LAB_RUN="${SNAPFLEET_LAB_RUN:-$ROOT/.lab/molecule-example}"
FLAVOUR="${SNAPFLEET_MOLECULE_EXAMPLE_FLAVOUR:-trixie,forky:nopython}"
T0=$SECONDS
say() { printf '[molecule-example %4ds] %s\n' "$((SECONDS - T0))" "$*"; }

work="$SNAPFLEET_LAB_RUN/work"
rm -rf "$work"
mkdir -p "$work"
"$ROOT/.venv/bin/ansible-galaxy" collection install -p "$work/collections" build/snapfleet-snapd-*.tar.gz >/dev/null
cp -r examples/molecule "$work/project"

# down runs from the repository root (python -m tests.lab), wherever the script stopped
trap 'cd "$ROOT" && "$PY" -m tests.lab down' EXIT
"$PY" -m tests.lab up --flavour "$FLAVOUR"
say "fleet up"
# Step 3 of examples/molecule/README.md: your hosts in inventory/hosts.yml, in group snapd_hosts.
"$PY" - "$("$PY" -m tests.lab status --inventory)" "$work/project/molecule/snapd_hosts/inventory/hosts.yml" <<'PY'
import sys, yaml
inventory = yaml.safe_load(open(sys.argv[1]))
inventory["all"].setdefault("children", {})["snapd_hosts"] = {"children": {"lab": None}}
yaml.safe_dump(inventory, open(sys.argv[2], "w"), sort_keys=False)
PY
export PATH="$ROOT/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$work/collections" ANSIBLE_HOST_KEY_CHECKING=False
(cd "$work/project" && molecule test -s snapd_hosts)
say "molecule test passed"
# The verifier can fail: after cleanup has disconnected what the role connected, verify must fail.
if (cd "$work/project" && molecule verify -s snapd_hosts) >"$work/verify-after-cleanup.log" 2>&1; then
    echo "FAIL: molecule verify passed on hosts whose connections cleanup had removed ($work/verify-after-cleanup.log)"
    exit 1
fi
grep -q '"assertion": "audit.compliant"' "$work/verify-after-cleanup.log" \
    || { echo "FAIL: molecule verify failed before its assert ($work/verify-after-cleanup.log)"; exit 1; }
say "molecule verify fails once cleanup removed the connections, as it must"
