"""Policy as code: the security baseline as rules, one small pure function each.

Rules live in one module per service; ``engine`` runs them offline over the program's
graph, ``crossguard`` adapts them for ``pulumi preview --policy-pack policy``.
"""

from __future__ import annotations
