"""The emulator process: moto's server, with emulator-only patches where it differs from AWS."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from moto.ecr.models import ECRBackend
from moto.iam.access_control import IAMPolicyStatement, PermissionResult
from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import run_simple

from tap_cicd.local import DEFAULT_PORT, services
from tap_cicd.local.services import app


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


def patch_moto_scanning_configuration() -> None:
    """moto's ``BatchGetRepositoryScanningConfiguration`` ignores a repository's scan on push.

    It reports ``scanOnPush`` false (and ``scanFrequency`` ``MANUAL``) for every repository
    no registry scanning rule matches, even one created with ``scanOnPush`` true; AWS reports
    the repository's scan on push. The deploy step asks this API whether a scan is coming
    before it waits for one, and the stack's repository scans on push: unpatched, the
    emulator would fail every release that arrives before its scan ("no scan configured").
    Here ``scanOnPush`` is true when the repository's own configuration says so; everything
    else is moto's. Runs in the emulator process only.
    """
    original = ECRBackend.batch_get_repository_scanning_configuration

    def batch_get_repository_scanning_configuration(
        self: ECRBackend, names: list[str]
    ) -> tuple[list[dict[str, Any]], list[str]]:
        configurations, failing = original(self, names)
        reported = []
        for configuration in configurations:
            repository = self.repositories.get(configuration.get("repositoryName", ""))
            own: Any = getattr(repository, "image_scanning_configuration", None) or {}
            on_push = bool(configuration.get("scanOnPush") or own.get("scanOnPush"))
            # A copy: moto keeps its own record of the registry rules' effect.
            reported.append({**configuration, "scanOnPush": on_push})
        return reported, failing

    ECRBackend.batch_get_repository_scanning_configuration = (  # type: ignore[method-assign]
        batch_get_repository_scanning_configuration
    )


def main(argv: list[str]) -> None:
    """Patch moto, then serve moto with tap's services (``services.app``) on ``-H``/``-p``.

    werkzeug's ``run_simple`` binds with SO_REUSEADDR (``BaseWSGIServer.allow_reuse_address``;
    socket(7)): an emulator restarted on the port of one just stopped binds while that one's
    connections are in TIME_WAIT.
    """
    parser = argparse.ArgumentParser(prog="tap_cicd.local.server")
    parser.add_argument("-H", "--host", default=services.HOST)
    parser.add_argument("-p", "--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    # The services read the port to reach the emulator itself (and to name the registry).
    os.environ["MOTO_PORT"] = str(args.port)
    patch_moto_conditions()
    patch_moto_scanning_configuration()
    app.install()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    run_simple(
        args.host,
        args.port,
        app.Application(),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
