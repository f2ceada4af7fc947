"""The ``CicdPipelineStack`` component and its parts, one module per concern."""

from __future__ import annotations

from tap_cicd.pipeline.component import RESOURCE_TYPE, CicdPipelineStack, CicdPipelineStackArgs

__all__ = ["RESOURCE_TYPE", "CicdPipelineStack", "CicdPipelineStackArgs"]
