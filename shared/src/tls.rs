//! Which certificate authorities the SDK clients trust, decided once at cold start.
//!
//! By default only the roots of Amazon Trust Services (`certs/aws-roots.pem`): AWS's service
//! endpoints (DynamoDB, S3, SQS, EventBridge, STS, Cognito) present certificates that chain to
//! them. Trusting the machine's whole store instead made every cold start read and parse
//! every file of `/etc/ssl/certs` (17 M of its 21 M instructions of TLS setup, once for each
//! SDK client: docs/performance.md), for roots no AWS endpoint uses.
//!
//! `AWS_CA_BUNDLE` (the name the AWS CLI and other SDKs read) replaces them with the PEM
//! certificates of that file: an endpoint of one's own behind TLS (`make bench` puts one in
//! front of moto), or a proxy that inspects TLS. A file that cannot be read, or holds no
//! certificate, or one that is not valid, fails the cold start with its reason instead of
//! failing every request later.

use aws_smithy_http_client::tls::{TlsContext, TrustStore};
use rustls::pki_types::{pem::PemObject, CertificateDer};

/// Amazon Root CA 1 to 4 and Starfield Services Root Certificate Authority - G2.
pub const AWS_ROOTS: &[u8] = include_bytes!("../certs/aws-roots.pem");

pub const CA_BUNDLE: &str = "AWS_CA_BUNDLE";

/// The TLS settings of every SDK client: the roots above, or those of `AWS_CA_BUNDLE`.
pub fn context(get: impl Fn(&str) -> Option<String>) -> Result<TlsContext, String> {
    let pem = match get(CA_BUNDLE).filter(|p| !p.trim().is_empty()) {
        Some(path) => {
            let pem = std::fs::read(&path).map_err(|e| format!("{CA_BUNDLE}={path}: {e}"))?;
            let count = checked(&pem).map_err(|e| format!("{CA_BUNDLE}={path}: {e}"))?;
            tracing::info!(bundle = %path, certificates = count, "trusting {CA_BUNDLE}");
            pem
        }
        None => AWS_ROOTS.to_vec(),
    };
    TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(pem))
        .build()
        .map_err(|e| e.to_string())
}

/// How many certificates a PEM bundle holds, each one a valid trust anchor (the SDK would
/// otherwise panic on the first request that builds its connector).
fn checked(pem: &[u8]) -> Result<usize, String> {
    let mut roots = rustls::RootCertStore::empty();
    for (n, cert) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let cert = cert.map_err(|e| format!("certificate {} is not PEM: {e}", n + 1))?;
        roots
            .add(cert)
            .map_err(|e| format!("certificate {} is not a valid root: {e}", n + 1))?;
    }
    match roots.len() {
        0 => Err("no certificate in the file".into()),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// SHA-256 fingerprints as Amazon Trust Services publishes them (amazontrust.com/repository).
    const PUBLISHED: [&str; 5] = [
        "8ECDE6884F3D87B1125BA31AC3FCB13D7016DE7F57CC904FE1CB97C6AE98196E", // Amazon Root CA 1
        "1BA5B2AA8C65401A82960118F80BEC4F62304D83CEC4713A19C39C011EA46DB4", // Amazon Root CA 2
        "18CE6CFE7BF14E60B2E347B8DFE868CB31D02EBB3ADA271569F50343B46DB3A4", // Amazon Root CA 3
        "E35D28419ED02025CFA69038CD623962458DA5C695FBDEA3C22B0BFB25897092", // Amazon Root CA 4
        "568D6905A2C88708A4B3025190EDCFEDB1974A606A13C6E5290FCB2AE63EDAB5", // Starfield Services G2
    ];

    fn fingerprints(pem: &[u8]) -> Vec<String> {
        CertificateDer::pem_slice_iter(pem)
            .map(|c| {
                Sha256::digest(c.unwrap().as_ref())
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_built_in_roots_are_exactly_amazon_trust_services() {
        assert_eq!(fingerprints(AWS_ROOTS), PUBLISHED);
        assert_eq!(checked(AWS_ROOTS), Ok(5));
    }

    #[test]
    fn a_bundle_replaces_the_built_in_roots_and_a_bad_one_fails_the_cold_start() {
        let dir = std::env::temp_dir().join(format!("tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("one.pem");
        // One of the five alone: a bundle of one's own.
        let first: Vec<u8> = String::from_utf8_lossy(AWS_ROOTS)
            .split_inclusive("-----END CERTIFICATE-----\n")
            .next()
            .unwrap()
            .as_bytes()
            .to_vec();
        std::fs::write(&good, &first).unwrap();
        assert_eq!(checked(&first), Ok(1));
        let path = good.to_string_lossy().into_owned();
        assert!(context(|k| (k == CA_BUNDLE).then(|| path.clone())).is_ok());

        let missing = dir.join("missing.pem").to_string_lossy().into_owned();
        let err = context(|k| (k == CA_BUNDLE).then(|| missing.clone())).unwrap_err();
        assert!(err.starts_with("AWS_CA_BUNDLE="), "{err}");

        let empty = dir.join("empty.pem");
        std::fs::write(&empty, b"not a certificate\n").unwrap();
        let empty = empty.to_string_lossy().into_owned();
        let err = context(|k| (k == CA_BUNDLE).then(|| empty.clone())).unwrap_err();
        assert!(err.ends_with("no certificate in the file"), "{err}");

        let broken = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(checked(broken).unwrap_err().contains("not a valid root"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
