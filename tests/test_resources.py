"""The app's desktop identity files in resources/: the icon, the .desktop entry, the AppStream
metainfo, and the icons rendered from the SVG, all current and all naming the same app id."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlparse

import pytest

from lambda_gui.gui.app_identity import APP_ID

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "resources"
SVG = RESOURCES / "icons" / "lambda-gui.svg"
DESKTOP = RESOURCES / f"{APP_ID}.desktop"
METAINFO = RESOURCES / f"{APP_ID}.metainfo.xml"
RENDER = ROOT / "scripts" / "render_icons.py"
SVG_NS = "{http://www.w3.org/2000/svg}"


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def test_svg_icon_is_a_plain_square_svg() -> None:
    root = ET.parse(SVG).getroot()
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("viewBox") == "0 0 512 512"
    tags = {element.tag for element in root.iter()}
    assert f"{SVG_NS}text" not in tags, "draw letters as paths: fonts differ between machines"
    assert f"{SVG_NS}image" not in tags
    for element in root.iter():
        for name, value in element.attrib.items():
            if name.endswith("href"):
                assert value.startswith("#"), f"external reference: {value}"
            assert "url(http" not in value


def test_rendered_icons_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(RENDER), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_render_check_notices_stale_and_missing_icons(tmp_path: Path) -> None:
    """--check judges by content (git keeps no mtimes): an edited SVG or a lost file fails."""
    copy = tmp_path / "repo"
    shutil.copytree(RESOURCES / "icons", copy / "resources" / "icons")
    shutil.copytree(ROOT / "lambda_gui" / "assets" / "icons", copy / "lambda_gui/assets/icons")
    (copy / "scripts").mkdir()
    shutil.copy(RENDER, copy / "scripts" / RENDER.name)

    def check() -> subprocess.CompletedProcess[str]:
        script = copy / "scripts" / RENDER.name
        return subprocess.run(
            [sys.executable, str(script), "--check"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert check().returncode == 0
    svg = copy / "resources" / "icons" / "lambda-gui.svg"
    svg.write_text(svg.read_text(encoding="utf-8").replace("#FFFFFF", "#FFFFFE"), "utf-8")
    stale = check()
    assert stale.returncode == 1 and "stale: resources/icons/lambda-gui.svg" in stale.stderr
    (copy / "resources" / "icons" / "lambda-gui.ico").unlink()
    missing = check()
    assert missing.returncode == 1 and "missing: resources/icons/lambda-gui.ico" in missing.stderr


def test_desktop_entry_names_the_app() -> None:
    entry = desktop_entry()
    assert DESKTOP.name == f"{APP_ID}.desktop"
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Lambda GUI"
    assert entry["Icon"] == APP_ID
    assert entry["Exec"].split()[0] == "lambda-gui"
    assert entry["Terminal"] == "false"
    # Every icon size the theme lists is named after the id the entry asks for.
    icons = sorted((RESOURCES / "icons" / "hicolor").glob(f"*/apps/{APP_ID}.*"))
    assert len(icons) == 6


def test_metainfo_matches_the_app() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("metadata_license") == "CC0-1.0"
    assert root.findtext("project_license") == "MIT"
    assert root.findtext("launchable") == f"{APP_ID}.desktop"
    assert root.findtext("provides/binary") == "lambda-gui"
    images = [image.text or "" for image in root.iter("image")]
    assert images
    for url in images:
        name = Path(urlparse(url).path).name
        assert re.fullmatch(r"[\w-]+\.png", name), url
        assert (ROOT / "docs" / "screenshots" / name).is_file(), f"{url}: no such screenshot"
    defaults = [s for s in root.iter("screenshot") if s.get("type") == "default"]
    assert len(defaults) == 1


def _validate(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (scripts/install-deps.sh installs it)")
    return subprocess.run(
        [tool, *args], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT
    )


def test_desktop_file_validates() -> None:
    result = _validate("desktop-file-validate", str(DESKTOP))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error:" not in result.stdout and "warning:" not in result.stdout


def test_metainfo_validates() -> None:
    result = _validate("appstreamcli", "validate", "--no-net", str(METAINFO))
    assert result.returncode == 0, result.stdout + result.stderr
    # Errors and warnings fail; infos (such as tags newer than the installed AppStream) pass.
    assert not re.search(r"^[EW]: ", result.stdout, re.MULTILINE), result.stdout


def test_apply_identity_names_the_app_and_sets_its_icon(qapp: object) -> None:
    from PySide6.QtGui import QGuiApplication

    from lambda_gui.gui.app_identity import app_icon, apply_identity

    app = QGuiApplication.instance()
    assert isinstance(app, QGuiApplication)
    saved = (
        app.applicationName(),
        app.organizationDomain(),
        app.desktopFileName(),
        app.windowIcon(),
    )
    try:
        apply_identity(app)
        assert app.applicationName() == "Lambda GUI"
        assert app.desktopFileName() == APP_ID
        assert app.organizationDomain() == "lambdagui.ai"
        assert not app.windowIcon().isNull()
        assert max(size.width() for size in app_icon().availableSizes()) >= 256
    finally:
        name, domain, desktop, icon = saved
        app.setApplicationName(name)
        app.setOrganizationDomain(domain)
        app.setDesktopFileName(desktop)
        app.setWindowIcon(icon)
