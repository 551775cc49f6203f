// Drives Debian's Chromium through examples/web as a person would: fill in the form, pick a
// file, submit, wait for the download link, download, and compare the bytes.
// Usage: node upload.mjs PAGE_URL API_URL TOKEN   (prints a JSON result; exit 1 on failure)
import { chromium } from "playwright-core";
import { randomBytes, createHash } from "node:crypto";
import { readFile } from "node:fs/promises";

const [pageUrl, apiUrl, token] = process.argv.slice(2);
const sha = (b) => createHash("sha256").update(b).digest("hex");
const original = Buffer.concat([Buffer.from("PK\x03\x04"), randomBytes(200_000)]);
const problems = [];

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  page.on("requestfailed", (r) => {
    // A navigation that turns into a download is reported as aborted: that is the download.
    const download = r.isNavigationRequest() && r.failure()?.errorText === "net::ERR_ABORTED";
    if (!download) problems.push(`failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`);
  });
  const query = new URLSearchParams({ api: apiUrl, token });
  await page.goto(`${pageUrl}/index.html?${query}`);
  await page.fill("#title", "Browser upload");
  await page.setInputFiles("#file", {
    name: "browser upload (é).zip",
    mimeType: "application/zip",
    buffer: original,
  });
  await page.click("#submit");
  const link = page.locator("#download");
  try {
    await link.waitFor({ timeout: 60_000 });
  } catch (e) {
    problems.push(`no download link: ${await page.locator("#status").textContent()}`);
    throw e;
  }
  const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
  const path = await download.path();
  const got = await readFile(path);
  const result = {
    ticket: await page.locator("#status").getAttribute("data-ticket"),
    pageOrigin: new URL(pageUrl).origin,
    suggestedFilename: download.suggestedFilename(),
    size: got.length,
    identical: sha(got) === sha(original),
    problems,
  };
  console.log(JSON.stringify(result));
  process.exitCode = result.identical && problems.length === 0 ? 0 : 1;
} catch (e) {
  console.log(JSON.stringify({ error: String(e), problems }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
