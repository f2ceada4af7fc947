"""The Pulumi type tokens the rules judge: the registry's, and those tap never deploys.

A type tap deploys has its token in its registry entry (``tap_cicd.local.provider``); the
rules name it through these constants. The last few are types the rules forbid or judge
without the program ever declaring them, so no entry holds them.
"""

from __future__ import annotations

from tap_cicd.local.provider import (
    codebuild,
    codepipeline,
    ec2,
    ecr,
    ecs,
    elbv2,
    events,
    iam,
    kms,
    lambda_,
    logs,
    s3,
    sns,
    sqs,
)

KEY = kms.KEY.type
ALIAS = kms.ALIAS.type
BUCKET = s3.BUCKET.type
PUBLIC_ACCESS_BLOCK = s3.PUBLIC_ACCESS_BLOCK.type
BUCKET_POLICY = s3.POLICY.type
OWNERSHIP = s3.OWNERSHIP.type
BUCKET_ENCRYPTION = s3.ENCRYPTION.type
VERSIONING = s3.VERSIONING.type
BUCKET_LIFECYCLE = s3.LIFECYCLE.type
BUCKET_LOGGING = s3.LOGGING.type
REPOSITORY = ecr.REPOSITORY.type
ECR_LIFECYCLE = ecr.LIFECYCLE_POLICY.type
PROJECT = codebuild.PROJECT.type
PIPELINE = codepipeline.PIPELINE.type
FUNCTION = lambda_.FUNCTION.type
INVOKE_CONFIG = lambda_.INVOKE_CONFIG.type
ROLE = iam.ROLE.type
ROLE_POLICY = iam.ROLE_POLICY.type
EVENT_RULE = events.RULE.type
EVENT_TARGET = events.TARGET.type
TOPIC = sns.TOPIC.type
TOPIC_POLICY = sns.TOPIC_POLICY.type
QUEUE = sqs.QUEUE.type
QUEUE_POLICY = sqs.QUEUE_POLICY.type
LOG_GROUP = logs.LOG_GROUP.type

# The rollout's types (issue 12).
CLUSTER = ecs.CLUSTER.type
TASK_DEFINITION = ecs.TASK_DEFINITION.type
SERVICE = ecs.SERVICE.type
LOAD_BALANCER = elbv2.LOAD_BALANCER.type
TARGET_GROUP = elbv2.TARGET_GROUP.type
LISTENER = elbv2.LISTENER.type
SECURITY_GROUP = ec2.SECURITY_GROUP.type
INGRESS_RULE = ec2.INGRESS_RULE.type
EGRESS_RULE = ec2.EGRESS_RULE.type
VPC = ec2.VPC.type
SUBNET = ec2.SUBNET.type

# Judged, never deployed: the rules forbid these or would judge them if the program grew them.
REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
SOURCE_CREDENTIAL = "aws:codebuild/sourceCredential:SourceCredential"
PERMISSION = "aws:lambda/permission:Permission"
POLICY = "aws:iam/policy:Policy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
# Other ways to open a security group or route an HTTP listener: a rule must see them too.
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
JUDGED_ONLY = (
    REPOSITORY_POLICY,
    SOURCE_CREDENTIAL,
    PERMISSION,
    POLICY,
    ROLE_POLICY_ATTACHMENT,
    POLICY_ATTACHMENT,
    SECURITY_GROUP_RULE,
    LISTENER_RULE,
)
"""The tokens above that no registry entry holds."""
