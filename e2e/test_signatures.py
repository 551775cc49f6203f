"""The presigned URLs against an S3 endpoint that checks SigV4 (s3s-fs; moto checks none):
only the exact request the service signed is accepted."""

import json
import os
import subprocess
import time
import urllib.parse

import pytest
import requests

from conftest import UUID

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICKET = "01937f5e-7a3c-7cc0-8d2a-6f1e2b3c4d5e"


@pytest.fixture(scope="module")
def s3():
    url = os.environ.get("S3_SIGV4_URL")
    assert url, "S3_SIGV4_URL is not set: run through `make test` (it starts s3s-fs)"
    return url


def presign(s3, filename="report.txt", content_type="text/plain", size=11, ttl=900):
    env = dict(os.environ, AWS_ENDPOINT_URL=s3, BUCKET_NAME=os.environ["S3_SIGV4_BUCKET"],
               AWS_ACCESS_KEY_ID=os.environ["S3_SIGV4_KEY"],
               AWS_SECRET_ACCESS_KEY=os.environ["S3_SIGV4_SECRET"])
    out = subprocess.run([f"{ROOT}/target/debug/tickets-dev", "presign", TICKET, filename,
                          content_type, str(size), str(ttl)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def put(upload, data, headers=None, url=None):
    h = dict(upload["headers"]) if headers is None else headers
    return requests.put(url or upload["url"], data=data, headers=h, timeout=30)


def refused(res):
    assert res.status_code == 403, (res.status_code, res.text)
    assert "SignatureDoesNotMatch" in res.text or "AccessDenied" in res.text or "Expired" in res.text


def test_the_signed_request_uploads_and_downloads_byte_for_byte(s3):
    p = presign(s3, filename="naïve report.txt", size=11)
    assert put(p["upload"], b"hello world").status_code == 200
    res = requests.get(p["download"], timeout=30)
    assert res.status_code == 200 and res.content == b"hello world"
    assert res.headers["content-disposition"] == (
        "attachment; filename=\"na_ve report.txt\"; filename*=UTF-8''na%C3%AFve%20report.txt")


def test_another_content_type_is_refused(s3):
    p = presign(s3)
    refused(put(p["upload"], b"hello world", {"Content-Type": "text/csv"}))
    refused(put(p["upload"], b"hello world", {"Content-Type": "application/octet-stream"}))


def test_another_content_length_is_refused(s3):
    p = presign(s3)
    refused(put(p["upload"], b"hello world, and more", {"Content-Type": "text/plain"}))
    refused(put(p["upload"], b"hello", {"Content-Type": "text/plain"}))


def test_a_tampered_signature_is_refused(s3):
    p = presign(s3)
    url = p["upload"]["url"]
    sig = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["X-Amz-Signature"][0]
    forged = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    refused(put(p["upload"], b"hello world", url=forged))
    longer = url.replace("X-Amz-Expires=900", "X-Amz-Expires=604800")
    refused(put(p["upload"], b"hello world", url=longer))


def test_the_url_does_not_write_another_key(s3):
    p = presign(s3)
    other = p["upload"]["url"].replace(p["key"], f"tickets/{TICKET}/01937f5e-7b00-7cc0-8d2a-000000000000")
    refused(put(p["upload"], b"hello world", url=other))


def test_an_expired_url_is_refused(s3):
    p = presign(s3, ttl=1)
    time.sleep(2.5)
    refused(put(p["upload"], b"hello world"))
    assert UUID.match(p["key"].rsplit("/", 1)[1])


def test_the_url_cannot_replace_an_object(s3):
    """If-None-Match: * is signed: a second PUT with the same URL is refused (412) and the
    first bytes stay; leaving the header out breaks the signature."""
    p = presign(s3)
    assert p["upload"]["headers"]["If-None-Match"] == "*"
    assert put(p["upload"], b"hello world").status_code == 200
    again = put(p["upload"], b"HELLO WORLD")
    assert again.status_code == 412, (again.status_code, again.text)
    assert requests.get(p["download"], timeout=30).content == b"hello world"
    fresh = presign(s3)
    without = {k: v for k, v in fresh["upload"]["headers"].items() if k != "If-None-Match"}
    refused(put(fresh["upload"], b"hello world", without))
