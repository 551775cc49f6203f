//! Exporting a customer's data (an access request): a job on the export queue that writes one
//! tar archive to the bucket, holding each of their tickets as they see it (JSON: the
//! ticket, every thread they can see, their files' records) and those files, and answers a
//! presigned download once done (docs/data-lifecycle.md). Internal notes and their files are
//! never in it, whoever asked.

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::App;
use crate::domain::{AttachmentStatus, Caller, Role, Ticket, Timestamp, UserId};
use crate::error::ApiError;
use crate::files::Archive;
use crate::outbound::Outbound;
use crate::store::{ExportRecord, ThreadQuery, THREAD_PAGE_MAX};
use crate::view;

const RUNNING: &str = "running";
/// Tries of an export before it is marked failed (the queue hands a failed one over again).
pub const EXPORT_TRIES: u32 = 3;

/// An export job's message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportJob {
    pub export: String,
}

/// Starts an export: admins name the customer; a customer exports their own data (naming no
/// one, or themselves); agents may not. The job as `GET /v2/exports/{id}` shows it.
pub async fn start_export(
    app: &App,
    out: &Outbound,
    caller: &Caller,
    client: Option<UserId>,
) -> Result<Value, ApiError> {
    let client = match (caller.admin, caller.role, client) {
        (true, _, Some(client)) => client,
        (true, _, None) => return Err(ApiError::validation("client", "is required")),
        (false, Role::Customer, None) => caller.sub.clone(),
        (false, Role::Customer, Some(c)) if c == caller.sub => c,
        (false, Role::Customer, Some(_)) => {
            return Err(ApiError::Forbidden(
                "customers export only their own data".into(),
            ))
        }
        (false, _, _) => {
            return Err(ApiError::Forbidden(
                "only customers (their own data) and admins export".into(),
            ))
        }
    };
    let id = uuid::Uuid::now_v7().to_string();
    let digest = app.cursors.keyed_digest("customer", client.as_str());
    let job = ExportRecord {
        key: format!("exports/{digest}/{id}.tar"),
        id,
        state: RUNNING.into(),
        client: Some(client.to_string()),
        client_digest: digest,
        requested_by: caller.sub.to_string(),
        requested_at: Timestamp::now().to_string(),
        finished_at: None,
        tickets: 0,
        threads: 0,
        files: 0,
        bytes: 0,
        error: None,
    };
    app.store.put_export(&job, Utc::now().timestamp()).await?;
    let queue = app
        .config
        .export_queue
        .as_deref()
        .ok_or_else(|| ApiError::Internal("EXPORT_QUEUE_URL is not configured".into()))?;
    let body = serde_json::to_string(&ExportJob {
        export: job.id.clone(),
    })
    .map_err(|e| ApiError::internal("export job", e))?;
    out.send(queue, &body, 0).await?;
    Ok(view::export(&job, None))
}

/// The job, for the admin or the customer who asked for it (anyone else: 404); once done,
/// with a link to download the archive for 15 minutes.
pub async fn export_status(app: &App, caller: &Caller, id: &str) -> Result<Value, ApiError> {
    if caller.is_agent() && !caller.admin {
        return Err(ApiError::Forbidden(
            "only customers (their own data) and admins export".into(),
        ));
    }
    let job = match uuid::Uuid::parse_str(id) {
        Ok(_) => app.store.export(id).await?,
        Err(_) => None,
    }
    .filter(|j| caller.admin || j.requested_by == caller.sub.as_str())
    .ok_or(ApiError::ExportNotFound)?;
    let download = match job.state.as_str() {
        "done" => Some(
            app.files()?
                .download_object(
                    &job.key,
                    &format!("export-{}.tar", job.id),
                    "application/x-tar",
                )
                .await?,
        ),
        _ => None,
    };
    Ok(view::export(&job, download))
}

/// Writes the archive of a job (a queue message's body; `received`: how often the queue has
/// handed it over). `Err` hands it over again; the last try marks the job failed.
pub async fn run_export(app: &App, body: &str, received: u32) -> Result<(), ApiError> {
    let Ok(message) = serde_json::from_str::<ExportJob>(body) else {
        tracing::error!("an export message that does not read: dropped");
        return Ok(());
    };
    let Some(mut job) = app.store.export(&message.export).await? else {
        return Ok(());
    };
    let Some(client) = job.client.clone().filter(|_| job.state == RUNNING) else {
        return Ok(());
    };
    let mut archive = Archive::start(app.files()?, &job.key).await?;
    match write_archive(app, &mut archive, &client, &mut job).await {
        Ok(()) => {
            job.bytes = archive.finish().await?;
            job.state = "done".into();
        }
        Err(e) if received < EXPORT_TRIES => {
            archive.abort().await;
            return Err(e);
        }
        Err(e) => {
            archive.abort().await;
            tracing::error!(export = %job.id, error = %e, "export failed for good");
            job.state = "failed".into();
            job.error = Some("the archive could not be written; ask for a new export".into());
        }
    }
    job.finished_at = Some(Timestamp::now().to_string());
    app.store.finish_export(&job).await?;
    tracing::info!(export = %job.id, state = %job.state, tickets = job.tickets, threads = job.threads, files = job.files, bytes = job.bytes, "export finished");
    Ok(())
}

/// Every ticket of the customer's, then a manifest.
async fn write_archive(
    app: &App,
    archive: &mut Archive<'_>,
    client: &str,
    job: &mut ExportRecord,
) -> Result<(), ApiError> {
    let sub = UserId::parse(client).map_err(ApiError::Internal)?;
    let customer = Caller::customer(sub);
    let mut start = None;
    loop {
        let page = app.store.client_tickets(client, start).await?;
        for t in &page.tickets {
            add_ticket(app, archive, &customer, t, job).await?;
        }
        start = page.next;
        if start.is_none() {
            break;
        }
    }
    let manifest = json!({
        "client": client,
        "exportedAt": Timestamp::now(),
        "tickets": job.tickets,
        "threads": job.threads,
        "files": job.files,
        "layout": "tickets/<ticket id>.json: the ticket and every thread its customer sees; files/<ticket id>/<attachment id>/<filename>: the uploaded files",
    });
    let now = Utc::now().timestamp();
    archive
        .add("export.json", manifest.to_string().as_bytes(), now)
        .await
}

/// A ticket as its customer sees it, and its uploaded files they may see.
async fn add_ticket(
    app: &App,
    archive: &mut Archive<'_>,
    customer: &Caller,
    t: &Ticket,
    job: &mut ExportRecord,
) -> Result<(), ApiError> {
    let mut query = ThreadQuery {
        after: None,
        limit: THREAD_PAGE_MAX,
        newest_first: false,
        internal: false,
    };
    let (mut threads, mut files) = (Vec::new(), Vec::new());
    loop {
        let page = app.store.threads(&t.id, &query).await?;
        let attachments = app.store.attachments(&t.id, &page.attachment_ids()).await?;
        for (thread, _) in page
            .threads
            .iter()
            .filter(|(th, _)| th.visible_to(customer))
        {
            let mut shown = Vec::new();
            for a in attachments
                .iter()
                .filter(|a| a.thread_id == thread.id && a.visible_to(customer))
            {
                let mut v = view::attachment(a, None, None);
                if a.status == AttachmentStatus::Uploaded {
                    let path = file_path(t, &a.id.to_string(), &a.filename);
                    v["file"] = path.clone().into();
                    files.push((path, a.key()));
                }
                shown.push(v);
            }
            threads.push(view::thread(thread, shown));
        }
        query.after = page.next;
        if query.after.is_none() {
            break;
        }
    }
    let summary = view::ticket_summary(t, customer, &app.config.sla, Utc::now());
    job.tickets += 1;
    job.threads += threads.len() as u64;
    let mtime = t.updated_at.time().map_or(0, |at| at.timestamp());
    let entry = view::exported_ticket(summary, threads);
    archive
        .add(
            &format!("tickets/{}.json", t.id),
            entry.to_string().as_bytes(),
            mtime,
        )
        .await?;
    for (path, key) in files {
        if archive.add_object(&path, &key, mtime).await? {
            job.files += 1;
        }
    }
    Ok(())
}

/// Where a file goes in the archive: under its ticket and attachment ids, with its name made
/// safe for a path (no separators, no control characters) and at most 100 bytes.
fn file_path(t: &Ticket, attachment: &str, filename: &str) -> String {
    let mut safe: String = filename
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    while safe.len() > 100 {
        safe.pop();
    }
    if safe.is_empty() || safe == "." || safe == ".." {
        safe = "file".into();
    }
    format!("files/{}/{attachment}/{safe}", t.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_stay_in_their_folder_and_fit_a_tar_header() {
        let t = crate::domain::fixtures::ticket(crate::domain::Status::Open);
        let p = file_path(&t, "a1", "../../etc/passwd");
        assert_eq!(p, format!("files/{}/a1/.._.._etc_passwd", t.id));
        assert!(file_path(&t, "a1", "..").ends_with("/a1/file"));
        let long = file_path(&t, "a1", &"é".repeat(80));
        assert!(long.rsplit('/').next().unwrap().len() <= 100);
        assert!(crate::files::tar_header(&long, 1, 0).is_ok());
    }
}
