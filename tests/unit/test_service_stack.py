"""The ECS service under Pulumi's runtime mocks: network, ingress, task definition, service."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import ACCOUNT_ID, REGION, Program, deploy_stack, deprecated_inputs

from tap_cicd.pipeline.service import BOOTSTRAP_TAG

CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT_ID}:certificate/0f3e2d1c-aaaa-bbbb-cccc-0123456789ab"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LISTENER = "aws:lb/listener:Listener"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"
NETWORK_TYPES = {
    "aws:ec2/vpc:Vpc",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/routeTable:RouteTable",
    "aws:ec2/route:Route",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
}
COMPONENT_CHILDREN = {
    "tap:cicd:Network": NETWORK_TYPES,
    "tap:cicd:Ingress": {
        SG,
        INGRESS,
        EGRESS,
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:lb/targetGroup:TargetGroup",
        LISTENER,
    },
    "tap:cicd:ContainerService": {
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:ecs/cluster:Cluster",
        TASK_DEFINITION,
        SERVICE,
    },
}
SERVICE_TYPES = set().union(*COMPONENT_CHILDREN.values()) - {
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
}


@pytest.fixture(scope="module")
def ecs_program() -> Program:
    """The defaults: a new network, HTTP only, x86_64."""
    return deploy_stack({})


@pytest.fixture(scope="module")
def https_program() -> Program:
    """A certificate, IPv4 and IPv6 CIDRs, an existing network, arm64 and a bigger task."""
    return deploy_stack(
        {
            "certificateArn": CERTIFICATE,
            "ingressCidrs": "203.0.113.0/24, 2001:db8::/32",
            "vpcId": "vpc-0123456789abcdef0",
            "subnetIds": '["subnet-0a1b2c3d", "subnet-4e5f6a7b"]',
            "buildArchitecture": "arm64",
            "containerPort": "3000",
            "cpu": "1024",
            "memory": "2048",
            "healthCheckPath": "/healthz",
        }
    )


def outputs_of(program: Program, typ: str, name_part: str = "") -> dict[str, Any]:
    """The resource's outputs, with its physical ``id`` (an EC2 id is its ARN's last part)."""
    outputs = dict(program.one(typ, name_part).outputs)
    if "id" not in outputs and "arn" in outputs:
        outputs["id"] = outputs["arn"].rsplit("/", 1)[-1]
    return outputs


def subnet_ids(program: Program) -> list[str]:
    return [outputs_of(program, "aws:ec2/subnet:Subnet", f"-public-{z}")["id"] for z in "ab"]


def test_each_part_owns_its_resources_under_the_pipeline(ecs_program: Program) -> None:
    nodes = ecs_program.by_urn()
    pipeline = ecs_program.one("tap:cicd:CicdPipelineStack")
    for component, children in COMPONENT_CHILDREN.items():
        part = ecs_program.one(component)
        assert part.parent == pipeline.urn
        owned = [n for n in ecs_program.nodes if n.parent == part.urn]
        assert owned
        assert {n.type for n in owned} <= children, component
    for node in ecs_program.nodes:
        if node.type in SERVICE_TYPES:
            owner = nodes[node.parent or ""]
            assert owner.type in COMPONENT_CHILDREN
            assert owner.parent == pipeline.urn


def test_no_deprecation_and_the_zones_come_from_the_invoke(ecs_program: Program) -> None:
    assert [w for w in ecs_program.warnings if "deprecated" in w] == []
    assert deprecated_inputs(ecs_program.nodes) == []
    assert "aws:index/getAvailabilityZones:getAvailabilityZones" in ecs_program.invokes


def test_network_two_public_subnets_in_two_zones_without_nat(ecs_program: Program) -> None:
    vpc = ecs_program.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == "10.0.0.0/16"
    assert vpc.inputs["enableDnsSupport"] is vpc.inputs["enableDnsHostnames"] is True
    assert vpc.inputs["tags"]["Name"] == "pipeline-vpc-dev"
    subnets = ecs_program.of("aws:ec2/subnet:Subnet")
    # The subnets register once the zones resolve, in either order: compare them as pairs.
    assert sorted((s.inputs["availabilityZone"], s.inputs["cidrBlock"]) for s in subnets) == [
        (f"{REGION}a", "10.0.0.0/24"),
        (f"{REGION}b", "10.0.1.0/24"),
    ]
    vpc_id = outputs_of(ecs_program, "aws:ec2/vpc:Vpc")["id"]
    assert all(s.inputs["vpcId"] == vpc_id for s in subnets)
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in subnets)
    gateway = outputs_of(ecs_program, "aws:ec2/internetGateway:InternetGateway")
    table = outputs_of(ecs_program, "aws:ec2/routeTable:RouteTable")
    route = ecs_program.one("aws:ec2/route:Route").inputs
    assert route == {
        "routeTableId": table["id"],
        "destinationCidrBlock": "0.0.0.0/0",
        "gatewayId": gateway["id"],
    }
    associations = ecs_program.of("aws:ec2/routeTableAssociation:RouteTableAssociation")
    assert sorted(a.inputs["subnetId"] for a in associations) == sorted(subnet_ids(ecs_program))
    assert all(a.inputs["routeTableId"] == table["id"] for a in associations)
    assert not [n for n in ecs_program.nodes if "nat" in n.type.lower()]


def test_an_existing_network_is_used_as_given(https_program: Program) -> None:
    assert not [n for n in https_program.nodes if n.type in NETWORK_TYPES]
    assert not https_program.of("tap:cicd:Network")
    alb = https_program.one("aws:lb/loadBalancer:LoadBalancer").inputs
    assert alb["subnets"] == ["subnet-0a1b2c3d", "subnet-4e5f6a7b"]
    assert https_program.one("aws:lb/targetGroup:TargetGroup").inputs["vpcId"] == (
        "vpc-0123456789abcdef0"
    )
    service = https_program.one(SERVICE).inputs
    assert service["networkConfiguration"]["subnets"] == ["subnet-0a1b2c3d", "subnet-4e5f6a7b"]
    assert https_program.invokes.count("aws:index/getAvailabilityZones:getAvailabilityZones") == 0


def rules(program: Program, typ: str, group: str) -> list[dict[str, Any]]:
    group_id = outputs_of(program, SG, f"-{group}-sg")["id"]
    return [
        {k: v for k, v in r.inputs.items() if k not in ("tags", "description")}
        for r in program.of(typ)
        if r.inputs["securityGroupId"] == group_id
    ]


def test_only_the_load_balancer_reaches_the_tasks(ecs_program: Program) -> None:
    alb_sg = outputs_of(ecs_program, SG, "-alb-sg")["id"]
    tasks_sg = outputs_of(ecs_program, SG, "-tasks-sg")["id"]
    names = sorted(r.inputs["name"] for r in ecs_program.of(SG))
    assert names == ["pipeline-alb-sg-dev", "pipeline-tasks-sg-dev"]
    assert all("ingress" not in g.inputs and "egress" not in g.inputs for g in ecs_program.of(SG))
    tcp = {"ipProtocol": "tcp"}
    assert rules(ecs_program, INGRESS, "alb") == [
        {"securityGroupId": alb_sg, **tcp, "fromPort": 80, "toPort": 80, "cidrIpv4": "0.0.0.0/0"}
    ]
    assert rules(ecs_program, INGRESS, "tasks") == [
        {
            "securityGroupId": tasks_sg,
            **tcp,
            "fromPort": 8080,
            "toPort": 8080,
            "referencedSecurityGroupId": alb_sg,
        }
    ]
    assert rules(ecs_program, EGRESS, "alb") == [
        {
            "securityGroupId": alb_sg,
            **tcp,
            "fromPort": 8080,
            "toPort": 8080,
            "referencedSecurityGroupId": tasks_sg,
        }
    ]
    assert rules(ecs_program, EGRESS, "tasks") == [
        {
            "securityGroupId": tasks_sg,
            **tcp,
            "fromPort": 443,
            "toPort": 443,
            "cidrIpv4": "0.0.0.0/0",
        }
    ]


def test_with_a_certificate_each_cidr_reaches_80_and_443(https_program: Program) -> None:
    allowed = {
        (r["fromPort"], r.get("cidrIpv4") or r.get("cidrIpv6"))
        for r in rules(https_program, INGRESS, "alb")
    }
    assert allowed == {
        (80, "203.0.113.0/24"),
        (443, "203.0.113.0/24"),
        (80, "2001:db8::/32"),
        (443, "2001:db8::/32"),
    }
    [ipv6] = [r for r in rules(https_program, INGRESS, "alb") if r.get("cidrIpv6")][:1]
    assert "cidrIpv4" not in ipv6
    [tasks] = rules(https_program, INGRESS, "tasks")
    assert (tasks["fromPort"], tasks["toPort"]) == (3000, 3000)


def test_internet_facing_hardened_load_balancer(ecs_program: Program) -> None:
    alb = ecs_program.one("aws:lb/loadBalancer:LoadBalancer").inputs
    assert alb["name"] == "pipeline-alb-dev"
    assert alb["loadBalancerType"] == "application"
    assert alb["internal"] is False
    assert alb["dropInvalidHeaderFields"] is True
    assert alb["enableDeletionProtection"] is False
    assert alb["securityGroups"] == [outputs_of(ecs_program, SG, "-alb-sg")["id"]]
    assert alb["subnets"] == subnet_ids(ecs_program)
    group = ecs_program.one("aws:lb/targetGroup:TargetGroup").inputs
    assert group["name"] == "pipeline-tg-dev"
    assert (group["targetType"], group["protocol"], group["port"]) == ("ip", "HTTP", 8080)
    assert group["vpcId"] == outputs_of(ecs_program, "aws:ec2/vpc:Vpc")["id"]
    assert group["healthCheck"]["path"] == "/"
    assert group["healthCheck"]["enabled"] is True
    assert group["healthCheck"]["port"] == "traffic-port"


def test_http_forwards_without_a_certificate(ecs_program: Program) -> None:
    [http] = ecs_program.of(LISTENER)
    group_arn = outputs_of(ecs_program, "aws:lb/targetGroup:TargetGroup")["arn"]
    assert http.inputs["port"] == 80
    assert http.inputs["protocol"] == "HTTP"
    assert (
        http.inputs["loadBalancerArn"]
        == outputs_of(ecs_program, "aws:lb/loadBalancer:LoadBalancer")["arn"]
    )
    assert http.inputs["defaultActions"] == [{"type": "forward", "targetGroupArn": group_arn}]


def test_a_certificate_gets_https_with_a_modern_policy_and_a_redirect(
    https_program: Program,
) -> None:
    listeners = {n.name.rsplit("-", 1)[-1]: n.inputs for n in https_program.of(LISTENER)}
    http, https = listeners["http"], listeners["https"]
    assert http["defaultActions"] == [
        {
            "type": "redirect",
            "redirect": {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"},
        }
    ]
    assert https["port"] == 443
    assert https["protocol"] == "HTTPS"
    assert https["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["certificateArn"] == CERTIFICATE
    group_arn = outputs_of(https_program, "aws:lb/targetGroup:TargetGroup")["arn"]
    assert https["defaultActions"] == [{"type": "forward", "targetGroupArn": group_arn}]
    health = https_program.one("aws:lb/targetGroup:TargetGroup").inputs["healthCheck"]
    assert health["path"] == "/healthz"


def test_cluster_has_container_insights(ecs_program: Program) -> None:
    cluster = ecs_program.one("aws:ecs/cluster:Cluster").inputs
    assert cluster["name"] == "pipeline-cluster-dev"
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enabled"}]


def containers(program: Program) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(
        program.one(TASK_DEFINITION).inputs["containerDefinitions"]
    )
    return loaded


def test_task_definition_is_hardened_and_starts_from_the_bootstrap_tag(
    ecs_program: Program,
) -> None:
    task = ecs_program.one(TASK_DEFINITION).inputs
    assert task["family"] == "pipeline-task-dev"
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert task["networkMode"] == "awsvpc"
    assert (task["cpu"], task["memory"]) == ("256", "512")
    assert task["runtimePlatform"] == {
        "operatingSystemFamily": "LINUX",
        "cpuArchitecture": "X86_64",
    }
    roles = {r.inputs["name"]: r.outputs["arn"] for r in ecs_program.of("aws:iam/role:Role")}
    assert task["executionRoleArn"] == roles["pipeline-task-execution-role-dev"]
    assert task["taskRoleArn"] == roles["pipeline-task-role-dev"]
    repository = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/pipeline-images-dev"
    [container] = containers(ecs_program)
    assert container["name"] == "app"
    assert container["image"] == f"{repository}:{BOOTSTRAP_TAG}"
    assert container["readonlyRootFilesystem"] is True
    assert container.get("privileged", False) is False
    assert container["portMappings"] == [{"containerPort": 8080, "protocol": "tcp"}]
    assert container["logConfiguration"]["options"]["awslogs-group"] == "/ecs/pipeline-task-dev"
    assert container["logConfiguration"]["options"]["awslogs-region"] == REGION


def test_the_runtime_platform_follows_the_build(https_program: Program) -> None:
    task = https_program.one(TASK_DEFINITION).inputs
    assert task["runtimePlatform"]["cpuArchitecture"] == "ARM64"
    assert (task["cpu"], task["memory"]) == ("1024", "2048")
    assert containers(https_program)[0]["portMappings"][0]["containerPort"] == 3000


def test_service_rolls_back_by_itself_and_never_by_pulumi_up(ecs_program: Program) -> None:
    node = ecs_program.one(SERVICE)
    service = node.inputs
    assert service["name"] == "pipeline-service-dev"
    assert service["cluster"] == outputs_of(ecs_program, "aws:ecs/cluster:Cluster")["arn"]
    assert service["taskDefinition"] == outputs_of(ecs_program, TASK_DEFINITION)["arn"]
    assert service["desiredCount"] == 0
    assert service["launchType"] == "FARGATE"
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service["deploymentMinimumHealthyPercent"] == 100
    assert service["deploymentMaximumPercent"] == 200
    assert service["deploymentController"] == {"type": "ECS"}
    assert service["enableEcsManagedTags"] is True
    assert service["propagateTags"] == "SERVICE"
    network = service["networkConfiguration"]
    assert network["assignPublicIp"] is True
    assert network["securityGroups"] == [outputs_of(ecs_program, SG, "-tasks-sg")["id"]]
    assert service["loadBalancers"] == [
        {
            "targetGroupArn": outputs_of(ecs_program, "aws:lb/targetGroup:TargetGroup")["arn"],
            "containerName": "app",
            "containerPort": 8080,
        }
    ]
    assert node.ignore_changes == ["taskDefinition", "desiredCount"]


def test_service_log_group_is_retained_and_encrypted(ecs_program: Program) -> None:
    group = ecs_program.one("aws:cloudwatch/logGroup:LogGroup", "-service-logs").inputs
    key = ecs_program.one("aws:kms/key:Key")
    assert group["name"] == "/ecs/pipeline-task-dev"
    assert group["retentionInDays"] == 365
    assert group["kmsKeyId"] == key.outputs["arn"]
    policy = json.loads(key.inputs["policy"])
    [logs] = [s for s in policy["Statement"] if s["Sid"] == "CloudWatchLogsOfThisStack"]
    assert logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"] == [
        f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/codebuild/pipeline-build-dev",
        f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/lambda/pipeline-deploy-dev",
        f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/ecs/pipeline-task-dev",
    ]


def test_task_roles_trust_ecs_tasks_and_only_the_agent_has_a_policy(ecs_program: Program) -> None:
    roles = {r.inputs["name"]: r for r in ecs_program.of("aws:iam/role:Role")}
    for name in ("pipeline-task-execution-role-dev", "pipeline-task-role-dev"):
        trust = json.loads(roles[name].inputs["assumeRolePolicy"])
        assert trust["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    policies = [p for p in ecs_program.of("aws:iam/rolePolicy:RolePolicy") if "-task" in p.name]
    assert [p.name for p in policies] == ["tap-cicd-task-execution-role-policy"]
    doc = json.loads(policies[0].inputs["policy"])
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["PullFromOwnRepository"]["Resource"] == [
        f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/pipeline-images-dev"
    ]
    group = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/ecs/pipeline-task-dev"
    assert by_sid["OwnLogGroup"]["Resource"] == [group, f"{group}:*"]
    assert by_sid["RegistryLogin"]["Resource"] == ["*"]
