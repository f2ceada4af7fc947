"""SSM: the release parameter the deploy step writes."""

from __future__ import annotations

from tap_cicd.local.provider.model import (
    ID,
    Call,
    Ref,
    Tags,
    given,
    settable,
    tag_reader,
)


def _arn(ref: Ref) -> str:
    # A hierarchical name brings its own slash: arn:...:parameter/a/b, not parameter//a/b.
    path = ref.id if ref.id.startswith("/") else f"/{ref.id}"
    return ref.arn("ssm", f"parameter{path}")


_put = Call(
    "put_parameter",
    Name=ID,
    Value=given("value"),
    Type=given("type", "String"),
    Description=given("description", ""),
    Overwrite=True,
)
PARAMETER = settable(
    "aws:ssm/parameter:Parameter",
    "ssm",
    _put,
    of="name",
    read=Call("get_parameter", Name=ID, result=lambda _ref, response: response["Parameter"]),
    # The deploy step writes the release into the value (the program ignores its changes).
    volatile=("Value", "Version", "LastModifiedDate"),
    delete=Call("delete_parameter", Name=ID),
    # PutParameter refuses tags together with Overwrite: they are added after it.
    tags=Tags(
        {"ResourceType": "Parameter", "ResourceId": ID},
        tag="add_tags_to_resource",
        untag="remove_tags_from_resource",
    ),
    gone=("InvalidResourceId",),  # what ListTagsForResource says of a missing parameter
    read_tags=tag_reader(
        "list_tags_for_resource",
        lambda r: r["TagList"],
        ResourceType="Parameter",
        ResourceId=ID,
    ),
    outputs=lambda ref: {"arn": _arn(ref), "version": 1},
)

TYPES = (PARAMETER,)
