"""Pushing to the Hugging Face Hub: a completed job's adapter with its model card and loss
curve, or any local model folder, uploaded by huggingface_hub in a worker thread.

The token goes to huggingface_hub and nowhere else: it is never logged, written to a file or
put in a message (every message that leaves this module has it blanked). huggingface_hub is
imported only when a push starts, so the app runs without it until one is asked for."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambda_gui.cloud.errors_map import sanitize
from lambda_gui.core.errors import ArtifactMissingError, ChecksumMismatchError, LambdaGUIError
from lambda_gui.remote.archive import safe_extract
from lambda_gui.services.loss_curve_png import render_loss_curve
from lambda_gui.services.model_card import LOSS_CURVE_FILE, build_model_card, loss_series
from lambda_gui.services.store import JobRecord
from lambda_gui.services.tracker_secrets import SecretKeeper

if TYPE_CHECKING:
    from huggingface_hub import HfApi

log = logging.getLogger(__name__)

HUB_URL = "https://huggingface.co"
TOKEN_NAME = "HF_TOKEN"
CARD_FILE = "README.md"
# What stays home from the adapter archive: PEFT's template card (ours replaces it), the app's
# training summary (job id and the instance's paths) and the trainer's TensorBoard runs.
LEFT_OUT_FILES = frozenset({CARD_FILE, "lgui_training.json", "training_args.bin"})
LEFT_OUT_DIRS = frozenset({"runs"})
# Each part of a repo id: letters, digits, "-", "_", "."; a letter, digit or "_" at both ends.
_REPO_PART = re.compile(r"\w(?:[\w.-]{0,94}\w)?", re.ASCII)
_CHUNK = 1024 * 1024

StepReport = Callable[[str], None]


class HubError(LambdaGUIError):
    """A push to the Hugging Face Hub failed; the message says what to do."""


class HubRepoIdError(HubError, ValueError):
    """The repo id is not one the Hub accepts; nothing was sent."""


class HubAuthError(HubError, ValueError):
    """The Hub refused the token (wrong, expired, read-only or without this namespace)."""


class HubTokenMissingError(HubAuthError):
    """No Hugging Face token is saved, so nothing can be pushed."""


class HubUnavailableError(HubError, ConnectionError):
    """The Hub could not be reached, or was busy or failing; trying again later may work."""


class HubRequestError(HubError, RuntimeError):
    """The Hub answered but refused the push for another reason, named in the message."""


def check_repo_id(repo_id: str) -> str:
    """`repo_id` stripped when it is a Hub model id "namespace/name"; HubRepoIdError if not."""
    text = repo_id.strip()
    example = "Write it as namespace/name, e.g. your-user-name/llama-3-8b-support-lora."
    namespace, slash, name = text.partition("/")
    if not slash or "/" in name:
        raise HubRepoIdError(f"'{sanitize(text, 120)}' is not a Hub repo id. {example}")
    for part, what in ((namespace, "namespace (user or organization)"), (name, "name")):
        if not _REPO_PART.fullmatch(part):
            raise HubRepoIdError(
                f"The {what} '{sanitize(part, 120)}' is not one the Hub accepts: up to 96 "
                "letters, digits, '-', '_' or '.', not starting or ending with '-' or '.'. "
                + example
            )
        if "--" in part or ".." in part:
            raise HubRepoIdError(
                f"The {what} '{sanitize(part, 120)}' holds '--' or '..', which the Hub refuses."
            )
    if name.lower().endswith(".git"):
        raise HubRepoIdError(
            f"The name '{sanitize(name, 120)}' ends in '.git', which the Hub refuses."
        )
    return text


def hub_endpoint(endpoint: str | None = None) -> str:
    """The Hub's address: `endpoint`, else HF_ENDPOINT (read now), else huggingface.co."""
    url = (endpoint or os.environ.get("HF_ENDPOINT") or HUB_URL).strip().rstrip("/")
    if not url.startswith(("https://", "http://")):
        raise HubRequestError(
            f"The Hub address '{sanitize(url, 120)}' is not an http(s) URL.",
            suggestion="Fix HF_ENDPOINT, or unset it to use https://huggingface.co.",
        )
    return url


async def hub_token(keeper: SecretKeeper) -> str:
    """The user's Hugging Face token, kept in the keyring as HF_TOKEN (a tracker secret)."""
    token = (await keeper.secret(TOKEN_NAME) or "").strip()
    if not token:
        raise HubTokenMissingError(
            "No Hugging Face token is saved, so nothing can be pushed to the Hub.",
            suggestion=(
                f"Create a write token at {HUB_URL}/settings/tokens and enter it as the "
                "Hugging Face token in Settings (it is kept in the keyring as HF_TOKEN)."
            ),
        )
    return token


async def push_adapter(
    job: JobRecord,
    adapter_archive: Path,
    metrics: Sequence[Mapping[str, Any]],
    repo_id: str,
    token: str,
    *,
    private: bool = True,
    endpoint: str | None = None,
    progress: StepReport | None = None,
    license_id: str | None = None,
) -> str:
    """Upload the job's verified adapter.tar.gz unpacked, with README.md (the model card) and
    loss_curve.png, to the Hub model repo `repo_id` (created if needed); the repo's URL."""
    repo_id = check_repo_id(repo_id)
    url = hub_endpoint(endpoint)
    _require_token(token)
    _report(progress, "Checking the adapter archive")
    await asyncio.to_thread(_verify_archive, Path(adapter_archive), job.id)
    series = loss_series(metrics)
    card = await asyncio.to_thread(
        build_model_card,
        job,
        metrics,
        repo_id=repo_id,
        license_id=license_id,
        loss_curve=bool(series),
    )
    staging = await asyncio.to_thread(_staging_dir, Path(adapter_archive).parent)
    try:
        _report(progress, "Unpacking the adapter and drawing the loss curve")
        folder = await asyncio.to_thread(
            _stage_adapter, Path(adapter_archive), staging, card, series.train, series.eval
        )
        return await _upload(
            folder,
            repo_id,
            token,
            private=private,
            endpoint=url,
            message=f"Upload the adapter of Lambda GUI job {job.id}",
            progress=progress,
        )
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)


async def push_folder(
    folder: Path,
    repo_id: str,
    token: str,
    *,
    private: bool = True,
    endpoint: str | None = None,
    progress: StepReport | None = None,
    commit_message: str = "Upload a model with Lambda GUI",
) -> str:
    """Upload a local model folder as it is (a merged model, say) to `repo_id`; its URL."""
    repo_id = check_repo_id(repo_id)
    url = hub_endpoint(endpoint)
    _require_token(token)
    if not await asyncio.to_thread(Path(folder).is_dir):
        raise ArtifactMissingError(f"There is no folder to push at {folder}.")
    return await _upload(
        Path(folder),
        repo_id,
        token,
        private=private,
        endpoint=url,
        message=commit_message,
        progress=progress,
    )


# -- upload ----------------------------------------------------------------------------------


async def _upload(
    folder: Path,
    repo_id: str,
    token: str,
    *,
    private: bool,
    endpoint: str,
    message: str,
    progress: StepReport | None,
) -> str:
    api = _hub_api(endpoint, token)
    try:
        _report(progress, f"Creating {repo_id} on the Hub")
        url = await asyncio.to_thread(_create_repo, api, repo_id, private)
        _report(progress, f"Uploading to {repo_id}")
        await asyncio.to_thread(
            api.upload_folder, repo_id=repo_id, folder_path=folder, commit_message=message
        )
    except HubError:
        raise
    except Exception as exc:  # huggingface_hub and httpx raise many kinds; each gets words
        error = explain(exc, token=token, repo_id=repo_id, endpoint=endpoint)
        log.warning("Hub push of %s failed: %s", repo_id, error)
        # The cause is left off: its response object holds the request and its headers.
        raise error from None
    _report(progress, f"Pushed to {url}")
    return url


def _hub_api(endpoint: str, token: str) -> HfApi:
    try:
        from huggingface_hub import HfApi
        from huggingface_hub.utils.tqdm import disable_progress_bars
    except ImportError:
        raise HubRequestError(
            "Pushing to the Hub needs the huggingface_hub package, which is not installed.",
            suggestion="Install it (pip install huggingface_hub) and try again.",
        ) from None
    # Its tqdm bars write to a console the window does not have.
    disable_progress_bars()
    return HfApi(endpoint=endpoint, token=token, library_name="lambda-gui")


def _create_repo(api: HfApi, repo_id: str, private: bool) -> str:
    """Create the repo (an existing one is kept); refuse to upload a private push into a
    public repo, since create_repo leaves an existing repo's visibility as it is."""
    url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    if private and api.model_info(repo_id).private is False:
        raise HubRequestError(
            f"{repo_id} already exists on the Hub and is public: pushing there would publish "
            "the adapter, so nothing was uploaded.",
            suggestion="Make it private in its settings on the Hub, or push it as public.",
        )
    return str(url)


def explain(exc: BaseException, *, token: str, repo_id: str, endpoint: str) -> HubError:
    """A huggingface_hub or network failure as a HubError saying what to do, token blanked."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    cause = exc
    # An LFS upload's failure comes wrapped: "Error while uploading 'x' to the Hub."
    while isinstance(cause, RuntimeError) and isinstance(cause.__cause__, Exception):
        cause = cause.__cause__
    detail = _scrub(str(cause) or type(cause).__name__, token)
    tokens_page = f"{endpoint}/settings/tokens"
    if isinstance(cause, OfflineModeIsEnabled):
        return HubUnavailableError(
            "HF_HUB_OFFLINE is set where the app was started, so huggingface_hub refuses to "
            "contact the Hub.",
            suggestion="Start the app without HF_HUB_OFFLINE to push.",
        )
    if isinstance(cause, HfHubHTTPError) and cause.response is not None:
        status = cause.response.status_code
        said = _scrub(cause.server_message or "", token)
        said = f" ({said})" if said else ""
        if status == 401:
            return HubAuthError(
                f"The Hub refused the token (HTTP 401{said}): it is wrong, expired or revoked.",
                suggestion=(
                    f"Create a write token at {tokens_page} and enter it as the Hugging Face "
                    "token in Settings."
                ),
                status=status,
            )
        if status == 403:
            namespace = repo_id.split("/", 1)[0]
            return HubAuthError(
                f"The Hub refused to let this token write to {repo_id} (HTTP 403{said}).",
                suggestion=(
                    f"Use a token with write access to '{namespace}' (a read-only token cannot "
                    f"push): create one at {tokens_page} and enter it as the Hugging Face token in "
                    "Settings."
                ),
                status=status,
            )
        if status == 404:
            return HubRequestError(
                f"The Hub found no repo {repo_id} this token may write to (HTTP 404{said}).",
                suggestion=(
                    "Check that the namespace is your user name or an organization you belong "
                    "to, and that the token may write there."
                ),
                status=status,
            )
        if status == 429 or status >= 500:
            return HubUnavailableError(
                f"The Hub is busy or failing (HTTP {status}{said}).",
                suggestion="Try the push again in a few minutes.",
                status=status,
            )
        return HubRequestError(
            f"The Hub refused the push to {repo_id} (HTTP {status}{said or ': ' + detail}).",
            status=status,
        )
    if _is_network_error(cause):
        return HubUnavailableError(
            f"Could not reach the Hub at {endpoint} ({detail}).",
            suggestion="Check the internet connection (and HF_ENDPOINT, if set), then push again.",
        )
    return HubRequestError(f"Pushing {repo_id} to the Hub failed: {detail}")


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        import httpx2
    except ImportError:  # an older huggingface_hub (requests or httpx underneath)
        return isinstance(exc, OSError)
    return isinstance(exc, httpx2.TransportError)


# -- local side -------------------------------------------------------------------------------


def _require_token(token: str) -> None:
    if not token or not token.strip():
        raise HubTokenMissingError(
            "No Hugging Face token was given, so nothing can be pushed to the Hub.",
            suggestion=(
                f"Create a write token at {HUB_URL}/settings/tokens and enter it as the Hugging "
                "Face token in Settings."
            ),
        )


def _verify_archive(path: Path, job_id: str) -> None:
    """The archive exists and matches its .sha256 (when it has one), read in chunks."""
    if not path.is_file():
        raise ArtifactMissingError(
            f"The adapter of job {job_id} is missing from {path}.",
            suggestion="It was deleted or moved; download it again or train it again.",
        )
    side = path.with_name(path.name + ".sha256")
    try:
        words = side.read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return
    if not words:
        return
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != words[0].lower():
        raise ChecksumMismatchError(
            f"The saved adapter of job {job_id} no longer matches its checksum (changed on "
            "disk); nothing was pushed."
        )


def _staging_dir(beside: Path) -> Path:
    """A private scratch folder on the archive's disk (an adapter can be gigabytes)."""
    return Path(tempfile.mkdtemp(prefix=".hub-push-", dir=beside))


def _stage_adapter(
    archive: Path,
    staging: Path,
    card: str,
    train: Sequence[tuple[float, float]],
    evals: Sequence[tuple[float, float]],
) -> Path:
    """The archive unpacked into `staging`/repo, less what stays home, plus card and curve."""
    folder = safe_extract(archive, staging / "repo")
    for name in LEFT_OUT_FILES:
        if (folder / name).is_file():
            (folder / name).unlink()
    for name in LEFT_OUT_DIRS:
        if (folder / name).is_dir():
            shutil.rmtree(folder / name)
    (folder / CARD_FILE).write_text(card, encoding="utf-8")
    if train or evals:
        (folder / LOSS_CURVE_FILE).write_bytes(render_loss_curve(train, evals))
    return folder


def _scrub(text: str, token: str) -> str:
    """`text` on one line with the token blanked wherever it appears."""
    if token:
        text = text.replace(token, "…")
    return sanitize(text, 400)


def _report(progress: StepReport | None, step: str) -> None:
    if progress is not None:
        progress(step)
