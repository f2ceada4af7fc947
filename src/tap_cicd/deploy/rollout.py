"""The ECS rollout, without AWS: what the deploy step registers, updates and waits for.

Only the standard library: this module ships in the Lambda archive.
"""

from __future__ import annotations

from tap_cicd.deploy.scanning import MAX_SCAN_WAIT_SECONDS

DEPLOY_TARGETS = ("ecs", "none")
"""Values of ``deployTarget``: roll out to the stack's ECS service, or only record the release."""
CONTAINER_NAME = "app"
"""The one container of the stack's task definition; the release replaces its image."""
DEFAULT_ROLLOUT_WAIT_SECONDS = 1_800
"""How long the step waits for the service's deployment unless configured."""
MAX_ROLLOUT_WAIT_SECONDS = MAX_SCAN_WAIT_SECONDS
"""The whole Lambda invoke action, continuations included, must finish within CodePipeline's
24-hour limit (see ``MAX_SCAN_WAIT_SECONDS``)."""
