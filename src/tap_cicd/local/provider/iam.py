"""IAM: roles and their inline policies."""

from __future__ import annotations

from typing import Any

from tap_cicd.local.provider.model import (
    ID,
    Call,
    Ref,
    ResourceType,
    Tags,
    Update,
    given,
    integer,
    part_of,
    settable,
    tag_reader,
)


def _delete_role(ref: Ref) -> None:
    # IAM refuses to delete a role that still has policies.
    for policy in ref.call("list_role_policies", RoleName=ref.id)["PolicyNames"]:
        ref.call("delete_role_policy", RoleName=ref.id, PolicyName=policy)
    for attached in ref.call("list_attached_role_policies", RoleName=ref.id)["AttachedPolicies"]:
        ref.call("detach_role_policy", RoleName=ref.id, PolicyArn=attached["PolicyArn"])
    ref.call("delete_role", RoleName=ref.id)


_trust = given("assumeRolePolicy")
_session = given("maxSessionDuration", 3600, integer)

ROLE = ResourceType(
    type="aws:iam/role:Role",
    service="iam",
    create=Call(
        "create_role", RoleName=ID, AssumeRolePolicyDocument=_trust, MaxSessionDuration=_session
    ),
    exists=("EntityAlreadyExists",),
    read=Call("get_role", RoleName=ID, result=lambda _ref, response: response["Role"]),
    updates=(
        Update(
            ("assumeRolePolicy",),
            Call("update_assume_role_policy", RoleName=ID, PolicyDocument=_trust),
        ),
        Update(
            ("maxSessionDuration",), Call("update_role", RoleName=ID, MaxSessionDuration=_session)
        ),
    ),
    delete=_delete_role,
    tags=Tags({"RoleName": ID}, tag="tag_role", untag="untag_role", on_create="Tags"),
    read_tags=tag_reader("list_role_tags", lambda r: r["Tags"], RoleName=ID),
    outputs=lambda ref: {"arn": ref.arn("iam", f"role/{ref.id}", regional=False), "name": ref.id},
    replace_on=("name",),
)

_names: dict[str, Any] = {"RoleName": given("role"), "PolicyName": given("name")}
_put_role_policy = Call("put_role_policy", **_names, PolicyDocument=given("policy"))
ROLE_POLICY = settable(
    "aws:iam/rolePolicy:RolePolicy",
    "iam",
    _put_role_policy,
    of=("role", "name"),
    belongs_to=part_of(ROLE.type, "role"),
    id=lambda ref: f"{ref.inputs['role']}:{ref.inputs['name']}",
    read=Call("get_role_policy", **_names),
    delete=Call("delete_role_policy", **_names),
)

TYPES = (ROLE, ROLE_POLICY)
