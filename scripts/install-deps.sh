#!/usr/bin/env bash
# Installs everything the app, its demo and its tests need on a fresh Debian machine:
# system packages (OpenSSH server for the SSH tests, Qt's runtime libraries, Xvfb) and a
# virtual environment in .venv with the app, its training extra and its test extra.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v /usr/sbin/sshd >/dev/null 2>&1 || need_apt+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v Xvfb >/dev/null 2>&1 || need_apt+=(xvfb)
{ command -v desktop-file-validate && command -v appstreamcli; } >/dev/null 2>&1 || need_apt+=(desktop-file-utils appstream)
for lib in libEGL.so.1 libGL.so.1 libxkbcommon.so.0 libfontconfig.so.1 libdbus-1.so.3 libglib-2.0.so.0 libxkbcommon-x11.so.0 libxcb-cursor.so.0; do
  if ! ldconfig -p | grep -q "$lib"; then
    case "$lib" in
      libEGL.so.1) need_apt+=(libegl1) ;;
      libGL.so.1) need_apt+=(libgl1) ;;
      libxkbcommon.so.0) need_apt+=(libxkbcommon0) ;;
      libfontconfig.so.1) need_apt+=(libfontconfig1) ;;
      libdbus-1.so.3) need_apt+=(libdbus-1-3) ;;
      libglib-2.0.so.0) need_apt+=(libglib2.0-0) ;;
      libxkbcommon-x11.so.0) need_apt+=(libxkbcommon-x11-0) ;;
      libxcb-cursor.so.0) need_apt+=(libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-render-util0 libxcb-image0) ;;
    esac
  fi
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing system packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# The CPU build of torch first: a bare "torch" pulls a CUDA build of several GB.
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q "torch==2.13.0" || .venv/bin/python -m pip install -q "torch==2.14.1"
fi
.venv/bin/python -m pip install -q -e ".[train,test]"
# The pinned sdist llama.cpp's converter comes from (remote/bundle_files/gguf_export.py): the
# GGUF tests and the simulated instances use this copy instead of downloading it each time.
if [ ! -f .cache/llama-cpp/llama_cpp_python-0.3.36.tar.gz ]; then
  .venv/bin/python -m pip download -q --no-deps --no-binary :all: --dest .cache/llama-cpp \
    "llama-cpp-python==0.3.36"
fi
