"""The descriptions of the service agree with each other and with the code: template.yaml's
table and routes, the local router in Cargo.toml, the sample events, and openapi.yaml."""

import json
import os
import pathlib
import subprocess
import tomllib
import urllib.parse

import pytest
import yaml

from conftest import Client

ROOT = pathlib.Path(__file__).resolve().parent.parent


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...) as plain values."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        value = loader.construct_mapping(node)
    return {f"!{suffix}": value}


CfnLoader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template():
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)


def functions(template):
    return {
        name: res for name, res in template["Resources"].items()
        if res["Type"] == "AWS::Serverless::Function"
    }


def template_routes(template):
    routes = set()
    for res in functions(template).values():
        binary = res["Metadata"]["BuildProperties"]["Binary"]
        for event in res["Properties"]["Events"].values():
            if event["Type"] == "HttpApi":
                routes.add((event["Properties"]["Method"], event["Properties"]["Path"], binary))
    return routes


def test_table_matches_the_keys_declared_in_rust(template):
    schema = json.loads(subprocess.check_output([ROOT / "target/debug/tickets-dev", "schema"]))
    table = template["Resources"]["TicketsTable"]["Properties"]
    assert table["KeySchema"] == schema["keySchema"]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == \
        sorted(schema["attributeDefinitions"], key=lambda a: a["AttributeName"])
    assert table["TimeToLiveSpecification"] == {"AttributeName": schema["timeToLiveAttribute"],
                                                "Enabled": True}
    assert table["StreamSpecification"] == {"StreamViewType": schema["streamViewType"]}
    by_name = lambda xs: sorted(xs, key=lambda i: i["IndexName"])
    assert by_name(table["GlobalSecondaryIndexes"]) == by_name(schema["globalSecondaryIndexes"])


def test_functions_are_rust_arm64_on_al2023(template):
    glob = template["Globals"]["Function"]
    assert glob["Runtime"] == "provided.al2023" and glob["Architectures"] == ["arm64"]
    makefile = (ROOT / "Makefile").read_text()
    assert "build-%Function:" in makefile and "tools/sam-build.sh" in makefile
    for name, res in functions(template).items():
        # sam build runs the root Makefile's build-<LogicalId>, which builds the package that
        # tools/sam-build.sh names from the logical id: it must be the function's binary.
        assert res["Metadata"]["BuildMethod"] == "makefile", name
        assert res["Metadata"]["ContextPath"] == ".", name
        binary = res["Metadata"]["BuildProperties"]["Binary"]
        assert (ROOT / "functions" / binary / "Cargo.toml").exists(), binary
        stem = name.removesuffix("Function")
        assert name.endswith("Function") and subprocess.check_output(
            ["bash", "-c", 'source <(sed -n "/^name=/p" tools/sam-build.sh); echo "$name"', "_", stem],
            cwd=ROOT, text=True).strip() == binary, name


def test_sam_build_target_runs_the_build_script_for_the_function(tmp_path):
    """What sam runs for a function (make build-<LogicalId>, from the function's directory,
    with the root Makefile): tools/sam-build.sh with the logical id's stem and sam's
    ARTIFACTS_DIR (a dry run: nothing is built)."""
    out = subprocess.check_output(
        ["make", "-n", "-f", str(ROOT / "Makefile"), "build-GetTicketFunction",
         f"ARTIFACTS_DIR={tmp_path}"], cwd=ROOT / "functions" / "get-ticket", text=True)
    assert f'bash "{ROOT}/tools/sam-build.sh" "GetTicket" "{tmp_path}"' in out, out


def test_every_route_has_the_jwt_authorizer(template):
    api = template["Resources"]["HttpApi"]["Properties"]["Auth"]
    assert api["DefaultAuthorizer"] == "JwtAuthorizer"
    jwt = api["Authorizers"]["JwtAuthorizer"]["JwtConfiguration"]
    issuer_cognito, issuer_external = jwt["issuer"]["!If"][1:]
    assert jwt["issuer"]["!If"][0] == "UseCognito" and issuer_external == {"!Ref": "JwtIssuer"}
    assert issuer_cognito == {"!Sub": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${UserPool}"}
    assert jwt["audience"] == [{"!If": ["UseCognito", {"!Ref": "UserPoolClient"}, {"!Ref": "JwtAudience"}]}]
    for res in functions(template).values():
        for event in res["Properties"]["Events"].values():
            assert "Auth" not in event["Properties"], "no route opts out of the authorizer"


def test_read_only_functions_cannot_write(template):
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    for name, res in functions(template).items():
        actions = {a for p in res["Properties"]["Policies"] for s in p["Statement"] for a in s["Action"]}
        assert "dynamodb:Scan" not in actions and "dynamodb:*" not in actions, name
        if name in ("GetTicketFunction", "ListThreadsFunction", "ListTicketsFunction",
                    "TicketMetricsFunction"):
            assert not actions & writes, name


def test_local_router_mirrors_the_template(template):
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    router = cargo["workspace"]["metadata"]["lambda"]["watch"]["router"]
    local = {(r["method"], path, r["function"]) for path, rs in router.items() for r in rs}
    assert local == template_routes(template)


def test_one_sample_event_per_route_and_trigger(template):
    routes = template_routes(template)
    triggered = {
        res["Metadata"]["BuildProperties"]["Binary"]
        for res in functions(template).values()
        if any(e["Type"] == "S3" for e in res["Properties"]["Events"].values())
    }
    scheduled = {
        res["Metadata"]["BuildProperties"]["Binary"]
        for res in functions(template).values()
        if any(e["Type"] == "Schedule" for e in res["Properties"]["Events"].values())
    }
    streamed = {
        res["Metadata"]["BuildProperties"]["Binary"]
        for res in functions(template).values()
        if any(e["Type"] == "DynamoDB" for e in res["Properties"]["Events"].values())
    }
    cognito_triggered = {
        res["Metadata"]["BuildProperties"]["Binary"]
        for res in functions(template).values()
        if any(e["Type"] == "Cognito" for e in res["Properties"]["Events"].values())
    }
    http_events, s3_events, schedule_events, cognito_events = {}, set(), set(), set()
    stream_events, queue_events = set(), set()
    queued = {
        res["Metadata"]["BuildProperties"]["Binary"]
        for res in functions(template).values()
        if any(e["Type"] == "SQS" for e in res["Properties"]["Events"].values())
    }
    for path in sorted((ROOT / "events").glob("*.json")):
        event = json.loads(path.read_text())
        if "triggerSource" in event:
            assert event["triggerSource"].startswith("TokenGeneration_")
            cognito_events.add(path.stem)
            continue
        if event.get("source") == "aws.events":
            assert event["detail-type"] == "Scheduled Event"
            schedule_events.add(path.stem)
            continue
        if "Records" in event and event["Records"][0]["eventSource"] == "aws:dynamodb":
            assert all(r["eventSource"] == "aws:dynamodb" for r in event["Records"])
            stream_events.add(path.stem)
            continue
        if "Records" in event and event["Records"][0]["eventSource"] == "aws:s3":
            assert all(r["eventSource"] == "aws:s3" for r in event["Records"])
            s3_events.add(path.stem)
            continue
        if "Records" in event and event["Records"][0]["eventSource"] == "aws:sqs":
            assert all(r["eventSource"] == "aws:sqs" for r in event["Records"])
            queue_events.add(path.stem)
            continue
        method, route = event["routeKey"].split(" ", 1)
        assert event["version"] == "2.0"
        assert event["requestContext"]["http"]["method"] == method
        # One file per route: <function>.json, or <function>.<route>.json for a function
        # that serves several.
        http_events[(method, route, path.stem.split(".")[0])] = event
    assert set(http_events) == routes
    assert s3_events == triggered == {"confirm-attachment"}
    assert schedule_events == scheduled == {"escalate-tickets", "expire-uploads"}
    assert cognito_events == cognito_triggered == {"guard-agent-tokens"}
    assert stream_events == streamed == {"count-tickets", "publish-events", "purge-tickets"}
    assert queue_events == queued == {"deliver-webhooks", "erase-customers", "export-customers"}
    assert len(http_events) == len(list((ROOT / "events").glob("*.json"))) - len(
        s3_events | schedule_events | cognito_events | stream_events | queue_events)


S3_ACTIONS = {
    "CreateTicketFunction": {"s3:PutObject"},
    "AddThreadFunction": {"s3:PutObject"},
    "GetTicketFunction": {"s3:GetObject"},
    "ListThreadsFunction": {"s3:GetObject"},
    "UpdateStatusFunction": {"s3:GetObject"},
    "UpdateTicketFunction": {"s3:GetObject"},
    "ListTicketsFunction": set(),
    "ConfirmAttachmentFunction": {"s3:GetObject", "s3:DeleteObject", "s3:ListBucket"},
    "EscalateTicketsFunction": set(),
    "RenewUploadFunction": {"s3:PutObject"},
    "ExpireUploadsFunction": set(),
    "GuardAgentTokensFunction": set(),
    "CountTicketsFunction": set(),
    "PublishEventsFunction": set(),
    "DeliverWebhooksFunction": set(),
    "ManageWebhooksFunction": set(),
    "TicketMetricsFunction": set(),
    "DeleteTicketFunction": set(),
    "ManageErasuresFunction": set(),
    # A purge lists a ticket's prefix and deletes what is under it.
    "PurgeTicketsFunction": {"s3:DeleteObject", "s3:ListBucket"},
    "EraseCustomersFunction": {"s3:DeleteObject", "s3:ListBucket"},
    # Exports: archives written and presigned under exports/ (and the files read).
    "ManageExportsFunction": {"s3:GetObject"},
    "ExportCustomersFunction": {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"},
}


def test_only_presigning_and_confirming_functions_touch_the_bucket_under_tickets(template):
    for name, res in functions(template).items():
        s3 = [st for p in res["Properties"]["Policies"] for st in p["Statement"]
              if any(a.startswith("s3:") for a in st["Action"])]
        assert {a for st in s3 for a in st["Action"]} == S3_ACTIONS[name], name
        for st in s3:
            arn = st["Resource"]["!Sub"][0]
            # ListBucket is a bucket action (it turns 403 into 404 for a missing key); the
            # rest reach objects under tickets/ only.
            if st["Action"] == ["s3:ListBucket"]:
                assert arn.endswith("-${Suffix}"), (name, arn)
            else:
                assert arn.endswith(("/tickets/*", "/exports/*")), (name, arn)
        # Only the export functions and the erasure reach exports/.
        if any(st["Resource"]["!Sub"][0].endswith("/exports/*") for st in s3):
            assert name in ("ManageExportsFunction", "ExportCustomersFunction",
                            "EraseCustomersFunction"), name


def test_the_bucket_is_private_encrypted_tls_only_with_cors_and_lifecycle(template):
    res = template["Resources"]
    bucket = res["AttachmentsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # No origin unless the operator names some: the CORS rules exist only then.
    assert template["Parameters"]["FrontendOrigins"]["Default"] == ""
    condition, with_origins, without = bucket["CorsConfiguration"]["!If"]
    assert condition == "HasFrontendOrigins" and without == {"!Ref": "AWS::NoValue"}
    [cors] = with_origins["CorsRules"]
    assert cors["AllowedOrigins"] == {"!Ref": "FrontendOrigins"}
    assert set(cors["AllowedMethods"]) == {"PUT", "GET"}
    assert set(cors["AllowedHeaders"]) == {"content-type", "if-none-match"}, "the signed headers"
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    assert set(rules) == {"abort-incomplete-uploads", "expire-exports"}, \
        "rejected uploads are deleted at once"
    assert rules["expire-exports"]["Prefix"] == "exports/"
    assert rules["expire-exports"]["ExpirationInDays"] == 7
    [deny] = res["AttachmentsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    condition, api_cors, without = res["HttpApi"]["Properties"]["CorsConfiguration"]["!If"]
    assert condition == "HasFrontendOrigins" and without == {"!Ref": "AWS::NoValue"}
    assert api_cors["AllowOrigins"] == {"!Ref": "FrontendOrigins"}
    assert {"authorization", "content-type", "if-match"} <= set(api_cors["AllowHeaders"])
    confirm = res["ConfirmAttachmentFunction"]["Properties"]["Events"]["Uploaded"]["Properties"]
    assert confirm["Bucket"] == {"!Ref": "AttachmentsBucket"}
    assert confirm["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "tickets/"}]


def test_openapi_describes_the_same_routes(template):
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops
                  if m in ("get", "post", "patch", "put", "delete")}
    assert documented == {(m, p) for m, p, _ in template_routes(template)}


def test_cargo_lambda_invoke_accepts_every_event(template):
    url = os.environ.get("API_URL")
    assert url, "API_URL is not set: run through `make test`"
    port = urllib.parse.urlsplit(url).port
    samples = {}
    for path in sorted((ROOT / "events").glob("*.json")):
        route = json.loads(path.read_text()).get("routeKey")
        if route:
            samples[(route, path.stem.split(".")[0])] = path.name
    for method, route, function in sorted(template_routes(template)):
        sample = samples[(f"{method} {route}", function)]
        out = subprocess.run(
            ["cargo", "lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port",
             str(port), "--data-file", f"events/{sample}", function],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert out.returncode == 0, out.stderr
        response = json.loads(out.stdout)
        # Local mode verifies bearer tokens itself; the samples carry none it can verify.
        assert response["statusCode"] == 401, response
        assert json.loads(response["body"])["code"] == "UNAUTHORIZED"
    out = subprocess.run(
        ["cargo", "lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port",
         str(port), "--data-file", "events/confirm-attachment.json", "confirm-attachment"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    # The sample names no attachment of this table: nothing to confirm.
    [result] = json.loads(out.stdout)["results"]
    assert result["status"] is None
    out = subprocess.run(
        ["cargo", "lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port",
         str(port), "--data-file", "events/escalate-tickets.json", "escalate-tickets"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    # As of the sample's time (before any ticket of this run existed) nothing is overdue.
    assert json.loads(out.stdout) == {"breached": 0, "escalated": []}
    # The stream sample: a new ticket of a customer of its own, then its move to pending;
    # delivered twice (as the stream may), it counts once.
    for _ in range(2):
        out = subprocess.run(
            ["cargo", "lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port",
             str(port), "--data-file", "events/count-tickets.json", "count-tickets"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == {"batchItemFailures": []}
    sample = Client(url, "sample-customer")
    counts = sample.call("GET", params={"countByStatus": "true"}).body
    assert counts["counts"] == {"open": 0, "pending": 1, "in_progress": 0, "resolved": 0,
                                "closed": 0}, counts
    assert counts["countsAsOf"] == "2026-09-21T14:14:20.000Z", counts
    # The publisher's sample (a ticket created, then moved to pending) and the webhook
    # function's (an event from the bus, a delivery to a subscription that does not exist):
    # both handled in full.
    for function in ("publish-events", "deliver-webhooks"):
        out = subprocess.run(
            ["cargo", "lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port",
             str(port), "--data-file", f"events/{function}.json", function],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == {"batchItemFailures": []}, (function, out.stdout)


def test_sla_targets_are_parameters_passed_to_every_function(template):
    params = template["Parameters"]
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    for name, default in [("Urgent", "60/240"), ("High", "240/1440"), ("Medium", "480/4320"),
                          ("Low", "1440/10080")]:
        assert params[f"Sla{name}"]["Default"] == default
        assert env[f"SLA_{name.upper()}"] == {"!Ref": f"Sla{name}"}
    schedule = template["Resources"]["EscalateTicketsFunction"]["Properties"]["Events"]
    assert schedule["Every5Minutes"]["Properties"]["Schedule"] == "rate(5 minutes)"
    [query] = [st for p in template["Resources"]["EscalateTicketsFunction"]["Properties"]["Policies"]
               for st in p["Statement"] if "dynamodb:Query" in st["Action"]]
    assert query["Resource"] == [{"!Sub": "${TicketsTable.Arn}/index/byEscalation"}], \
        "escalation reads only its sparse index"


def test_only_the_development_config_names_frontend_origins():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    dev = config["default"]["deploy"]["parameters"]["parameter_overrides"]
    prod = config["prod"]["deploy"]["parameters"]["parameter_overrides"]
    assert 'FrontendOrigins="http://localhost:8000,http://127.0.0.1:8000"' in dev
    assert "FrontendOrigins" not in prod


def test_webhook_retries_outlast_a_day_inside_the_queue_and_aws_settings_stay_strict(template):
    """The retry schedule (RetrySchedule::standard, 5 s to 10 h: 99,305 s) fits in the delivery
    queue's retention; each step fits SQS's 12-hour visibility limit; the template never turns
    on the local settings (plain-http loopback receivers, a schedule of seconds)."""
    schedule = [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert sum(schedule) >= 24 * 3600 and max(schedule) <= 12 * 3600
    rust = (ROOT / "shared/src/domain/webhooks.rs").read_text()
    assert "vec![5, 300, 1800, 7200, 18000, 36000, 36000]" in rust
    res = template["Resources"]
    assert res["WebhookDeliveryQueue"]["Properties"]["MessageRetentionPeriod"] > sum(schedule)
    assert res["WebhookEventsRule"]["Properties"]["Targets"][0]["DeadLetterConfig"]
    assert res["EventArchive"]["Properties"]["RetentionDays"] >= 1
    text = (ROOT / "template.yaml").read_text()
    assert "WEBHOOK_ALLOW_LOOPBACK" not in text and "WEBHOOK_RETRY_SECONDS" not in text
