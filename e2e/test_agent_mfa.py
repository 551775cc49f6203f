"""Agents sign in with a second factor: Cognito's pre token generation trigger
(guard-agent-tokens) leaves `agents` out of the tokens of an account without TOTP MFA, so a
password alone never makes an agent. Run against moto's Cognito through the local AWS
endpoint, under the function's own role."""

import json
import os
import pathlib
import uuid

import boto3
import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parent.parent
PASSWORD = "Local-dev-Passw0rd"


@pytest.fixture(scope="module")
def pool():
    idp = boto3.client("cognito-idp", endpoint_url=os.environ["FAULT_PROXY_URL"],
                       region_name="us-east-1")
    pool_id = idp.create_user_pool(PoolName=f"agents-{uuid.uuid4().hex[:8]}",
                                   MfaConfiguration="OPTIONAL")["UserPool"]["Id"]
    idp.set_user_pool_mfa_config(UserPoolId=pool_id, MfaConfiguration="OPTIONAL",
                                 SoftwareTokenMfaConfiguration={"Enabled": True})
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="api",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    for group in ("agents", "billing"):
        idp.create_group(UserPoolId=pool_id, GroupName=group)
    return idp, pool_id, client_id


def agent_account(pool, name, mfa):
    idp, pool_id, client_id = pool
    idp.admin_create_user(UserPoolId=pool_id, Username=name, MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username=name, Password=PASSWORD,
                                Permanent=True)
    for group in ("agents", "billing"):
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=name, GroupName=group)
    if mfa:
        tokens = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})
        access = tokens["AuthenticationResult"]["AccessToken"]
        idp.associate_software_token(AccessToken=access)
        idp.verify_software_token(AccessToken=access, UserCode="123456")
        idp.admin_set_user_mfa_preference(
            UserPoolId=pool_id, Username=name,
            SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})
    return name


def token_groups(api_url, pool_id, name, groups):
    """The trigger's answer for a sign-in of `name`: the groups its tokens will carry."""
    event = json.loads((ROOT / "events" / "guard-agent-tokens.json").read_text())
    event["userPoolId"], event["userName"] = pool_id, name
    event["request"]["groupConfiguration"]["groupsToOverride"] = groups
    res = requests.post(f"{api_url}/2015-03-31/functions/guard-agent-tokens/invocations",
                        json=event, timeout=60)
    assert res.status_code == 200, res.text
    answer = res.json()
    assert "errorType" not in answer, answer
    override = answer["response"]["claimsOverrideDetails"]
    return groups if override is None else override["groupOverrideDetails"]["groupsToOverride"]


def test_an_agent_without_a_second_factor_gets_customer_tokens(api_url, pool):
    name = agent_account(pool, f"no-mfa-{uuid.uuid4().hex[:6]}@example.com", mfa=False)
    assert token_groups(api_url, pool[1], name, ["agents", "billing"]) == ["billing"]


def test_an_agent_with_totp_keeps_the_group(api_url, pool):
    name = agent_account(pool, f"mfa-{uuid.uuid4().hex[:6]}@example.com", mfa=True)
    assert token_groups(api_url, pool[1], name, ["agents", "billing"]) == ["agents", "billing"]


def test_customers_are_left_as_they_are(api_url, pool):
    assert token_groups(api_url, pool[1], "someone@example.com", ["customers"]) == ["customers"]
