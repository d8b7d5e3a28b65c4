#!/usr/bin/env bash
# The bundle's self-test in a minimal Debian root (debootstrap --variant=minbase) holding only
# the libraries docs/packaging.md lists as requirements: libgl1 libegl1 libxcb1 (+ fontconfig
# for text). Needs root and the Debian mirror; the root is cached in build/debian-root.
set -euo pipefail
cd "$(dirname "$0")/.."
TARBALL=$1
ROOTFS=build/debian-root
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v debootstrap > /dev/null 2>&1; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends debootstrap
fi
if [ ! -x "$ROOTFS/bin/bash" ]; then
  rm -rf "$ROOTFS"
  $SUDO debootstrap --variant=minbase \
    --include=libgl1,libegl1,libxcb1,libfontconfig1 \
    bookworm "$ROOTFS" http://deb.debian.org/debian
fi
$SUDO rm -rf "$ROOTFS/opt/lambda-gui"
$SUDO mkdir -p "$ROOTFS/opt/lambda-gui"
$SUDO tar -C "$ROOTFS/opt/lambda-gui" -xzf "$TARBALL"
APP=$(cd "$ROOTFS" && echo opt/lambda-gui/lambda-gui-*/lambda-gui/lambda-gui)
$SUDO chroot "$ROOTFS" env -i PATH=/usr/bin:/bin HOME=/tmp QT_QPA_PLATFORM=offscreen \
  "/$APP" --self-test
