"""tap: a production-grade container CI/CD pipeline on AWS, as a Pulumi Python program.

This package root stays import-free on purpose: the deploy Lambda ships
``tap_cicd/__init__.py`` and ``tap_cicd/deploy/`` only, without Pulumi.
"""
