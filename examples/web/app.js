// The example frontend: create a ticket that declares a file, PUT the bytes to the presigned
// URL with exactly the headers the API signed, wait for the bucket's confirmation, then offer
// the presigned download. No framework, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const statusBox = $("status");

// ?api=...&token=... prefill the sign-in fields (handy with `make token`).
const params = new URLSearchParams(location.search);
if (params.get("api")) $("api").value = params.get("api");
if (params.get("token")) $("token").value = params.get("token");

function say(text, isError = false) {
  statusBox.textContent = text;
  statusBox.className = isError ? "error" : "";
}

async function api(method, path, body) {
  const base = $("api").value.replace(/\/+$/, "");
  const headers = { Authorization: `Bearer ${$("token").value.trim()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`${base}/v2/support-tickets${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!json.success) throw new Error(`${json.code}: ${json.error}`);
  return json;
}

// Every signed header as given (Content-Type, If-None-Match), except Content-Length, which
// browsers set themselves from the body; it must equal the declared size.
async function upload(file, target) {
  const headers = { ...target.headers };
  delete headers["Content-Length"];
  const res = await fetch(target.url, {
    method: target.method,
    headers,
    body: file,
  });
  await res.arrayBuffer(); // read to the end, so the request completes cleanly
  if (!res.ok) throw new Error(`upload refused: HTTP ${res.status}`);
}

async function waitUntilSettled(ticketId, attachmentId) {
  for (let i = 0; i < 60; i++) {
    const { data } = await api("GET", `/${ticketId}`);
    const found = data.attachments.find((a) => a._id === attachmentId);
    if (found && found.status !== "pending") return found;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("the upload was not confirmed in time");
}

function showFile(a) {
  const li = document.createElement("li");
  if (a.url) {
    const link = document.createElement("a");
    link.href = a.url;
    link.textContent = `Download ${a.filename}`;
    link.id = "download";
    li.append(link, ` (${a.size} bytes, ${a.type})`);
  } else {
    li.textContent = `${a.filename}: ${a.status}`;
  }
  $("files").append(li);
}

$("ticket").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("submit").disabled = true;
  $("files").replaceChildren();
  try {
    const file = $("file").files[0];
    const attachments = file ? [{ filename: file.name, size: file.size, type: file.type }] : [];
    say("Creating the ticket…");
    const { data: ticket } = await api("POST", "", {
      title: $("title").value,
      description: $("description").value,
      priority: $("priority").value,
      category: $("category").value,
      attachments,
    });
    if (file) {
      say(`Ticket ${ticket._id} created. Uploading ${file.name}…`);
      await upload(file, ticket.attachments[0].upload);
      say("Uploaded. Waiting for confirmation…");
      const settled = await waitUntilSettled(ticket._id, ticket.attachments[0]._id);
      showFile(settled);
    }
    say(`Ticket ${ticket._id} is ${ticket.status}.`);
    statusBox.dataset.ticket = ticket._id;
  } catch (err) {
    say(String(err.message || err), true);
  } finally {
    $("submit").disabled = false;
  }
});
