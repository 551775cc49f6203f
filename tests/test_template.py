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
    by_name = lambda xs: sorted(xs, key=lambda i: i["IndexName"])
    assert by_name(table["GlobalSecondaryIndexes"]) == by_name(schema["globalSecondaryIndexes"])


def test_functions_are_rust_arm64_on_al2023(template):
    glob = template["Globals"]["Function"]
    assert glob["Runtime"] == "provided.al2023" and glob["Architectures"] == ["arm64"]
    for name, res in functions(template).items():
        assert res["Metadata"]["BuildMethod"] == "rust-cargolambda", name
        binary = res["Metadata"]["BuildProperties"]["Binary"]
        assert (ROOT / "functions" / binary / "Cargo.toml").exists(), binary


def test_every_route_has_the_jwt_authorizer(template):
    api = template["Resources"]["HttpApi"]["Properties"]["Auth"]
    assert api["DefaultAuthorizer"] == "JwtAuthorizer"
    jwt = api["Authorizers"]["JwtAuthorizer"]["JwtConfiguration"]
    assert jwt["issuer"] == {"!Ref": "JwtIssuer"} and jwt["audience"] == [{"!Ref": "JwtAudience"}]
    for res in functions(template).values():
        for event in res["Properties"]["Events"].values():
            assert "Auth" not in event["Properties"], "no route opts out of the authorizer"


def test_read_only_functions_cannot_write(template):
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    for name, res in functions(template).items():
        actions = {a for p in res["Properties"]["Policies"] for s in p["Statement"] for a in s["Action"]}
        assert "dynamodb:Scan" not in actions and "dynamodb:*" not in actions, name
        if name in ("GetTicketFunction", "ListTicketsFunction"):
            assert not actions & writes, name


def test_local_router_mirrors_the_template(template):
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    router = cargo["workspace"]["metadata"]["lambda"]["watch"]["router"]
    local = {(r["method"], path, r["function"]) for path, rs in router.items() for r in rs}
    assert local == template_routes(template)


def test_one_sample_event_per_route(template):
    routes = template_routes(template)
    events = {}
    for path in sorted((ROOT / "events").glob("*.json")):
        event = json.loads(path.read_text())
        method, route = event["routeKey"].split(" ", 1)
        assert event["version"] == "2.0"
        assert event["requestContext"]["http"]["method"] == method
        events[(method, route, path.stem)] = event
    assert set(events) == routes


def test_openapi_describes_the_same_routes(template):
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops
                  if m in ("get", "post", "patch", "put", "delete")}
    assert documented == {(m, p) for m, p, _ in template_routes(template)}


def test_cargo_lambda_invoke_accepts_every_event(template):
    url = os.environ.get("API_URL")
    assert url, "API_URL is not set: run through `make test`"
    port = urllib.parse.urlsplit(url).port
    for _, _, function in sorted(template_routes(template)):
        out = subprocess.run(
            ["cargo", "lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port",
             str(port), "--data-file", f"events/{function}.json", function],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert out.returncode == 0, out.stderr
        response = json.loads(out.stdout)
        # Local mode verifies bearer tokens itself; the samples carry none it can verify.
        assert response["statusCode"] == 401, response
        assert json.loads(response["body"])["code"] == "UNAUTHORIZED"
