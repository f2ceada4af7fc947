"""``TapStack``: the root component of a tap program."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from tap_cicd.config import Settings
from tap_cicd.pipeline import CicdPipelineStack, CicdPipelineStackArgs

RESOURCE_TYPE = "tap:index:TapStack"


@dataclass(frozen=True)
class TapStackArgs:
    """Inputs of the root component."""

    settings: Settings
    """Validated settings of the whole stack."""


class TapStack(pulumi.ComponentResource):
    """The root of a tap program: holds the pipeline component and re-exposes its outputs."""

    pipeline: CicdPipelineStack
    """The pipeline component."""

    def __init__(
        self, name: str, args: TapStackArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        self.pipeline = CicdPipelineStack(
            f"{name}-cicd",
            CicdPipelineStackArgs(args.settings),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(self.outputs())

    def outputs(self) -> dict[str, pulumi.Output[str]]:
        """The stack outputs, by their exported (camelCase) names."""
        return self.pipeline.outputs()


def load_settings() -> Settings:
    """Settings from Pulumi config (namespace ``tap``), then the environment, then defaults."""
    return Settings.from_config(pulumi.Config("tap").get, pulumi.get_stack())


def define(name: str = "tap") -> TapStack:
    """The whole program: read and validate the settings, build the stack, export its outputs."""
    stack = TapStack(name, TapStackArgs(load_settings()))
    for key, value in stack.outputs().items():
        pulumi.export(key, value)
    return stack
