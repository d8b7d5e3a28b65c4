"""The walk an upload makes of a local folder: links followed, names and kinds checked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lambda_gui.remote import local_tree
from lambda_gui.remote.local_tree import TreeError, walk_tree


def hf_cache_snapshot(root: Path, files: dict[str, bytes]) -> Path:
    """A Hugging Face cache layout: blobs/<hash> holds the bytes, snapshots/<rev>/<name> are
    relative symlinks to them (some in a subfolder)."""
    blobs = root / "blobs"
    snapshot = root / "snapshots" / "0123abcd"
    blobs.mkdir(parents=True)
    for number, (name, data) in enumerate(sorted(files.items())):
        blob = blobs / f"blob{number:04d}"
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


def test_symlinks_are_followed_to_their_bytes(tmp_path: Path) -> None:
    snapshot = hf_cache_snapshot(
        tmp_path, {"config.json": b"{}", "model.safetensors": b"w" * 10, "sub/extra.txt": b"e"}
    )
    files = walk_tree(snapshot)
    assert [(f.rel, f.size) for f in files] == [
        ("config.json", 2),
        ("model.safetensors", 10),
        ("sub/extra.txt", 1),
    ]
    assert all(f.source.parent == tmp_path / "blobs" for f in files)


def test_hidden_entries_are_skipped(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("x")
    (tmp_path / ".cache" / "huggingface").mkdir(parents=True)
    (tmp_path / ".cache" / "huggingface" / "config.json.lock").write_text("")
    (tmp_path / "config.json").write_text("{}")
    assert [f.rel for f in walk_tree(tmp_path)] == ["config.json"]


@pytest.mark.parametrize("name", ["README (1).md", "naïve.json", "a\nb", "a\x1bb", "-rf"])
def test_a_name_the_remote_cannot_hold_is_refused_before_upload(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("x")
    with pytest.raises(TreeError, match="Rename it"):
        walk_tree(tmp_path)


def test_broken_link_loop_and_special_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.safetensors").symlink_to("../blobs/missing")
    with pytest.raises(TreeError, match="does not exist"):
        walk_tree(broken)
    looped = tmp_path / "looped"
    (looped / "sub").mkdir(parents=True)
    (looped / "sub" / "up").symlink_to("..")
    with pytest.raises(TreeError, match="links back"):
        walk_tree(looped)
    selfish = tmp_path / "selfish"
    selfish.mkdir()
    (selfish / "me").symlink_to("me")
    with pytest.raises(TreeError, match="points to itself"):
        walk_tree(selfish)
    piped = tmp_path / "piped"
    piped.mkdir()
    os.mkfifo(piped / "fifo")
    with pytest.raises(TreeError, match="not a file or folder"):
        walk_tree(piped)
    with pytest.raises(TreeError, match="not a folder"):
        walk_tree(tmp_path / "absent")


def test_a_huge_folder_is_refused_early(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_tree, "MAX_FILES", 5)
    for i in range(7):
        (tmp_path / f"f{i}").write_text("x")
    with pytest.raises(TreeError, match="more than 5 files"):
        walk_tree(tmp_path)
