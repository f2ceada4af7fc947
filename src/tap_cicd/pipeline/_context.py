"""What every part of the pipeline needs: its parent, settings, names and account facts."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from tap_cicd.config import Settings
from tap_cicd.naming import Naming


@dataclass(frozen=True)
class Context:
    """Shared inputs of the pipeline's parts."""

    base: str
    """The pipeline component's name: the first part of every logical resource name."""
    parent: pulumi.Resource
    """The component the next resources belong to."""
    settings: Settings
    account_id: pulumi.Output[str]
    region: pulumi.Output[str]
    partition: pulumi.Output[str]
    legacy_parent: pulumi.Resource | None = None
    """Where resources lived before the parts became components (``CicdPipelineStack``): each
    resource aliases it, so a stack deployed before then updates in place, replacing nothing."""

    @property
    def naming(self) -> Naming:
        """The naming convention."""
        return self.settings.naming

    @property
    def tags(self) -> dict[str, str]:
        """Tags for every taggable resource."""
        return self.settings.all_tags

    def within(self, component: pulumi.Resource) -> Context:
        """The same context for the resources of a child component."""
        return dataclasses.replace(self, parent=component, legacy_parent=self.parent)

    def opts(self, **kwargs: Any) -> pulumi.ResourceOptions:
        """Resource options with the component as parent (and the old parent as an alias)."""
        legacy = self.legacy_parent
        aliases = [pulumi.Alias(parent=legacy)] if legacy is not None else None
        return pulumi.ResourceOptions(parent=self.parent, aliases=aliases, **kwargs)

    def component(self) -> pulumi.ResourceOptions:
        """Options of a child component of the pipeline (new with the split: no alias)."""
        return pulumi.ResourceOptions(parent=self.parent)

    def arn(self, service: str, resource: str, *, regional: bool = True) -> pulumi.Output[str]:
        """An ARN of this account (and region), known before the resource exists."""
        return pulumi.Output.all(self.partition, self.region, self.account_id).apply(
            lambda v: f"arn:{v[0]}:{service}:{v[1] if regional else ''}:{v[2]}:{resource}"
        )


def document(builder: Callable[..., dict[str, Any]], **inputs: Any) -> pulumi.Output[str]:
    """Render a pure document builder over Outputs as a JSON string."""
    return pulumi.Output.all(**inputs).apply(lambda values: json.dumps(builder(**values)))
