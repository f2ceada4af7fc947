"""The naming convention and the AWS name rules."""

from __future__ import annotations

from tap_cicd.naming import Kind, Naming


def test_convention() -> None:
    naming = Naming("shop", "prod")
    assert naming.name("build") == "shop-build-prod"
    assert naming.bucket("artifacts", "111122223333") == "shop-artifacts-111122223333-prod"
    assert naming.kms_alias() == "alias/shop-key-prod"
    assert naming.build_log_group() == "/aws/codebuild/shop-build-prod"
    assert naming.deploy_log_group() == "/aws/lambda/shop-deploy-prod"
    assert naming.release_parameter() == "/shop/prod/release"


def test_every_name_follows_the_convention() -> None:
    naming = Naming("shop", "prod")
    for _kind, name in naming.all_names():
        assert "shop-" in name or name.startswith("/shop/"), name
        assert name.endswith("prod") or name.endswith("/release"), name
    assert naming.problems() == []


def test_rules_report_length_and_charset() -> None:
    rule = Kind.S3_BUCKET.value
    assert rule.problem("ok-bucket") is None
    too_long = rule.problem("a" * 64)
    assert too_long is not None
    assert "64 characters; the limit is 3-63" in too_long
    wrong = rule.problem("Upper-Case")
    assert wrong is not None
    assert "does not match" in wrong
    assert Kind.LAMBDA_FUNCTION.value.problem("x" * 65) is not None
    assert Kind.ECR_REPOSITORY.value.problem("a--b") is not None


def test_problems_lists_each_broken_name() -> None:
    problems = Naming("pipeline", "x" * 60).problems()
    assert any("S3 bucket" in p for p in problems)
    assert any("Lambda function" in p for p in problems)


def test_service_names() -> None:
    naming = Naming("shop", "prod")
    assert naming.cluster() == "shop-cluster-prod"
    assert naming.service() == "shop-service-prod"
    assert naming.task_family() == "shop-task-prod"
    assert naming.load_balancer() == "shop-alb-prod"
    assert naming.target_group() == "shop-tg-prod"
    assert naming.security_group("tasks") == "shop-tasks-sg-prod"
    assert naming.network("public-a") == "shop-public-a-prod"
    assert naming.service_log_group() == "/ecs/shop-task-prod"
    assert naming.log_groups() == ["/aws/codebuild/shop-build-prod", "/aws/lambda/shop-deploy-prod"]
    assert naming.log_groups(service=True)[-1] == "/ecs/shop-task-prod"
    with_service = dict((name, kind) for kind, name in naming.all_names())
    assert with_service["shop-alb-prod"] is Kind.LOAD_BALANCER
    assert with_service["shop-task-role-prod"] is Kind.IAM_ROLE
    without = {name for _kind, name in naming.all_names(service=False)}
    assert without.isdisjoint({"shop-alb-prod", "shop-task-role-prod", "/ecs/shop-task-prod"})


def test_load_balancer_and_target_group_names_are_32_at_most() -> None:
    assert Kind.LOAD_BALANCER.value.problem("a" * 32) is None
    assert Kind.LOAD_BALANCER.value.problem("a" * 33) is not None
    assert Kind.LOAD_BALANCER.value.problem("internal-alb") is not None
    assert Kind.LOAD_BALANCER.value.problem("alb-") is not None
    assert Kind.TARGET_GROUP.value.problem("a" * 33) is not None
    assert Kind.TARGET_GROUP.value.problem("-tg") is not None
    assert Kind.SECURITY_GROUP.value.problem("sg-web") is not None
    long_suffix = Naming("a" * 20, "abcdefghij")
    assert [p.split(" name")[0] for p in long_suffix.problems()] == [
        "Load balancer",
        "Target group",
    ]
    assert long_suffix.problems(service=False) == []
