"""The ``ikdav`` command line.

Each command is one ``register_<name>(commands)`` function, listed in :data:`COMMANDS`; adding a
command means writing one such function (here or in its own module) and appending it there.

A register function MUST create its sub-parser with :func:`add_command` (description and examples
are required, so every ``--help`` is useful) and MUST ``set_defaults(handler=...)``. The handler
takes the parsed arguments and MUST return the exit code (``None`` counts as 0). It SHOULD import
heavy modules inside its body, so ``ikdav --help`` stays fast, and SHOULD load settings with
:func:`load_cli_config`. For bad input it MUST raise :class:`~ikdav.config.ConfigError` or
:class:`UsageError` instead of printing: :func:`main` turns both into one line on stderr and exit
code 2, never a traceback. It COULD add ``uses_config=True`` to accept ``--config`` after its name.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ikdav import __version__
from ikdav.cli_accounts import ACCOUNT_COMMANDS
from ikdav.config import Config, ConfigError, find_config_file, load_config

__all__ = [
    "COMMANDS", "ArgumentParser", "UsageError", "add_command", "build_parser", "load_cli_config", "main",
]

Handler = Callable[[argparse.Namespace], int | None]
EXIT_USAGE = 2


class UsageError(Exception):
    """An argument that parsed but cannot be used; reported as one line with exit code 2."""


class HelpFormatter(argparse.HelpFormatter):
    """Wraps prose paragraphs but keeps indented example lines as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.split("\n\n"):
            if "\n  " in paragraph or paragraph.startswith("  "):
                paragraphs.append("\n".join(indent + line for line in paragraph.splitlines()))
            else:
                paragraphs.append(super()._fill_text(paragraph, width, indent))
        return "\n\n".join(paragraphs)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_command(commands: Any, name: str, *, summary: str, description: str,
                examples: Sequence[str], uses_config: bool = False) -> ArgumentParser:
    """A sub-parser with a description and an examples epilog; ``uses_config`` adds ``--config``."""
    epilog = "examples:\n" + "\n".join(f"  {example}" for example in examples)
    parser: ArgumentParser = commands.add_parser(
        name, help=summary, description=description, epilog=epilog,
        formatter_class=HelpFormatter)
    if uses_config:
        # SUPPRESS keeps a --config given before the command name (ikdav --config X check).
        parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                            help="config file (default: $IKDAV_CONFIG, else ./config.yaml if present)")
    return parser


def load_cli_config(args: argparse.Namespace) -> Config:
    """The config named by ``--config`` (or found the usual way); raises ConfigError."""
    return load_config(getattr(args, "config", None))


def _setup_logging(config: Config) -> None:
    from ikdav.logs import setup_logging

    setup_logging(config)


# -- value types for arguments ----------------------------------------------------------------------------


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535, 0 = any free port)")
    return value


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (a whole number, 0 or more)")
    return value


def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg} at character {exc.pos}); "
                                         """pass an object like '{"latency_ms": 200}'""") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("""must be a JSON object like '{"latency_ms": 200}'""")
    return value


# -- serve ----------------------------------------------------------------------------------------------


def register_serve(commands: Any) -> None:
    parser = add_command(
        commands, "serve", uses_config=True,
        summary="run the WebDAV server and the connect pages",
        description="Serve the WebDAV share and the pages that connect Infomaniak accounts, on one port, "
                    "with the settings of the config file and the IKDAV_* environment.",
        examples=["ikdav serve", "ikdav serve --config /etc/ikdav/config.yaml",
                  "IKDAV_SERVER__PORT=8080 ikdav serve"])
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int | None:
    config = load_cli_config(args)
    _setup_logging(config)
    from ikdav.server import serve

    return serve(config)


# -- demo -----------------------------------------------------------------------------------------------


def register_demo(commands: Any) -> None:
    parser = add_command(
        commands, "demo",
        summary="try ikdav offline, against the built-in Infomaniak emulator",
        description="Start the Infomaniak emulator with sample kDrive files and mail, and ikdav connected "
                    "to it, so the share can be mounted without an Infomaniak account.",
        examples=["ikdav demo", "ikdav demo --port 8080 --password demo-password",
                  "ikdav demo --host 0.0.0.0 --data-dir /tmp/ikdav-demo"])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=port_number, default=8000,
                        help="port to listen on (default: %(default)s)")
    parser.add_argument("--password", metavar="P", help="app password for the demo account")
    parser.add_argument("--data-dir", metavar="DIR", default="demo-data",
                        help="where the demo keeps its state (default: %(default)s)")
    parser.add_argument("--emulator-port", metavar="N", type=port_number,
                        help="first of the emulator's ports")
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int | None:
    from ikdav.demo import run_demo as start_demo

    return start_demo(host=args.host, port=args.port, password=args.password, data_dir=args.data_dir,
                      emulator_port=args.emulator_port)


# -- emulator -------------------------------------------------------------------------------------------


def register_emulator(commands: Any) -> None:
    parser = add_command(
        commands, "emulator",
        summary="run the Infomaniak emulator on its own",
        description="Serve the emulated login, API, mail, content and upload hosts with sample data until "
                    "Ctrl-C or SIGTERM. Prints their base URLs, a bearer token for the sample user, a "
                    "personal API token and the demo OAuth client, one 'Key: value' line each. Point "
                    "infomaniak.login_url, api_url and mail_url at the printed URLs to use it with ikdav.",
        examples=["ikdav emulator", "ikdav emulator --port 0",
                  "ikdav emulator --single-port --port 8765",
                  """ikdav emulator --knobs '{"latency_ms": 200}' --mail-messages 50"""])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", metavar="BASE", type=port_number, default=8765,
                        help="first port; the five hosts use BASE..BASE+4, or one port with --single-port; "
                             "0 = any free ports (default: %(default)s)")
    parser.add_argument("--single-port", action="store_true",
                        help="serve all hosts from one port under path prefixes (/_login, /_api, ...)")
    parser.add_argument("--knobs", metavar="JSON", type=json_object,
                        help="""fault knobs to start with, as a JSON object like '{"latency_ms": 200}'""")
    parser.add_argument("--big-folder-files", metavar="N", type=count,
                        help="files in the sample's big folder (default: 2000)")
    parser.add_argument("--mail-messages", metavar="N", type=count,
                        help="sample mail messages (default: 300)")
    parser.add_argument("--big-mail-folder", metavar="N", type=count,
                        help="also fill the sample mailbox's Archive/Bulk folder with N messages")
    parser.set_defaults(handler=run_emulator)


def run_emulator(args: argparse.Namespace) -> int:
    from ikdav.emulator.app import Emulator, SampleOptions
    from ikdav.emulator.faults import KnobError
    from ikdav.emulator.sample_data import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, JANE_ID, JANE_PAT

    sample = SampleOptions()
    if args.big_folder_files is not None:
        sample.big_folder_files = args.big_folder_files
    if args.mail_messages is not None:
        sample.mail_messages = args.mail_messages
    if args.big_mail_folder is not None:
        sample.big_mail_folder = args.big_mail_folder
    try:
        emulator = Emulator(host=args.host, port=args.port, single_port=args.single_port,
                            knobs=args.knobs, sample=sample)
    except KnobError as exc:
        raise UsageError(f"--knobs: {exc}") from None
    try:
        emulator.start()
    except OSError as exc:
        emulator.close()
        print(f"ikdav emulator: error: cannot listen on {args.host} port {args.port} "
              f"({exc.strerror or exc}) — choose another --port, or 0 for free ports", file=sys.stderr)
        return 1
    try:
        lines = {
            "Login URL": emulator.login_url,
            "API URL": emulator.api_url,
            "Mail URL": emulator.mail_url,
            "Content URL": emulator.content_url,
            "Upload URL": emulator.upload_url,
            "Token": emulator.issue_token(JANE_ID),
            "Personal token": JANE_PAT,
            "Demo client id": DEMO_CLIENT_ID,
            "Demo client secret": DEMO_CLIENT_SECRET,
            "Knobs URL": f"{emulator.api_url}/_emulator/knobs",
        }
        for key, value in lines.items():
            print(f"{key}: {value}")
        print("Emulator running; press Ctrl-C to stop.", flush=True)
        _wait_for_stop()
    finally:
        emulator.close()
    print("Emulator stopped.", flush=True)
    return 0


def _wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    except ValueError:  # not the main thread: only Ctrl-C (KeyboardInterrupt) stops us
        pass
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# -- check ----------------------------------------------------------------------------------------------


def register_check(commands: Any) -> None:
    parser = add_command(
        commands, "check", uses_config=True,
        summary="validate the config and reach the Infomaniak hosts",
        description="Validate the configuration (a bad one prints one line naming the key and exits 2), "
                    "then GET the base URL of the login, API and mail hosts: any HTTP answer counts as "
                    "reachable. Prints one line per host and a 'warn' line for OAuth settings that "
                    "will not work. Exits 1 if a host cannot be reached.",
        examples=["ikdav check", "ikdav check --config /etc/ikdav/config.yaml",
                  "IKDAV_INFOMANIAK__API_URL=http://127.0.0.1:8766 ikdav check"])
    parser.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    from ikdav.check import CheckLine, run_checks

    config_file, _how = find_config_file(getattr(args, "config", None))
    config = load_cli_config(args)
    _setup_logging(config)
    source = str(config_file) if config_file else "no config file, defaults and environment"
    print(CheckLine("ok", "config", source, "valid"), flush=True)
    lines = run_checks(config)
    for line in lines:
        print(line)
    return 1 if any(line.status == "FAIL" for line in lines) else 0


# -- the parser -----------------------------------------------------------------------------------------

COMMANDS: list[Callable[[Any], None]] = [register_serve, register_demo, register_emulator, register_check,
                                         *ACCOUNT_COMMANDS]


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="ikdav",
        description="Infomaniak kDrive and Mail as one WebDAV share.",
        epilog="examples:\n  ikdav demo\n  ikdav check\n  ikdav serve --config config.yaml\n\n"
               "Run 'ikdav COMMAND --help' for a command's options.",
        formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"ikdav {__version__}")
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="config file (default: $IKDAV_CONFIG, else ./config.yaml if present)")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ikdav`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        result = handler(args)
    except ConfigError as exc:
        print(f"ikdav: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"ikdav {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return 0 if result is None else int(result)
