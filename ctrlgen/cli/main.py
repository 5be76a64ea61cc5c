"""Command line: a thin layer over the Python API.

    ctrlgen generate [-n 8] [--steps S] [--seed 0] [--backend B | --model DIR] [--constraint SPEC ...] [--json]
    ctrlgen infill "The Vaults is a [MASK:3] pub near [MASK] ." [-n 4] [--json]
    ctrlgen edit "TEXT" --constraint SPEC ... [-n 1] [--beam R,B] [--json]
    ctrlgen train CONFIG.toml [--data CSV] [--output DIR] [--steps N] [--set key=value ...] [--no-resume]
    ctrlgen evaluate / build-targets / train-classifier / env

The subcommands are listed in :data:`ctrlgen.cli.lazy.COMMANDS`; only the named one's arguments are built, and
its code is imported only after its arguments parsed and passed their checks, so ``ctrlgen --help`` and an
argument error cost no torch. User errors — argparse's own usage errors included (:class:`Parser`) — print a
one-line message and a hint and exit with status 2, without a traceback. Interrupted runs exit with 130 (Ctrl-C,
SIGINT) or 143 (SIGTERM, e.g. ``kill`` or a job scheduler's time limit), after flushing what was printed:
``generate`` streams each finished batch, so those samples are kept (:mod:`ctrlgen.cli.stream`).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import NoReturn

from ctrlgen.cli.lazy import COMMANDS, load
from ctrlgen.errors import ConfigError, CtrlgenError

EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 130, 143


class Terminated(BaseException):
    """SIGTERM arrived; raised in the main thread by the handler :func:`main` installs."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


class Parser(argparse.ArgumentParser):
    """argparse's parser with typed usage errors: an unknown flag, a bad choice or a value its ``type=`` refuses
    raises :class:`~ctrlgen.errors.ConfigError` (printed by :func:`main` as ``error:`` and ``hint:``, exit 2)
    instead of printing the usage block and exiting. Subcommand parsers are of this class too."""

    help_command: str | None = None  # the command the hint names (default: this parser's prog)

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message, _help_hint(self.help_command or self.prog))


def _help_hint(command: str) -> str:
    return f"run '{command} --help' for the arguments and what they accept"


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The ``ctrlgen`` parser listing every subcommand; the arguments of ``commands`` only (all when None)."""
    full = set(COMMANDS) if commands is None else set(commands)
    p = Parser(prog="ctrlgen", description="Controllable text generation with diffusion LMs")
    if commands is not None and len(full) == 1:  # unknown flags are reported by this top-level parser
        p.help_command = f"ctrlgen {next(iter(full))}"
    p.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    sub = p.add_subparsers(dest="command", required=True)
    for name, cmd in COMMANDS.items():
        q = sub.add_parser(name, help=cmd.help, description=cmd.help)
        if name in full:
            load(cmd.arguments)(q)
        q.set_defaults(run=cmd.run)
    return p


def command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is not an option; the top-level options take no
    value), or None."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = command_of(argv)
    in_main = threading.current_thread() is threading.main_thread()  # signal handlers: main thread only
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        args = build_parser([command] if command else []).parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        check = getattr(args, "check", None)
        if check is not None:
            check(args)  # Options and the backend flags, before anything is loaded
        return int(load(args.run)(args))
    except CtrlgenError as e:
        print(f"error: {_one_line(e.message)}", file=sys.stderr)
        hint = e.hint or _help_hint(f"ctrlgen {command}" if command else "ctrlgen")
        print(f"hint: {_one_line(hint)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _flush()
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        _flush()
        print("terminated (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _one_line(text: str) -> str:
    """A message on one line (a wrapped error may carry newlines)."""
    return " ".join(str(text).split())


def _flush() -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # a closed pipe: nothing more can be kept
        pass


if __name__ == "__main__":
    sys.exit(main())
