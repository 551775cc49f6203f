"""Attachments end to end against moto: declare, upload the exact bytes to the presigned URL,
confirmation by the bucket's event, download through the presigned GET."""

import datetime
import hashlib
import json
import os
import pathlib
import time

import boto3
import botocore.exceptions
import pytest
import requests

from conftest import TIMESTAMP, UUID
from test_api import assert_error

ROOT = pathlib.Path(__file__).resolve().parent.parent
ATTACHMENT_FIELDS = {"_id", "filename", "size", "type", "threadId", "status", "createdAt"}


def declare(client, files, **fields):
    t = client.create(attachments=[{"filename": n, "size": len(b), "type": t} for n, b, t in files],
                      **fields)
    return t


def put(upload, data, **override):
    headers = dict(upload["headers"])
    headers.update(override)
    return requests.put(upload["url"], data=data, headers=headers, timeout=30)


def wait_for_status(client, ticket_id, attachment_id, wanted, seconds=30):
    deadline = time.time() + seconds
    while True:
        got = client.call("GET", f"/{ticket_id}").body["data"]
        found = [a for a in got["attachments"] if a["_id"] == attachment_id]
        if found and found[0]["status"] == wanted:
            return found[0], got
        assert time.time() < deadline, f"attachment still {found[0]['status'] if found else 'missing'}"
        time.sleep(0.3)


def test_declare_upload_confirm_download(alice):
    data = os.urandom(3000) + b"\r\n\x00 end"
    t = declare(alice, [("error logs (1).txt", data, "text/plain")])
    [a] = t["attachments"]
    assert set(a) == ATTACHMENT_FIELDS | {"upload"}
    assert UUID.match(a["_id"]) and TIMESTAMP.match(a["createdAt"])
    assert (a["filename"], a["size"], a["type"], a["status"]) == ("error logs (1).txt", len(data), "text/plain", "pending")
    assert a["threadId"] == t["threads"][0]["_id"]
    assert t["threads"][0]["attachments"] == [a]
    up = a["upload"]
    assert up["method"] == "PUT"
    assert up["headers"] == {"Content-Type": "text/plain", "Content-Length": str(len(data)),
                             "If-None-Match": "*"}
    assert TIMESTAMP.match(up["expiresAt"])
    assert f"/tickets/{t['_id']}/{a['_id']}?" in up["url"], "the key is chosen by the service"
    assert "error" not in up["url"].split("?")[0]
    assert "content-length%3Bcontent-type%3Bhost%3Bif-none-match" in up["url"], \
        "size, type and the no-overwrite condition are signed"

    pending = alice.call("GET", f"/{t['_id']}").body["data"]["attachments"][0]
    assert pending["status"] == "pending" and "url" not in pending and "upload" not in pending

    assert put(up, data).status_code == 200
    done, ticket = wait_for_status(alice, t["_id"], a["_id"], "uploaded")
    assert set(done) == ATTACHMENT_FIELDS | {"url"}
    assert ticket["threads"][0]["attachments"] == [done]
    res = requests.get(done["url"], timeout=30)
    assert res.status_code == 200
    assert hashlib.sha256(res.content).digest() == hashlib.sha256(data).digest()
    assert res.headers["Content-Disposition"] == (
        "attachment; filename=\"error logs (1).txt\"; filename*=UTF-8''error%20logs%20%281%29.txt")


def test_a_size_mismatch_is_rejected_and_deleted(alice):
    # moto does not check signatures, so it stores what arrives; the confirmation catches it.
    t = declare(alice, [("short.csv", b"a,b\n1,2\n", "text/csv")])
    a = t["attachments"][0]
    up = a["upload"]
    url_path = up["url"].split("?")[0]
    assert put(up, b"a,b\n1,2\n3,4\n", **{"Content-Length": None}).status_code == 200
    rejected, _ = wait_for_status(alice, t["_id"], a["_id"], "rejected")
    assert "url" not in rejected
    s3 = boto3.client("s3", endpoint_url=os.environ["FAULT_PROXY_URL"], region_name="us-east-1")
    key = url_path.split(f"/{os.environ['BUCKET_NAME']}/", 1)[1]
    with pytest.raises(botocore.exceptions.ClientError) as gone:
        s3.head_object(Bucket=os.environ["BUCKET_NAME"], Key=key)
    assert gone.value.response["Error"]["Code"] == "404"


def test_a_thread_attachment_and_internal_ones(alice, agent):
    t = alice.create()
    res = alice.reply(t["_id"], "here is the screenshot",
                      attachments=[{"filename": "shot.png", "size": 4, "type": "image/png"}])
    assert res.status_code == 201
    [a] = res.body["data"]["attachments"]
    assert a["threadId"] == res.body["data"]["_id"] and "upload" in a
    assert put(a["upload"], b"\x89PNG").status_code == 200
    wait_for_status(alice, t["_id"], a["_id"], "uploaded")

    note = agent.reply(t["_id"], "customer data, do not share", internal=True,
                       attachments=[{"filename": "secret-plan.pdf", "size": 5, "type": "application/pdf"}])
    secret = note.body["data"]["attachments"][0]
    assert put(secret["upload"], b"%PDF-").status_code == 200
    wait_for_status(agent, t["_id"], secret["_id"], "uploaded")
    mine = alice.call("GET", f"/{t['_id']}")
    assert "secret-plan" not in mine.text, "customers never see internal attachments"
    assert [x["_id"] for x in mine.body["data"]["attachments"]] == [a["_id"]]
    theirs = agent.call("GET", f"/{t['_id']}").body["data"]
    assert {x["_id"] for x in theirs["attachments"]} == {a["_id"], secret["_id"]}


@pytest.mark.parametrize("files, field", [
    ([{"filename": f"f{i}.txt", "size": 1, "type": "text/plain"} for i in range(11)], "attachments"),
    ([{"filename": "big.zip", "size": 26 * 1024 * 1024, "type": "application/zip"}], "attachments[0].size"),
    ([{"filename": "tool.exe", "size": 10, "type": "application/x-msdownload"}], "attachments[0].type"),
    ([{"filename": "../../etc/passwd", "size": 10, "type": "text/plain"}], "attachments[0].filename"),
    ([{"filename": "a\r\nSet-Cookie: x=1.txt", "size": 10, "type": "text/plain"}], "attachments[0].filename"),
    ([{"filename": "a.txt", "size": 10}], "attachments[0].type"),
    ([{"filename": "invoice\u202etxt.exe", "size": 10, "type": "text/plain"}], "attachments[0].filename"),
    ([{"filename": "a\u200b.txt", "size": 10, "type": "text/plain"}], "attachments[0].filename"),
])
def test_bad_declarations_name_the_field(alice, files, field):
    res = alice.call("POST", body={"title": "t", "description": "d", "priority": "low",
                                   "category": "general", "attachments": files})
    assert_error(res, 400, "VALIDATION_ERROR", field)
    t = alice.create()
    assert_error(alice.reply(t["_id"], attachments=files), 400, "VALIDATION_ERROR", field)


def test_the_ticket_total_is_kept(alice):
    mib = 1024 * 1024
    big = lambda n: [{"filename": f"part{i}.zip", "size": 25 * mib, "type": "application/zip"} for i in range(n)]
    t = alice.create(attachments=big(3))
    assert alice.reply(t["_id"], attachments=big(1)).status_code == 201, "exactly 100 MiB"
    res = alice.reply(t["_id"], attachments=[{"filename": "one-more.txt", "size": 1, "type": "text/plain"}])
    assert_error(res, 400, "VALIDATION_ERROR", "attachments")
    res = alice.call("POST", body={"title": "t", "description": "d", "priority": "low",
                                   "category": "general", "attachments": big(5)})
    assert_error(res, 400, "VALIDATION_ERROR", "attachments")


def confirm(api_url, key):
    """The bucket's ObjectCreated event for `key`, delivered to confirm-attachment as S3 does
    (asynchronously in AWS; here through the emulator's invoke API, to read the outcome)."""
    event = json.loads((ROOT / "events" / "confirm-attachment.json").read_text())
    event["Records"][0]["s3"]["bucket"]["name"] = os.environ["BUCKET_NAME"]
    event["Records"][0]["s3"]["object"]["key"] = key
    res = requests.post(f"{api_url}/2015-03-31/functions/confirm-attachment/invocations",
                        json=event, timeout=60)
    assert res.status_code == 200, res.text
    return res.json()


def test_a_late_event_for_a_missing_object_leaves_the_attachment_pending(api_url, alice):
    """In AWS, HeadObject on a missing key is 403 unless the role may list the bucket (the
    local endpoint answers so too): confirm-attachment must still tell "not there yet" from a
    failure, or every late or repeated event would fail and be retried into the failure queue."""
    t = declare(alice, [("later.txt", b"12345", "text/plain")])
    a = t["attachments"][0]
    key = f"tickets/{t['_id']}/{a['_id']}"
    assert confirm(api_url, key) == {"results": [{"key": key, "status": "pending"}]}
    assert alice.call("GET", f"/{t['_id']}").body["data"]["attachments"][0]["status"] == "pending"
    # Uploaded afterwards, it is confirmed; a repeated event changes nothing.
    assert put(a["upload"], b"12345").status_code == 200
    wait_for_status(alice, t["_id"], a["_id"], "uploaded")
    assert confirm(api_url, key) == {"results": [{"key": key, "status": "uploaded"}]}


def test_answers_to_status_changes_updates_and_thread_pages_carry_working_download_urls(alice, agent):
    """update-status, update-ticket and list-threads answer with fresh presigned downloads,
    which S3 honours only if their roles may read the objects."""
    t = declare(alice, [("trace.txt", b"trace", "text/plain")])
    a = t["attachments"][0]
    assert put(a["upload"], b"trace").status_code == 200
    wait_for_status(alice, t["_id"], a["_id"], "uploaded")
    for res in (agent.status(t["_id"], "in_progress"),
                agent.call("PATCH", f"/{t['_id']}", {"priority": "low"}),
                alice.call("GET", f"/{t['_id']}/threads")):
        assert res.status_code == 200, res.body
        data = res.body["data"]
        [done] = data["attachments"] if isinstance(data, dict) else data[0]["attachments"]
        got = requests.get(done["url"], timeout=30)
        assert got.status_code == 200 and got.content == b"trace"


def test_a_confirmed_upload_cannot_be_replaced(alice):
    """The upload URL is conditional on the key holding no object (If-None-Match: *, signed),
    so the same URL cannot swap the confirmed bytes for others of the same size and type."""
    t = declare(alice, [("facts.txt", b"true", "text/plain")])
    a = t["attachments"][0]
    assert put(a["upload"], b"true").status_code == 200
    done, _ = wait_for_status(alice, t["_id"], a["_id"], "uploaded")
    again = put(a["upload"], b"fake")
    assert again.status_code == 412, again.text
    assert requests.get(done["url"], timeout=30).content == b"true"


def test_an_upload_after_a_rejection_is_not_kept(alice):
    t = declare(alice, [("one.txt", b"1", "text/plain")])
    a = t["attachments"][0]
    assert put(a["upload"], b"12", **{"Content-Length": None}).status_code == 200
    wait_for_status(alice, t["_id"], a["_id"], "rejected")
    # The URL is still valid and the key empty again: the object arrives, and goes.
    assert put(a["upload"], b"1").status_code == 200
    s3 = boto3.client("s3", endpoint_url=os.environ["FAULT_PROXY_URL"], region_name="us-east-1")
    deadline = time.time() + 30
    while True:
        try:
            s3.head_object(Bucket=os.environ["BUCKET_NAME"], Key=f"tickets/{t['_id']}/{a['_id']}")
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "404"
            break
        assert time.time() < deadline, "the late object was not deleted"
        time.sleep(0.3)
    assert alice.call("GET", f"/{t['_id']}").body["data"]["attachments"][0]["status"] == "rejected"


def invoke(api_url, function, event):
    res = requests.post(f"{api_url}/2015-03-31/functions/{function}/invocations", json=event,
                        timeout=120)
    assert res.status_code == 200, res.text
    return res.json()


def test_a_pending_upload_gets_a_fresh_url_from_its_owner_or_an_agent(alice, bob, agent):
    t = declare(alice, [("late.txt", b"hello", "text/plain")])
    a = t["attachments"][0]
    path = f"/{t['_id']}/attachments/{a['_id']}/upload"
    res = alice.call("POST", path)
    assert res.status_code == 200, res.body
    renewed = res.body["data"]
    assert renewed["_id"] == a["_id"] and renewed["status"] == "pending"
    assert renewed["upload"]["expiresAt"] >= a["upload"]["expiresAt"]
    assert agent.call("POST", path).status_code == 200
    assert_error(bob.call("POST", path), 404, "SUPPORT_TICKET_NOT_FOUND")
    assert_error(alice.call("POST", f"/{t['_id']}/attachments/not-an-id/upload"), 404,
                 "SUPPORT_TICKET_NOT_FOUND")
    assert put(renewed["upload"], b"hello").status_code == 200
    wait_for_status(alice, t["_id"], a["_id"], "uploaded")
    assert_error(alice.call("POST", path), 409, "CONFLICT")
    note = agent.reply(t["_id"], "internal file", internal=True,
                       attachments=[{"filename": "n.txt", "size": 1, "type": "text/plain"}])
    secret = note.body["data"]["attachments"][0]
    assert_error(alice.call("POST", f"/{t['_id']}/attachments/{secret['_id']}/upload"), 404,
                 "SUPPORT_TICKET_NOT_FOUND")


def test_uploads_that_never_come_expire_and_free_the_budget(api_url, alice):
    mib = 1024 * 1024
    files = [{"filename": f"part{i}.zip", "size": 25 * mib, "type": "application/zip"} for i in range(4)]
    t = alice.create(attachments=files)
    assert_error(alice.reply(t["_id"], attachments=[{"filename": "x.txt", "size": 1, "type": "text/plain"}]),
                 400, "VALIDATION_ERROR", "attachments")
    event = json.loads((ROOT / "events" / "expire-uploads.json").read_text())
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=25)
    event["time"] = later.strftime("%Y-%m-%dT%H:%M:%SZ")
    report = invoke(api_url, "expire-uploads", event)
    ours = {a["_id"] for a in t["attachments"]}
    assert ours <= set(report["expired"]), report
    got = alice.call("GET", f"/{t['_id']}").body["data"]
    assert {a["status"] for a in got["attachments"]} == {"expired"}
    assert all("url" not in a and "upload" not in a for a in got["attachments"])
    assert alice.reply(t["_id"], attachments=files[:1]).status_code == 201, "the bytes came back"
    first = t["attachments"][0]
    assert_error(alice.call("POST", f"/{t['_id']}/attachments/{first['_id']}/upload"), 409, "CONFLICT")
    assert not ours & set(invoke(api_url, "expire-uploads", event)["expired"]), "once"
