"""SSM: the release parameter, put with overwrite, tagged after the put."""

from __future__ import annotations

from tap_cicd.local.provider import Context, ssm

from .conftest import TAGS, create, delete, error_of, update

PARAMETER = "/pipeline/dev/release"


def parameter_tags(ctx: Context, name: str) -> dict[str, str]:
    found = ctx.clients("ssm").list_tags_for_resource(ResourceType="Parameter", ResourceId=name)
    return {t["Key"]: t["Value"] for t in found["TagList"]}


def test_parameter_is_put_overwritten_and_deleted(ctx: Context) -> None:
    client = ctx.clients("ssm")
    inputs = {"name": PARAMETER, "value": '{"imageDigest":null}', "description": "release"}
    name, outputs = create(ssm.PARAMETER, ctx, inputs)
    assert name == PARAMETER
    assert outputs == {"arn": ctx.arn("ssm", f"parameter{PARAMETER}"), "version": 1}
    parameter = client.get_parameter(Name=PARAMETER)["Parameter"]
    assert (parameter["Value"], parameter["Type"]) == ('{"imageDigest":null}', "String")
    assert parameter["ARN"] == outputs["arn"]
    update(ssm.PARAMETER, ctx, PARAMETER, inputs, {**inputs, "value": "v2"})
    assert client.get_parameter(Name=PARAMETER)["Parameter"]["Value"] == "v2"
    delete(ssm.PARAMETER, ctx, PARAMETER, inputs)
    assert error_of(lambda: client.get_parameter(Name=PARAMETER)) == "ParameterNotFound"
    delete(ssm.PARAMETER, ctx, PARAMETER, inputs)


def test_parameter_is_tagged_after_the_put_and_untagged_on_update(ctx: Context) -> None:
    inputs = {"name": PARAMETER, "value": "v1", "tags": TAGS}
    create(ssm.PARAMETER, ctx, inputs)
    assert parameter_tags(ctx, PARAMETER) == TAGS
    update(ssm.PARAMETER, ctx, PARAMETER, inputs, {**inputs, "tags": {"Project": "pipeline"}})
    assert parameter_tags(ctx, PARAMETER) == {"Project": "pipeline"}


def test_a_plain_name_gets_its_slash_in_the_arn(ctx: Context) -> None:
    _, outputs = create(ssm.PARAMETER, ctx, {"name": "release", "value": "v1"})
    assert outputs["arn"] == ctx.arn("ssm", "parameter/release")
    assert ctx.clients("ssm").get_parameter(Name="release")["Parameter"]["ARN"] == outputs["arn"]
