"""What `sam deploy` makes of template.yaml, checked on the template as CloudFormation gets it
(SAM's own translator, run here): identity, least privilege, data safety, operations, the
build layout. What needs an AWS account is proven by `make smoke` against a deployment."""

import json
import os
import pathlib
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import localiam  # noqa: E402

FUNCTIONS = ["CreateTicketFunction", "GetTicketFunction", "ListThreadsFunction", "ListTicketsFunction",
             "AddThreadFunction", "UpdateStatusFunction", "UpdateTicketFunction",
             "ConfirmAttachmentFunction", "EscalateTicketsFunction",
             "RenewUploadFunction", "ExpireUploadsFunction", "GuardAgentTokensFunction",
             "PublishEventsFunction", "DeliverWebhooksFunction", "ManageWebhooksFunction",
             "TicketMetricsFunction", "CountTicketsFunction", "DeleteTicketFunction",
             "PurgeTicketsFunction", "ManageErasuresFunction", "EraseCustomersFunction",
             "ManageExportsFunction", "ExportCustomersFunction"]
# The managed policy SAM gives a function for its event source (read by Lambda's poller).
SOURCE_POLICIES = {
    "PublishEventsFunction": "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
    "DeliverWebhooksFunction": "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
    "CountTicketsFunction": "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
    "PurgeTicketsFunction": "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
    "EraseCustomersFunction": "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
    "ExportCustomersFunction": "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
}


@pytest.fixture(scope="module")
def sam():
    return localiam.load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def cfn(sam):
    # SAM's own translator, as sam deploy runs it (shared with the local IAM check).
    return localiam.transformed(sam)["Resources"]


def of_type(resources, kind):
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def test_sam_deploy_takes_the_template_as_is(sam):
    missing = [name for name, p in sam["Parameters"].items() if "Default" not in p]
    assert not missing, f"parameters sam deploy would ask for: {missing}"
    assert sam["Parameters"]["CursorSecret"]["NoEcho"] is True


def test_every_route_needs_a_token_of_the_configured_issuer(cfn):
    body = cfn["HttpApi"]["Properties"]["Body"]
    routes = [(p, m, op) for p, ops in body["paths"].items() for m, op in ops.items()]
    assert len(routes) == 22
    for path, method, op in routes:
        assert op["security"] == [{"JwtAuthorizer": []}], (method, path)
    auth = body["components"]["securitySchemes"]["JwtAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert auth["type"] == "jwt" and auth["identitySource"] == "$request.header.Authorization"
    assert auth["jwtConfiguration"]["issuer"]["Fn::If"][0] == "UseCognito"


def test_cognito_pool_client_and_agents_group_unless_an_external_issuer_is_given(sam, cfn):
    assert sam["Conditions"]["UseCognito"] == {"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}
    pool, client, group = cfn["UserPool"], cfn["UserPoolClient"], cfn["AgentsGroup"]
    assert pool["Condition"] == client["Condition"] == group["Condition"] == "UseCognito"
    assert pool["DeletionPolicy"] == pool["UpdateReplacePolicy"] == "Retain"
    assert pool["Properties"]["DeletionProtection"] == "ACTIVE"
    assert pool["Properties"]["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    assert group["Properties"]["GroupName"] == "agents"
    assert client["Properties"]["GenerateSecret"] is False
    assert "ALLOW_USER_SRP_AUTH" in client["Properties"]["ExplicitAuthFlows"]
    assert client["Properties"]["PreventUserExistenceErrors"] == "ENABLED"
    rule = sam["Rules"]["ExternalIssuerNeedsAudience"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtAudience"}, ""]}]}
    env = cfn["GetTicketFunction"]["Properties"]["Environment"]["Variables"]
    assert env["GROUPS_CLAIM"] == {"Ref": "GroupsClaim"}
    assert sam["Parameters"]["GroupsClaim"]["Default"] == "cognito:groups"


def role_statements(cfn, function):
    role = cfn[f"{function}Role"]["Properties"]
    return [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def test_roles_grant_only_named_actions_on_named_resources(cfn):
    for name in FUNCTIONS:
        role = cfn[f"{name}Role"]["Properties"]
        assert set(role["ManagedPolicyArns"]) <= {
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess", SOURCE_POLICIES.get(name)}, name
        for st in role_statements(cfn, name):
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            assert all("*" not in a for a in actions), (name, actions)
            assert st["Resource"] != "*", (name, st)
    sqs = {name for name in FUNCTIONS for st in role_statements(cfn, name)
           if "sqs:SendMessage" in str(st["Action"])}
    assert sqs == {"ConfirmAttachmentFunction", "EscalateTicketsFunction", "ExpireUploadsFunction",
                   "PublishEventsFunction", "DeliverWebhooksFunction", "ManageWebhooksFunction",
                   "CountTicketsFunction", "PurgeTicketsFunction", "ManageErasuresFunction",
                   "EraseCustomersFunction", "ManageExportsFunction"}


def test_data_is_kept_encrypted_and_recoverable(cfn):
    table = cfn["TicketsTable"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    p = table["Properties"]
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert p["SSESpecification"] == {"SSEEnabled": True}
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert p["DeletionProtectionEnabled"] is True
    bucket = cfn["AttachmentsBucket"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    queue = cfn["FailedEventsQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    denies = [s for s in cfn["FailedEventsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
              if s["Effect"] == "Deny"]
    assert denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_logs_keep_json_for_a_set_time_and_the_api_logs_every_request(cfn):
    for name in FUNCTIONS:
        fn = cfn[name]["Properties"]
        assert fn["LoggingConfig"]["LogFormat"] == "JSON", name
        assert fn["TracingConfig"] == {"Mode": "Active"}, name
        group = cfn[f"{name}Logs"]["Properties"]
        assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{name}}}"}
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert cfn["HttpApiAccessLogs"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    [stage] = of_type(cfn, "AWS::ApiGatewayV2::Stage").values()
    logs = stage["Properties"]["AccessLogSettings"]
    assert logs["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogs", "Arn"]}
    fields = json.loads(logs["Format"])
    assert {"requestId", "routeKey", "status", "latencyMs", "integrationError"} <= set(fields)
    assert not any("header" in v or "body" in v.lower() for v in fields.values()), \
        "no token or body in the access log"
    assert stage["Properties"]["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ThrottleRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ThrottleBurstLimit"}}


def test_background_failures_land_in_a_queue_that_alarms(cfn):
    for name in ("ConfirmAttachmentFunction", "EscalateTicketsFunction", "ExpireUploadsFunction"):
        [config] = [r["Properties"] for r in of_type(cfn, "AWS::Lambda::EventInvokeConfig").values()
                    if r["Properties"]["FunctionName"] == {"Ref": name}]
        assert config["DestinationConfig"]["OnFailure"]["Destination"] == \
            {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}
    rules = [r for r in of_type(cfn, "AWS::Events::Rule").values()
             if "ScheduleExpression" in r["Properties"]]
    assert len(rules) == 2, "escalation every 5 minutes, expiry of uploads every hour"
    [hooks] = [r for r in of_type(cfn, "AWS::Events::Rule").values()
               if "ScheduleExpression" not in r["Properties"]]
    rules.append(hooks)
    for rule in rules:
        [target] = rule["Properties"]["Targets"]
        assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}
    alarm = cfn["FailedEventsAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["FailedEventsQueue", "QueueName"]}


def test_alarms_on_5xx_rate_throttles_and_p99_latency_notify_the_topic(cfn):
    alarms = of_type(cfn, "AWS::CloudWatch::Alarm")
    topic = [{"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}]
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == topic, name
    rate = alarms["Api5xxRateAlarm"]["Properties"]
    metrics = {m["Id"]: m for m in rate["Metrics"]}
    assert metrics["errors"]["MetricStat"]["Metric"]["MetricName"] == "5xx"
    assert metrics["requests"]["MetricStat"]["Metric"]["MetricName"] == "Count"
    assert "100 * errors / requests" in metrics["rate"]["Expression"]
    assert rate["Threshold"] == {"Ref": "Alarm5xxPercent"}
    p99 = alarms["ApiLatencyP99Alarm"]["Properties"]
    assert p99["ExtendedStatistic"] == "p99" and p99["Threshold"] == {"Ref": "AlarmP99LatencyMs"}
    throttled = set()
    for name in ("FunctionThrottlesAlarm", "ReadFunctionThrottlesAlarm",
                 "EventFunctionThrottlesAlarm"):
        stats = [m for m in alarms[name]["Properties"]["Metrics"] if "MetricStat" in m]
        # CloudWatch refuses a metric math alarm over more than 10 metrics (a hard limit).
        assert len(stats) <= 10, name
        throttled |= {m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"] for m in stats}
    # The Cognito trigger exists only with the stack's pool (a conditional resource cannot be
    # a metric of an unconditional alarm); throttling it fails sign-ins, which users see.
    assert throttled == set(FUNCTIONS) - {"GuardAgentTokensFunction"}
    table = {m["MetricStat"]["Metric"]["MetricName"]
             for m in alarms["TableThrottlesAlarm"]["Properties"]["Metrics"] if "MetricStat" in m}
    assert table == {"ReadThrottleEvents", "WriteThrottleEvents"}


def test_outputs_name_what_clients_and_ops_need(sam):
    outputs = sam["Outputs"]
    assert {"ApiUrl", "UserPoolId", "UserPoolClientId", "TableName", "BucketName",
            "AlarmTopicArn"} <= set(outputs)
    assert outputs["UserPoolId"]["Condition"] == outputs["UserPoolClientId"]["Condition"] == "UseCognito"


def test_sam_builds_each_member_into_the_one_workspace_target(sam):
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    for name in FUNCTIONS:
        fn = sam["Resources"][name]
        binary = fn["Metadata"]["BuildProperties"]["Binary"]
        assert fn["Properties"]["CodeUri"] == f"functions/{binary}", name
        assert f"functions/{binary}" in members, binary
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env in ("default", "prod"):
        build = config[env]["build"]["parameters"]
        assert build["beta_features"] is True and build["cached"] is False, env
        # The makefile builds run in the sources: a copy would take target/ along.
        assert build["build_in_source"] is True, env
        assert config[env]["deploy"]["parameters"]["capabilities"] == "CAPABILITY_IAM"
    assert config["default"]["global"]["parameters"]["stack_name"] != \
        config["prod"]["global"]["parameters"]["stack_name"]


def test_every_checkov_suppression_says_why(sam):
    for name, res in sam["Resources"].items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV_") and len(skip.get("comment", "")) > 40, (name, skip)


def test_smoke_is_skipped_not_faked_without_a_deployment():
    env = {k: v for k, v in os.environ.items() if k not in ("API_URL", "TOKEN", "AGENT_TOKEN")}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                          "smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 skipped" in out.stdout and "passed" not in out.stdout, out.stdout
    assert "no deployment given" in out.stdout


@pytest.mark.parametrize("package,links_s3", [
    ("create-ticket", True), ("get-ticket", True), ("list-threads", True), ("add-thread", True),
    ("update-status", True),
    ("update-ticket", True), ("confirm-attachment", True),
    ("renew-upload", True), ("list-tickets", False), ("escalate-tickets", False),
    ("expire-uploads", False), ("guard-agent-tokens", False), ("ticket-metrics", False)])
def test_only_functions_that_presign_or_confirm_link_the_s3_client(package, links_s3):
    out = subprocess.run(["cargo", "tree", "--offline", "-p", package, "-e", "normal", "--prefix", "none"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    crates = {line.split(" ")[0] for line in out.stdout.splitlines()}
    assert ("aws-sdk-s3" in crates) is links_s3, package
    assert "aws-sdk-dynamodb" in crates
    # Deployed builds cannot verify local development tokens.
    assert "jsonwebtoken" not in crates, package
    # One TLS stack: rustls with ring; no OpenSSL, no aws-lc.
    assert not crates & {"openssl", "openssl-sys", "native-tls", "aws-lc-rs", "aws-lc-sys"}, package


def test_every_function_runs_on_one_thread():
    """Lambda hands an instance one event at a time: a multi-threaded runtime's extra workers
    (and their allocator arenas) only cost memory (docs/performance.md)."""
    mains = sorted((ROOT / "functions").glob("*/src/main.rs"))
    assert len(mains) == len(list((ROOT / "functions").iterdir()))
    for main in mains:
        assert '#[tokio::main(flavor = "current_thread")]' in main.read_text(), main
