"""CodePipeline: encrypted artifact stores, a role that reaches only its own parts (P1, P2)."""

from __future__ import annotations

from collections.abc import Sequence

from tap_cicd.policy import tokens as t
from tap_cicd.policy.model import (
    Props,
    Registry,
    Resource,
    allows,
    as_list,
    linked,
    of_type,
    statements,
)

rules = Registry("codepipeline")

POLICY_TYPES = (t.ROLE_POLICY, t.POLICY)


@rules.resource(
    "TAP-CP-001",
    "Artifacts carry source and build output; the key guards them.",
    ("CKV_AWS_219",),
    t.PIPELINE,
)
def encrypted_artifact_stores(_: str, props: Props) -> list[str]:
    """Every artifact store is encrypted with a named KMS key."""
    stores = as_list(props.get("artifactStores"))
    bad = [
        str(s.get("location"))
        for s in stores
        if (s.get("encryptionKey") or {}).get("type") != "KMS"
        or not (s.get("encryptionKey") or {}).get("id")
    ]
    if not stores or bad:
        return [f"artifact store {', '.join(bad) or '(none)'} is not encrypted with the key"]
    return []


def _pipeline_policies(resources: Sequence[Resource], pipeline: Resource) -> list[Resource]:
    roles = [
        r for r in of_type(resources, t.ROLE) if pipeline.props.get("roleArn") in r.identifiers()
    ]
    return [p for role in roles for p in linked(resources, t.ROLE_POLICY, "role", role)]


@rules.stack(
    "TAP-CP-002",
    "A pipeline role that can start any build or invoke any function can run anything.",
    (),
    t.PIPELINE,
)
def own_parts_only(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """The pipeline role starts only this stack's projects and invokes only its functions."""
    own = {
        "codebuild:": {i for r in of_type(resources, t.PROJECT) for i in r.identifiers()},
        "lambda:": {i for r in of_type(resources, t.FUNCTION) for i in r.identifiers()},
    }
    problems = []
    for pipeline in of_type(resources, t.PIPELINE):
        for policy in _pipeline_policies(resources, pipeline):
            for s in statements(policy.props.get("policy")):
                for prefix, arns in own.items():
                    acts = [a for a in as_list(s.get("Action")) if str(a).startswith(prefix)]
                    outside = set(as_list(s.get("Resource"))) - arns
                    if allows(s) and acts and outside:
                        problems.append(
                            (pipeline.urn, f"role may {acts[0]} on {sorted(outside)[0]}")
                        )
    return problems


@rules.resource(
    "TAP-CP-003",
    "iam:PassRole on '*' lets the holder hand any role to a service.",
    ("NAG IAM5",),
    *POLICY_TYPES,
)
def no_pass_role_on_star(_: str, props: Props) -> list[str]:
    """No ``iam:PassRole`` on ``*``."""
    return [
        "iam:PassRole is allowed on '*'"
        for s in statements(props.get("policy"))
        if allows(s)
        and {"iam:PassRole", "iam:*", "*"} & set(as_list(s.get("Action")))
        and "*" in as_list(s.get("Resource"))
    ]


@rules.resource(
    "TAP-CP-004",
    "QUEUED V2 executions never overlap, so an older build cannot overwrite a newer release.",
    (),
    t.PIPELINE,
    level="advisory",
)
def queued_v2(_: str, props: Props) -> list[str]:
    """Pipeline type V2 with execution mode QUEUED."""
    mode = (props.get("pipelineType"), props.get("executionMode"))
    return (
        [] if mode == ("V2", "QUEUED") else [f"pipeline is {mode[0]} / {mode[1]}, not V2 / QUEUED"]
    )
