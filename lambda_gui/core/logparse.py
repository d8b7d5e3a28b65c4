"""Reading a training log line by line into typed events: metrics, progress, status, errors.

Understood (docs/architecture.md#library-facts, and what train.py / bootstrap.sh print):

- ``LGUI_METRIC {json}`` and ``LGUI_STATUS {json}`` lines from our own scripts, wherever on the
  line they start (tqdm leaves its bar in front of them);
- the trainer's log dicts, values as numbers or as strings (transformers 5 / TRL 1.x):
  ``{'loss': '5.738', 'grad_norm': '0.4258', 'learning_rate': '0.004417', 'epoch': '0.4'}``;
- tqdm progress bars (``12%|█▏ | 3/25 [00:01<00:09, 2.41it/s]``, ``s/it`` too), several per
  line when separated by carriage returns, with ANSI cursor codes removed;
- tracebacks, exception lines, ``Error:``/``ERROR:`` lines, CUDA out-of-memory and "Killed".

`parse_line` never raises, whatever text it is given, and its time grows linearly with the
line: it runs on the GUI thread, where one hostile line must not freeze the window. A line
longer than `MAX_LINE_CHARS` is read by its first and last `EDGE_CHARS` only.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

METRIC_MARKER = "LGUI_METRIC "
STATUS_MARKER = "LGUI_STATUS "
# The remote splitter already cuts lines to 64 KiB (remote/logtail.py); the parser caps what it
# reads itself too, since whole local logs are parsed again (services/connector.py). The slack
# lets a line the splitter cut, marker included, be read whole.
EDGE_CHARS = 32 * 1024
MAX_LINE_CHARS = 2 * EDGE_CHARS + 1024
_MAX_DICT_CHARS = 20_000
_TRAINER_KEYS = frozenset(
    {"loss", "eval_loss", "learning_rate", "grad_norm", "train_loss", "train_runtime"}
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*+[ -/]*+[@-~]|\x1b[@-Z\\-_]")
# Possessive quantifiers and atomic groups: the pieces are delimited by what follows them, so
# giving characters back could never make a match, and without them a failing match can
# backtrack for a long time.
_NUMBER = r"(?>\d++(?:\.\d++)?(?:[eE][-+]?\d++)?[kMGTPEZY]?)"
_CLOCK = r"\d++(?::\d\d){1,2}+"
# A tqdm bar from its percentage on. The description is the text between the previous bar and
# this one, taken by slicing: matching it (a lazy `.*?` tried at every position) was quadratic.
TQDM_BAR = (
    r"(?P<pct>\d{1,3})%\|[^|]*+\|\s*+"
    rf"(?P<n>{_NUMBER})/(?P<total>{_NUMBER}|\?)\s*+"
    rf"\[(?P<elapsed>{_CLOCK})<(?P<remaining>{_CLOCK}|\?)"
    rf"(?:,\s*+(?P<rate>{_NUMBER}|\?)\s*+(?P<rate_unit>s/[^,\]]++|[^,\]/]*+/s))?"
)
_TQDM = re.compile(TQDM_BAR)
# What any event needs somewhere on its line: the LGUI markers, a bar's "%|", a trainer dict's
# "{'", the error patterns' words, or an ANSI escape (removing one can join such words).
_EVENT_WORDS = (
    "LGUI_", "%|", "{'", "\x1b", "Traceback", "Error", "error", "ERROR", "Exception",
    "KeyboardInterrupt", "SystemExit", "Killed", "FATAL", "Fatal", "Segmentation",
    "CUDA out of memory",
)  # fmt: skip


def event_words(*but: str) -> re.Pattern[str]:
    """A search for the words any event needs, less `but`: a line it finds nothing on gives
    no event (with `but` given: none beyond what those words start)."""
    return re.compile("|".join(re.escape(w) for w in _EVENT_WORDS if w not in but))


EVENT_WORDS = event_words()
# A flat dict of plain strings and numbers, the trainer's usual print (see _dict_literal).
_PLAIN_STR = r"'[^'\\\"\x00-\x1f\ud800-\udfff]*+'"
_PLAIN_NUM = r"-?[0-9]++(?:\.[0-9]++)?+(?:[eE][-+]?[0-9]++)?+"
_PLAIN_ITEM = rf"{_PLAIN_STR}: (?:{_PLAIN_STR}|{_PLAIN_NUM})"
_FLAT_DICT = re.compile(rf"\{{{_PLAIN_ITEM}(?:, {_PLAIN_ITEM})*+\}}")
_EXCEPTION = re.compile(
    r"^(?:[A-Za-z_]\w*+\.)*+(?:[A-Z]\w*(?:Error|Exception)|KeyboardInterrupt|SystemExit)"
    r"(?::\s*(?P<msg>.*))?$"
)
_ERROR_PREFIX = re.compile(r"^(?:\[?(?:ERROR|Error|error)\]?:|ERROR\b|FATAL\b|Fatal error\b)")
_KILLED = re.compile(r"(?:^|\s)Killed(?:\s|$)")
_DECODER = json.JSONDecoder()
_T = TypeVar("_T", int, float)
#: The keys of an LGUI_METRIC object that place a metric rather than measure something.
METRIC_FACTS = frozenset({"step", "epoch", "max_steps", "time"})
_SCALE = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "Z": 1e21, "Y": 1e24}


@dataclass(frozen=True)
class MetricEvent:
    """Numbers the trainer logged at one point: loss or eval_loss, learning rate, grad norm...

    `source` is "lgui" for our LGUI_METRIC lines (which carry step and max_steps) and
    "trainer" for the trainer's own dict print of the same numbers.
    """

    values: Mapping[str, float]
    source: str
    step: int | None = None
    epoch: float | None = None
    max_steps: int | None = None
    time: float | None = None

    @property
    def loss(self) -> float | None:
        """Training loss of this log event, if it has one."""
        return self.values.get("loss")

    @property
    def eval_loss(self) -> float | None:
        """Validation loss, if this is an evaluation event."""
        return self.values.get("eval_loss")

    @property
    def learning_rate(self) -> float | None:
        """Learning rate at this step."""
        return self.values.get("learning_rate")

    @property
    def grad_norm(self) -> float | None:
        """Gradient norm at this step."""
        return self.values.get("grad_norm")

    @property
    def is_summary(self) -> bool:
        """True for the end-of-training summary (train_runtime, train_loss)."""
        return "train_runtime" in self.values


@dataclass(frozen=True)
class ProgressEvent:
    """One tqdm progress reading: step of total, rate, elapsed and remaining seconds."""

    step: float
    total: float | None
    percent: int
    elapsed_s: float
    remaining_s: float | None
    rate: float | None
    unit: str = "it"
    desc: str = ""

    @property
    def seconds_per_item(self) -> float | None:
        """Seconds per step (the inverse of `rate`)."""
        return 1.0 / self.rate if self.rate else None

    @property
    def is_training_bar(self) -> bool:
        """True for a bar without a description counting iterations (the trainer's bars)."""
        return self.desc == "" and self.unit == "it"


@dataclass(frozen=True)
class StatusEvent:
    """A phase change our scripts announced (setting_up, loading_model, training, failed...)."""

    phase: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def error(self) -> str | None:
        """The error message of a "failed" status, if any."""
        value = self.data.get("error")
        return str(value) if value is not None else None


@dataclass(frozen=True)
class ErrorEvent:
    """A line that reports a failure; kind: traceback, exception, error, oom or killed."""

    message: str
    kind: str


@dataclass(frozen=True)
class MetricRun:
    """Consecutive LGUI_METRIC events (each with a step) as columns: what a batch of lines
    gives in their place (core/log_reader.py), so that a flood of metrics costs its readers
    per batch, not per line. Entry i of every column belongs to the run's i-th event; a
    value column holds None where that event had no such value. `events()` gives them back
    as MetricEvents."""

    steps: tuple[int, ...]
    epochs: tuple[float | None, ...]
    times: tuple[float | None, ...]
    max_steps: tuple[int | None, ...]
    values: Mapping[str, tuple[float | None, ...]]
    source: str = "lgui"

    def __len__(self) -> int:
        return len(self.steps)

    def column(self, name: str) -> tuple[float | None, ...]:
        """The values of `name`, one per event (None where it had none)."""
        return self.values.get(name) or (None,) * len(self.steps)

    def latest(self, name: str) -> float | None:
        """The last value of `name` the run holds (None when it holds none)."""
        return _last(self.values.get(name, ()), lambda value: True)

    @property
    def planned_steps(self) -> int | None:
        """The job's planned steps as the run's last event says it (None when none does)."""
        return _last(self.max_steps, lambda total: total > 0)

    def parts(self, size: int) -> list[MetricRun]:
        """The run cut into runs of at most `size` events, in order."""
        if len(self.steps) <= size:
            return [self]
        return [
            MetricRun(
                steps=self.steps[at : at + size],
                epochs=self.epochs[at : at + size],
                times=self.times[at : at + size],
                max_steps=self.max_steps[at : at + size],
                values={name: column[at : at + size] for name, column in self.values.items()},
                source=self.source,
            )
            for at in range(0, len(self.steps), size)
        ]

    def events(self) -> list[MetricEvent]:
        """The run as the MetricEvents it stands for, in order."""
        names = list(self.values.items())
        return [
            MetricEvent(
                values={name: v for name, column in names if (v := column[i]) is not None},
                source=self.source,
                step=step,
                epoch=self.epochs[i],
                max_steps=self.max_steps[i],
                time=self.times[i],
            )
            for i, step in enumerate(self.steps)
        ]


LogEvent = MetricEvent | ProgressEvent | StatusEvent | ErrorEvent | MetricRun


def expand_runs(events: Iterable[LogEvent]) -> list[LogEvent]:
    """`events` with each MetricRun replaced by the MetricEvents it stands for."""
    out: list[LogEvent] = []
    for event in events:
        if isinstance(event, MetricRun):
            out += event.events()
        else:
            out.append(event)
    return out


def parse_line(line: str) -> LogEvent | None:
    """The most telling event on one log line (error > metric > status > last progress)."""
    events = parse_events(line)
    for kind in (ErrorEvent, MetricEvent, StatusEvent):
        for event in events:
            if isinstance(event, kind):
                return event
    return events[-1] if events else None


def parse_events(line: str) -> list[LogEvent]:
    """Every event on one log line, in order (carriage-return segments each parsed)."""
    try:
        return _parse_events(line)
    except Exception:  # a log parser must survive any text; an odd line is just not an event
        return []


class LogParser:
    """Parses a stream of lines; once an LGUI_METRIC line was seen, the trainer's own dict
    prints (the same numbers again) are dropped."""

    def __init__(self) -> None:
        self.seen_lgui_metrics = False

    def feed(self, line: str) -> list[LogEvent]:
        """Events of one more line."""
        out: list[LogEvent] = []
        for event in parse_events(line):
            if isinstance(event, MetricEvent):
                if event.source == "lgui":
                    self.seen_lgui_metrics = True
                elif self.seen_lgui_metrics:
                    continue
            out.append(event)
        return out


def visible_segments(line: str) -> list[str]:
    """The carriage-return segments of a line as parse_events reads them, ANSI codes removed.

    A line longer than `MAX_LINE_CHARS` gives the segments of its first `EDGE_CHARS` only.
    Blank segments are kept, so the last one is what a terminal would show last.
    """
    if not isinstance(line, str):
        return []
    head = line if len(line) <= MAX_LINE_CHARS else line[:EDGE_CHARS]
    return _ANSI.sub("", head).rstrip("\n").split("\r")


def text_outside_progress(segment: str) -> str:
    """A segment without its tqdm bars: each bar, its description and its bracketed figures go;
    the text after the last bar stays (the whole segment when it holds no bar). Linear time."""
    end = -1
    for match in _TQDM.finditer(segment):
        end = match.end()
    if end < 0:
        return segment
    rest = segment[end:]
    close = rest.find("]")
    if close >= 0 and "[" not in rest[:close]:
        rest = rest[close + 1 :]
    return rest


# --- the parsing itself --------------------------------------------------------------------


def _parse_events(line: str) -> list[LogEvent]:
    if not isinstance(line, str):
        return []
    if len(line) <= MAX_LINE_CHARS:
        return _parse_text(line, starts_line=True)
    # The head is where a line's error text starts; the tail holds the last progress and the
    # LGUI_METRIC a tqdm-laden line ends with.
    return _parse_text(line[:EDGE_CHARS], starts_line=True) + _parse_text(
        line[-EDGE_CHARS:], starts_line=False
    )


def _parse_text(text: str, *, starts_line: bool) -> list[LogEvent]:
    clean = _ANSI.sub("", text).rstrip("\n")
    events: list[LogEvent] = []
    for index, segment in enumerate(clean.split("\r")):
        if segment.strip():
            # A tail's first segment begins mid-text: its start says nothing about errors.
            events.extend(_parse_segment(segment, whole=starts_line or index > 0))
    return events


def _parse_segment(segment: str, *, whole: bool = True) -> list[LogEvent]:
    for marker, parse in ((METRIC_MARKER, lgui_metric_event), (STATUS_MARKER, _lgui_status)):
        at = segment.find(marker)
        if at >= 0:
            before = _progress_events(segment[:at])
            event = parse(segment[at + len(marker) :])
            return before + ([event] if event is not None else [])
    error = _error(segment.strip()) if whole else None
    if error is not None:
        return [error]
    events: list[LogEvent] = list(_progress_events(segment))
    metric = trainer_dict_event(segment)
    if metric is not None:
        events.append(metric)
    return events


def json_object(text: str) -> dict[str, Any] | None:
    """The JSON object `text` starts with (leading blanks skipped), else None."""
    try:
        value, _ = _DECODER.raw_decode(text.lstrip())
    except (ValueError, RecursionError):  # deep nesting is refused by a recursion limit
        return None
    return value if isinstance(value, dict) else None


def _last(column: Sequence[_T | None], keep: Callable[[_T], bool]) -> _T | None:
    """The last entry of `column` that is not None and that `keep` keeps."""
    for at in range(len(column) - 1, -1, -1):
        value = column[at]
        if value is not None and keep(value):
            return value
    return None


def lgui_metric_event(text: str) -> MetricEvent | None:
    """The event of an LGUI_METRIC line's text after the marker (None when it is no JSON
    object)."""
    data = json_object(text)
    if data is None:
        return None
    try:
        return metric_of_record(data)
    except OverflowError:  # an integer no float holds: no event, as parse_events gives
        return None


def metric_of_record(data: Mapping[str, Any]) -> MetricEvent:
    """The event of an LGUI_METRIC line's decoded JSON object."""
    return MetricEvent(
        values=metric_values(data),
        source="lgui",
        step=_integer(data.get("step")),
        epoch=_number(data.get("epoch")),
        max_steps=_integer(data.get("max_steps")),
        time=_number(data.get("time")),
    )


def metric_facts(
    data: Mapping[str, Any],
) -> tuple[int | None, float | None, int | None, float | None]:
    """An LGUI_METRIC object's step, epoch, max_steps and time, read as its event has them."""
    return (
        _integer(data.get("step")),
        _number(data.get("epoch")),
        _integer(data.get("max_steps")),
        _number(data.get("time")),
    )


def metric_values(data: Mapping[str, Any]) -> dict[str, float]:
    """An LGUI_METRIC object's numbers other than its step, epoch, max_steps and time."""
    values: dict[str, float] = {}
    for key, value in data.items():  # JSON keys are strings
        if key in METRIC_FACTS:
            continue
        kind = type(value)
        if kind is float or kind is int:  # the usual case, read as _number would
            values[key] = float(value)
            continue
        number = _number(value, allow_null=True)
        if number is not None:
            values[key] = number
    return values


def _lgui_status(text: str) -> StatusEvent | None:
    data = json_object(text)
    if data is None or not isinstance(data.get("phase"), str):
        return None
    phase = data["phase"]
    return StatusEvent(phase=phase, data={k: v for k, v in data.items() if k != "phase"})


def trainer_dict_event(segment: str) -> MetricEvent | None:
    """The event of the trainer's dict print in a segment (None when there is none)."""
    start = segment.find("{'")
    end = segment.rfind("}")
    if start < 0 or end <= start or end - start > _MAX_DICT_CHARS:
        return None
    try:
        data = _dict_literal(segment[start : end + 1])
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if not isinstance(data, dict) or not _TRAINER_KEYS.intersection(data):
        return None
    values: dict[str, float] = {}
    for key, value in data.items():
        if not isinstance(key, str) or key == "epoch":
            continue
        number = _number(value)
        if number is not None:
            values[key] = number
    return MetricEvent(values=values, source="trainer", epoch=_number(data.get("epoch")))


def _dict_literal(text: str) -> Any:
    # The trainer's usual print, a flat dict of plain strings and numbers, reads the same as
    # JSON once its quotes are swapped, at a fifth of ast.literal_eval's cost: that cost is
    # what a line flooded with such dicts spends its time on.
    if _FLAT_DICT.fullmatch(text):
        try:
            return json.loads(text.replace("'", '"'))
        except ValueError:
            pass
    return ast.literal_eval(text)


def _progress_events(segment: str) -> list[LogEvent]:
    # A failed try at a "%|" stops at the next "|" and one at any other position at once, so
    # finditer's scan is linear; the earliest start that matches is the one the old lazy
    # description found, and the description is what lies between it and the previous bar.
    events: list[LogEvent] = []
    start = 0
    for match in _TQDM.finditer(segment):
        event = _progress(match, segment[start : match.start()])
        if event is not None:
            events.append(event)
        start = match.end()
    return events


def _progress(match: re.Match[str], desc_text: str) -> ProgressEvent | None:
    step = _scaled(match["n"])
    if step is None:
        return None
    total = None if match["total"] == "?" else _scaled(match["total"])
    rate_text, unit_text = match["rate"], (match["rate_unit"] or "").strip()
    rate: float | None = None
    unit = "it"
    if unit_text.startswith("s/"):
        unit = unit_text[2:].strip() or "it"
        seconds = _scaled(rate_text) if rate_text and rate_text != "?" else None
        rate = 1.0 / seconds if seconds else None
    elif unit_text.endswith("/s"):
        unit = unit_text[:-2].strip() or "it"
        rate = _scaled(rate_text) if rate_text and rate_text != "?" else None
    desc = desc_text.strip().rstrip(":").strip()
    return ProgressEvent(
        step=step,
        total=total,
        percent=int(match["pct"]),
        elapsed_s=_clock(match["elapsed"]) or 0.0,
        remaining_s=None if match["remaining"] == "?" else _clock(match["remaining"]),
        rate=rate,
        unit=unit,
        desc=desc,
    )


def _error(text: str) -> ErrorEvent | None:
    if text.startswith("Traceback (most recent call last)"):
        return ErrorEvent(text, "traceback")
    if "CUDA out of memory" in text or "OutOfMemoryError" in text:
        return ErrorEvent(text, "oom")
    if _EXCEPTION.match(text):
        return ErrorEvent(text, "exception")
    if _ERROR_PREFIX.match(text):
        return ErrorEvent(text, "error")
    if _KILLED.search(text) and (text.startswith("Killed") or ": line " in text):
        return ErrorEvent(text, "killed")
    if "Segmentation fault" in text:
        return ErrorEvent(text, "killed")
    return None


# --- numbers -----------------------------------------------------------------------------------


def _number(value: Any, *, allow_null: bool = False) -> float | None:
    if value is None:
        return math.nan if allow_null else None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and len(value) < 64:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _integer(value: Any) -> int | None:
    number = _number(value)
    if number is None or not math.isfinite(number):
        return None
    return int(number)


# Bars repeat the same counts and clocks over and over: their values are cached (pure functions
# of short strings), which is what a flood of progress lines spends much of its time on.
@lru_cache(maxsize=8192)
def _scaled(text: str) -> float | None:
    if not text:
        return None
    factor = _SCALE.get(text[-1], 1.0)
    body = text[:-1] if text[-1] in _SCALE else text
    try:
        return float(body) * factor
    except ValueError:
        return None


@lru_cache(maxsize=8192)
def _clock(text: str) -> float | None:
    try:
        parts = [int(p) for p in text.split(":")]
    except ValueError:
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return float(seconds)
