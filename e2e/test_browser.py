"""A real browser (Debian's Chromium, driven by playwright-core) loads examples/web from
another localhost origin, uploads a file through the page straight to the bucket and
downloads it back: the CORS of the API and of the bucket, proven end to end."""

import json
import os
import subprocess

from conftest import token

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_browser_uploads_and_downloads_through_the_example_page(api_url, alice):
    page_url = os.environ.get("WEB_URL")
    assert page_url, "WEB_URL is not set: run through `make test` (it serves examples/web)"
    assert page_url.split(":")[2] != api_url.split(":")[2], "the page is another origin"
    out = subprocess.run(
        ["node", "upload.mjs", page_url, api_url, alice.token],
        cwd=os.path.join(ROOT, "e2e", "browser"), capture_output=True, text=True, timeout=180,
    )
    lines = out.stdout.strip().splitlines()
    assert lines, out.stderr
    result = json.loads(lines[-1])
    assert out.returncode == 0, result
    assert result["identical"] is True and result["size"] == 200_004
    assert result["problems"] == []
    assert result["suggestedFilename"].endswith(".zip")
    ticket = alice.call("GET", f"/{result['ticket']}").body["data"]
    [a] = ticket["attachments"]
    assert (a["filename"], a["status"], a["type"]) == ("browser upload (é).zip", "uploaded", "application/zip")
