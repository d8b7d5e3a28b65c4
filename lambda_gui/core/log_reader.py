"""A batch of raw log lines read once: the events it gives and what the log view shows of it.

`LogReader.read` stands for `LogParser.feed` and `LogRowBuilder.feed` over every line of a
batch, at a fraction of their cost when lines flood in (a job printing a million lines):

- A line holding none of the words and marks any event needs (logparse.EVENT_WORDS: the LGUI
  markers, "%|" of a tqdm bar, "{'" of a trainer dict, ANSI escapes, the error words) gives no
  event; one regex search decides that, without the parser.
- ``LGUI_METRIC`` lines that start with the marker are read by a shorter path (the same JSON
  decoding and checks as logparse's).
- Lines that hold tqdm bars and nothing else event-worthy give progress events; of a batch's
  bar-only lines only the last is parsed (what the app shows of a bar is its latest state);
  its events stand where that line stood.
- A trainer dict line, once LGUI_METRIC lines were seen, gives nothing (logparse drops it too).
- Rows and raw text (core/log_rows.py) are built for the newest `keep` lines of a batch only:
  the view keeps no more. While lines flood in, the caller can ask for fewer: those the view
  will still hold once the lines queued meanwhile are shown. The lines just before them are
  read for context (a traceback that began there), their rows not kept.

Every other line goes through logparse.parse_events as it always did. Pure, no Qt: the app
runs it off the GUI thread (services/job_remote.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from lambda_gui.core.log_rows import Level, LogRow, LogRowBuilder
from lambda_gui.core.logparse import (
    EVENT_WORDS,
    MAX_LINE_CHARS,
    METRIC_FACTS,
    METRIC_MARKER,
    LogEvent,
    LogParser,
    MetricRun,
    event_words,
    json_object,
    metric_facts,
    metric_of_record,
    metric_values,
    parse_events,
)

#: The lines the log view keeps (gui/widgets/log_view.py): a batch's view data covers no more.
SHOWN_LINES = 20_000
#: Lines before the kept ones that are read for context only.
CONTEXT_LINES = 256
#: A batch read while more lines queued up shows at least this many of its lines (the rest
#: would be pushed out of the view by the queued ones: their rows are not built).
FLOOD_SHOWN = 1000
# The event words less a bar's mark, less a trainer dict's: a line whose only event words are
# bars gives progress events only; one whose only word is "{'" a trainer dict at most.
_NOT_BAR = event_words("%|")
_NOT_DICT = event_words("{'")


class ShownLine(NamedTuple):
    """A raw line as the log view keeps it: its latest carriage-return state, its level, and
    the readable rows it gave. (A named tuple, as LogRow is: cheap to send between
    processes.)"""

    text: str
    level: Level
    rows: tuple[LogRow, ...]


@dataclass(frozen=True, slots=True)
class ReadBatch:
    """What a batch of lines gave: its events in order, and the view's data for its lines
    from index `shown_from` on (the earlier ones the view would not keep)."""

    events: list[LogEvent]
    shown_from: int
    shown: list[ShownLine]


class LogReader:
    """Reads a job's log batch after batch, carrying what spans batches (whether LGUI_METRIC
    lines were seen, the readable rows' state)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.parser = LogParser()  # the events' state: whether LGUI_METRIC lines were seen
        self.rows = LogRowBuilder()

    def read(self, lines: Sequence[str], keep: Callable[[], int] | None = None) -> ReadBatch:
        """The events of `lines` and the view's data for the newest of them: `keep()` of
        them, asked once the events are read, when given (see services/job_remote.py), else
        the reader's `keep`; never more than the reader's `keep`."""
        events = self._events(lines)
        wanted = self.keep if keep is None else max(0, min(self.keep, keep()))
        shown_from = max(0, len(lines) - wanted)
        context = max(0, shown_from - CONTEXT_LINES)
        if context > 0 and self.parser.seen_lgui_metrics:
            self.rows.saw_lgui_metrics()  # the skipped lines may have held the first
        feed = self.rows.feed
        for line in lines[context:shown_from]:
            feed(line)
        shown: list[ShownLine] = []
        keep_line = shown.append
        for line in lines[shown_from:]:
            fed = feed(line)
            latest = line.rsplit("\r", 1)[-1] if "\r" in line else line
            keep_line(ShownLine(latest, fed.level, fed.rows))
        return ReadBatch(events, shown_from, shown)

    def _events(self, lines: Sequence[str]) -> list[LogEvent]:
        events: list[LogEvent | _RunBuilder] = []
        add, extend, parser = events.append, events.extend, self.parser
        candidate, not_bar, not_dict = EVENT_WORDS.search, _NOT_BAR.search, _NOT_DICT.search
        last_bar: str | None = None
        bar_at = bar_run = 0
        run: _RunBuilder | None = None  # the metrics since the last other event
        bar_in: _RunBuilder | None = None  # the run the last bar-only line fell in
        for line in lines:
            found = candidate(line)
            if found is None:
                continue
            mark = found.group()
            if (
                mark == "LGUI_"
                and line.startswith(METRIC_MARKER)
                and "\r" not in line
                and "\x1b" not in line  # the parser reads a line without its ANSI codes
                and len(line) <= MAX_LINE_CHARS
            ):
                data = json_object(line[len(METRIC_MARKER) :])
                if data is None:
                    run = None
                    continue
                if run is None:
                    run = _RunBuilder()
                    add(run)  # its place; made a MetricRun at the end (or dropped if empty)
                try:
                    if run.add_record(data):
                        parser.seen_lgui_metrics = True
                        continue
                    facts = metric_facts(data)
                    step = facts[0]
                    if step is not None:
                        run.add(data, step, facts)
                        parser.seen_lgui_metrics = True
                        continue
                    single = metric_of_record(data)
                except OverflowError:  # a number no float holds: the parser reads the line
                    fed = parser.feed(line)
                    if fed:
                        extend(fed)
                        run = None
                    continue
                add(single)
                parser.seen_lgui_metrics = True
                run = None
                continue
            if mark == "%|" and not_bar(line) is None:
                # Where the bar stood: its events go there if it is the batch's last one,
                # splitting the run of metrics it fell in.
                last_bar, bar_at, bar_in = line, len(events), run
                bar_run = len(run.steps) if run is not None else 0
                continue
            if mark == "{'" and parser.seen_lgui_metrics and not_dict(line) is None:
                continue  # a trainer dict: the LGUI_METRIC line says the same
            fed = parser.feed(line)
            if fed:
                extend(fed)
                run = None
        out: list[LogEvent] = []
        for at, event in enumerate(events):
            if at == bar_at and last_bar is not None:
                out += parse_events(last_bar)
            if not isinstance(event, _RunBuilder):
                out.append(event)
            elif not event.steps:
                continue  # a record that gave a single event, not a run
            elif event is bar_in and last_bar is not None and bar_run < len(event.steps):
                out.append(event.done(0, bar_run))  # the bar came in the run's midst
                out += parse_events(last_bar)
                out.append(event.done(bar_run, len(event.steps)))
                last_bar = None
            else:
                out.append(event.done(0, len(event.steps)))
        if last_bar is not None and bar_at == len(events):
            out += parse_events(last_bar)
        return out


# Integers a float holds exactly (what _integer gives back unchanged).
_EXACT = 2**53


class _RunBuilder:
    """A MetricRun's columns while the reader fills them."""

    __slots__ = ("steps", "epochs", "times", "max_steps", "values")

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.epochs: list[float | None] = []
        self.times: list[float | None] = []
        self.max_steps: list[int | None] = []
        self.values: dict[str, list[float | None]] = {}

    def add_record(self, data: Mapping[str, Any]) -> bool:
        """Add a metric whose step is an int and whose other numbers are ints or floats (what
        train.py prints) the short way; False, adding nothing, for any other record."""
        step = data.get("step")
        if type(step) is not int or not -_EXACT < step < _EXACT:
            return False
        max_steps = data.get("max_steps")
        if max_steps is not None and (
            type(max_steps) is not int or not -_EXACT < max_steps < _EXACT
        ):
            return False
        epoch, time = data.get("epoch"), data.get("time")
        for value in (epoch, time):
            if value is not None and type(value) is not float and type(value) is not int:
                return False
        numbers: list[tuple[str, float]] = []
        for name, value in data.items():
            if name in METRIC_FACTS:
                continue
            kind = type(value)
            if kind is not float and kind is not int:
                return False
            numbers.append((name, float(value)))
        epoch_at = None if epoch is None else float(epoch)
        time_at = None if time is None else float(time)
        self._append(numbers, step, epoch_at, max_steps, time_at)
        return True

    def add(
        self,
        data: Mapping[str, Any],
        step: int,
        facts: tuple[int | None, float | None, int | None, float | None],
    ) -> None:
        _, epoch, max_steps, time = facts
        self._append(metric_values(data).items(), step, epoch, max_steps, time)

    def _append(
        self,
        numbers: Iterable[tuple[str, float]],
        step: int,
        epoch: float | None,
        max_steps: int | None,
        time: float | None,
    ) -> None:
        at = len(self.steps)
        columns = self.values
        for name, number in numbers:
            column = columns.get(name)
            if column is None:
                columns[name] = column = [None] * at
            elif len(column) < at:
                column += [None] * (at - len(column))
            column.append(number)
        self.steps.append(step)
        self.epochs.append(epoch)
        self.max_steps.append(max_steps)
        self.times.append(time)

    def done(self, start: int, end: int) -> MetricRun:
        """The run of the metrics from `start` to `end`."""
        values: dict[str, tuple[float | None, ...]] = {}
        for name, column in self.values.items():
            part = column[start:end]
            if len(part) < end - start:
                part += [None] * (end - start - len(part))
            if any(value is not None for value in part):
                values[name] = tuple(part)
        return MetricRun(
            steps=tuple(self.steps[start:end]),
            epochs=tuple(self.epochs[start:end]),
            times=tuple(self.times[start:end]),
            max_steps=tuple(self.max_steps[start:end]),
            values=values,
        )


def still_shown(queued: int) -> int:
    """How many of a batch's newest lines the view will still hold once the `queued` lines
    that came while it was read are shown (at least FLOOD_SHOWN: the view moves in a flood)."""
    return max(FLOOD_SHOWN, SHOWN_LINES - queued)


def decode_block(raw: bytes) -> str:
    """The lines in `raw` (each ending with a newline, the last one's optional) as text, each
    line ending with a single newline, its carriage returns there removed: the lines of
    decode_lines, in a few C calls (invalid UTF-8 replaced). `split_block` gives them."""
    block = raw.decode("utf-8", errors="replace")
    if block and not block.endswith("\n"):
        block += "\n"  # the stream's last line (rare: a copy)
    if "\r\n" in block:
        lines = block.split("\n")
        lines.pop()
        return "\n".join([line.rstrip("\r") for line in lines]) + "\n"
    return block


def split_block(block: str) -> list[str]:
    """The lines of a `decode_block` text."""
    lines = block.split("\n")
    lines.pop()  # after the last newline: nothing
    return lines


def decode_lines(raw: Sequence[bytes]) -> list[str]:
    """Streamed lines as text (invalid UTF-8 replaced), line ends removed."""
    return [line.decode("utf-8", errors="replace").rstrip("\r\n") for line in raw]
