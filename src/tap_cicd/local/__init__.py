"""The embedded default target: a local AWS emulator and a deployer on Pulumi's mock seam.

Layered like moto (``responses.py`` vs ``models.py``): ``provider/`` is the part that talks
to AWS APIs, a registry with one data entry per resource type run by one engine;
``state.py`` and ``deployer.py`` hold state, ordering and diffing, and are tested apart
from it; ``seam.py`` is the one place that touches Pulumi's mock seam.
"""

from __future__ import annotations

import contextlib
import os

DEFAULT_PORT = 4566
"""The emulator's port on 127.0.0.1 unless ``--port`` or ``TAP_EMULATOR_PORT`` say otherwise."""
DEFAULT_REGION = "us-east-1"
"""The local target's region unless the config has ``aws:region``."""


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (another user's counts; an exited child does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (started by this process and exited) still answers kill(0).
    with contextlib.suppress(ChildProcessError):
        finished, _status = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    return True
