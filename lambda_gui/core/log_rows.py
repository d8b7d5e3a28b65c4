"""A training log as a person reads it: one row per logging step, phases in words, no bars.

`LogRowBuilder.feed` takes the raw log one line at a time (what train.log holds) and gives the
rows to show for it, each with a level (info, warning, error) to filter by:

- ``LGUI_METRIC`` lines become one row per logging step: step of total, epoch, loss, eval loss,
  learning rate, grad norm and tokens per second when the numbers are there. The step is the
  metric's own (the tqdm bar in front of it lags behind and is dropped);
- the trainer's own dict print of the same numbers is dropped once ``LGUI_METRIC`` lines were
  seen (an older log without them gets a row from the dict);
- ``LGUI_STATUS`` lines become a sentence ("Checkpoint saved at step 20", "Job failed ...");
- tqdm bars are dropped; a named bar that reaches its total leaves one line ("Tokenizing train
  dataset: 126 of 126 in 00:00");
- any other text is kept as it is, tracebacks and error lines at the error level, warnings at
  the warning level.

Pure and linear in the line's length, like core/logparse.py, which it reads the lines with.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NamedTuple

from lambda_gui.core.logparse import (
    EVENT_WORDS,
    MAX_LINE_CHARS,
    METRIC_MARKER,
    STATUS_MARKER,
    TQDM_BAR,
    ErrorEvent,
    LogEvent,
    MetricEvent,
    ProgressEvent,
    StatusEvent,
    event_words,
    lgui_metric_event,
    parse_events,
    text_outside_progress,
    trainer_dict_event,
    visible_segments,
)

SEPARATOR = " · "
STATUS_PREFIX = "» "
LONG_TEXT_CHARS = 2000  # what a row shows of a line longer than logparse.MAX_LINE_CHARS
_WARNING = re.compile(r"warn|deprecat", re.IGNORECASE)
_NOT_DICT = event_words("{'")
# A line of the trainer's own bars only (no description, nothing after them): each
# carriage-return segment is blanks, a bar as logparse reads it, and its bracketed figures.
_TRAINER_BARS = re.compile(rf"\r?(?:[ \t]*+{TQDM_BAR}[^\[\]\r]*+\][ \t]*+\r?)++")
_SETUP_STEPS = {
    "start": "Setting up the instance",
    "venv": "Creating the Python environment",
    "install": "Installing the Python packages",
    "cuda_check": "Checking the GPU",
    "ready": "Instance set up",
}


class Level(IntEnum):
    """How serious a row is; a filter shows the rows at or above a level."""

    INFO = 0
    WARNING = 1
    ERROR = 2


class LogRow(NamedTuple):
    """One row of the readable log. (A named tuple: a flood's rows cross from the log reader
    process to the app by the ten thousand, and tuples unpickle several times faster than
    dataclasses, services/log_read_pool.py.)"""

    text: str
    level: Level = Level.INFO


@dataclass(frozen=True, slots=True)
class FedLine:
    """What one raw line gave: its readable rows and the level of the line itself."""

    rows: tuple[LogRow, ...]
    level: Level


class LogRowBuilder:
    """Turns raw log lines into readable rows, remembering what spans lines (a traceback, the
    last tokens count, whether LGUI_METRIC lines were seen, the last finished bar)."""

    def __init__(self) -> None:
        self._lgui_metrics = False
        self._in_traceback = False
        self._last_done: tuple[str, float] | None = None
        self._tokens: tuple[float, float] | None = None  # (num_tokens, time) of the last step

    def saw_lgui_metrics(self) -> None:
        """LGUI_METRIC lines were seen in lines not fed (core/log_reader.py skips some)."""
        self._lgui_metrics = True

    def feed(self, line: str) -> FedLine:
        """The rows one more raw line gives (often none: a bar, a duplicate print)."""
        fast = self._fast(line)
        if fast is not None:
            return fast
        events = parse_events(line)
        text, level = self._text_of(line, events)
        rows: list[LogRow] = []
        if text:
            rows.append(LogRow(text, level))
        for event in events:
            row = self._row_of(event)
            if row is not None:
                rows.append(row)
        line_level = max((row.level for row in rows), default=level)
        return FedLine(tuple(rows), line_level)

    def _fast(self, line: str) -> FedLine | None:
        """The same as the general path for the lines a flood is made of, at a fraction of
        its cost: plain text, an LGUI_METRIC line, a line of the trainer's bars. None for
        any other line."""
        if not isinstance(line, str) or len(line) > MAX_LINE_CHARS or "\n" in line:
            return None
        if "\r" not in line and EVENT_WORDS.search(line) is None:
            # No event, no bar, no marker: the text is the line.
            text = line.rstrip()
            level = self._level_of(text, [])
            return FedLine((LogRow(text, level),) if text else (), level)
        if "\x1b" in line:
            return None
        if line.startswith(METRIC_MARKER) and "\r" not in line:
            metric = lgui_metric_event(line[len(METRIC_MARKER) :])
            events: list[LogEvent] = [metric] if metric is not None else []
            level = self._level_of("", events)
            rows = tuple(row for row in map(self._row_of, events) if row is not None)
            return FedLine(rows, max((row.level for row in rows), default=level))
        if _TRAINER_BARS.fullmatch(line):
            return FedLine((), self._level_of("", []))
        if (
            line.startswith("{'")
            and line.endswith("}")
            and "\r" not in line
            and _NOT_DICT.search(line) is None
        ):
            # The trainer's dict print and nothing else: no text beside it.
            metric = trainer_dict_event(line)
            if metric is None:
                return None
            level = self._level_of("", [metric])
            row = self._row_of(metric)
            return FedLine((row,), row.level) if row is not None else FedLine((), level)
        return None

    # plain text

    def _text_of(self, line: str, events: list[LogEvent]) -> tuple[str, Level]:
        trainer_dict = any(isinstance(e, MetricEvent) and e.source == "trainer" for e in events)
        text = ""
        segments = visible_segments(line)
        for segment in segments:
            rest = _without_protocol(segment, trainer_dict)
            if rest.strip():
                text = rest.rstrip()  # the last segment with text is what a terminal shows
        if len(segments) > 1:
            text = text.lstrip()  # the blanks tqdm wrote over its bar with
        if isinstance(line, str) and len(line) > MAX_LINE_CHARS:
            text = (
                f"{text[:LONG_TEXT_CHARS]} … (a line of {len(line):,} characters: see the raw log)"
            )
        return text, self._level_of(text, events)

    def _level_of(self, text: str, events: list[LogEvent]) -> Level:
        errors = [e for e in events if isinstance(e, ErrorEvent)]
        if any(e.kind == "traceback" for e in errors):
            self._in_traceback = True
            return Level.ERROR
        if self._in_traceback:
            if not text or text[:1].isspace() or text.startswith("During handling"):
                return Level.ERROR
            self._in_traceback = False
            if errors or text.startswith("The above exception"):
                return Level.ERROR
        if errors:
            return Level.ERROR
        if text and _WARNING.search(text):
            return Level.WARNING
        return Level.INFO

    # events

    def _row_of(self, event: LogEvent) -> LogRow | None:
        if isinstance(event, MetricEvent):
            if event.source == "lgui":
                self._lgui_metrics = True
            elif self._lgui_metrics:
                return None  # the same numbers again, printed by the trainer
            return LogRow(self._metric_text(event))
        if isinstance(event, StatusEvent):
            failed = event.phase == "failed"
            return LogRow(STATUS_PREFIX + status_text(event), Level.ERROR if failed else Level.INFO)
        if isinstance(event, ProgressEvent):
            return self._progress_row(event)
        return None

    def _progress_row(self, event: ProgressEvent) -> LogRow | None:
        if not event.desc or event.total is None:
            return None  # the trainer's own bars: the metric rows say the same, better
        key = (event.desc, event.total)
        if event.step < event.total:
            if self._last_done == key:
                self._last_done = None  # the same bar runs again
            return None
        if self._last_done == key:
            return None  # a finished bar printed once more
        self._last_done = key
        unit = "" if event.unit == "it" else f" {event.unit}"
        return LogRow(
            f"{event.desc}: {_count(event.step)} of {_count(event.total)}{unit} "
            f"in {_clock(event.elapsed_s)}"
        )

    def _metric_text(self, event: MetricEvent) -> str:
        values = event.values
        parts: list[str] = []
        if event.step is not None:
            total = f"/{event.max_steps}" if event.max_steps else ""
            parts.append(f"step {event.step}{total}")
        if event.is_summary:
            return _summary_text(event, parts)
        if event.epoch is not None:
            parts.append(f"epoch {event.epoch:.2f}")
        for key, label, fmt in (
            ("loss", "loss", _loss),
            ("eval_loss", "eval loss", _loss),
            ("learning_rate", "lr", _rate),
            ("grad_norm", "grad norm", _loss),
        ):
            if key in values:
                parts.append(f"{label} {fmt(values[key])}")
        speed = self._tokens_per_second(event)
        if speed is not None:
            parts.append(f"{speed:,.0f} tok/s")
        if "eval_runtime" in values:
            parts.append(f"eval took {_seconds(values['eval_runtime'])}")
        if len(parts) == (event.step is not None) + (event.epoch is not None):
            extra = [f"{k} {_loss(v)}" for k, v in list(values.items())[:6]]
            parts.extend(extra)
        return SEPARATOR.join(parts) if parts else "metrics logged"

    def _tokens_per_second(self, event: MetricEvent) -> float | None:
        values = event.values
        for key in ("tokens_per_second", "train_tokens_per_second"):
            if key in values and math.isfinite(values[key]):
                return values[key]
        tokens = values.get("num_tokens")
        if tokens is None or event.time is None or "loss" not in values:
            return None
        before, self._tokens = self._tokens, (tokens, event.time)
        if before is None or event.time <= before[1] or tokens <= before[0]:
            return None
        return (tokens - before[0]) / (event.time - before[1])


def status_text(event: StatusEvent) -> str:
    """A status line in words: "Checkpoint saved at step 20", "Job failed (exit code 3): ..."."""
    data = event.data
    phase = event.phase
    if phase == "setting_up":
        step = str(data.get("step", ""))
        return _SETUP_STEPS.get(step, f"Setting up the instance: {step}".rstrip(": "))
    if phase == "starting":
        method = f" ({data['algorithm']})" if data.get("algorithm") else ""
        return f"Starting job {data.get('job_id', '')}{method}".replace("  ", " ")
    if phase == "loading_model":
        facts = _facts(data, ("precision", "quantization"))
        source = data.get("source")
        return f"Loading the model{f' {source}' if source else ''}{facts}"
    if phase == "loading_dataset":
        return "Loading the dataset"
    if phase == "dataset":
        rows = data.get("rows")
        parts = [str(data["format"])] if data.get("format") else []
        if isinstance(rows, int):
            parts.append(f"{rows:,} rows")
        if data.get("chat_template"):
            parts.append("the model's chat template")
        return "Dataset: " + (", ".join(parts) if parts else "read")
    if phase == "training":
        parts = []
        if isinstance(data.get("max_steps"), int):
            parts.append(f"{data['max_steps']:,} steps")
        epochs = data.get("num_train_epochs")
        if isinstance(epochs, int | float) and not isinstance(epochs, bool):
            parts.append(f"{epochs:g} epoch{'' if epochs == 1 else 's'}")
        processes = data.get("world_size")
        if isinstance(processes, int) and not isinstance(processes, bool):
            parts.append(f"{processes} training process{'' if processes == 1 else 'es'}")
        if data.get("sharding") == "fsdp":
            parts.append("base weights sharded (FSDP)")
        batch = data.get("effective_batch")
        if isinstance(batch, int) and not isinstance(batch, bool):
            parts.append(f"{batch:,} rows a step")
        return "Training started" + (": " + ", ".join(parts) if parts else "")
    if phase == "checkpoint":
        at = data.get("step")
        return f"Checkpoint saved at step {at}" if at is not None else "Checkpoint saved"
    if phase == "evaluating":
        return "Evaluating"
    if phase == "saving":
        return "Saving the adapter"
    if phase == "packaging":
        return "Packaging the adapter"
    if phase == "completed":
        digest = data.get("sha256")
        sha = f" (sha256 {str(digest)[:12]}…)" if digest else ""
        return f"Job completed: the adapter is packaged{sha}"
    if phase == "failed":
        code = data.get("exit_code")
        head = f"Job failed (exit code {code})" if code is not None else "Job failed"
        error = f": {data['error']}" if data.get("error") else ""
        kept = "; a checkpoint's adapter was packaged" if data.get("checkpoint") else ""
        return head + error + kept
    return f"{phase.replace('_', ' ').capitalize()}{_facts(data, tuple(data))}"


# --- helpers -------------------------------------------------------------------------------


def _without_protocol(segment: str, trainer_dict: bool) -> str:
    for marker in (METRIC_MARKER, STATUS_MARKER):
        at = segment.find(marker)
        if at >= 0:
            segment = segment[:at]
    segment = text_outside_progress(segment)
    if trainer_dict:
        start, end = segment.find("{'"), segment.rfind("}")
        if 0 <= start < end:
            segment = segment[:start] + segment[end + 1 :]
    return segment


def _summary_text(event: MetricEvent, parts: list[str]) -> str:
    values = event.values
    head = "Training finished" + (f" at {parts[0]}" if parts else "")
    facts: list[str] = []
    if "train_loss" in values:
        facts.append(f"mean train loss {_loss(values['train_loss'])}")
    if "train_runtime" in values:
        facts.append(f"took {_seconds(values['train_runtime'])}")
    if "train_steps_per_second" in values:
        facts.append(f"{values['train_steps_per_second']:.3g} steps/s")
    if "train_tokens_per_second" in values:
        facts.append(f"{values['train_tokens_per_second']:,.0f} tok/s")
    return head + (": " + SEPARATOR.join(facts) if facts else "")


def _facts(data: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    shown = [f"{k.replace('_', ' ')} {data[k]}" for k in keys if data.get(k) not in (None, "")]
    return f" ({', '.join(shown)})" if shown else ""


def _loss(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4g}"


def _rate(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _count(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _seconds(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return f"{value:.2f} s" if value < 60 else _clock(value)


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
