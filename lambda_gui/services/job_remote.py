"""The part of a job that happens over SSH: upload the bundle, start training detached,
follow the log, bring back the adapter (or what a failed run left)."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path

from lambda_gui.core.dataset_format import is_hub_path
from lambda_gui.core.errors import ArtifactMissingError, LambdaGUIError, SSHError
from lambda_gui.core.job_state import Phase, Reason
from lambda_gui.core.limits import LossGuard
from lambda_gui.core.log_reader import SHOWN_LINES, LogReader, ReadBatch, decode_lines, still_shown
from lambda_gui.core.logparse import LogEvent, MetricEvent, MetricRun, StatusEvent
from lambda_gui.remote import bundle as B
from lambda_gui.remote.logtail import LineBlock, LogFollower
from lambda_gui.remote.self_terminate import HEARTBEAT_COMMAND
from lambda_gui.remote.ssh_reconnect import ReconnectingSSH, wait_for_ssh
from lambda_gui.remote.ssh_session import SSHSession
from lambda_gui.remote.ssh_target import SSHTarget
from lambda_gui.remote.transfer import download, fetch_remote_sha256
from lambda_gui.services.events import DownloadProgress, JobLogEvents, JobLogLines
from lambda_gui.services.job_context import JobContext
from lambda_gui.services.job_resume import CHECKPOINT_FILE, checkpoint_path
from lambda_gui.services.local_model import model_files
from lambda_gui.services.log_span import LogSpan
from lambda_gui.services.queued_lines import QueuedLines
from lambda_gui.services.store import JobRecord
from lambda_gui.services.tracker_secrets import tracker_environment

_FLUSH_S = 0.25
# A batch this long is decoded and parsed in a worker thread, so the loop stays responsive.
_THREAD_LINES = 256
# This many lines queued: a flood; the next batch is taken without waiting for _FLUSH_S.
_FLOOD_LINES = 20_000
# Events are published at most this many at a time (what the window does per event is small).
_SLICE_EVENTS = 2000
# Lines queued beyond this make the follower wait for the parsing: memory stays bounded.
_BACKLOG_LINES = 100_000
_RUNNING_STATES = ("starting", "running")
_STOP_SSH_S = 20.0
# train.py packages its latest checkpoint on SIGTERM; give it this long.
_STOP_WAIT_S = 60.0
# Room left on the disk beyond the download itself (the store, logs, the OS).
_FREE_MARGIN = 64 * 1024 * 1024

StopSoon = Callable[[str, str], None]


class Outcome(Enum):
    """How a job's time on its instance ended."""

    COMPLETED = "completed"  # the adapter is here and verified
    FAILED = "failed"  # the job failed (recorded); the instance can go
    KEPT = "kept"  # the adapter could not be downloaded: the instance is kept for a retry


class LocalDiskFullError(LambdaGUIError, OSError):
    """Not enough free space here for a download."""


class RemoteJob:
    """One job on one active instance."""

    def __init__(self, ctx: JobContext, job: JobRecord, stop_soon: StopSoon) -> None:
        self.ctx = ctx
        self.job = job
        self.stop_soon = stop_soon
        self.dir = B.job_dir(job.id)
        self.target = SSHTarget(
            host=job.ip or "",
            port=job.ssh_port or 22,
            key_path=self.ctx.login_key.path,
            instance_id=job.instance_id or "",
        )
        self._ssh: ReconnectingSSH | None = None
        # What the completion message adds: after-training steps that failed on the instance.
        self.notes: list[str] = []
        self.saved: list[str] = ["adapter"]

    @property
    def ssh(self) -> ReconnectingSSH:
        """The reconnecting SSH connection (after connect())."""
        if self._ssh is None:
            raise RuntimeError("RemoteJob.connect() was not awaited")
        return self._ssh

    async def connect(self, deadline_s: float | None = None) -> None:
        """Wait for the instance's SSH (it refuses for a while after `active`)."""
        limit = self.ctx.timing.ssh_deadline_s if deadline_s is None else deadline_s
        session = await wait_for_ssh(self.target, limit, self.ctx.paths.known_hosts)
        self._ssh = ReconnectingSSH(self.target, self.ctx.paths.known_hosts, session=session)

    async def close(self) -> None:
        """Close the SSH connection."""
        if self._ssh is not None:
            await self._ssh.close()

    async def run_to_end(self) -> Outcome:
        """Set up and start (unless already started), follow the log to the end, download.

        FAILED has recorded the reason and whatever was saved; KEPT has recorded why the
        download failed and that the instance is kept."""
        lc = self.ctx.lifecycle
        state, _ = await self._status(await self.ssh.session())
        if state in ("missing", "not-started"):
            await self._upload_and_start(await self.ssh.session())
        if self.job.phase is Phase.SETTING_UP and state != "exited":
            await lc.move(
                self.job.id, Reason.TRAINING_STARTED, "Training started.", phase=Phase.RUNNING
            )
        if state != "exited":
            await self._follow_log()
        state, code = await self._status(await self.ssh.session())
        if not (state == "exited" and code == 0):
            await self._fail_with_what_remains(state, code)
            return Outcome.FAILED
        await lc.move(
            self.job.id,
            Reason.TRAINING_FINISHED,
            "Training finished; downloading the adapter.",
            phase=Phase.DOWNLOADING,
            error=None,
        )
        try:
            path = await self._download(B.ARTIFACT_FILE, "adapter.tar.gz")
            await self._copy_small(B.METRICS_FILE)
            await self._download_after_training()
        except ArtifactMissingError as exc:
            # Training said it succeeded but left no adapter: nothing to keep the instance for.
            await lc.fail(self.job.id, Reason.JOB_ERROR, f"Job failed: {exc}")
            return Outcome.FAILED
        except (LambdaGUIError, OSError) as exc:
            await self._keep_for_retry(exc)
            return Outcome.KEPT
        await self.ctx.store.update_job(self.job.id, adapter_path=str(path))
        return Outcome.COMPLETED

    async def _download_after_training(self) -> None:
        """Samples and the opt-in merged model and GGUF files, each verified like the adapter. A step that
        failed on the instance (it said so in the log) is noted, not fatal: the adapter is
        here. Raises (the instance is then kept) only when a file that exists fails to come."""
        cfg = self.job.config
        session = await self.ssh.session()
        if cfg.samples > 0:
            await self._copy_small(B.SAMPLES_FILE)
            if not await asyncio.to_thread(
                (self.ctx.paths.job_dir(self.job.id) / B.SAMPLES_FILE).is_file
            ):
                self.notes.append("no samples: generating them failed on the instance (see log)")
        if cfg.merge:
            sha = f"{self.dir}/{B.MERGED_ARTIFACT_FILE}.sha256"
            if (await session.run(["test", "-f", sha]))[0] == 0:
                await self._download(B.MERGED_ARTIFACT_FILE, B.MERGED_ARTIFACT_FILE)
                self.saved.append("merged model")
            else:
                self.notes.append("no merged model: the merge failed on the instance (see log)")
        for kind in cfg.gguf:
            name = B.GGUF_FILE_PATTERN.format(kind=kind)
            if (await session.run(["test", "-f", f"{self.dir}/{name}.sha256"]))[0] == 0:
                await self._download(name, name)
                self.saved.append(f"GGUF {kind}")
            else:
                self.notes.append(f"no GGUF {kind}: its export failed on the instance (see log)")

    async def enter_after_training(self, phase_name: str) -> None:
        """The instance reports an after-training step (sampling, exporting): record it."""
        phase = {"sampling": Phase.SAMPLING, "exporting": Phase.EXPORTING}.get(phase_name)
        if phase is None:
            return
        job = await self.ctx.store.get_job(self.job.id)
        if (
            job.phase in (Phase.RUNNING, Phase.SETTING_UP, Phase.SAMPLING)
            and job.phase is not phase
        ):
            words = {
                Phase.SAMPLING: "generating samples",
                Phase.EXPORTING: "merging and exporting the model",
            }[phase]
            await self.ctx.lifecycle.move(
                self.job.id,
                Reason.AFTER_TRAINING_STEP,
                f"Training finished; the instance is {words}.",
                phase=phase,
            )

    async def _keep_for_retry(self, exc: BaseException) -> None:
        rate = self.job.price_cents_per_hour / 100.0
        message = (
            f"Download failed: {exc}. The instance is kept, billing ${rate:.2f}/h, with the "
            "adapter on it: Retry download, or Terminate it. The partial download is kept "
            "and resumes on retry."
        )
        await self.ctx.lifecycle.move(
            self.job.id, Reason.DOWNLOAD_FAILED, message, phase=Phase.DOWNLOADING, error=message
        )

    # -- set-up ---------------------------------------------------------------------------

    async def _upload_and_start(self, session: SSHSession) -> None:
        cfg = self.job.config
        hub = is_hub_path(cfg.dataset_path)
        dataset_name = None if hub else B.dataset_remote_name(cfg.dataset_path)
        # Read before any upload: a secret missing from the keyring fails the job here.
        env = B.tracker_env_stdin(await tracker_environment(cfg, self.ctx.secrets))
        gpus = await self.ctx.gpu_count(self.job)
        bundle = B.build_bundle(cfg, self.job.id, gpu_count=gpus, dataset_name=dataset_name)
        await session.check(B.remote_command(B.MKDIR_COMMAND, self.job.id))
        for item in bundle.files:
            await session.put_bytes(f"{self.dir}/{item.path}", item.data, item.mode)
        if dataset_name is not None:
            await session.put_file(
                _local(cfg.dataset_path),
                f"{self.dir}/{B.DATA_DIR}/{dataset_name}",
                mode=0o600,
            )
        if cfg.resume_of:
            # Checked when the job was resumed (services/job_resume.py); unpacked by train.py.
            await session.put_file(
                checkpoint_path(self.ctx.paths.job_dir(cfg.resume_of)),
                f"{self.dir}/{B.RESUME_FILE}",
                mode=0o600,
            )
        if cfg.model_source == "local":
            # Walked again: the folder may have changed since the check before launch.
            files = await asyncio.to_thread(model_files, cfg.base_model)
            await session.put_files(files, f"{self.dir}/{B.MODEL_DIR}")
        await session.check(B.remote_command(B.START_COMMAND, self.job.id), stdin=env)

    # -- the log --------------------------------------------------------------------------

    async def _follow_log(self) -> None:
        offset = await self._remote_offset()
        follower = LogFollower(
            self.ssh, f"{self.dir}/{B.LOG_FILE}", offset, stop=self._training_over
        )
        batcher = _LogBatcher(self, offset)
        helpers = [asyncio.create_task(batcher.run(), name=f"log-flush:{self.job.id}")]
        if self.job.config.self_terminate:
            helpers.append(asyncio.create_task(self._heartbeat(), name=f"heartbeat:{self.job.id}"))
        try:
            async for lines, new_offset in follower.batches():
                if batcher.add_many(lines, new_offset):
                    await batcher.drained()  # far behind: let the parsing catch up first
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            try:
                await batcher.flush(save_offset=True)
            finally:
                self.ctx.readers.release(self.job.id)

    async def _heartbeat(self) -> None:
        """Tell the instance's watchdog the app is alive (opt-in self-termination only)."""
        grace_s = self.job.config.self_terminate_grace_minutes * 60
        interval = max(2.0, min(60.0, grace_s / 4))
        while True:
            try:
                session = await self.ssh.session()
                await session.run(HEARTBEAT_COMMAND, timeout=interval)
            except SSHError:
                pass  # the follower reconnects; the next beat goes over the new session
            await asyncio.sleep(interval)

    async def _training_over(self, session: SSHSession) -> bool:
        state, _ = await self._status(session)
        return state not in _RUNNING_STATES

    async def _status(self, session: SSHSession) -> tuple[str, int | None]:
        out = await session.check(B.remote_command(B.STATUS_COMMAND, self.job.id))
        return B.parse_status_output(out.decode(errors="replace"))

    # -- results --------------------------------------------------------------------------

    async def _download(self, remote_name: str, local_name: str) -> Path:
        rel = f"{self.dir}/{remote_name}"
        session = await self.ssh.session()
        digest = await fetch_remote_sha256(session, rel)
        dest = self.ctx.paths.job_dir(self.job.id) / local_name
        await self._check_free_space(session, rel, dest)
        bus, job_id = self.ctx.bus, self.job.id

        def progress(done: int, total: int) -> None:
            bus.publish(DownloadProgress(job_id, done, total))

        path = await download(self.ssh, rel, dest, expected_sha256=digest, progress=progress)
        await asyncio.to_thread(
            dest.with_name(local_name + ".sha256").write_text, f"{digest}  {local_name}\n"
        )
        return path

    async def _check_free_space(self, session: SSHSession, rel: str, dest: Path) -> None:
        """Refuse to start a download the local disk cannot hold (before a byte is written)."""
        code, out, _ = await session.run(["stat", "-c", "%s", "--", rel])
        if code != 0 or not out.strip().isdigit():
            return  # the download itself reports a missing file
        size = int(out.strip())
        await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
        usage = await asyncio.to_thread(shutil.disk_usage, dest.parent)
        have = await asyncio.to_thread(_size_or_zero, dest.with_name(dest.name + ".part"))
        need = size - have + _FREE_MARGIN
        if usage.free < need:
            raise LocalDiskFullError(
                f"not enough free space in {dest.parent}: {size / 1e6:.1f} MB to download, "
                f"{usage.free / 1e6:.1f} MB free. Free at least {need / 1e6:.0f} MB"
            )

    async def _copy_small(self, remote_name: str) -> None:
        """Bring back a small text file (metrics, error message) if it exists."""
        session = await self.ssh.session()
        code, out, _ = await session.run(["cat", "--", f"{self.dir}/{remote_name}"])
        if code == 0:
            dest = self.ctx.paths.job_dir(self.job.id) / remote_name
            await asyncio.to_thread(dest.write_bytes, out)

    async def _fail_with_what_remains(self, state: str, code: int | None) -> None:
        if state == "exited":
            reason = B.EXIT_CODES.get(code or 1, f"training exited with status {code}")
        elif state == "stopped":
            reason = "the training process disappeared without a result (killed or rebooted)"
        else:
            reason = f"the job directory is in an unexpected state ({state})"
        detail = ""
        saved: list[str] = []
        try:
            await self._copy_small(B.ERROR_FILE)
            await self._copy_small(B.METRICS_FILE)
            error_file = self.ctx.paths.job_dir(self.job.id) / B.ERROR_FILE
            if await asyncio.to_thread(error_file.is_file):
                text = await asyncio.to_thread(error_file.read_text, "utf-8", "replace")
                detail = text.strip().splitlines()[0][:300] if text.strip() else ""
            session = await self.ssh.session()
            sha = f"{self.dir}/{B.ARTIFACT_FILE}.sha256"
            if (await session.run(["test", "-f", sha]))[0] == 0:
                await self._download(B.ARTIFACT_FILE, CHECKPOINT_FILE)
                saved.append("the last checkpoint (checkpoint.tar.gz)")
        except (LambdaGUIError, OSError) as exc:
            detail = detail or f"(could not read the error details: {exc})"
        message = f"Job failed: {reason}."
        if detail:
            message += f" {detail}"
        message += " The log was saved" + (f", and {saved[0]}." if saved else ".")
        await self.ctx.lifecycle.fail(self.job.id, Reason.TRAINING_FAILED, message)

    @staticmethod
    async def stop_and_save(ctx: JobContext, job: JobRecord) -> list[str]:
        """Best effort before a terminate: stop the training process group (train.py then
        packages its latest checkpoint), bring back the log's tail, metrics and checkpoint.
        Returns what was saved, in words."""
        remote = RemoteJob(ctx, job, lambda _job_id, _reason: None)
        try:
            await remote.connect(_STOP_SSH_S)
        except SSHError:
            return []
        saved: list[str] = []
        try:
            session = await remote.ssh.session()
            state, _ = await remote._status(session)
            if state in _RUNNING_STATES:
                await session.run(B.remote_command(B.CANCEL_COMMAND, job.id), timeout=15.0)
                deadline = time.monotonic() + _STOP_WAIT_S
                while state in _RUNNING_STATES and time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                    state, _ = await remote._status(session)
            await remote._catch_up_log()
            saved.append("the log")
            await remote._copy_small(B.METRICS_FILE)
            sha = f"{remote.dir}/{B.ARTIFACT_FILE}.sha256"
            if (await session.run(["test", "-f", sha]))[0] == 0:
                await remote._download(B.ARTIFACT_FILE, CHECKPOINT_FILE)
                saved.append("the last checkpoint (checkpoint.tar.gz)")
        except (LambdaGUIError, OSError):
            pass
        finally:
            await remote.close()
        return saved

    async def _catch_up_log(self) -> None:
        """Read the rest of the remote log (the job has stopped) into the local copy."""
        session = await self.ssh.session()
        offset = await self._remote_offset()
        code, out, _ = await session.run(
            ["tail", "-c", f"+{offset + 1}", "--", f"{self.dir}/{B.LOG_FILE}"]
        )
        if code == 0 and out:
            await self.ctx.logs.append(self.job.id, out)
            await self.ctx.store.update_job(self.job.id, log_offset=offset + len(out))

    async def _remote_offset(self) -> int:
        """Where the remote log was read up to. The local copy can be shorter (an overlong
        line is cut there with a marker), so the stored remote offset wins over its size."""
        stored = (await self.ctx.store.get_job(self.job.id)).log_offset
        return stored or await self.ctx.logs.size(self.job.id)


def _local(path_text: str) -> Path:
    return Path(path_text).expanduser()


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _event_slices(events: list[LogEvent], size: int) -> list[tuple[LogEvent, ...]]:
    """`events` in slices of at most `size` events, a MetricRun counting as the events it
    stands for (a long one is cut): what a listener does per slice stays small."""
    slices: list[tuple[LogEvent, ...]] = []
    current: list[LogEvent] = []
    weight = 0
    for event in events:
        for part in event.parts(size) if isinstance(event, MetricRun) else (event,):
            count = len(part) if isinstance(part, MetricRun) else 1
            if current and weight + count > size:
                slices.append(tuple(current))
                current, weight = [], 0
            current.append(part)
            weight += count
    if current:
        slices.append(tuple(current))
    return slices


class _LogBatcher:
    """Coalesces streamed lines: the local log, the store's offset and the events are
    updated a few times a second, never per line (docs/architecture.md#conventions, rule 7)."""

    def __init__(self, remote: RemoteJob, start: int = 0) -> None:
        self.remote = remote
        self.start = start  # where the next batch's first line begins (a byte offset)
        # What the log view keeps of a batch is read here too, off the GUI thread.
        self.reader = LogReader(keep=SHOWN_LINES)
        cfg = remote.job.config
        self.guard = LossGuard(cfg.divergence_ratio) if cfg.stop_on_divergence else None
        self.lines = QueuedLines()
        self.offset = 0
        self.slot = remote.ctx.readers.slot(remote.job.id)  # its count of queued lines
        remote.ctx.readers.prepare()
        self.lock = asyncio.Lock()
        self.taken = asyncio.Event()  # set whenever a flush takes the queued lines

    def add(self, line: bytes, offset: int) -> bool:
        """Queue a line; True when the queue is so long that the reader should wait."""
        return self.add_many([line], offset)

    def add_many(self, lines: LineBlock | list[bytes], offset: int) -> bool:
        """Queue lines ending at `offset`; True when the reader should wait (see `add`)."""
        self.lines.add(lines)
        self.offset = offset
        self.remote.ctx.readers.set_queued(self.slot, len(self.lines))
        return len(self.lines) >= _BACKLOG_LINES

    async def drained(self) -> None:
        """Wait until a flush took the queued lines (the remote file keeps the rest)."""
        while len(self.lines) >= _BACKLOG_LINES:
            self.taken.clear()
            await self.taken.wait()

    def _watch_loss(self, events: list[LogEvent]) -> None:
        if self.guard is None:
            return
        for event in events:
            if isinstance(event, MetricRun):
                losses = [v for v in event.values.get("loss", ()) if v is not None]
            elif isinstance(event, MetricEvent) and "loss" in event.values:
                losses = [event.values["loss"]]
            else:
                continue
            for loss in losses:
                reason = self.guard.feed(loss)
                if reason:
                    self.remote.stop_soon(self.remote.job.id, reason)
                    self.guard = None
                    return

    def _read(self, lines: Sequence[bytes]) -> tuple[list[str], ReadBatch]:
        """The batch's lines as text, their events and what the view shows of them (pure:
        runs in a worker)."""
        text = decode_lines(lines)
        return text, self.reader.read(text, self._still_shown)

    def _still_shown(self) -> int:
        return still_shown(len(self.lines))

    async def _read_batch(
        self, lines: QueuedLines, span: LogSpan
    ) -> tuple[Sequence[str], ReadBatch]:
        # Decoded and read off the loop's thread (the GUI thread in the app), the whole batch
        # at once under the flush lock, so the reader sees the lines in order: a flood's
        # batches in a worker process, from where they lie in the local log (`span`,
        # services/log_read_pool.py), others in a thread.
        done = await self.remote.ctx.readers.read(self.reader, lines, span, self.slot)
        if done is not None:
            self.reader, text, read = done
            return text, read
        if len(lines) >= _THREAD_LINES:
            return await asyncio.to_thread(self._read, lines)
        return self._read(lines)

    async def _publish(self, text: Sequence[str], read: ReadBatch, start: int, offset: int) -> None:
        ctx, job_id = self.remote.ctx, self.remote.job.id
        # One event for the batch's lines, whatever their number: it carries the view's data
        # for the newest of them (at most the view's SHOWN_LINES, core/log_reader.py), so what
        # the window does with it is bounded, and a flood's text (SpanLines) is never read
        # here.
        ctx.bus.publish(JobLogLines(job_id, text, offset, tuple(read.shown), start))
        await asyncio.sleep(0)  # the window's own events before the batch's events
        events = read.events
        for part in _event_slices(events, _SLICE_EVENTS):
            ctx.bus.publish(JobLogEvents(job_id, part))
            await asyncio.sleep(0)
        if events:
            self._watch_loss(events)
            for event in events:
                if isinstance(event, StatusEvent):
                    await self.remote.enter_after_training(event.phase)

    async def run(self) -> None:
        while True:
            # During a flood the next batch is taken at once; otherwise a few times a second.
            await asyncio.sleep(0 if len(self.lines) >= _FLOOD_LINES else _FLUSH_S)
            # Shielded: cancelling the flusher (the log ended) must not drop the batch being
            # parsed; the final flush waits for it on the lock.
            await asyncio.shield(self.flush())

    async def flush(self, *, save_offset: bool = False) -> None:
        """Append the queued lines to the local log, read and publish them (`save_offset`:
        save the offset even with no new line)."""
        async with self.lock:
            # Taken together, before any await: lines arriving meanwhile belong to the next batch.
            lines, self.lines, offset = self.lines, QueuedLines(), self.offset
            start = self.start
            if lines:
                self.start = offset
            self.taken.set()
            ctx, job_id = self.remote.ctx, self.remote.job.id
            appended = bool(lines)
            if lines:
                ctx.readers.set_queued(self.slot, 0)
                try:
                    # Written a block at a time: no copy of a flood's batch holds the GUI thread.
                    file_start, file_end = await ctx.logs.append(job_id, lines.blocks)
                    span = (str(ctx.logs.path(job_id)), file_start, file_end)
                    text, read = await self._read_batch(lines, span)
                    await self._publish(text, read, start, offset)
                finally:
                    # Emptied once used: an idle executor thread can keep its last call's
                    # arguments. A flood's 100,000-line batch kept so cost ~10 MB a thread,
                    # and 20-40 ms of the GUI thread for each collection that walked it.
                    lines.clear()
            # Saved with every appended batch: a restart resumes right after the last line
            # written locally (the remote offset, which counts the bytes of cut lines too).
            if (appended or save_offset) and offset:
                await ctx.store.update_job(job_id, log_offset=offset)
