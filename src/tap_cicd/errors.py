"""One exception class per kind of failure, each with a stable code.

The CLI maps ``TapError.exit_code`` to the process exit code and prints ``str(error)``,
which is always a single line.
"""

from __future__ import annotations


class TapError(Exception):
    """Base class of every error tap raises on purpose."""

    code = "tap_error"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
        self.message = " ".join(message.split())


class ConfigError(TapError):
    """A configuration value broke a rule. Raised before any resource is registered."""

    code = "config_invalid"
    exit_code = 2

    def __init__(self, key: str, rule: str) -> None:
        super().__init__(f"invalid config '{key}': {rule}")
        self.key = key
        self.rule = rule
