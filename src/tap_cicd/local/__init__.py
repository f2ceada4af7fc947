"""The embedded default target: a local AWS emulator and a deployer on Pulumi's mock seam.

Layered like moto (``responses.py`` vs ``models.py``): ``provider/`` is the thin part that
talks to AWS APIs, one function per resource type and operation; ``state.py`` and
``deployer.py`` hold state, ordering and diffing, and are tested apart from it.
"""

DEFAULT_PORT = 4566
"""The emulator's port on 127.0.0.1 unless ``--port`` or ``TAP_EMULATOR_PORT`` say otherwise."""
DEFAULT_REGION = "us-east-1"
"""The local target's region unless the config has ``aws:region``."""
