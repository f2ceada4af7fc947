"""The embedded default target: a local AWS emulator and a deployer on Pulumi's mock seam.

Layered like moto (``responses.py`` vs ``models.py``): ``provider/`` is the thin part that
talks to AWS APIs, one function per resource type and operation; ``state.py`` and
``deployer.py`` hold state, ordering and diffing, and are tested apart from it.
"""
