#!/usr/bin/env bash
# `make demo`: install the built collection, resume a mixed fleet of 3 real snapd hosts (tests/lab),
# run examples/demo.yml (apply, use, verify, one line per host), and stop the fleet again, also
# when something fails or the run is interrupted.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
export SNAPFLEET_LAB_RUN="${SNAPFLEET_LAB_RUN:-$ROOT/.lab/demo}"
HOSTS="${HOSTS:-3}"

collections="$SNAPFLEET_LAB_RUN/collections"
rm -rf "$collections"
mkdir -p "$collections"
echo "[demo] installing $(ls build/snapfleet-snapd-*.tar.gz) into $collections"
"$ROOT/.venv/bin/ansible-galaxy" collection install -p "$collections" build/snapfleet-snapd-*.tar.gz >/dev/null

trap '"$PY" -m tests.lab down' EXIT
"$PY" -m tests.lab up --hosts "$HOSTS" --flavour mixed

echo "[demo] applying examples/demo.yml to the fleet"
ANSIBLE_COLLECTIONS_PATH="$collections" ANSIBLE_PIPELINING=1 ANSIBLE_HOST_KEY_CHECKING=False \
ANSIBLE_CALLBACK_RESULT_FORMAT=yaml ANSIBLE_FORKS=3 \
    "$ROOT/.venv/bin/ansible-playbook" -i "$("$PY" -m tests.lab status --inventory)" examples/demo.yml
