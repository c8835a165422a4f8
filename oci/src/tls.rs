//! Which certificate authorities a registry's certificate may chain to:
//! the system's roots (as curl, docker and skopeo trust them) plus the CA
//! file the user gave for a registry with a private CA. Adding rather than
//! replacing keeps one `--ca` usable for a private registry whose token
//! service has a public certificate.

use std::path::Path;
use std::sync::Arc;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::OciError;

pub(crate) fn config(ca_file: Option<&Path>) -> Result<TlsConfig, OciError> {
    let mut roots: Vec<Certificate<'static>> = Vec::new();
    // Unreadable system certificates are skipped, not fatal: one broken file
    // in /etc/ssl/certs must not stop a registry reached with --ca.
    for cert in rustls_native_certs::load_native_certs().certs {
        roots.push(Certificate::from_der(cert.as_ref()).to_owned());
    }
    let system_roots = roots.len();
    if let Some(path) = ca_file {
        roots.extend(read_ca_file(path)?);
    }
    let root_certs = if system_roots == 0 && ca_file.is_none() {
        // No system store at all (a minimal container): Mozilla's roots, as
        // ureq would use by default, rather than trusting nothing.
        RootCerts::WebPki
    } else {
        RootCerts::Specific(Arc::new(roots))
    };
    Ok(TlsConfig::builder().root_certs(root_certs).build())
}

fn read_ca_file(path: &Path) -> Result<Vec<Certificate<'static>>, OciError> {
    let bad = |reason: String| OciError::BadCa { path: path.to_owned(), reason };
    let pem = std::fs::read(path).map_err(|error| bad(error.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        // A key next to the certificate is not a CA, but harmless: skipped.
        if let PemItem::Certificate(cert) = item.map_err(|error| bad(error.to_string()))? {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err(bad("it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let error = config(Some(&path)).unwrap_err().to_string();
        assert!(error.contains("no PEM certificate") && error.contains("ca.pem"), "{error}");
        let error = config(Some(&dir.path().join("missing.pem"))).unwrap_err().to_string();
        assert!(error.contains("missing.pem"), "{error}");
    }
}
