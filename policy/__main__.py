"""The CrossGuard pack: only assembles the rules (constructing PolicyPack starts the server)."""

from __future__ import annotations

from pulumi_policy import PolicyPack

from tap_cicd.policy.crossguard import policies

PolicyPack(name="tap-baseline", policies=policies())
