"""Tests for daemon.logs: one JSON object per line, stdlib logs included."""

from __future__ import annotations

import errno
import io
import json
import logging
import subprocess
import sys
from typing import Any

import pytest

from daemon.logs import WatchdogNoise, configure_logging, get_logger


def test_json_lines_for_structlog_and_stdlib() -> None:
    """Our events and a third-party stdlib log come out as JSON lines in one format."""
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    get_logger("gatewatch").info("run_archived", timestamp="20240101T000000000000Z", approved=2)
    logging.getLogger("watchdog.observers").warning("queue %s", "overflow")
    get_logger("gatewatch").debug("hidden")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["run_archived", "queue overflow"]
    assert lines[0]["timestamp"] == "20240101T000000000000Z"
    assert lines[0]["level"] == "info"
    assert lines[1]["logger"] == "watchdog.observers"
    assert all("time" in line for line in lines)


def _record(name: str, message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, args, None)


_OVERFLOW = "Inotify queue overflowed; filesystem events were lost"
_LIMIT = OSError(errno.ENOSPC, "No space left on device")
_FILES = OSError(errno.EMFILE, "Too many open files")


@pytest.mark.parametrize(
    ("records", "kept"),
    [
        ([_record("watchdog.observers.inotify", "Unable to watch %r: %s", b"/in/d", _LIMIT)], []),
        ([_record("watchdog.observers.inotify", "Unable to watch %r: %s", b"/in/d", _FILES)], [0]),
        ([_record("watchdog.observers.inotify_c", _OVERFLOW)] * 3, [0]),
        ([_record("gatewatch", "Unable to watch %r: %s", b"/in/d", _LIMIT)], [0]),
        ([_record("watchdog.observers.inotify_c", "queue %s", "overflowed")], [0]),
    ],
)
def test_watchdog_noise_drops_what_the_service_says_itself(
    records: list[logging.LogRecord], kept: list[int]
) -> None:
    """A folder past the watch limit (watch_limit_reached says it once) is dropped, another
    failure to watch kept; a queue overflow's warning kept once in a burst; anything not
    watchdog's kept."""
    noise = WatchdogNoise(clock=lambda: 100.0)
    assert [i for i, record in enumerate(records) if noise.filter(record)] == kept


def test_an_overflow_is_said_again_a_minute_later() -> None:
    """The overflow warning held back within a minute of the last, let through after."""
    now = [0.0]
    noise = WatchdogNoise(clock=lambda: now[0])
    said = []
    for now[0] in (0.0, 30.0, 59.9, 60.0, 61.0, 121.0):
        said.append(noise.filter(_record("watchdog.observers.inotify_c", _OVERFLOW)))
    assert said == [True, False, False, True, False, True]


def test_uvicorns_coloured_copy_of_a_message_is_dropped() -> None:
    """uvicorn's ``color_message`` (the message again, with terminal colours) is not
    written: every `serve` JSON line carried raw escapes."""
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    coloured = "Started server process [\x1b[36m%d\x1b[0m]"
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 42, extra={"color_message": coloured}
    )
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["event"] == "Started server process [42]"
    assert "color_message" not in line


def test_console_format_is_not_json() -> None:
    """The console renderer prints readable lines."""
    stream = io.StringIO()
    configure_logging("console", "debug", stream=stream)
    get_logger().info("run_archived", timestamp="20240101T000000000000Z")
    line = stream.getvalue()
    assert "run_archived" in line
    assert not line.startswith("{")
    assert not line.startswith("2024")  # the log time leads, the run's timestamp is a field
    assert "timestamp=20240101T000000000000Z" in line


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_a_file_name_cannot_drive_the_terminal(fmt: str) -> None:
    """A source named with terminal sequences (a title change, a screen clear) comes out
    escaped in either format (the console renderer printed them raw)."""
    stream = io.StringIO()
    configure_logging(fmt, "info", stream=stream)
    source = "/in/a\x1b]0;PWNED\x07\x1b[2J_summary.json"
    get_logger().info("run_archived", source=source)
    logging.getLogger("watchdog").warning("seen %s", source)
    written = stream.getvalue()
    assert "\x1b" not in written
    assert "\x07" not in written
    assert written.count("PWNED") == 2


def _only_line(code: str) -> dict[str, Any]:
    """The one JSON line a process of its own logs when it runs ``code`` after
    configure_logging('json'), with nothing on stderr (where raw text broke the lines)."""
    setup = "from daemon.logs import configure_logging; configure_logging('json', 'info'); "
    done = subprocess.run(
        [sys.executable, "-c", setup + code],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stderr == ""
    (line,) = [json.loads(line) for line in done.stdout.splitlines()]
    found: dict[str, Any] = line
    return found


def test_a_python_warning_is_a_json_line_too() -> None:
    """A RuntimeWarning from a library (watchdog's) is one JSON line on the log's stream,
    nothing on stderr (raw text there broke the JSON lines), in a process of its own."""
    line = _only_line("import warnings; warnings.warn('Callback already exists', RuntimeWarning)")
    assert "Callback already exists" in line["event"]
    assert line["level"] == "warning"


def test_a_thread_that_dies_is_a_json_line_with_its_traceback() -> None:
    """An exception a thread does not catch (the worker's) is one JSON line, thread_crashed,
    its traceback inside and nothing on stderr (Python printed it there as plain text)."""
    line = _only_line(
        "import threading; "
        "t = threading.Thread(target=lambda: 1 / 0, name='gatewatch-worker'); "
        "t.start(); t.join()"
    )
    assert (line["event"], line["level"], line["thread"]) == (
        "thread_crashed",
        "error",
        "gatewatch-worker",
    )
    assert line["error"] == "ZeroDivisionError: division by zero"
    assert "Traceback" in line["exception"]


class _Gone(io.StringIO):
    """A stream whose reader went away (`gatewatch run --json | head -2`)."""

    def write(self, _text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_log_whose_reader_is_gone_drops_its_lines_quietly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Lines to a closed pipe are dropped: nothing on stderr (a traceback for each line)."""
    configure_logging("json", "info", stream=_Gone())
    get_logger("gatewatch").info("run_archived", approved=2)
    logging.getLogger("watchdog").warning("queue overflow")
    assert capsys.readouterr().err == ""
