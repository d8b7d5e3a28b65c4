#!/usr/bin/env bash
# Builds the Linux desktop bundle: dist/lambda-gui-<version>-linux-<arch>.tar.gz, holding
# lambda-gui-<version>/{lambda-gui/ (PyInstaller onedir), share/ (.desktop, metainfo, icons),
# install.sh}. Fails when PyInstaller cannot resolve a library. See docs/packaging.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# Qt's xcb platform plugin needs these at run time; PyInstaller bundles them only when they
# are installed here (without them the bundle passes offscreen and aborts under X11).
need_apt=()
for pair in libxcb-icccm.so.4:libxcb-icccm4 libxcb-keysyms.so.1:libxcb-keysyms1 \
  libxcb-image.so.0:libxcb-image0 libxcb-render-util.so.0:libxcb-render-util0 \
  libxcb-shape.so.0:libxcb-shape0 libxcb-cursor.so.0:libxcb-cursor0 \
  libxkbcommon-x11.so.0:libxkbcommon-x11-0; do
  ldconfig -p | grep -q "${pair%%:*}" || need_apt+=("${pair##*:}")
done
command -v objdump > /dev/null 2>&1 || need_apt+=(binutils)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing build packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi

bash scripts/install-deps.sh > /dev/null
PY=.venv/bin/python
"$PY" -m pip install -q "pyinstaller>=6.10,<7" "pyinstaller-hooks-contrib>=2024.8"
VERSION=$("$PY" -c "import lambda_gui; print(lambda_gui.__version__)")
ARCH=$(uname -m)
NAME="lambda-gui-$VERSION"
rm -rf build/pyinstaller "dist/pyinstaller" "dist/$NAME" "dist/$NAME-linux-$ARCH.tar.gz"
mkdir -p build dist

start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist/pyinstaller --workpath build/pyinstaller packaging/lambda-gui.spec \
  2>&1 | tee build/pyinstaller.log
# Qt's GTK platform theme links the desktop's own GTK 3: it loads where GTK is installed and
# is skipped elsewhere, so its GTK libraries are expected to stay unresolved (and unbundled).
if grep -E "Library not found|could not resolve" build/pyinstaller.log \
  | grep -v "platformthemes/libqgtk3.so"; then
  echo "PyInstaller could not resolve the libraries above: install them and build again." >&2
  exit 1
fi

STAGE="dist/$NAME"
mkdir -p "$STAGE/share/applications" "$STAGE/share/metainfo" "$STAGE/share/icons"
mv dist/pyinstaller/lambda-gui "$STAGE/lambda-gui"
cp resources/ai.lambdagui.LambdaGUI.desktop "$STAGE/share/applications/"
cp resources/ai.lambdagui.LambdaGUI.metainfo.xml "$STAGE/share/metainfo/"
cp -r resources/icons/hicolor "$STAGE/share/icons/"
cp packaging/install.sh "$STAGE/install.sh"
chmod 755 "$STAGE/install.sh"
tar -C dist -czf "dist/$NAME-linux-$ARCH.tar.gz" "$NAME"
end=$(date +%s)

# The oldest glibc the bundle can run on: the highest GLIBC_x.y any bundled file needs.
# (ELF files only: '*.so' and '*.so.N', not any name holding ".so"; objdump's complaints about a
# file it cannot read do not fail the build.)
floor=$(find "$STAGE" -type f \( -name '*.so' -o -name '*.so.*' -o -name lambda-gui \) -print0 \
  | xargs -0 sh -c 'objdump -T "$@" 2> /dev/null; true' _ | grep -o 'GLIBC_[0-9.]*' | sort -uV \
  | tail -n 1)
echo "built dist/$NAME-linux-$ARCH.tar.gz in $((end - start)) s"
echo "unpacked: $(du -sh "$STAGE" | cut -f1), tar.gz: $(du -h "dist/$NAME-linux-$ARCH.tar.gz" | cut -f1)"
echo "glibc floor: ${floor#GLIBC_}"
