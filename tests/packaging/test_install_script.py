"""packaging/install.sh on a fake bundle: install, upgrade, uninstall, under a temp prefix."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL_SH = ROOT / "packaging" / "install.sh"
RESOURCES = ROOT / "resources"
APP_ID = "ai.lambdagui.LambdaGUI"
DESKTOP = f"{APP_ID}.desktop"
METAINFO = f"{APP_ID}.metainfo.xml"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def make_bundle(base: Path, version: str) -> Path:
    """An unpacked bundle as packaging/build.sh lays it out, with a shell script for the app."""
    bundle = base / f"lambda-gui-{version}"
    onedir = bundle / "lambda-gui"
    (onedir / "_internal").mkdir(parents=True)
    exe = onedir / "lambda-gui"
    exe.write_text(f'#!/bin/sh\necho "lambda-gui {version}"\n', encoding="utf-8")
    exe.chmod(0o755)
    (onedir / "_internal" / "libfake.so").write_text(version, encoding="utf-8")
    share = bundle / "share"
    (share / "applications").mkdir(parents=True)
    (share / "metainfo").mkdir()
    shutil.copy(RESOURCES / DESKTOP, share / "applications" / DESKTOP)
    shutil.copy(RESOURCES / METAINFO, share / "metainfo" / METAINFO)
    shutil.copytree(RESOURCES / "icons" / "hicolor", share / "icons" / "hicolor")
    shutil.copy(INSTALL_SH, bundle / "install.sh")
    (bundle / "install.sh").chmod(0o755)
    return bundle


def run(script: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
    }
    # From another folder: the script finds its bundle by its own location.
    return subprocess.run(
        ["bash", str(script), *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")} if root.exists() else set()


def icon_files(bundle: Path) -> dict[str, Path]:
    """Relative destination under the prefix -> the bundle's file, for every icon."""
    icons = bundle / "share" / "icons"
    return {
        f"share/icons/{p.relative_to(icons).as_posix()}": p for p in icons.rglob("*") if p.is_file()
    }


def check_installed(prefix: Path, bundle: Path, version: str) -> None:
    lib = prefix / "lib" / "lambda-gui"
    assert (lib / "lambda-gui").is_file() and os.access(lib / "lambda-gui", os.X_OK)
    assert (lib / "_internal" / "libfake.so").read_text(encoding="utf-8") == version
    link = prefix / "bin" / "lambda-gui"
    assert link.is_symlink()
    assert link.resolve() == (lib / "lambda-gui").resolve()
    ran = subprocess.run([str(link)], capture_output=True, text=True, timeout=30, check=True)
    assert ran.stdout.strip() == f"lambda-gui {version}"

    installed = (prefix / "share" / "applications" / DESKTOP).read_text(encoding="utf-8")
    shipped = (bundle / "share" / "applications" / DESKTOP).read_text(encoding="utf-8")
    exec_lines = [line for line in installed.splitlines() if line.startswith("Exec=")]
    # The prefix holds a space, so the path is quoted as the desktop entry spec asks.
    assert exec_lines == [f'Exec="{link}"']
    others = [line for line in installed.splitlines() if not line.startswith("Exec=")]
    assert others == [line for line in shipped.splitlines() if not line.startswith("Exec=")]
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(
            ["desktop-file-validate", str(prefix / "share" / "applications" / DESKTOP)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr

    metainfo = prefix / "share" / "metainfo" / METAINFO
    assert metainfo.read_bytes() == (bundle / "share" / "metainfo" / METAINFO).read_bytes()
    icons = icon_files(bundle)
    assert f"share/icons/hicolor/256x256/apps/{APP_ID}.png" in icons
    assert f"share/icons/hicolor/scalable/apps/{APP_ID}.svg" in icons
    for rel, source in icons.items():
        assert (prefix / rel).read_bytes() == source.read_bytes(), rel
    # No staging or old copy left beside the app.
    assert sorted(p.name for p in (prefix / "lib").iterdir()) == ["lambda-gui"]


def test_install_upgrade_uninstall(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    prefix = tmp_path / "my prefix"
    # Something of the user's that must survive the uninstall.
    (prefix / "share" / "applications").mkdir(parents=True)
    theirs = prefix / "share" / "applications" / "theirs.desktop"
    theirs.write_text("[Desktop Entry]\nType=Application\nName=Theirs\nExec=true\n")

    old = make_bundle(tmp_path / "v1", "0.1.0")
    first = run(old / "install.sh", "--prefix", str(prefix), home=home)
    assert first.returncode == 0, first.stdout + first.stderr
    check_installed(prefix, old, "0.1.0")
    assert f"{prefix}/bin is not on your PATH" in first.stdout

    # An upgrade that no longer ships the 48 px icon: the new app, and the stale icon gone.
    new = make_bundle(tmp_path / "v2", "0.2.0")
    shutil.rmtree(new / "share" / "icons" / "hicolor" / "48x48")
    second = run(new / "install.sh", f"--prefix={prefix}", home=home)
    assert second.returncode == 0, second.stdout + second.stderr
    check_installed(prefix, new, "0.2.0")
    dropped = prefix / "share" / "icons" / "hicolor" / "48x48" / "apps" / f"{APP_ID}.png"
    assert not dropped.exists()

    gone = run(new / "install.sh", "--prefix", str(prefix), "--uninstall", home=home)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert tree(prefix) <= {
        "share",
        "share/applications",
        "share/applications/theirs.desktop",
        "share/applications/mimeinfo.cache",
    }
    assert theirs.exists()

    again = run(new / "install.sh", "--prefix", str(prefix), "--uninstall", home=home)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "not installed" in again.stdout


def test_uninstall_from_the_installed_copy_leaves_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    prefix = tmp_path / "my prefix"
    bundle = make_bundle(tmp_path / "bundle", "0.1.0")
    done = run(bundle / "install.sh", "--prefix", str(prefix), home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    shutil.rmtree(tmp_path / "bundle")

    # The copy in lib/lambda-gui knows its prefix: no --prefix needed.
    gone = run(prefix / "lib" / "lambda-gui" / "install.sh", "--uninstall", home=home)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert tree(prefix) == set()
    assert tree(home) == set()


def test_default_prefix_is_home_local(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    bundle = make_bundle(tmp_path / "bundle", "0.1.0")
    done = run(bundle / "install.sh", home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (home / ".local" / "bin" / "lambda-gui").is_symlink()
    gone = run(bundle / "install.sh", "--uninstall", home=home)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert tree(home / ".local") == set()


def test_keeps_a_lambda_gui_it_did_not_install(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    foreign = prefix / "bin" / "lambda-gui"
    foreign.write_text("#!/bin/sh\necho pip-installed\n", encoding="utf-8")
    bundle = make_bundle(tmp_path / "bundle", "0.1.0")
    refused = run(bundle / "install.sh", "--prefix", str(prefix), home=home)
    assert refused.returncode != 0
    assert "not from this installer" in refused.stderr
    assert foreign.read_text(encoding="utf-8") == "#!/bin/sh\necho pip-installed\n"
    assert not (prefix / "lib").exists()

    gone = run(bundle / "install.sh", "--prefix", str(prefix), "--uninstall", home=home)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert foreign.exists()


def test_rejects_unknown_options(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle", "0.1.0")
    result = run(bundle / "install.sh", "--frobnicate", home=tmp_path)
    assert result.returncode == 2
    assert "usage:" in result.stderr
