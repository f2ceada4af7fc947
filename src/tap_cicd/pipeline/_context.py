"""What every part of the pipeline needs: its parent, settings, names and account facts."""

from __future__ import annotations

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

    parent: pulumi.Resource
    settings: Settings
    account_id: pulumi.Output[str]
    region: pulumi.Output[str]
    partition: pulumi.Output[str]

    @property
    def naming(self) -> Naming:
        """The naming convention."""
        return self.settings.naming

    @property
    def tags(self) -> dict[str, str]:
        """Tags for every taggable resource."""
        return self.settings.all_tags

    def opts(self, **kwargs: Any) -> pulumi.ResourceOptions:
        """Resource options with the component as parent."""
        return pulumi.ResourceOptions(parent=self.parent, **kwargs)

    def arn(self, service: str, resource: str, *, regional: bool = True) -> pulumi.Output[str]:
        """An ARN of this account (and region), known before the resource exists."""
        return pulumi.Output.all(self.partition, self.region, self.account_id).apply(
            lambda v: f"arn:{v[0]}:{service}:{v[1] if regional else ''}:{v[2]}:{resource}"
        )


def document(builder: Callable[..., dict[str, Any]], **inputs: Any) -> pulumi.Output[str]:
    """Render a pure document builder over Outputs as a JSON string."""
    return pulumi.Output.all(**inputs).apply(lambda values: json.dumps(builder(**values)))
