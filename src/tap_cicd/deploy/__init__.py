"""The deploy step: a Lambda function invoked by CodePipeline's Deploy stage.

Ships alone (with ``tap_cicd/__init__.py``): nothing here may import Pulumi.
"""
