"""IAM as AWS applies it to the functions, for the local stack (moto allows every call).

Each function reaches the local AWS endpoint under an access key of its own,
`local-fn-<function>` (set per function in Cargo.toml's `[workspace.metadata.lambda.bin]`, so
`cargo lambda watch` gives every function process its own identity). The role that the
function gets in AWS is read from template.yaml as CloudFormation receives it after SAM's
transform (inline statements, policy templates, conditions, intrinsic functions resolved with
the local table and bucket standing in for the stack's), and every DynamoDB or S3 request
signed with a function's key is checked against it: what the role does not allow is refused
as AWS refuses it. Requests signed with any other key (the test harness, the setup tools) are
not checked.

    python tools/localiam.py report PROXY_URL [TEMPLATE]   # used versus granted, per function
"""

import copy
import fnmatch
import html
import json
import os
import pathlib
import re
import sys
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/support-tickets/0c0a1b2c-3d4e-11ef-9a0b-0a1b2c3d4e5f"
KEY_PREFIX = "local-fn-"
# What the AWS managed policies that SAM attaches allow; none reaches the table's items or S3
# (the stream reads of AWSLambdaDynamoDBExecutionRole are Lambda's poller's, see POLLER).
MANAGED = {
    "AWSLambdaDynamoDBExecutionRole": [
        ("dynamodb:DescribeStream", "*"), ("dynamodb:GetRecords", "*"),
        ("dynamodb:GetShardIterator", "*"), ("dynamodb:ListStreams", "*"),
        ("logs:CreateLogGroup", "*"), ("logs:CreateLogStream", "*"), ("logs:PutLogEvents", "*")],
    "AWSLambdaBasicExecutionRole": [("logs:CreateLogGroup", "*"), ("logs:CreateLogStream", "*"),
                                    ("logs:PutLogEvents", "*")],
    "AWSLambdaSQSQueueExecutionRole": [
        ("sqs:ReceiveMessage", "*"), ("sqs:DeleteMessage", "*"), ("sqs:GetQueueAttributes", "*"),
        ("logs:CreateLogGroup", "*"), ("logs:CreateLogStream", "*"), ("logs:PutLogEvents", "*")],
    "AWSXrayWriteOnlyAccess": [("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*"),
                               ("xray:GetSamplingRules", "*"), ("xray:GetSamplingTargets", "*"),
                               ("xray:GetSamplingStatisticSummaries", "*")],
}
# The services whose calls the local endpoint sees; grants of other services are used by
# Lambda itself on the function's behalf (logs, traces, failure destinations).
CHECKED_SERVICES = ("dynamodb", "s3", "cognito-idp", "sqs", "events")
# Stream reads: Lambda's event source mapping polls the stream with the function's role; the
# function itself never calls them (locally, the stream bridge in tools/localproxy.py polls).
# Likewise Lambda's queue poller receives and deletes the messages of an SQS event source
# (locally, tools/localqueues.py).
POLLER = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
          "dynamodb:ListStreams", "sqs:ReceiveMessage", "sqs:DeleteMessage",
          "sqs:GetQueueAttributes"}


class Unsupported(Exception):
    """A policy element this check cannot evaluate: it refuses to guess."""


def identity(headers, query):
    """The function a request is signed by, or None (not a function's key)."""
    auth = headers.get("authorization") or ""
    m = re.search(r"Credential=([^/,\s]+)/", auth)
    key = m.group(1) if m else (query.get("X-Amz-Credential", [""])[0].split("/")[0] or None)
    if key and key.startswith(KEY_PREFIX):
        return key[len(KEY_PREFIX):]
    return None


def signed(headers, query):
    return bool(headers.get("authorization") or query.get("X-Amz-Credential"))


# ---------------------------------------------------------------- the template's roles

class Resolver:
    """Evaluates CloudFormation's intrinsic functions with local stand-ins for the stack."""

    def __init__(self, template, table, bucket):
        self.t = template
        self.params = {k: v.get("Default", "") for k, v in template.get("Parameters", {}).items()}
        self.pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION, "AWS::Partition": "aws",
                       "AWS::StackId": STACK_ID, "AWS::StackName": "support-tickets",
                       "AWS::URLSuffix": "amazonaws.com"}
        self.table, self.bucket = table, bucket
        self.conditions = {}

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self.value(self.t["Conditions"][name]))
        return self.conditions[name]

    def ref(self, name):
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        res = self.t["Resources"].get(name)
        if res is None:
            raise Unsupported(f"Ref to unknown {name}")
        if res["Type"] == "AWS::DynamoDB::Table":
            return self.table
        if res["Type"] == "AWS::S3::Bucket":
            return self.bucket_name(name)
        return f"local-{name}"

    def bucket_name(self, logical):
        """The bucket's name as the template computes it (its BucketName property)."""
        name = self.t["Resources"][logical]["Properties"].get("BucketName")
        return self.value(name) if name is not None else f"local-{logical.lower()}"

    def get_att(self, name, attr):
        res = self.t["Resources"].get(name)
        if res is None:
            raise Unsupported(f"GetAtt of unknown {name}")
        if attr == "Arn" and res["Type"] == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{self.table}"
        if attr == "Arn" and res["Type"] == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{self.bucket_name(name)}"
        # Queues and the bus are made locally as local-<logical id> (tools/localqueues.py).
        if attr == "Arn" and res["Type"] == "AWS::SQS::Queue":
            return queue_arn(f"local-{name}")
        if attr == "QueueName" and res["Type"] == "AWS::SQS::Queue":
            return f"local-{name}"
        if attr == "Arn" and res["Type"] == "AWS::Events::EventBus":
            return bus_arn(f"local-{name}")
        return f"arn:aws:local:{REGION}:{ACCOUNT}:{name}/{attr}"

    def sub(self, text, variables):
        def one(m):
            name = m.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.t["Resources"]:
                return self.get_att(*name.split(".", 1))
            return str(self.ref(name))
        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def value(self, v):
        if isinstance(v, list):
            out = [self.value(x) for x in v]
            return [x for x in out if x is not NO_VALUE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (fn, arg), = v.items()
            if fn == "Ref":
                return NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
            if fn == "Fn::GetAtt":
                name, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attr)
            if fn == "Fn::Sub":
                if isinstance(arg, str):
                    return self.sub(arg, {})
                text, variables = arg
                return self.sub(text, {k: self.value(x) for k, x in variables.items()})
            if fn == "Fn::Select":
                index, items = arg
                return self.value(items)[int(self.value(index))]
            if fn == "Fn::Split":
                sep, text = arg
                return self.value(text).split(sep)
            if fn == "Fn::Join":
                sep, items = arg
                return sep.join(str(x) for x in self.value(items))
            if fn == "Fn::If":
                name, yes, no = arg
                return self.value(yes if self.condition(name) else no)
            if fn == "Fn::Equals":
                a, b = self.value(arg)
                return a == b
            if fn == "Fn::Not":
                return not self.value(arg[0])
            if fn == "Fn::And":
                return all(self.value(x) for x in arg)
            if fn == "Fn::Or":
                return any(self.value(x) for x in arg)
            if fn == "Condition":
                return self.condition(arg)
            if fn.startswith("Fn::"):
                raise Unsupported(fn)
        return {k: self.value(x) for k, x in v.items()}


NO_VALUE = object()


class NoManagedPolicies:
    """SAM looks up managed policies named without an ARN; the template names none."""

    def load(self):
        return {}


def transformed(template):
    """The template as CloudFormation receives it from `sam deploy` (SAM's own translator)."""
    from samtranslator.translator.transform import transform
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    t = copy.deepcopy(template)
    for res in t["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://artifacts/function.zip"
    return transform(t, {}, NoManagedPolicies())


def load_template(path):
    from samtranslator.yaml_helper import yaml_parse
    return yaml_parse(pathlib.Path(path).read_text())


def as_list(x):
    return x if isinstance(x, list) else [x]


class Roles:
    """Each function's role, as statements of (effect, actions, resources)."""

    def __init__(self, template_path, table, bucket):
        sam = load_template(template_path)
        cfn = transformed(sam)
        self.template = str(template_path)
        r = Resolver(cfn, table, bucket)
        self.table, self.local_bucket = table, bucket
        self.template_buckets = {r.bucket_name(k) for k, v in cfn["Resources"].items()
                                 if v["Type"] == "AWS::S3::Bucket"}
        self.statements, self.destinations = {}, {}
        for logical, res in sam["Resources"].items():
            if res["Type"] != "AWS::Serverless::Function":
                continue
            function = pathlib.PurePosixPath(res["Properties"]["CodeUri"]).name
            props = cfn["Resources"][logical]["Properties"]
            role_ref = props["Role"]
            if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
                raise Unsupported(f"{logical}: a role not created by the stack")
            role = cfn["Resources"][role_ref["Fn::GetAtt"][0]]["Properties"]
            self.statements[function] = self._statements(r, role)
            # On-failure destinations (of an event source, or of asynchronous invocations):
            # Lambda sends there with the function's role.
            configs = [e.get("Properties", {}).get("DestinationConfig", {})
                       for e in res["Properties"].get("Events", {}).values()]
            configs.append(res["Properties"].get("EventInvokeConfig", {}).get("DestinationConfig", {}))
            self.destinations[function] = {r.value(c["OnFailure"]["Destination"])
                                           for c in configs if "OnFailure" in c}

    @staticmethod
    def _statements(r, role):
        out = []
        for arn in r.value(role.get("ManagedPolicyArns", [])):
            name = arn.rsplit("/", 1)[-1]
            if name not in MANAGED:
                raise Unsupported(f"managed policy {arn}")
            for action, resource in MANAGED[name]:
                out.append(("Allow", [action], [resource]))
        for policy in r.value(role.get("Policies", [])):
            for st in as_list(policy["PolicyDocument"]["Statement"]):
                unknown = set(st) - {"Sid", "Effect", "Action", "Resource"}
                if unknown:
                    raise Unsupported(f"statement elements {sorted(unknown)}")
                out.append((st["Effect"], as_list(st["Action"]), as_list(st["Resource"])))
        return out

    def functions(self):
        return sorted(self.statements)

    def _platform(self, function, action, resources):
        """Whether Lambda, not the function, uses a grant: its poller's reads, other
        services' calls, and sending to an event source's on-failure destination."""
        if action.split(":", 1)[0] not in CHECKED_SERVICES or action in POLLER:
            return True
        destinations = self.destinations.get(function, set())
        return action == "sqs:SendMessage" and bool(destinations) and \
            set(resources) <= destinations

    def granted(self, function):
        """The actions of the checked services that the role allows the function itself."""
        return sorted({a for effect, actions, resources in self.statements.get(function, [])
                       if effect == "Allow" for a in actions
                       if not self._platform(function, a, resources)})

    def platform_grants(self, function):
        """Grants that Lambda uses on the function's behalf (never seen locally)."""
        return sorted({a for effect, actions, resources in self.statements.get(function, [])
                       if effect == "Allow" for a in actions
                       if self._platform(function, a, resources)})

    def allows(self, function, action, resource):
        """IAM's evaluation for one identity policy set: an explicit Deny wins, then any Allow."""
        resource = self._as_template(resource)
        allowed = False
        for effect, actions, resources in self.statements.get(function, []):
            if not any(_match(a, action, ci=True) for a in actions):
                continue
            if not any(_match(p, resource) for p in resources):
                continue
            if effect == "Deny":
                return False
            allowed = True
        return allowed

    def _as_template(self, resource):
        """The local bucket stands in for the template's (named after the stack)."""
        prefix = f"arn:aws:s3:::{self.local_bucket}"
        if len(self.template_buckets) == 1 and (resource == prefix or resource.startswith(prefix + "/")):
            return f"arn:aws:s3:::{next(iter(self.template_buckets))}" + resource[len(prefix):]
        return resource


def _match(pattern, value, ci=False):
    if ci:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern)


# ---------------------------------------------------------------- requests as IAM sees them

TRANSACT_WRITE = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                  "ConditionCheck": "ConditionCheckItem"}


def table_arn(name, index=None):
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    return f"{arn}/index/{index}" if index else arn


def dynamodb_actions(operation, body):
    """(action, resource) pairs that a DynamoDB request needs; transactions need the action
    of each item (there is no TransactWriteItems action in IAM)."""
    if operation == "DescribeEndpoints":
        # DynamoDB answers it on its public endpoints without authorization, whatever the
        # policies say (DynamoDB developer guide, "Securing DynamoDB connections using VPC
        # endpoints and IAM policies"): the functions' connection at init needs no grant.
        return []
    try:
        req = json.loads(body or b"{}")
    except ValueError:
        req = {}
    if operation == "TransactWriteItems":
        return sorted({(f"dynamodb:{TRANSACT_WRITE[kind]}", table_arn(item[kind]["TableName"]))
                       for item in req.get("TransactItems", []) for kind in item
                       if kind in TRANSACT_WRITE})
    if operation == "TransactGetItems":
        return sorted({("dynamodb:GetItem", table_arn(item["Get"]["TableName"]))
                       for item in req.get("TransactItems", [])})
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return sorted({(f"dynamodb:{operation}", table_arn(t)) for t in req.get("RequestItems", {})})
    if "TableName" in req:
        return [(f"dynamodb:{operation}", table_arn(req["TableName"], req.get("IndexName")))]
    return [(f"dynamodb:{operation}", "*")]


def queue_arn(name):
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def bus_arn(name):
    return f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}"


# SQS's batch operations are authorized as their single forms.
SQS_BATCH = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
             "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}


def sqs_actions(operation, body):
    try:
        req = json.loads(body or b"{}")
    except ValueError:
        req = {}
    name = urllib.parse.urlsplit(req.get("QueueUrl", "")).path.rstrip("/").rsplit("/", 1)[-1]
    return [(f"sqs:{SQS_BATCH.get(operation, operation)}", queue_arn(name or "*"))]


def events_actions(operation, body):
    try:
        req = json.loads(body or b"{}")
    except ValueError:
        req = {}
    if operation == "PutEvents":
        buses = {e.get("EventBusName") or "default" for e in req.get("Entries", [])}
        return sorted({("events:PutEvents", b if b.startswith("arn:") else bus_arn(b))
                       for b in buses})
    return [(f"events:{operation}", "*")]


def json_service(target):
    """The IAM service of a JSON-protocol request, from its X-Amz-Target."""
    if target.startswith("DynamoDB_"):
        return "dynamodb"
    if target.startswith("AWSCognitoIdentityProviderService."):
        return "cognito-idp"
    if target.startswith("AmazonSQS."):
        return "sqs"
    if target.startswith("AWSEvents."):
        return "events"
    return None


def cognito_actions(operation, body):
    try:
        req = json.loads(body or b"{}")
    except ValueError:
        req = {}
    pool = req.get("UserPoolId", "*")
    return [(f"cognito-idp:{operation}", f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{pool}")]


def denied_json(function, action, resource):
    """AccessDeniedException as the JSON-protocol services (DynamoDB, Cognito) answer it."""
    message = (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{function}-role/{function} is not "
               f"authorized to perform: {action} on resource: {resource} because no "
               f"identity-based policy allows the {action} action")
    return 400, "application/x-amz-json-1.0", json.dumps(
        {"__type": "com.amazon.coral.service#AccessDeniedException", "Message": message}).encode()


S3_OBJECT_SUBRESOURCES = {"tagging": "ObjectTagging", "acl": "ObjectAcl",
                          "attributes": "ObjectAttributes"}


def s3_actions(method, path, query, headers, body=b""):
    """(action, resource) pairs of a path-style S3 request."""
    parts = urllib.parse.unquote(path).lstrip("/").split("/", 1)
    bucket = parts[0]
    key = parts[1] if len(parts) > 1 else ""
    if not key and method == "POST" and "delete" in query:
        # DeleteObjects: S3 authorizes s3:DeleteObject on each key named in the body.
        keys = re.findall(rb"<Key>(.*?)</Key>", body or b"", re.S)
        return [("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{html.unescape(k.decode())}")
                for k in keys] or [("s3:DeleteObject", f"arn:aws:s3:::{bucket}/")]
    if not key:
        kind = "ListBucket" if method in ("GET", "HEAD") else f"Bucket:{method}"
        return [(f"s3:{kind}", f"arn:aws:s3:::{bucket}")]
    obj = f"arn:aws:s3:::{bucket}/{key}"
    sub = next((S3_OBJECT_SUBRESOURCES[q] for q in query if q in S3_OBJECT_SUBRESOURCES), None)
    if sub:
        verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, method)
        return [(f"s3:{verb}{sub}", obj)]
    if method in ("GET", "HEAD"):
        return [("s3:GetObject", obj)]
    if method == "PUT":
        source = headers.get("x-amz-copy-source")
        if source:
            return [("s3:PutObject", obj),
                    ("s3:GetObject", f"arn:aws:s3:::{urllib.parse.unquote(source).lstrip('/')}")]
        return [("s3:PutObject", obj)]
    if method == "POST" and ("uploads" in query or "uploadId" in query):
        return [("s3:PutObject", obj)]
    if method == "DELETE" and "uploadId" in query:
        return [("s3:AbortMultipartUpload", obj)]
    if method == "DELETE":
        return [("s3:DeleteObject", obj)]
    return [(f"s3:{method}Object", obj)]


def denied_s3():
    return 403, "application/xml", (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        b'<Message>Access Denied</Message><RequestId>local</RequestId></Error>')


# ---------------------------------------------------------------- the report

def report(roles, usage):
    """Per function: the actions used, the grants never used, the calls refused."""
    lines, unused_total = [], 0
    for function in roles.functions():
        seen = usage.get(function, {})
        used = sorted(seen.get("used", []))
        unused = [a for a in roles.granted(function) if a not in used]
        unused_total += len(unused)
        lines.append(f"{function}")
        lines.append(f"  used:    {', '.join(used) or '-'}")
        lines.append(f"  granted: {', '.join(roles.granted(function)) or '-'}")
        lines.append(f"  unused:  {', '.join(unused) or '-'}")
        lines.append(f"  by Lambda itself: {', '.join(roles.platform_grants(function)) or '-'}")
        for d in seen.get("denied", []):
            lines.append(f"  DENIED:  {d}")
    return "\n".join(lines), unused_total


def main(argv):
    if len(argv) < 3 or argv[1] != "report":
        print(__doc__, file=sys.stderr)
        return 2
    import urllib.request
    with urllib.request.urlopen(f"{argv[2]}/__iam", timeout=10) as res:
        state = json.load(res)
    template = argv[3] if len(argv) > 3 else ROOT / "template.yaml"
    roles = Roles(template, os.environ["TABLE_NAME"], os.environ.get("BUCKET_NAME", "none"))
    text, unused = report(roles, state["usage"])
    print(text)
    denied = [d for u in state["usage"].values() for d in u.get("denied", [])]
    if denied:
        print(f"IAM: {len(denied)} call(s) refused under template.yaml's roles", file=sys.stderr)
        return 1
    if unused:
        print(f"IAM: {unused} grant(s) no test used: remove them, or exercise the path", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
