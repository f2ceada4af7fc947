"""``python -m tap_cicd.policy [--json] [-c key=value ...]``: ``tap check`` until the CLI has it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tap_cicd.errors import TapError
from tap_cicd.policy.command import run_check


def parse(argv: Sequence[str]) -> tuple[dict[str, str | None], bool]:
    """The config values and the output format."""
    parser = argparse.ArgumentParser(prog="python -m tap_cicd.policy", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "-c",
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a tap config value",
    )
    args = parser.parse_args(argv)
    config: dict[str, str | None] = {}
    for item in args.config:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"-c expects KEY=VALUE, got '{item}'")
        config[key] = value
    return config, bool(args.json)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; configuration errors print one line and exit with their code."""
    config, as_json_output = parse(sys.argv[1:] if argv is None else argv)
    try:
        return run_check(config, as_json_output, sys.stdout)
    except TapError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
