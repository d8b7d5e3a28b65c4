#!/usr/bin/env bash
# Checks the built bundle as a user gets it: unpacked into a fresh folder and run with an empty
# environment and HOME (`env -i`): --version, --self-test offscreen and under Xvfb with the
# xcb platform, a whole --demo --headless job, install.sh / --uninstall; then, where
# debootstrap is available (or LGUI_CLEAN_SYSTEM=1 asks for it), the self-test in a minimal
# Debian root with only the libraries docs/packaging.md lists. Prints a time for each step.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
TARBALL=$(ls -t dist/lambda-gui-*-linux-*.tar.gz 2> /dev/null | head -n 1 || true)
[ -n "$TARBALL" ] || { echo "no bundle in dist/: run make package first" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
tar -C "$WORK" -xzf "$TARBALL"
APP=$(echo "$WORK"/lambda-gui-*/lambda-gui/lambda-gui)
[ -x "$APP" ] || { echo "no executable in $TARBALL" >&2; exit 1; }

step() {  # step NAME COMMAND...: run, time, fail loudly
  local name=$1; shift
  local start; start=$(date +%s%N)
  if ! "$@"; then echo "FAILED: $name" >&2; exit 1; fi
  echo "passed: $name ($(( ($(date +%s%N) - start) / 1000000 )) ms)"
}
clean_env() {  # an empty environment and a fresh HOME, as after a download
  local home; home=$(mktemp -d "$WORK/home.XXXX")
  env -i PATH=/usr/bin:/bin HOME="$home" LANG=C.UTF-8 "$@"
}

step "--version" clean_env QT_QPA_PLATFORM=offscreen "$APP" --version
step "self-test offscreen" clean_env QT_QPA_PLATFORM=offscreen "$APP" --self-test
step "self-test xcb under Xvfb" xvfb-run -a -s "-screen 0 1280x900x24" \
  bash -c 'env -i PATH=/usr/bin:/bin HOME="$(mktemp -d)" DISPLAY="$DISPLAY" XAUTHORITY="${XAUTHORITY:-}" QT_QPA_PLATFORM=xcb "$0" --self-test' "$APP"
# The training Python comes from the build venv: CI stays offline and fast. A user's machine
# without one prepares its own (services/demo_python.py).
step "headless demo job" clean_env QT_QPA_PLATFORM=offscreen "$APP" --demo --headless \
  --training-python "$REPO/.venv/bin/python" --screenshot "$WORK/demo.png"
test -s "$WORK/demo.png"
PREFIX="$WORK/prefix"
step "install.sh" bash "$(dirname "$APP")/../install.sh" --prefix "$PREFIX"
step "installed binary runs" clean_env "$PREFIX/bin/lambda-gui" --version
step "install.sh --uninstall" bash "$(dirname "$APP")/../install.sh" --prefix "$PREFIX" --uninstall
test ! -e "$PREFIX/bin/lambda-gui"

if command -v debootstrap > /dev/null 2>&1 || [ "${LGUI_CLEAN_SYSTEM:-0}" = 1 ]; then
  step "self-test on a minimal Debian" bash packaging/clean_system_test.sh "$TARBALL"
else
  echo "skipped: clean-system check (install debootstrap, or set LGUI_CLEAN_SYSTEM=1)"
fi
echo "package checks passed: $TARBALL"
