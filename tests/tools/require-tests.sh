#!/usr/bin/env bash
# Usage: tests/tools/require-tests.sh DIR...
# Fails when a DIR holds no test_*.py file. A test runner that collects nothing may exit 0
# (ansible-test units only warns); a suite that ran no test must fail, not pass.
set -euo pipefail
for dir in "$@"; do
    if [[ -z $(find "$dir" -name 'test_*.py' -print -quit 2>/dev/null) ]]; then
        echo "FAIL: no test_*.py under $dir: nothing would run" >&2
        exit 1
    fi
done
