//! Attachments' bytes in S3: presigned uploads and downloads (computed here, no request to
//! S3), and the checks of what arrived.

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::domain::{Attachment, Timestamp, Upload};
use crate::error::ApiError;

pub const UPLOAD_TTL: Duration = Duration::from_secs(15 * 60);
pub const DOWNLOAD_TTL: Duration = Duration::from_secs(5 * 60);

#[derive(Clone, Debug)]
pub struct Files {
    client: aws_sdk_s3::Client,
    bucket: String,
}

/// What an uploaded object turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub size: u64,
    pub content_type: Option<String>,
}

impl Files {
    pub fn new(shared: &aws_config::SdkConfig, bucket: String, path_style: bool) -> Self {
        let conf = aws_sdk_s3::config::Builder::from(shared)
            .force_path_style(path_style)
            .build();
        Files {
            client: aws_sdk_s3::Client::from_conf(conf),
            bucket,
        }
    }

    /// A PUT URL that S3 honours only with exactly the declared Content-Type and
    /// Content-Length, for 15 minutes, and only while the key holds no object
    /// (`If-None-Match: *`, signed too): once an upload is confirmed, the same URL cannot
    /// replace its bytes.
    pub async fn upload(&self, a: &Attachment) -> Result<Upload, ApiError> {
        self.upload_for(a, UPLOAD_TTL).await
    }

    /// [`Files::upload`] with another lifetime (the signature tests need one that expires).
    pub async fn upload_for(&self, a: &Attachment, ttl: Duration) -> Result<Upload, ApiError> {
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| ApiError::internal("presign config", e))?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(a.key())
            .content_type(&a.content_type)
            .content_length(a.size as i64)
            .if_none_match("*")
            .presigned(config)
            .await
            .map_err(|e| ApiError::internal("presign upload", e))?;
        let headers: BTreeMap<String, String> = BTreeMap::from([
            ("Content-Type".to_owned(), a.content_type.clone()),
            ("Content-Length".to_owned(), a.size.to_string()),
            ("If-None-Match".to_owned(), "*".to_owned()),
        ]);
        let expires = chrono::Utc::now()
            + chrono::Duration::from_std(ttl).unwrap_or_else(|_| chrono::Duration::zero());
        Ok(Upload {
            url: presigned.uri().to_owned(),
            method: "PUT",
            headers,
            expires_at: Timestamp::at(expires),
        })
    }

    /// A GET URL for 5 minutes that serves the file as a download under its original name.
    pub async fn download(&self, a: &Attachment) -> Result<String, ApiError> {
        let config = PresigningConfig::expires_in(DOWNLOAD_TTL)
            .map_err(|e| ApiError::internal("presign config", e))?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(a.key())
            .response_content_disposition(content_disposition(&a.filename))
            .response_content_type(&a.content_type)
            .presigned(config)
            .await
            .map_err(|e| ApiError::internal("presign download", e))?;
        Ok(presigned.uri().to_owned())
    }

    /// The object's size and type, or `None` when there is none.
    pub async fn stored(&self, key: &str) -> Result<Option<Stored>, ApiError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(Stored {
                size: head.content_length().unwrap_or(0).max(0) as u64,
                content_type: head.content_type().map(str::to_owned),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(ApiError::internal("head object", e.into_service_error())),
        }
    }

    /// Deletes the object. A rejected upload is deleted at once (no tag or lifecycle rule
    /// waits for it): should the delete fail, the event fails and S3's delivery is retried.
    pub async fn delete(&self, key: &str) -> Result<(), ApiError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| ApiError::internal("delete object", e.into_service_error()))?;
        Ok(())
    }

    /// Deletes every object under `prefix`, a listed page (up to 1,000) to a DeleteObjects;
    /// how many went. Run again after a failure, it deletes what is left.
    #[tracing::instrument(skip(self))]
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, ApiError> {
        let mut deleted = 0u64;
        loop {
            // Deleting as it lists: each listing starts again from what is left.
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .send()
                .await
                .map_err(|e| ApiError::internal("list objects", e.into_service_error()))?;
            let objects = page
                .contents
                .unwrap_or_default()
                .into_iter()
                .filter_map(|o| o.key)
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ApiError::internal("object identifier", e))?;
            if objects.is_empty() {
                return Ok(deleted);
            }
            let count = objects.len() as u64;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| ApiError::internal("delete objects", e))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| ApiError::internal("delete objects", e.into_service_error()))?;
            if let Some(e) = out.errors.unwrap_or_default().first() {
                return Err(ApiError::Internal(format!(
                    "delete objects: {}",
                    e.code().unwrap_or("failed")
                )));
            }
            deleted += count;
        }
    }
}

/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266 /
/// RFC 5987): every byte outside the attr-char set is encoded, so no filename can end the
/// header, add a parameter or inject another header.
pub fn content_disposition(filename: &str) -> String {
    let fallback = ascii_fallback(filename);
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// The name for clients that ignore `filename*`: ASCII, with `_` for everything else. Its
/// extension is the real one or none: when the real extension is not plain ASCII, every dot
/// becomes `_` too, so `report.pdf` + a non-ASCII extension can never show as `.pdf` or `.tx_`.
fn ascii_fallback(filename: &str) -> String {
    let plain = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ';
    let ext_is_plain = filename
        .rsplit_once('.')
        .is_none_or(|(_, ext)| ext.chars().all(plain));
    filename
        .chars()
        .map(|c| match c {
            '.' if !ext_is_plain => '_',
            c if plain(c) => c,
            _ => '_',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_stay_one_safe_header() {
        assert_eq!(
            content_disposition("error logs.txt"),
            "attachment; filename=\"error logs.txt\"; filename*=UTF-8''error%20logs.txt"
        );
        assert_eq!(
            content_disposition("Übersicht.pdf"),
            "attachment; filename=\"_bersicht.pdf\"; filename*=UTF-8''%C3%9Cbersicht.pdf"
        );
        let shown = |name: &str| {
            ascii_fallback(name)
                .rsplit_once('.')
                .map(|(_, e)| e.to_owned())
        };
        assert_eq!(shown("résumé.pdf").as_deref(), Some("pdf"));
        assert_eq!(
            shown("invoice.pdf.ехе"),
            None,
            "a Cyrillic extension shows none"
        );
        assert_eq!(shown("notes.txť"), None);
        assert_eq!(shown("a.tar.gz").as_deref(), Some("gz"));
        let evil = content_disposition("a\";\r\nSet-Cookie: x=1;.txt");
        assert!(!evil.contains('\r') && !evil.contains('\n'));
        assert_eq!(evil.matches('"').count(), 2, "{evil}");
        assert!(evil.contains("filename*=UTF-8''a%22%3B%0D%0ASet-Cookie%3A%20x%3D1%3B.txt"));
    }
}
