"""The local provider: the registry of resource types, run against an endpoint with boto3.

``model.py`` says what an entry holds, one module per AWS service holds the entries (and the
call code specific to them), ``engine.py`` runs them and ``registry.py`` lists them.
"""

from __future__ import annotations

from tap_cicd.local.provider.engine import Context, Handler
from tap_cicd.local.provider.registry import HANDLERS, REGISTRY

__all__ = ["HANDLERS", "REGISTRY", "Context", "Handler"]
