"""IAM: roles and their inline policies."""

from __future__ import annotations

from tap_cicd.local.provider._common import (
    Context,
    Handler,
    Inputs,
    Outputs,
    ignore_missing,
    integer,
    reapply,
    stale_tags,
    tag_list,
)


def _role_outputs(ctx: Context, name: str) -> Outputs:
    return {"arn": ctx.arn("iam", f"role/{name}", regional=False), "name": name}


def create_role(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    iam = ctx.clients("iam")
    name = inputs["name"]
    try:
        iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=inputs["assumeRolePolicy"],
            MaxSessionDuration=integer(inputs.get("maxSessionDuration", 3600)),
            Tags=tag_list(inputs.get("tags")),
        )
    except iam.exceptions.EntityAlreadyExistsException:
        return name, update_role(ctx, name, {}, inputs)
    return name, _role_outputs(ctx, name)


def update_role(ctx: Context, name: str, old: Inputs, new: Inputs) -> Outputs:
    iam = ctx.clients("iam")
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=new["assumeRolePolicy"])
    iam.update_role(RoleName=name, MaxSessionDuration=integer(new.get("maxSessionDuration", 3600)))
    if stale := stale_tags(old, new):
        iam.untag_role(RoleName=name, TagKeys=stale)
    if new.get("tags"):
        iam.tag_role(RoleName=name, Tags=tag_list(new["tags"]))
    return _role_outputs(ctx, name)


def delete_role(ctx: Context, name: str, _inputs: Inputs) -> None:
    iam = ctx.clients("iam")

    def delete() -> None:
        # IAM refuses to delete a role that still has policies.
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        iam.delete_role(RoleName=name)

    ignore_missing(delete)


def put_role_policy(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    ctx.clients("iam").put_role_policy(
        RoleName=inputs["role"], PolicyName=inputs["name"], PolicyDocument=inputs["policy"]
    )
    return f"{inputs['role']}:{inputs['name']}", {}


def delete_role_policy(ctx: Context, _id: str, inputs: Inputs) -> None:
    ignore_missing(
        lambda: ctx.clients("iam").delete_role_policy(
            RoleName=inputs["role"], PolicyName=inputs["name"]
        )
    )


HANDLERS = [
    Handler("aws:iam/role:Role", create_role, delete_role, update_role, replace_on=("name",)),
    Handler(
        "aws:iam/rolePolicy:RolePolicy",
        put_role_policy,
        delete_role_policy,
        reapply(put_role_policy),
        replace_on=("role", "name"),
    ),
]
