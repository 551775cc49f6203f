//! Attachments after their declaration: a fresh upload URL while one is pending, and the
//! check of what arrived in the bucket.

use chrono::Utc;
use serde_json::Value;

use super::common::visible_ticket;
use super::expiry::UPLOAD_WINDOW_HOURS;
use super::App;
use crate::domain::{AttachmentId, AttachmentStatus, Caller, Status, TicketId};
use crate::error::ApiError;
use crate::view;

/// A fresh upload URL for an attachment still pending (the first may have expired, or a
/// replayed answer carried an old one): for the ticket's owner or an agent (internal notes'
/// files: agents only), within 24 hours of its declaration, on a ticket not closed.
pub async fn renew_upload(
    app: &App,
    caller: &Caller,
    ticket_id: &TicketId,
    attachment_id: &AttachmentId,
) -> Result<Value, ApiError> {
    let (ticket, attachment) = tokio::join!(
        visible_ticket(app, caller, ticket_id),
        app.store.attachment(ticket_id, attachment_id)
    );
    let ticket = ticket?;
    let attachment = attachment?
        .filter(|a| a.visible_to(caller))
        .ok_or(ApiError::NotFound)?;
    if ticket.status == Status::Closed {
        return Err(ApiError::TicketClosed);
    }
    let declared = attachment
        .created_at
        .time()
        .ok_or_else(|| ApiError::Internal("attachment time".into()))?;
    let window = chrono::Duration::hours(UPLOAD_WINDOW_HOURS);
    if attachment.status != AttachmentStatus::Pending || Utc::now() - declared >= window {
        return Err(ApiError::NotPending);
    }
    let upload = app.files()?.upload(&attachment).await?;
    Ok(view::attachment(&attachment, None, Some(&upload)))
}

/// Checks an object that arrived in the bucket against its declaration: `uploaded` when it has
/// the declared size and type, otherwise deleted and `rejected`. Safe to run more than once for
/// the same object (S3 delivers events at least once). Keys this service did not issue are
/// deleted: only presigned uploads may write under `tickets/`.
pub async fn confirm_upload(app: &App, key: &str) -> Result<Option<AttachmentStatus>, ApiError> {
    let files = app.files()?;
    let ids = key
        .strip_prefix("tickets/")
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(t, a)| Some((TicketId::parse(t)?, AttachmentId::parse(a)?)))
        .filter(|(t, a)| key == format!("tickets/{t}/{a}"));
    let Some((ticket_id, attachment_id)) = ids else {
        tracing::warn!(key, "object outside the attachment key scheme; deleting");
        files.delete(key).await?;
        return Ok(None);
    };
    let Some(attachment) = app.store.attachment(&ticket_id, &attachment_id).await? else {
        tracing::warn!(key, "object without an attachment record; deleting");
        files.delete(key).await?;
        return Ok(None);
    };
    match attachment.status {
        AttachmentStatus::Pending => {}
        // An upload through a still valid URL after the first was rejected, or after the
        // attachment expired: not kept.
        AttachmentStatus::Rejected | AttachmentStatus::Expired => {
            files.delete(key).await?;
            return Ok(Some(attachment.status));
        }
        // Confirmed bytes cannot be replaced (the upload URL is conditional on no object);
        // a repeated event changes nothing.
        AttachmentStatus::Uploaded => return Ok(Some(attachment.status)),
    }
    let Some(stored) = files.stored(key).await? else {
        return Ok(Some(AttachmentStatus::Pending));
    };
    let matches = stored.size == attachment.size
        && stored
            .content_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(&attachment.content_type));
    let status = if matches {
        AttachmentStatus::Uploaded
    } else {
        tracing::info!(
            key,
            declared = attachment.size,
            stored = stored.size,
            "upload does not match its declaration; deleting"
        );
        files.delete(key).await?;
        AttachmentStatus::Rejected
    };
    app.store.settle_attachment(&attachment, status).await?;
    Ok(Some(status))
}
