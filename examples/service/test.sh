#!/usr/bin/env bash
# The example's tests, run by the build before `docker build` (testCommand `bash test.sh`).
# Bash builtins only: the build image needs nothing else.
set -euo pipefail
[[ $0 == */* ]] && cd "${0%/*}"

fail() { echo "FAIL: $*" >&2; exit 1; }

page=site/index.html
[[ -f $page ]] || fail "$page is missing"
html=$(<"$page")
[[ $html == *"<title>"*"</title>"* ]] || fail "$page has no <title>"
dockerfile=$(<Dockerfile)
[[ $dockerfile == *"COPY site/ /srv/www/"* ]] || fail "the Dockerfile does not copy site/"
echo "ok: 3 checks passed"
