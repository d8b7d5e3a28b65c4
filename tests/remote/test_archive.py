"""safe_extract: good archives unpack; hostile ones are refused before anything is written."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from lambda_gui.core.errors import UnsafeArchiveError
from lambda_gui.remote.archive import safe_extract


def _tar(
    path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz"
) -> Path:
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def _file(name: str, data: bytes = b"data") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_extracts_a_good_adapter_archive(tmp_path: Path) -> None:
    source = tmp_path / "src" / "output"
    source.mkdir(parents=True)
    (source / "adapter_config.json").write_text('{"r": 16}')
    (source / "adapter_model.safetensors").write_bytes(b"\x00" * 1000)
    archive = tmp_path / "adapter.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=".")
    target = safe_extract(archive, tmp_path / "out" / "adapter", max_bytes=10_000, max_members=10)
    assert target == tmp_path / "out" / "adapter"
    assert (target / "adapter_config.json").read_text() == '{"r": 16}'
    assert (target / "adapter_model.safetensors").stat().st_size == 1000
    assert _tree(tmp_path / "out") == [
        "adapter",
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
    ]


HOSTILE = {
    "absolute": ([_file("/tmp/lambda-gui-evil")], "/tmp/lambda-gui-evil", "absolute"),
    "dotdot": ([_file("ok.txt"), _file("sub/../../evil.txt")], "sub/../../evil.txt", "'..'"),
    "symlink": ([_special("link", tarfile.SYMTYPE, "/etc/passwd")], "link", "symlink"),
    "hardlink": ([_file("a"), _special("b", tarfile.LNKTYPE, "a")], "b", "hard link"),
    "char_device": ([_special("null", tarfile.CHRTYPE)], "null", "device"),
    "block_device": ([_special("sda", tarfile.BLKTYPE)], "sda", "device"),
    "fifo": ([_special("pipe", tarfile.FIFOTYPE)], "pipe", "FIFO"),
    "windows_drive": ([_file("C:/evil")], "C:/evil", "absolute"),
    "backslash": ([_file("..\\evil")], "..\\evil", "unsafe name"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_members_are_refused_and_nothing_is_written(tmp_path: Path, case: str) -> None:
    members, bad_name, reason = HOSTILE[case]
    # A harmless member first: validation must finish before anything is extracted.
    archive = _tar(tmp_path / "evil.tar.gz", [_file("first.txt"), *members])
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(UnsafeArchiveError) as info:
        safe_extract(archive, work / "target", max_bytes=10_000, max_members=100)
    assert repr(bad_name) in str(info.value) and reason in str(info.value)
    assert _tree(work) == []
    assert not Path("/tmp/lambda-gui-evil").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_caps_on_size_and_member_count(tmp_path: Path) -> None:
    many = _tar(tmp_path / "many.tar", [_file(f"f{i}") for i in range(20)], mode="w")
    with pytest.raises(UnsafeArchiveError, match="more than 10 members.*'f10'"):
        safe_extract(many, tmp_path / "a", max_bytes=10_000, max_members=10)
    big = _tar(tmp_path / "big.tar.gz", [_file("x", b"0" * 6000), _file("y", b"0" * 6000)])
    with pytest.raises(UnsafeArchiveError, match="more than 10000 bytes.*'y'"):
        safe_extract(big, tmp_path / "b", max_bytes=10_000, max_members=10)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.tar.gz", "many.tar"]


def test_damaged_archive_and_occupied_target(tmp_path: Path) -> None:
    good = _tar(tmp_path / "good.tar.gz", [_file("a", os.urandom(100_000))])
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good.read_bytes()[:50_000])
    with pytest.raises(UnsafeArchiveError, match="damaged|not a readable"):
        safe_extract(truncated, tmp_path / "t", max_bytes=10**6, max_members=10)
    assert not (tmp_path / "t").exists()
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar at all")
    with pytest.raises(UnsafeArchiveError, match="not a readable"):
        safe_extract(tmp_path / "junk.tar.gz", tmp_path / "j", max_bytes=10**6, max_members=10)
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        safe_extract(good, occupied, max_bytes=10**6, max_members=10)
    assert _tree(occupied) == ["keep.txt"]
    # An empty directory is fine to extract into.
    empty = tmp_path / "empty"
    empty.mkdir()
    safe_extract(good, empty, max_bytes=10**6, max_members=10)
    assert (empty / "a").stat().st_size == 100_000
    assert not [p for p in tmp_path.iterdir() if ".extract-" in p.name]
