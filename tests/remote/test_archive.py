"""safe_extract: good archives unpack; hostile ones are refused before anything is written."""

from __future__ import annotations

import errno
import gzip
import io
import os
import shutil
import tarfile
import time
import tracemalloc
from pathlib import Path

import pytest

import lambda_gui.remote.archive as archive_mod
from lambda_gui.core.errors import UnsafeArchiveError
from lambda_gui.remote.archive import (
    ArchiveDamagedError,
    ArchiveDiskSpaceError,
    ArchiveTooLargeError,
    safe_extract,
)


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


# --- hostile archives written by hand (tarfile cannot write most of them) ---------------------

MiB = 1024**2
# A gzip member of 1 MiB of zeros (~1 KiB): repeated, it is a bomb of any size in a few ms.
_ZEROS_MIB = gzip.compress(bytes(MiB), 9)


def _number(value: int, width: int) -> bytes:
    """A tar number field: octal, or GNU base-256 (negative too) when it does not fit."""
    if 0 <= value < 8 ** (width - 1):
        return b"%0*o\0" % (width - 1, value)
    return (b"\x80" if value >= 0 else b"\xff") + (value % 256 ** (width - 1)).to_bytes(
        width - 1, "big"
    )


def _header(
    name: bytes, size: int, kind: bytes = b"0", *, sparse: tuple[int, int, int] | None = None
) -> bytes:
    """One 512-byte ustar header; `sparse` (offset, bytes, real size) makes it GNU 'S'."""
    buf = bytearray(512)
    buf[0 : len(name)] = name
    buf[100:108] = b"0000644\0"
    buf[108:116] = buf[116:124] = b"0000000\0"
    buf[124:136] = _number(size, 12)
    buf[136:148] = b"14777777777\0"
    buf[156:157] = kind
    buf[257:265] = b"ustar\x0000"
    if sparse is not None:
        offset, numbytes, realsize = sparse
        buf[257:265] = b"ustar  \0"  # GNU magic
        buf[386:398] = _number(offset, 12)
        buf[398:410] = _number(numbytes, 12)
        buf[483:495] = _number(realsize, 12)
    buf[148:156] = b" " * 8
    buf[148:156] = b"%06o\0 " % sum(buf)
    return bytes(buf)


def _pax(**records: str) -> bytes:
    """PAX records ("LEN key=value\\n", LEN counting itself); keys may contain dots via '__'."""
    out = b""
    for key, value in records.items():
        body = f" {key.replace('__', '.')}={value}\n".encode()
        length = len(body) + 1
        while len(str(length)) + len(body) != length:
            length += 1
        out += str(length).encode() + body
    return out


def _blocks(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


_END = bytes(1024)


def _write(path: Path, *parts: bytes) -> Path:
    path.write_bytes(b"".join(parts))
    return path


def _refused(archive: Path, work: Path, error: type[Exception], needle: str) -> str:
    """Extract and expect `error` with `needle` in its message; nothing may be written."""
    work.mkdir(exist_ok=True)
    with pytest.raises(error) as info:
        safe_extract(archive, work / "target")
    assert needle in str(info.value), str(info.value)
    assert _tree(work) == []
    return str(info.value)


def test_gzip_bomb_is_refused_by_the_expansion_ratio(tmp_path: Path) -> None:
    """300 MiB of zeros in ~300 KB (1000:1): refused from the header, never inflated."""
    bomb = _write(
        tmp_path / "bomb.tar.gz",
        gzip.compress(_header(b"adapter_model.safetensors", 300 * MiB)),
        _ZEROS_MIB * 300,
        gzip.compress(_END),
    )
    assert bomb.stat().st_size < 400_000
    started = time.monotonic()
    message = _refused(bomb, tmp_path / "w", ArchiveTooLargeError, "decompression bomb")
    assert "'adapter_model.safetensors'" in message
    assert time.monotonic() - started < 5  # inflating it takes longer than refusing it


def test_the_ratio_leaves_small_and_incompressible_archives_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1 MiB of zeros is 1000:1 but under the floor; random weights are about 1:1.
    small = _tar(tmp_path / "s.tar.gz", [_file("zeros.bin", bytes(MiB))])
    assert (safe_extract(small, tmp_path / "s") / "zeros.bin").stat().st_size == MiB
    monkeypatch.setattr(archive_mod, "RATIO_FLOOR_BYTES", 0)
    with pytest.raises(ArchiveTooLargeError, match="expands to more than"):
        safe_extract(small, tmp_path / "s2")
    weights = _tar(tmp_path / "w.tar.gz", [_file("w.bin", os.urandom(MiB))])
    assert (safe_extract(weights, tmp_path / "w", max_ratio=2) / "w.bin").stat().st_size == MiB


def test_gnu_sparse_member_is_refused(tmp_path: Path) -> None:
    """A 141-byte archive holding a 5 GiB (sparse) file."""
    archive = _write(
        tmp_path / "sparse.tar.gz",
        gzip.compress(
            _header(b"big.bin", 1, b"S", sparse=(5 * 1024**3 - 1, 1, 5 * 1024**3))
            + _blocks(b"x")
            + _END,
            9,
        ),
    )
    assert archive.stat().st_size < 200
    _refused(archive, tmp_path / "w", UnsafeArchiveError, "'big.bin' is a sparse file")


def test_pax_sparse_member_is_refused(tmp_path: Path) -> None:
    """GNU sparse format 1.0: the map is read from the member's data."""
    pax = _pax(
        GNU__sparse__major="1",
        GNU__sparse__minor="0",
        GNU__sparse__name="big.bin",
        GNU__sparse__realsize=str(5 * 1024**3),
    )
    archive = _write(
        tmp_path / "pax-sparse.tar",
        _header(b"./PaxHeaders/big.bin", len(pax), b"x"),
        _blocks(pax),
        _header(b"GNUSparseFile.0/big.bin", 513),
        _blocks(b"1\n5368709119\n1\n") + _blocks(b"x"),
        _END,
    )
    _refused(archive, tmp_path / "w", UnsafeArchiveError, "sparse file")


@pytest.mark.parametrize("kind", [b"x", b"g", b"L", b"K"])
def test_huge_extended_header_is_refused_before_it_is_read(tmp_path: Path, kind: bytes) -> None:
    """A 200 MiB PAX / GNU long-name header in ~200 KB: refused from its size field."""
    archive = _write(
        tmp_path / "hdr.tar.gz",
        gzip.compress(_header(b"././@LongLink", 200 * MiB, kind)),
        _ZEROS_MIB * 200,
        gzip.compress(_header(b"a", 0) + _END),
    )
    tracemalloc.start()
    started = time.monotonic()
    try:
        _refused(archive, tmp_path / "w", ArchiveTooLargeError, "extended header")
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB, peak
    assert elapsed < 2


def test_endless_chain_of_extended_headers_is_refused(tmp_path: Path) -> None:
    # tarfile recurses once per header: thousands of them end in a RecursionError.
    pax = _blocks(_pax(comment="x"))
    archive = _write(
        tmp_path / "chain.tar",
        (_header(b"PaxHeader", len(_pax(comment="x")), b"x") + pax) * 50,
        _header(b"a", 0),
        _END,
    )
    _refused(archive, tmp_path / "w", ArchiveDamagedError, "extended headers in a row")


def test_a_pax_header_may_still_carry_a_long_name(tmp_path: Path) -> None:
    name = "d/" + "n" * 200 + ".json"
    archive = _tar(tmp_path / "long.tar.gz", [_file(name, b"{}")], mode="w:gz")
    assert (safe_extract(archive, tmp_path / "out") / name).read_bytes() == b"{}"


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("adapter\nconfig.json", "control character '\\n'"),
        ("\x1b[2Jadapter.bin", "control character '\\x1b'"),
        ("a\u202egnp.exe", "control character"),
        ("/".join(["d"] * 70) + "/f", "folders deep"),
        ("x" * 300, "over 255 bytes"),
    ],
)
def test_unsafe_member_names_are_refused(tmp_path: Path, name: str, needle: str) -> None:
    archive = _tar(tmp_path / "names.tar.gz", [_file("ok.txt"), _file(name)])
    message = _refused(archive, tmp_path / "w", UnsafeArchiveError, needle)
    assert "unsafe name" in message or "deep" in message or "255" in message


@pytest.mark.parametrize(
    ("members", "needle"),
    [
        ([_file("a"), _file("a/b")], "holds as a file"),
        ([_file("a"), _file("a")], "appears twice"),
        ([_file("d/x"), _file("d")], "collides with a folder"),
    ],
)
def test_members_that_collide_are_refused(tmp_path: Path, members: list, needle: str) -> None:
    archive = _tar(tmp_path / "c.tar", members, mode="w")
    _refused(archive, tmp_path / "w", UnsafeArchiveError, needle)


def test_damaged_numbers_are_refused_as_damaged(tmp_path: Path) -> None:
    # A negative size makes tarfile step backwards and read the same header forever.
    negative = _write(tmp_path / "neg.tar", _header(b"a", -1024), _END)
    _refused(negative, tmp_path / "n", ArchiveDamagedError, "negative size")
    # An infinite mtime makes os.utime raise OverflowError half-way through extraction.
    pax = _pax(mtime="inf")
    infinite = _write(
        tmp_path / "inf.tar",
        _header(b"PaxHeader", len(pax), b"x"),
        _blocks(pax),
        _header(b"a", 1),
        _blocks(b"x"),
        _END,
    )
    _refused(infinite, tmp_path / "i", ArchiveDamagedError, "modification time")


def test_free_disk_space_caps_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _tar(tmp_path / "a.tar.gz", [_file("w.bin", os.urandom(200_000))])
    usage = shutil.disk_usage(tmp_path)
    tight = usage._replace(free=archive_mod.DISK_RESERVE_BYTES + 100_000)
    monkeypatch.setattr(archive_mod.shutil, "disk_usage", lambda _path: tight)
    message = _refused(archive, tmp_path / "w", ArchiveDiskSpaceError, "Free some disk space")
    assert "'w.bin'" in message
    assert isinstance(ArchiveDiskSpaceError("x"), OSError)  # callers catching OSError see it
    roomy = usage._replace(free=archive_mod.DISK_RESERVE_BYTES + 10 * MiB)
    monkeypatch.setattr(archive_mod.shutil, "disk_usage", lambda _path: roomy)
    assert (safe_extract(archive, tmp_path / "ok") / "w.bin").stat().st_size == 200_000


def test_disk_filling_up_while_writing_is_a_typed_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _tar(tmp_path / "a.tar.gz", [_file("w.bin", b"w")])

    def full(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "makefile", full)
    _refused(archive, tmp_path / "w", ArchiveDiskSpaceError, "filled up")


@pytest.mark.parametrize("name", [".", "./", "sub/."])
def test_a_file_named_like_a_folder_is_refused(tmp_path: Path, name: str) -> None:
    """Found by fuzzing: extraction hit IsADirectoryError half-way through."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.REGTYPE
    archive = _write(tmp_path / "dot.tar", info.tobuf() + _blocks(b"") + _END)
    _refused(archive, tmp_path / "w", UnsafeArchiveError, "a file with a folder's name")
