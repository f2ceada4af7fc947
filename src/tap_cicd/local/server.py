"""The emulator process: moto's server, with one emulator-only patch."""

from __future__ import annotations

import sys
from typing import Any

from moto import server
from moto.iam.access_control import IAMPolicyStatement, PermissionResult


def patch_moto_conditions() -> None:
    """moto denies on any policy statement whose ``Condition`` it cannot evaluate.

    It has no request context (``aws:SecureTransport``, ``aws:SourceArn``, ...), so it
    treats every conditioned statement as matching and returns DENIED, for Deny and
    Allow alike: the stack's TLS-only bucket policies would refuse every object call.
    In the emulator process a statement with conditions and no context is neutral
    instead, which is how AWS judges this stack's statements for a TLS request from the
    account itself (the only kind the emulator's clients make). Runs in the emulator
    process only.
    """
    original = IAMPolicyStatement.is_action_permitted

    def is_action_permitted(
        self: Any,
        action: str,
        resource: str = "*",
        principal: str | None = None,
        incoming_condition_values: dict[str, str] | None = None,
    ) -> Any:
        if self._statement.get("Condition") and incoming_condition_values is None:
            return PermissionResult.NEUTRAL
        return original(self, action, resource, principal, incoming_condition_values)

    IAMPolicyStatement.is_action_permitted = is_action_permitted  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    """Patch moto, then serve (``argv`` as for ``python -m moto.server``)."""
    patch_moto_conditions()
    server.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
