#!/usr/bin/env bash
# `make demo`: install the built collection, resume a fleet of 3 real snapd hosts (tests/lab),
# apply the example fleet spec (examples/demo.yml: snapfleet.snapd.apply with examples/inventory),
# audit it (snapfleet.snapd.audit), print the report's path and summary table, and stop the fleet
# again, also when something fails or the run is interrupted.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
export SNAPFLEET_LAB_RUN="${SNAPFLEET_LAB_RUN:-$ROOT/.lab/demo}"
HOSTS="${HOSTS:-3}"
# The hosts' flavours (tests/lab/README.md), one per snapd generation: lab1 a bookworm robot (snapd 2.57,
# reached through the Python module), lab2 a trixie gateway (2.68), lab3 a forky robot with no Python at
# all (2.77, like an Ubuntu Core 26 device), both reached through `snap debug api`.
DEMO_FLAVOUR="${DEMO_FLAVOUR:-bookworm,trixie,forky:nopython}"
REPORT_DIR="$ROOT/shm-report"
T0=$SECONDS

say() { printf '[demo %4ds] %s\n' "$((SECONDS - T0))" "$*"; }

collections="$SNAPFLEET_LAB_RUN/collections"
rm -rf "$collections"
mkdir -p "$collections"
say "installing $(ls build/snapfleet-snapd-*.tar.gz) into $collections"
"$ROOT/.venv/bin/ansible-galaxy" collection install -p "$collections" build/snapfleet-snapd-*.tar.gz >/dev/null

trap '"$PY" -m tests.lab down' EXIT
"$PY" -m tests.lab up --hosts "$HOSTS" --flavour "$DEMO_FLAVOUR"
inventory=$("$PY" -m tests.lab status --inventory)

export ANSIBLE_COLLECTIONS_PATH="$collections" ANSIBLE_PIPELINING=1 ANSIBLE_HOST_KEY_CHECKING=False \
    ANSIBLE_CALLBACK_RESULT_FORMAT=yaml ANSIBLE_FORKS=3 ANSIBLE_RETRY_FILES_ENABLED=False
playbook() { "$ROOT/.venv/bin/ansible-playbook" -i "$inventory" -i examples/inventory/lab.yml \
    -e "shm_report_dir=$REPORT_DIR" "$@"; }

say "applying the example fleet spec: examples/demo.yml (snapfleet.snapd.apply)"
playbook examples/demo.yml
say "auditing the fleet: ansible-playbook snapfleet.snapd.audit"
playbook snapfleet.snapd.audit

say "report: $REPORT_DIR/shm-report.{json,md,html}"
# the Markdown summary down to the table, without the per-host sections
sed -n '/^- \*\*/,/^## /p' "$REPORT_DIR/shm-report.md" | sed '$d'
say "done"
