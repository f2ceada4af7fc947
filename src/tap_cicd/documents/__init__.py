"""Pure builders for every JSON document of the stack.

Each function takes plain strings and returns a ``dict`` (serialise with ``json_text``).
The components pass Pulumi Outputs in through ``.apply`` only, so everything here is
tested without Pulumi. ``iam`` holds identity documents (trust and role policies),
``resources`` the resource policies and lifecycles, ``events`` the EventBridge patterns,
``service`` the ECS container definitions.
"""

from __future__ import annotations

from tap_cicd.documents._base import (
    KMS_USE,
    Document,
    Statement,
    deny_insecure_transport,
    json_text,
)
from tap_cicd.documents.events import (
    NOTIFICATION_INPUT_PATHS,
    NOTIFICATION_TEMPLATE,
    PIPELINE_STATES,
    pipeline_state_pattern,
    source_upload_pattern,
)
from tap_cicd.documents.iam import (
    STAR_ONLY_ACTIONS,
    TRUST_SOURCE_KEYS,
    build_role_policy,
    deploy_role_policy,
    pipeline_role_policy,
    rollout_statements,
    start_pipeline_policy,
    task_execution_role_policy,
    trust_policy,
)
from tap_cicd.documents.resources import (
    RELEASE_TAG_PREFIX,
    access_log_delivery_statement,
    bucket_lifecycle_rules,
    ecr_lifecycle_policy,
    key_policy,
    queue_policy,
    subscriber_queue_policy,
    tls_only_bucket_policy,
    topic_policy,
)
from tap_cicd.documents.service import LOG_STREAM_PREFIX, container_definitions

__all__ = [
    "KMS_USE",
    "LOG_STREAM_PREFIX",
    "NOTIFICATION_INPUT_PATHS",
    "NOTIFICATION_TEMPLATE",
    "PIPELINE_STATES",
    "RELEASE_TAG_PREFIX",
    "STAR_ONLY_ACTIONS",
    "TRUST_SOURCE_KEYS",
    "Document",
    "Statement",
    "access_log_delivery_statement",
    "bucket_lifecycle_rules",
    "build_role_policy",
    "container_definitions",
    "deny_insecure_transport",
    "deploy_role_policy",
    "ecr_lifecycle_policy",
    "json_text",
    "key_policy",
    "pipeline_role_policy",
    "pipeline_state_pattern",
    "queue_policy",
    "rollout_statements",
    "source_upload_pattern",
    "start_pipeline_policy",
    "subscriber_queue_policy",
    "task_execution_role_policy",
    "tls_only_bucket_policy",
    "topic_policy",
    "trust_policy",
]
