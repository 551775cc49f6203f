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

    /// A GET URL for 15 minutes that serves the object at `key` as a download named
    /// `filename`, and when it stops working.
    pub async fn download_object(
        &self,
        key: &str,
        filename: &str,
        content_type: &str,
    ) -> Result<(String, Timestamp), ApiError> {
        let ttl = Duration::from_secs(15 * 60);
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| ApiError::internal("presign config", e))?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(content_disposition(filename))
            .response_content_type(content_type)
            .presigned(config)
            .await
            .map_err(|e| ApiError::internal("presign download", e))?;
        let expires = chrono::Utc::now() + chrono::Duration::minutes(15);
        Ok((presigned.uri().to_owned(), Timestamp::at(expires)))
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

/// The smallest part S3 takes in a multipart upload, but the last.
const PART_BYTES: usize = 8 * 1024 * 1024;
const BLOCK: usize = 512;

/// A ustar header for a regular file of `size` bytes named `name` (at most 100 bytes, or a
/// prefix of up to 155 and a name of up to 100 split at a `/`).
pub fn tar_header(name: &str, size: u64, mtime: i64) -> Result<[u8; BLOCK], ApiError> {
    let (prefix, base) = if name.len() <= 100 {
        ("", name)
    } else {
        let cut = name[..name.len().min(156)]
            .rfind('/')
            .filter(|&i| name.len() - i - 1 <= 100)
            .ok_or_else(|| ApiError::Internal(format!("archive name too long: {name}")))?;
        (&name[..cut], &name[cut + 1..])
    };
    let mut h = [0u8; BLOCK];
    let mut put = |at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, base.as_bytes());
    put(100, b"0000644\0");
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{size:011o}\0").as_bytes());
    put(136, format!("{:011o}\0", mtime.max(0)).as_bytes());
    put(148, b"        ");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    put(345, prefix.as_bytes());
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    Ok(h)
}

/// A tar archive written to one object as it is made: entries are buffered into parts of a
/// multipart upload, so an archive of any size takes a part's memory.
pub struct Archive<'a> {
    files: &'a Files,
    key: String,
    upload_id: String,
    parts: Vec<aws_sdk_s3::types::CompletedPart>,
    buffer: Vec<u8>,
    pub bytes: u64,
}

impl<'a> Archive<'a> {
    pub async fn start(files: &'a Files, key: &str) -> Result<Archive<'a>, ApiError> {
        let out = files
            .client
            .create_multipart_upload()
            .bucket(&files.bucket)
            .key(key)
            .content_type("application/x-tar")
            .send()
            .await
            .map_err(|e| ApiError::internal("start archive", e.into_service_error()))?;
        Ok(Archive {
            files,
            key: key.to_owned(),
            upload_id: out.upload_id.unwrap_or_default(),
            parts: Vec::new(),
            buffer: Vec::with_capacity(PART_BYTES),
            bytes: 0,
        })
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), ApiError> {
        self.buffer.extend_from_slice(data);
        self.bytes += data.len() as u64;
        if self.buffer.len() >= PART_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ApiError> {
        let number = self.parts.len() as i32 + 1;
        let body = std::mem::take(&mut self.buffer);
        let out = self
            .files
            .client
            .upload_part()
            .bucket(&self.files.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .body(body.into())
            .send()
            .await
            .map_err(|e| ApiError::internal("archive part", e.into_service_error()))?;
        self.parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag)
                .build(),
        );
        Ok(())
    }

    async fn pad(&mut self, size: u64) -> Result<(), ApiError> {
        let rest = (BLOCK - (size as usize % BLOCK)) % BLOCK;
        self.write(&vec![0u8; rest]).await
    }

    /// Adds a file with these bytes.
    pub async fn add(&mut self, name: &str, data: &[u8], mtime: i64) -> Result<(), ApiError> {
        self.write(&tar_header(name, data.len() as u64, mtime)?)
            .await?;
        self.write(data).await?;
        self.pad(data.len() as u64).await
    }

    /// Adds the object under `source` as a file named `name`, streamed: what it holds is
    /// copied as it arrives. `false` when there is no such object.
    pub async fn add_object(
        &mut self,
        name: &str,
        source: &str,
        mtime: i64,
    ) -> Result<bool, ApiError> {
        let got = self
            .files
            .client
            .get_object()
            .bucket(&self.files.bucket)
            .key(source)
            .send()
            .await;
        let mut object = match got {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(false),
            Err(e) => return Err(ApiError::internal("read object", e.into_service_error())),
        };
        let size = object.content_length().unwrap_or(0).max(0) as u64;
        self.write(&tar_header(name, size, mtime)?).await?;
        let mut copied = 0u64;
        while let Some(chunk) = object
            .body
            .try_next()
            .await
            .map_err(|e| ApiError::internal("read object", e))?
        {
            copied += chunk.len() as u64;
            if copied > size {
                return Err(ApiError::Internal("object longer than it said".into()));
            }
            self.write(&chunk).await?;
        }
        if copied != size {
            return Err(ApiError::Internal("object shorter than it said".into()));
        }
        self.pad(size).await?;
        Ok(true)
    }

    /// Ends the archive (two zero blocks) and completes the object.
    pub async fn finish(mut self) -> Result<u64, ApiError> {
        self.write(&[0u8; 2 * BLOCK]).await?;
        self.flush().await?;
        let upload = aws_sdk_s3::types::CompletedMultipartUpload::builder()
            .set_parts(Some(std::mem::take(&mut self.parts)))
            .build();
        self.files
            .client
            .complete_multipart_upload()
            .bucket(&self.files.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(upload)
            .send()
            .await
            .map_err(|e| ApiError::internal("complete archive", e.into_service_error()))?;
        Ok(self.bytes)
    }

    /// Gives the archive up: the parts sent so far are discarded.
    pub async fn abort(self) {
        let aborted = self
            .files
            .client
            .abort_multipart_upload()
            .bucket(&self.files.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .send()
            .await;
        if let Err(e) = aborted {
            tracing::warn!(error = %e.into_service_error(), "archive upload not aborted: the bucket's lifecycle rule removes its parts");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tar_headers_are_ustar_with_their_checksum() {
        let h = super::tar_header("tickets/a.json", 5, 8).unwrap();
        assert_eq!(&h[..14], b"tickets/a.json");
        assert_eq!(&h[124..136], b"00000000005\0");
        assert_eq!(&h[257..265], b"ustar\x0000");
        let stored = u32::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        let mut blank = h;
        blank[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, blank.iter().map(|&b| u32::from(b)).sum::<u32>());
        // Longer names split at a '/' into prefix and name; a name that cannot is refused.
        let long = format!("files/{}/{}", "d".repeat(60), "n".repeat(90));
        let h = super::tar_header(&long, 0, 0).unwrap();
        assert_eq!(&h[345..351], b"files/");
        assert!(super::tar_header(&"x".repeat(101), 0, 0).is_err());
    }

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
