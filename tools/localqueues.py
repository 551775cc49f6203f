"""The template's queues and event bus for the local stack, and what Lambda's SQS event
source mappings do in AWS, done against moto and `cargo lambda watch`'s invoke API.

- `setup`: every `AWS::SQS::Queue` of template.yaml is made in moto as `local-<logical id>`
  (its redrive policy kept; its visibility timeout capped at VISIBILITY_MAX so that a message
  whose invocation failed comes back in seconds, not minutes), every `AWS::Events::EventBus` as
  `local-<logical id>`, with its archives and its rules' queue targets (moto delivers a
  matching event to an SQS target as EventBridge does).
- `Bridge`: per SQS event of a function, messages are received in batches of its
  `BatchSize` (with their attributes: ApproximateReceiveCount), handed to the function as
  Lambda does, and deleted unless the answer names them in `batchItemFailures`, or the
  invocation failed; those come back when their visibility timeout ends (the function may
  have changed it: a webhook's next try).

Started by tools/localproxy.py beside the stream bridges.
"""

import json
import sys
import threading
import time
import urllib.request

import localstream

ACCOUNT = "123456789012"
REGION = "us-east-1"
POLL_SECONDS = 0.2
VISIBILITY_MAX = 5


def _call(upstream, service, target, body):
    req = urllib.request.Request(
        upstream + "/", data=json.dumps(body).encode(), method="POST",
        headers={"x-amz-target": target, "content-type": "application/x-amz-json-1.0",
                 "authorization": "AWS4-HMAC-SHA256 Credential=local-queue-bridge/20260101/"
                                  f"{REGION}/{service}/aws4_request, SignedHeaders=host, "
                                  "Signature=local"})
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.loads(res.read() or b"{}")


def sqs(upstream, op, body):
    return _call(upstream, "sqs", f"AmazonSQS.{op}", body)


def events(upstream, op, body):
    return _call(upstream, "events", f"AWSEvents.{op}", body)


def local_name(logical):
    return f"local-{logical}"


def queue_arn(logical):
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{local_name(logical)}"


def queue_url(upstream, logical):
    return f"{upstream}/{ACCOUNT}/{local_name(logical)}"


def _logical(value):
    """The logical id a !GetAtt/!Ref names."""
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return att[0] if isinstance(att, list) else att.split(".")[0]
        if "Ref" in value:
            return value["Ref"]
    return None


def setup(upstream, template):
    """Makes the template's queues, buses, archives and rules in moto (again: idempotent)."""
    resources = template["Resources"]
    queues = {k: v.get("Properties", {}) for k, v in resources.items()
              if v["Type"] == "AWS::SQS::Queue"}
    # Dead-letter queues first: a redrive policy names its target's ARN.
    order = sorted(queues, key=lambda k: "RedrivePolicy" in queues[k])
    for logical in order:
        props = queues[logical]
        attributes = {
            "VisibilityTimeout": str(min(int(props.get("VisibilityTimeout", 30)), VISIBILITY_MAX)),
            "MessageRetentionPeriod": str(props.get("MessageRetentionPeriod", 345600)),
        }
        redrive = props.get("RedrivePolicy")
        if redrive:
            attributes["RedrivePolicy"] = json.dumps({
                "deadLetterTargetArn": queue_arn(_logical(redrive["deadLetterTargetArn"])),
                "maxReceiveCount": int(redrive["maxReceiveCount"])})
        sqs(upstream, "CreateQueue", {"QueueName": local_name(logical), "Attributes": attributes})
    for logical, res in resources.items():
        if res["Type"] != "AWS::Events::EventBus":
            continue
        name = local_name(logical)
        try:
            events(upstream, "CreateEventBus", {"Name": name})
        except urllib.error.HTTPError as e:
            if e.code != 400:  # exists already
                raise
    for logical, res in resources.items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Events::Archive":
            bus = _logical(props["SourceArn"])
            try:
                events(upstream, "CreateArchive", {
                    "ArchiveName": local_name(logical),
                    "EventSourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{local_name(bus)}",
                    "EventPattern": json.dumps(props.get("EventPattern", {})),
                    "RetentionDays": props.get("RetentionDays", 0)})
            except urllib.error.HTTPError as e:
                if e.code != 400:
                    raise
        if res["Type"] == "AWS::Events::Rule" and "EventBusName" in props:
            bus = local_name(_logical(props["EventBusName"]))
            rule = local_name(logical)
            events(upstream, "PutRule", {"Name": rule, "EventBusName": bus,
                                         "EventPattern": json.dumps(props["EventPattern"])})
            targets = [{"Id": t["Id"], "Arn": queue_arn(_logical(t["Arn"]))}
                       for t in props.get("Targets", [])]
            events(upstream, "PutTargets", {"Rule": rule, "EventBusName": bus,
                                            "Targets": targets})


def mappings(template):
    """(function, queue logical id, batch size) of every SQS event in the template."""
    out = []
    for res in template["Resources"].values():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        for event in res["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                props = event["Properties"]
                binary = res["Metadata"]["BuildProperties"]["Binary"]
                out.append((binary, _logical(props["Queue"]), int(props.get("BatchSize", 10))))
    return out


class Bridge:
    def __init__(self, upstream, functions, function, queue, batch_size):
        self.upstream, self.functions, self.function = upstream, functions, function
        self.queue, self.batch_size = queue, batch_size
        self.url = queue_url(upstream, queue)

    def invoke(self, event):
        answer = localstream.invoke(self.functions, self.function, event, "queue", timeout=120)
        if answer is None:
            return None
        return {f.get("itemIdentifier") for f in answer.get("batchItemFailures") or []}

    def poll(self):
        out = sqs(self.upstream, "ReceiveMessage", {
            "QueueUrl": self.url, "MaxNumberOfMessages": self.batch_size,
            "AttributeNames": ["All"], "WaitTimeSeconds": 0})
        messages = out.get("Messages") or []
        if not messages:
            return False
        records = [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": {},
            "md5OfBody": m.get("MD5OfBody"), "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn(self.queue), "awsRegion": REGION,
        } for m in messages]
        failed = self.invoke({"Records": records})
        if failed is None:
            return True  # all come back after their visibility timeout
        done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages) if m["MessageId"] not in failed]
        if done:
            sqs(self.upstream, "DeleteMessageBatch", {"QueueUrl": self.url, "Entries": done})
        return True

    def run(self):
        while True:
            try:
                busy = self.poll()
            except Exception as e:  # moto restarting, a queue not made yet
                print(f"queue {self.queue}: {e}", file=sys.stderr, flush=True)
                busy = False
                time.sleep(1)
            if not busy:
                time.sleep(POLL_SECONDS)


def start(upstream, functions, template_path):
    import localiam
    template = localiam.load_template(template_path)
    for attempt in range(30):
        try:
            setup(upstream, template)
            break
        except OSError as e:
            print(f"queues: setup failed ({e}); trying again", file=sys.stderr, flush=True)
            time.sleep(1)
    bridges = [Bridge(upstream, functions, *m) for m in mappings(template)]
    for b in bridges:
        threading.Thread(target=b.run, daemon=True).start()
    return bridges
