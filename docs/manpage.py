"""gatewatch(1), generated from the argparse parser: `python -m docs.manpage > docs/gatewatch.1`."""

from __future__ import annotations

import argparse
import sys

from daemon.cli.main import build_parser

__all__ = ["render"]

_FOOTER = r""".SH EXIT STATUS
0 success (status: the service is healthy); 1 a file, a run or a delivery failed
(status: stale or unhealthy); 2 bad usage or bad config; 3 (status) the service is not
running; 130 after Ctrl\-C and 143 after SIGTERM (run and serve stop cleanly with 0).
.SH FILES
.TP
.I ./config.toml
the config file when neither \-\-config nor $GATEWATCH_CONFIG names one
.TP
.I training_archives/
the archive: run folders, index.json, catalog.sqlite3, decisions/, outbox/, _rejected/
.SH SEE ALSO
The documentation pages in docs/ (built with mkdocs), systemd/gatewatch.service.
"""


def _escape(text: str) -> str:
    """Text for troff: backslashes and hyphens escaped, no line starting with a dot."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def _subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser of each subcommand (argparse has no public walk), the innermost of nested
    ones (`config init`), in the order they were added."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found.extend(_subcommands(child) or [child])
    return found


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """The .TP entries of a parser's own options and arguments (--config, --json aside)."""
    lines = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        if action.dest in ("config", "json") or action.help in (None, argparse.SUPPRESS):
            continue
        names = ", ".join(action.option_strings) or str(action.metavar or action.dest)
        lines += [".TP", f".B {_escape(names)}", _escape(str(action.help))]
    return lines


def render(parser: argparse.ArgumentParser) -> str:
    """The man page of ``parser``: its usage, then each subcommand's usage, help, options."""
    lines = [
        '.TH GATEWATCH 1 "" "gatewatch" "User Commands"',
        ".SH NAME",
        f"gatewatch \\- {_escape(str(parser.description))}",
        ".SH SYNOPSIS",
        ".B gatewatch",
        "[\\-\\-config PATH] [\\-\\-json] COMMAND [ARGS]",
        ".SH DESCRIPTION",
        "Every command takes \\-\\-config PATH and \\-\\-json (one JSON document on "
        "stdout), before or after the command. Errors are one line on stderr.",
        *_options(parser),
        ".SH COMMANDS",
    ]
    for child in _subcommands(parser):
        usage = " ".join(child.format_usage().split()[1:])
        usage = usage.replace(" [-h] [--config PATH] [--json]", "")
        lines += [".TP", f".B {_escape(usage)}", _escape(str(child.description or ""))]
        lines += [".RS", *_options(child), ".RE"]
    return "\n".join(lines) + "\n" + _FOOTER


if __name__ == "__main__":
    sys.stdout.write(render(build_parser()))
