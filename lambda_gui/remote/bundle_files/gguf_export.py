"""GGUF files of the merged model, written on the instance by llama.cpp's own converter.

Shipped next to train.py, which calls `export_all` after the merge; never imports lambda_gui.
The converter (convert_hf_to_gguf.py, its `conversion` package and its `gguf` package) comes
from llama-cpp-python's source distribution on PyPI, which vendors llama.cpp: fetched once per
machine (pinned version and sha256), only those files extracted, kept in
~/.cache/lambda-gui/llama.cpp-<version> for the instance's next jobs. It runs in a subprocess
with this Python (3.10 or newer), which needs torch, transformers, numpy, PyYAML and
sentencepiece.

Writes model-<kind>.gguf (kind: f16, q8_0) and its .sha256 into the job dir (names from
protocol.py). The converter's output goes to stdout line by line: the app shows it in the log.
"""

from __future__ import annotations

import collections
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

import protocol

Say = Callable[[str], None]

# llama-cpp-python's sdist: the release whose vendored llama.cpp converts the models we train.
LLAMA_CPP_VERSION = "0.3.36"
SDIST_NAME = f"llama_cpp_python-{LLAMA_CPP_VERSION}.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
# The same file on PyPI's file host, for a Python without pip (a venv made by uv).
SDIST_URL = (
    "https://files.pythonhosted.org/packages/ec/e9/"
    f"e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca773a59fe7cf3/{SDIST_NAME}"
)
# A local copy of that sdist (tests, machines without PyPI): used instead of downloading.
SDIST_ENV = "LGUI_LLAMA_CPP_SDIST"
VENDOR_PREFIX = f"llama_cpp_python-{LLAMA_CPP_VERSION}/vendor/llama.cpp/"
CONVERTER_FILE = "convert_hf_to_gguf.py"
# What the converter imports from its own tree; nothing else of llama.cpp is extracted.
CONVERTER_PARTS = (CONVERTER_FILE, "conversion/", "gguf-py/gguf/")
COMPLETE_MARKER = ".complete"  # written last into the cache: its content is SDIST_SHA256

KINDS = ("f16", "q8_0")
TAIL_LINES = 25  # the converter's last lines, quoted when it fails
DOWNLOAD_TIMEOUT_S = 1800
# tqdm (the converter's "Writing" bar) redraws with carriage returns, each a line in our log:
# one redraw every this many seconds.
PROGRESS_INTERVAL_S = "15"


class GgufExportError(RuntimeError):
    """The converter could not be fetched or failed; the message says why."""


def default_cache_dir() -> Path:
    """~/.cache/lambda-gui/llama.cpp-<version>: shared by the jobs of an instance."""
    return Path.home() / ".cache" / "lambda-gui" / f"llama.cpp-{LLAMA_CPP_VERSION}"


# --- fetching the converter --------------------------------------------------------------------


def fetch_converter(cache_dir: Path, say: Say) -> Path:
    """convert_hf_to_gguf.py in `cache_dir`, extracted from the pinned sdist unless already
    there: $LGUI_LLAMA_CPP_SDIST if set, else downloaded with pip (or from PyPI's file host
    when this Python has no pip). The sdist's sha256 is checked; only the converter's files
    are extracted, each a regular file inside `cache_dir`."""
    cache_dir = Path(cache_dir)
    converter = cache_dir / CONVERTER_FILE
    if _is_complete(cache_dir):
        say(f"Using llama.cpp's converter from {cache_dir}.")
        return converter
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=cache_dir.parent) as work:
        local = os.environ.get(SDIST_ENV)
        if local:
            sdist = Path(local)
            say(f"Using llama-cpp-python {LLAMA_CPP_VERSION}'s sources from {sdist}.")
        else:
            sdist = _download_sdist(Path(work), say)
        _check_sha256(sdist)
        staging = Path(work) / "converter"
        count = extract_converter(sdist, staging)
        (staging / COMPLETE_MARKER).write_text(SDIST_SHA256 + "\n", encoding="utf-8")
        if not _is_complete(cache_dir):  # else another job finished first: keep its copy
            if cache_dir.exists():
                shutil.rmtree(cache_dir)
            os.replace(staging, cache_dir)
    say(f"llama.cpp's converter ready in {cache_dir} ({count} files).")
    return converter


def _is_complete(cache_dir: Path) -> bool:
    try:
        marker = (cache_dir / COMPLETE_MARKER).read_text(encoding="utf-8")
    except OSError:
        return False
    return marker.strip() == SDIST_SHA256 and (cache_dir / CONVERTER_FILE).is_file()


def _download_sdist(folder: Path, say: Say) -> Path:
    say(f"Downloading llama-cpp-python {LLAMA_CPP_VERSION}'s sources for llama.cpp's converter.")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--dest",
        str(folder),
        f"llama-cpp-python=={LLAMA_CPP_VERSION}",
    ]
    sdist = folder / SDIST_NAME
    if _has_pip():
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=DOWNLOAD_TIMEOUT_S,
            check=False,
        )
        if done.returncode == 0 and sdist.is_file():
            return sdist
        tail = "\n".join(done.stdout.strip().splitlines()[-TAIL_LINES:])
        say(f"pip could not download it (status {done.returncode}):\n{tail}")
    say(f"Downloading {SDIST_URL}")
    download_url(SDIST_URL, sdist)
    return sdist


def _has_pip() -> bool:
    import importlib.util

    return importlib.util.find_spec("pip") is not None


def download_url(url: str, dest: Path) -> None:
    """`url`'s content into `dest` (written whole or not at all)."""
    partial = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise GgufExportError(f"Could not download {url}: {exc}") from exc
    os.replace(partial, dest)


def _check_sha256(sdist: Path) -> None:
    digest = hashlib.sha256()
    try:
        with sdist.open("rb") as data:
            for block in iter(lambda: data.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise GgufExportError(f"Cannot read llama-cpp-python's sources at {sdist}: {exc}") from exc
    if digest.hexdigest() != SDIST_SHA256:
        raise GgufExportError(
            f"{sdist} is not llama-cpp-python {LLAMA_CPP_VERSION}'s source archive: its sha256 "
            f"is {digest.hexdigest()}, expected {SDIST_SHA256}."
        )


def converter_member_name(name: str) -> str | None:
    """The path under the cache dir for an sdist member `name`, or None to leave it out: only
    the converter's parts, only plain relative paths (no '..', no absolute path)."""
    if not name.startswith(VENDOR_PREFIX):
        return None
    relative = name[len(VENDOR_PREFIX) :]
    if any(part in ("", ".", "..") for part in relative.split("/")):
        return None  # also an empty or absolute name
    if "\\" in relative or not any(
        relative == part or (part.endswith("/") and relative.startswith(part))
        for part in CONVERTER_PARTS
    ):
        return None
    return relative


def extract_converter(sdist: Path, dest: Path) -> int:
    """The converter's regular files from `sdist` into `dest` (created); how many. Links,
    devices and names outside the converter's parts are skipped, and tarfile's "data" filter
    checks each member again."""
    dest.mkdir(parents=True)
    count = 0
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar:
            relative = converter_member_name(member.name)
            if relative is None or not member.isfile():
                continue
            member.name = relative
            if hasattr(tarfile, "data_filter"):
                tar.extract(member, dest, set_attrs=False, filter="data")
            else:  # a Python older than the filters: the checks above must do
                tar.extract(member, dest, set_attrs=False)
            count += 1
    if not (dest / CONVERTER_FILE).is_file() or not (dest / "gguf-py" / "gguf").is_dir():
        raise GgufExportError(f"{sdist} holds no {CONVERTER_FILE} under {VENDOR_PREFIX}.")
    return count


# --- converting --------------------------------------------------------------------------------


def converter_env(converter: Path) -> dict[str, str]:
    """The converter's environment: its own gguf package first on the path (the one its code
    was written with, whatever gguf this Python has), no network, fewer progress redraws."""
    env = dict(os.environ)
    env.pop("NO_LOCAL_GGUF", None)
    gguf_py = str(converter.parent / "gguf-py")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (gguf_py, env.get("PYTHONPATH")) if p)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        TQDM_MININTERVAL=PROGRESS_INTERVAL_S,
    )
    return env


def convert(merged_dir: Path, out_path: Path, kind: str, converter: Path, say: Say) -> None:
    """`merged_dir` (a Hugging Face model folder) converted to `out_path` in `kind`, by
    convert_hf_to_gguf.py run with this Python; its output printed line by line. The file
    appears whole or not at all; GgufExportError quotes the converter's last lines."""
    if kind not in KINDS:
        raise ValueError(f"GGUF type must be one of {', '.join(KINDS)}, got {kind!r}")
    partial = out_path.with_name(out_path.name + ".tmp")
    partial.unlink(missing_ok=True)
    command = [
        sys.executable,
        str(converter),
        str(merged_dir),
        "--outfile",
        str(partial),
        "--outtype",
        kind,
    ]
    say(f"Converting {Path(merged_dir).name}/ to {out_path.name} with llama.cpp's converter.")
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=converter_env(converter),
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
    )
    try:
        for line in _lines(process.stdout):
            print(line, flush=True)
            tail.append(line)
        code = process.wait()
    finally:
        if process.poll() is None:  # cancelled while converting: the converter goes too
            process.kill()
            process.wait()
    if code != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        last = "\n".join(tail) or "(no output)"
        raise GgufExportError(
            f"llama.cpp's converter failed (status {code}) making {out_path.name}:\n{last}"
        )
    os.replace(partial, out_path)


def _lines(stream: Iterable[str] | None) -> Iterable[str]:
    """Non-blank lines of the converter's output (a progress redraw counts as a line)."""
    for line in stream or ():
        text = line.rstrip()
        if text.strip():
            yield text


def write_sha256(path: Path) -> str:
    """<path>.sha256 holding "<hex>  <name>\\n" (as train.py's package() writes); the digest."""
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    target = path.with_name(path.name + ".sha256")
    partial = target.with_name(target.name + ".tmp")
    partial.write_text(f"{digest.hexdigest()}  {path.name}\n", encoding="utf-8")
    os.replace(partial, target)
    return digest.hexdigest()


def export_kind(job_dir: Path, kind: str, converter: Path, say: Say) -> str:
    """model-<kind>.gguf and its .sha256 in `job_dir`, from job_dir/merged; the file name."""
    name = str(protocol.GGUF_FILE_PATTERN).format(kind=kind)
    out_path = Path(job_dir) / name
    convert(Path(job_dir) / protocol.MERGED_DIR, out_path, kind, converter, say)
    write_sha256(out_path)
    say(f"{name} written: {out_path.stat().st_size / 1e6:.1f} MB.")
    return name


def export_all(
    job_dir: Path, kinds: Iterable[str], say: Say, cache_dir: Path | None = None
) -> list[str]:
    """Each of `kinds` (f16, q8_0) exported from job_dir/merged, in that order; the file names
    written. Raises on the first failure (the files already written stay)."""
    wanted = list(kinds)
    unknown = [kind for kind in wanted if kind not in KINDS]
    if unknown:
        raise ValueError(f"GGUF types must be among {', '.join(KINDS)}, got {unknown}")
    if not wanted:
        return []
    merged = Path(job_dir) / protocol.MERGED_DIR
    if not (merged / "config.json").is_file():
        raise GgufExportError(f"No merged model in {merged}: GGUF is made from the merge.")
    converter = fetch_converter(cache_dir or default_cache_dir(), say)
    return [export_kind(job_dir, kind, converter, say) for kind in wanted]
