"""ECS documents: the service's container definitions."""

from __future__ import annotations

from typing import Any

from tap_cicd.deploy.rollout import CONTAINER_NAME

LOG_STREAM_PREFIX = "service"
"""Streams are ``service/<container>/<task id>``."""


def container_definitions(
    *, image: str, container_port: int, log_group: str, region: str
) -> list[dict[str, Any]]:
    """The one container of the service's task definition (the release replaces its image).

    Read-only root filesystem, no privileged mode (Fargate does not support it; absent means
    off), logs to the stack's log group through the ``awslogs`` driver.
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html
    """
    return [
        {
            "name": CONTAINER_NAME,
            "image": image,
            "essential": True,
            "readonlyRootFilesystem": True,
            "portMappings": [{"containerPort": container_port, "protocol": "tcp"}],
            # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_awslogs.html
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": log_group,
                    "awslogs-region": region,
                    "awslogs-stream-prefix": LOG_STREAM_PREFIX,
                },
            },
        }
    ]
