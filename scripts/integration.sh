#!/usr/bin/env bash
# The integration stage of `make test`: deploy the stack to a fresh emulator, run
# tests/integration against it, destroy it, and fail if anything of the stack is left.
#
# Everything lives in a fresh TAP_HOME (emulator pid/port/log, stack state, outputs), so a
# developer's own emulator, state and cfn-outputs/ are never touched. The emulator binds
# 127.0.0.1 only and is stopped on every exit path, failures and interrupts included: a
# server left running can hang CI.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"

TAP_HOME="$(mktemp -d "${TMPDIR:-/tmp}/tap-integration.XXXXXX")"
export TAP_HOME
export TAP_OUTPUTS_FILE="$TAP_HOME/flat-outputs.json"
# These tests are the emulator run; a TAP_TARGET=aws left in the shell must not leak in.
unset TAP_TARGET

finish() {
    local status=$?
    "$BIN/tap" emulator stop >/dev/null 2>&1 || true
    if [ "$status" -eq 0 ]; then
        rm -rf "$TAP_HOME"
    else
        echo "integration: failed (exit $status); emulator log and state kept in $TAP_HOME" >&2
    fi
    exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS
"$BIN/tap" emulator start --port 0
port="$("$BIN/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["port"])' \
    "$TAP_HOME/emulator.json")"
endpoint="http://127.0.0.1:${port}"

"$BIN/tap" up --port "$port"

export AWS_ENDPOINT_URL="$endpoint"
# The leftover check must see the stack before it can vouch that the stack is gone.
"$BIN/python" scripts/leftovers.py --expect-all
"$BIN/pytest" tests/integration -p no:cacheprovider

# tap destroy removes the outputs file it owns: the leftover check reads a copy.
cp "$TAP_OUTPUTS_FILE" "$TAP_HOME/deployed-outputs.json"
"$BIN/tap" destroy
"$BIN/python" scripts/leftovers.py --outputs "$TAP_HOME/deployed-outputs.json"
echo "integration: passed in $((SECONDS - started)) s"
