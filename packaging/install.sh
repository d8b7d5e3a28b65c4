#!/usr/bin/env bash
# Installs Lambda GUI from the unpacked bundle this script ships in, for the current user
# (under ~/.local) or under any prefix:
#
#   ./install.sh [--prefix DIR]              install, or upgrade an earlier install
#   ./install.sh [--prefix DIR] --uninstall  remove everything an install put there
#
# The prefix is --prefix, else $PREFIX, else ~/.local. It receives:
#   lib/lambda-gui/                                  the app (replaced whole on upgrade)
#   bin/lambda-gui                                   a symlink to lib/lambda-gui/lambda-gui
#   share/applications/ai.lambdagui.LambdaGUI.desktop
#   share/metainfo/ai.lambdagui.LambdaGUI.metainfo.xml
#   share/icons/hicolor/*/apps/ai.lambdagui.LambdaGUI.{png,svg}
# lib/lambda-gui/install-manifest lists the files and folders made outside lib/lambda-gui, so
# --uninstall removes exactly those; lib/lambda-gui/install.sh --uninstall works once the
# bundle itself is gone.
set -euo pipefail

APP_ID=ai.lambdagui.LambdaGUI
NAME=lambda-gui
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MANIFEST_NAME=install-manifest

usage() {
  cat << EOF
usage: $0 [--prefix DIR] [--uninstall]

Installs Lambda GUI into DIR (default: \$PREFIX, else ~/.local), or with --uninstall removes
what an earlier install put there.
EOF
}

die() {
  echo "install.sh: $*" >&2
  exit 1
}

# The copy an install leaves in <prefix>/lib/lambda-gui/ uninstalls from that prefix.
if [ -f "$HERE/$MANIFEST_NAME" ] && [ "$(basename "$(dirname "$HERE")")" = lib ]; then
  default_prefix=$(dirname "$(dirname "$HERE")")
else
  default_prefix=${HOME:?HOME is not set}/.local
fi
prefix=${PREFIX:-$default_prefix}
action=install
while [ $# -gt 0 ]; do
  case $1 in
    --prefix)
      [ $# -ge 2 ] || die "--prefix needs a folder"
      prefix=$2
      shift 2
      ;;
    --prefix=*)
      prefix=${1#--prefix=}
      shift
      ;;
    --uninstall)
      action=uninstall
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
done
[ -n "$prefix" ] || die "the prefix is empty"
case $prefix in
  /*) ;;
  *) prefix=$PWD/$prefix ;;
esac
prefix=${prefix%/}
[ -n "$prefix" ] || die "refusing to install into /"

LIB_DIR=$prefix/lib/$NAME
staging=''
BIN=$prefix/bin/$NAME
TARGET=$LIB_DIR/$NAME
MANIFEST=$LIB_DIR/$MANIFEST_NAME

# The Exec= value for a path: bare when it needs no quoting, else quoted as the desktop entry
# specification asks (string escapes first, then the Exec quoting rules).
desktop_exec_arg() {
  local s=${1//%/%%}
  case $s in
    *[!A-Za-z0-9_./+,:@=-]*) ;;
    *)
      printf '%s' "$s"
      return
      ;;
  esac
  local bs="\\" out='' c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      "\\") out+="$bs$bs$bs$bs" ;;
      '"' | '`' | '$') out+="$bs$bs$c" ;;
      *) out+=$c ;;
    esac
  done
  printf '"%s"' "$out"
}

# Entries of an existing manifest of one kind ("f" files, "d" folders), one per line.
manifest_entries() {
  local kind=$1 file=$2 k rest
  [ -f "$file" ] || return 0
  while IFS=' ' read -r k rest || [ -n "$k" ]; do
    [ "$k" = "$kind" ] && [ -n "$rest" ] && printf '%s\n' "$rest"
  done < "$file"
  return 0
}

# Creates a folder under the prefix; prints each folder it had to create (relative).
make_dirs() {
  local dir=$1 missing=()
  while [ ! -d "$dir" ] && [ "$dir" != "$prefix" ]; do
    missing+=("$dir")
    dir=$(dirname "$dir")
  done
  mkdir -p "$1"
  local i
  for ((i = ${#missing[@]} - 1; i >= 0; i--)); do
    printf '%s\n' "${missing[i]#"$prefix"/}"
  done
}

refresh_caches() {
  if command -v update-desktop-database > /dev/null 2>&1 && [ -d "$prefix/share/applications" ]; then
    update-desktop-database -q "$prefix/share/applications" > /dev/null 2>&1 || true
  fi
  # Updates the cache only where the theme has an index (a system prefix); elsewhere it fails
  # and the desktop reads the icon folders directly.
  if command -v gtk-update-icon-cache > /dev/null 2>&1 && [ -d "$prefix/share/icons/hicolor" ]; then
    gtk-update-icon-cache -q "$prefix/share/icons/hicolor" > /dev/null 2>&1 || true
  fi
}

bin_is_ours() {
  [ -L "$BIN" ] && [ "$(readlink "$BIN")" = "$TARGET" ]
}

uninstall() {
  local files=() dirs=() rel
  if [ -f "$MANIFEST" ]; then
    mapfile -t files < <(manifest_entries f "$MANIFEST")
    mapfile -t dirs < <(manifest_entries d "$MANIFEST")
  else
    # No manifest (an install interrupted early): the names only this app uses.
    files=("bin/$NAME" "share/applications/$APP_ID.desktop" "share/metainfo/$APP_ID.metainfo.xml")
    local icon
    for icon in "$prefix"/share/icons/hicolor/*/apps/"$APP_ID".png \
      "$prefix"/share/icons/hicolor/*/apps/"$APP_ID".svg; do
      if [ -e "$icon" ]; then
        files+=("${icon#"$prefix"/}")
      fi
    done
  fi
  local removed=0
  for rel in "${files[@]}"; do
    local path=$prefix/$rel
    if [ "$path" = "$BIN" ]; then
      if bin_is_ours; then
        rm -f "$BIN"
        echo "removed $BIN"
        removed=$((removed + 1))
      elif [ -e "$BIN" ] || [ -L "$BIN" ]; then
        echo "kept $BIN: it does not point into $LIB_DIR"
      fi
    elif [ -e "$path" ] || [ -L "$path" ]; then
      rm -f "$path"
      echo "removed $path"
      removed=$((removed + 1))
    fi
  done
  if [ -d "$LIB_DIR" ]; then
    rm -rf "$LIB_DIR"
    echo "removed $LIB_DIR/"
    removed=$((removed + 1))
  fi
  refresh_caches
  # A desktop database with no desktop entry left to describe was there only for this app.
  local apps=$prefix/share/applications
  if [ -f "$apps/mimeinfo.cache" ] \
    && [ -z "$(find "$apps" -mindepth 1 -maxdepth 1 ! -name mimeinfo.cache -print -quit)" ]; then
    rm -f "$apps/mimeinfo.cache"
  fi
  # Folders the install created, deepest first; rmdir keeps any that hold something else.
  if [ ${#dirs[@]} -gt 0 ]; then
    local dir
    while IFS= read -r dir; do
      rmdir "$prefix/$dir" 2> /dev/null || true
    done < <(printf '%s\n' "${dirs[@]}" | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-)
  fi
  if [ "$removed" -eq 0 ]; then
    echo "Lambda GUI was not installed under $prefix"
  else
    echo "Lambda GUI uninstalled from $prefix"
  fi
}

install_app() {
  local onedir=$HERE/$NAME share=$HERE/share
  [ -x "$onedir/$NAME" ] || die "no $NAME/$NAME next to install.sh: run it from the unpacked bundle"
  [ -f "$share/applications/$APP_ID.desktop" ] || die "missing share/applications/$APP_ID.desktop"
  [ -f "$share/metainfo/$APP_ID.metainfo.xml" ] || die "missing share/metainfo/$APP_ID.metainfo.xml"
  if { [ -e "$BIN" ] || [ -L "$BIN" ]; } && ! bin_is_ours; then
    die "$BIN exists and is not from this installer: remove it, or choose another --prefix"
  fi
  [ "$(cd "$onedir" && pwd -P)" != "$(cd "$LIB_DIR" 2> /dev/null && pwd -P)" ] \
    || die "this bundle is the installed copy: run install.sh from the unpacked bundle"

  # What to install outside lib/: each destination (relative to the prefix) and its source.
  local plan_rel=() plan_src=() src rel i
  plan_rel+=("share/applications/$APP_ID.desktop")
  plan_src+=("$share/applications/$APP_ID.desktop")
  plan_rel+=("share/metainfo/$APP_ID.metainfo.xml")
  plan_src+=("$share/metainfo/$APP_ID.metainfo.xml")
  if [ -d "$share/icons" ]; then
    while IFS= read -r -d '' src; do
      plan_rel+=("share/icons/${src#"$share"/icons/}")
      plan_src+=("$src")
    done < <(find "$share/icons" -type f -print0 | sort -z)
  fi

  local old_files=() old_dirs=() new_dirs=() new_files=("bin/$NAME") dir
  mapfile -t old_files < <(manifest_entries f "$MANIFEST")
  mapfile -t old_dirs < <(manifest_entries d "$MANIFEST")
  for dir in "$prefix/lib" "$prefix/bin"; do
    mapfile -t -O "${#new_dirs[@]}" new_dirs < <(make_dirs "$dir")
  done
  for rel in "${plan_rel[@]}"; do
    new_files+=("$rel")
    mapfile -t -O "${#new_dirs[@]}" new_dirs < <(make_dirs "$(dirname "$prefix/$rel")")
  done

  # The app: copied beside the old one, then renamed over it.
  local old_copy=''
  staging=$(mktemp -d "$prefix/lib/.$NAME.new.XXXXXX")
  trap '[ -z "$staging" ] || rm -rf "$staging"' EXIT
  cp -R -p --no-preserve=ownership "$onedir/." "$staging/"
  chmod 755 "$staging"
  cp "${BASH_SOURCE[0]}" "$staging/install.sh"
  chmod 755 "$staging/install.sh"
  {
    for rel in "${new_files[@]}"; do printf 'f %s\n' "$rel"; done
    printf '%s\n' "${old_dirs[@]}" "${new_dirs[@]}" | awk 'NF && !seen[$0]++ { print "d " $0 }'
  } > "$staging/$MANIFEST_NAME"
  if [ -e "$LIB_DIR" ]; then
    old_copy=$prefix/lib/.$NAME.old.$$
    mv "$LIB_DIR" "$old_copy"
  fi
  if ! mv "$staging" "$LIB_DIR"; then
    [ -z "$old_copy" ] || mv "$old_copy" "$LIB_DIR"
    die "could not move the new copy into $LIB_DIR"
  fi
  trap - EXIT
  [ -z "$old_copy" ] || rm -rf "$old_copy"
  echo "installed the app in $LIB_DIR/"

  ln -sfn "$TARGET" "$BIN"
  echo "linked $BIN -> $TARGET"

  local dest exec_value line tmp
  exec_value=$(desktop_exec_arg "$BIN")
  for ((i = 0; i < ${#plan_rel[@]}; i++)); do
    rel=${plan_rel[i]}
    src=${plan_src[i]}
    dest=$prefix/$rel
    tmp=$(mktemp "$(dirname "$dest")/.$NAME.XXXXXX")
    if [ "$rel" = "share/applications/$APP_ID.desktop" ]; then
      while IFS= read -r line || [ -n "$line" ]; do
        case $line in
          Exec=*) printf 'Exec=%s\n' "$exec_value" ;;
          *) printf '%s\n' "$line" ;;
        esac
      done < "$src" > "$tmp"
    else
      cp "$src" "$tmp"
    fi
    chmod 644 "$tmp"
    mv -f "$tmp" "$dest"
    echo "installed $dest"
  done

  # Files an older version installed that this one no longer ships.
  local old keep
  for old in "${old_files[@]}"; do
    keep=0
    for rel in "${new_files[@]}"; do
      [ "$old" = "$rel" ] && keep=1 && break
    done
    if [ "$keep" -eq 0 ] && [ "$prefix/$old" != "$BIN" ] && [ -f "$prefix/$old" ]; then
      rm -f "$prefix/$old"
      echo "removed $prefix/$old (no longer shipped)"
    fi
  done

  refresh_caches
  echo "Lambda GUI installed: run $NAME, or find it in your applications menu."
  case ":${PATH:-}:" in
    *":$prefix/bin:"*) ;;
    *)
      echo "note: $prefix/bin is not on your PATH; add it (for example in ~/.profile):"
      echo "  export PATH=\"$prefix/bin:\$PATH\""
      ;;
  esac
  echo "to uninstall: $LIB_DIR/install.sh --uninstall"
}

if [ "$action" = uninstall ]; then
  uninstall
else
  install_app
fi
