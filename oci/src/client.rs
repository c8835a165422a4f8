//! A synchronous client for the OCI distribution API, one registry at a
//! time: blobs up and down (each checked against its digest), manifests by
//! tag or digest, tags. Enough to publish and fetch bundles in any
//! registry (CNCF distribution, Harbor, zot, the cloud registries).

mod http;

use std::io::Read;
use std::path::PathBuf;

use crate::auth::{self, Credentials};
use crate::media_types::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use crate::reference::{validate_registry, validate_repository, validate_tag};
use crate::{Digest, DigestWriter, OciError};

use self::http::{Call, Transport};

/// Registries must accept manifests of at least 4 MiB (distribution spec);
/// a bigger answer is not a manifest.
const MANIFEST_LIMIT: u64 = 4 << 20;
const MAX_TAG_PAGES: usize = 1000;

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// PEM certificate(s) of a CA to trust, in addition to the system's roots
    /// (which are always trusted, as curl and docker do).
    pub ca_file: Option<PathBuf>,
    /// Speak plain HTTP. Never a fallback: only when asked for.
    pub plain_http: bool,
    /// The docker config file holding credentials; default
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, if present.
    pub docker_config: Option<PathBuf>,
    /// A user and password; they override the config file.
    pub credentials: Option<(String, String)>,
}

/// What a client has moved, to show that unchanged layers are not.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferStats {
    /// HTTP requests sent, including authentication round trips.
    pub requests: u64,
    pub blobs_uploaded: u64,
    pub blob_bytes_uploaded: u64,
    /// Blobs `blob_exists` found already in the registry.
    pub blobs_already_there: u64,
    /// Bytes of blobs and manifests received.
    pub bytes_downloaded: u64,
}

/// A manifest as the registry served it: its bytes are what the digest is
/// over, so they are kept as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledManifest {
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub digest: Digest,
}

/// A client for one registry. It remembers how the registry authenticates
/// (and a bearer token per repository) so that later requests do not pay
/// the anonymous round trip again.
pub struct RegistryClient {
    registry: String,
    base: String,
    transport: Transport,
    stats: TransferStats,
}

impl RegistryClient {
    /// A client for `registry` (`host[:port]`). Reads the CA file and the
    /// credentials now, so that a bad file is reported before any transfer.
    pub fn new(registry: &str, options: &ClientOptions) -> Result<RegistryClient, OciError> {
        validate_registry(registry)
            .map_err(|reason| OciError::InvalidReference { text: registry.to_owned(), reason })?;
        // Docker Hub's API lives on another host than its name.
        let host = if registry == "docker.io" { "registry-1.docker.io" } else { registry };
        let scheme = if options.plain_http { "http" } else { "https" };
        let credentials = match &options.credentials {
            Some((user, password)) => Some(Credentials {
                user: user.clone(),
                password: password.clone(),
                source: "the given user and password".to_owned(),
            }),
            None => find_credentials(registry, options)?,
        };
        let tls = crate::tls::config(options.ca_file.as_deref())?;
        Ok(RegistryClient {
            registry: registry.to_owned(),
            base: format!("{scheme}://{host}"),
            transport: Transport::new(registry, tls, credentials, options.plain_http),
            stats: TransferStats::default(),
        })
    }

    /// The registry this client talks to.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Whether the registry has the blob (`HEAD`); a blob found counts in
    /// `blobs_already_there`.
    pub fn blob_exists(&mut self, repository: &str, digest: &Digest) -> Result<bool, OciError> {
        validate(repository)?;
        let call = Call::new("HEAD", self.url(repository, &format!("blobs/{digest}")), repository, "pull")
            .what(format!("blob {digest}"));
        let response = self.send(&call)?;
        match response.status().as_u16() {
            200 => {
                self.stats.blobs_already_there += 1;
                Ok(true)
            }
            404 => Ok(false),
            _ => Err(self.transport.status_error(&call, response)),
        }
    }

    /// Uploads a blob in one piece: `POST` opens an upload session, `PUT` to
    /// its location with `?digest=` completes it. The caller checks
    /// `blob_exists` first to skip blobs the registry has.
    pub fn push_blob(&mut self, repository: &str, digest: &Digest, bytes: &[u8]) -> Result<(), OciError> {
        validate(repository)?;
        let found = Digest::of(bytes);
        if found != *digest {
            return Err(OciError::DigestMismatch {
                what: "the blob to upload".to_owned(),
                expected: digest.clone(),
                found,
            });
        }
        let start = Call::new("POST", self.url(repository, "blobs/uploads/"), repository, "push")
            .what(format!("repository {repository}"))
            .body(&[]);
        let response = self.send(&start)?;
        if response.status().as_u16() != 202 {
            return Err(self.transport.status_error(&start, response));
        }
        let location = http::header(&response, "location").ok_or_else(|| OciError::BadResponse {
            method: "POST".to_owned(),
            url: start.url.clone(),
            reason: "the registry opened an upload without a Location header".to_owned(),
        })?;
        let mut url = self.resolve(&location, &start)?;
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={}", http::percent_encode(&digest.to_string())));
        let finish = Call::new("PUT", url, repository, "push")
            .what(format!("upload of blob {digest}"))
            .header("content-type", "application/octet-stream")
            .body(bytes);
        let response = self.send(&finish)?;
        if response.status().as_u16() != 201 {
            return Err(self.transport.status_error(&finish, response));
        }
        check_registry_digest(&response, digest, &format!("blob {digest} as stored by registry {}", self.registry))?;
        self.stats.blobs_uploaded += 1;
        self.stats.blob_bytes_uploaded += bytes.len() as u64;
        Ok(())
    }

    /// Puts a manifest under `reference` (a tag, or its own digest) and
    /// returns its digest. The blobs it references must be there already.
    pub fn push_manifest(
        &mut self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, OciError> {
        validate(repository)?;
        let digest = Digest::of(bytes);
        check_reference(reference, &digest, "the manifest to push")?;
        let call = Call::new("PUT", self.url(repository, &format!("manifests/{reference}")), repository, "push")
            .what(format!("repository {repository} on registry {}", self.registry))
            .header("content-type", media_type)
            .body(bytes);
        let response = self.send(&call)?;
        if response.status().as_u16() != 201 {
            return Err(self.transport.status_error(&call, response));
        }
        check_registry_digest(
            &response,
            &digest,
            &format!("manifest {reference} as stored by registry {}", self.registry),
        )?;
        Ok(digest)
    }

    /// Fetches a manifest or index by tag or digest. A digest reference is
    /// checked against the bytes; so is the registry's Docker-Content-Digest.
    pub fn pull_manifest(&mut self, repository: &str, reference: &str) -> Result<PulledManifest, OciError> {
        validate(repository)?;
        let expected = manifest_reference(reference)?;
        let what = format!("manifest {reference} in repository {repository} on registry {}", self.registry);
        let call = Call::new("GET", self.url(repository, &format!("manifests/{reference}")), repository, "pull")
            .what(what.clone())
            .header("accept", &[OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST].join(", "));
        let mut response = self.send(&call)?;
        if response.status().as_u16() != 200 {
            return Err(self.transport.status_error(&call, response));
        }
        let header_type = http::header(&response, "content-type");
        let header_digest = http::header(&response, "docker-content-digest");
        let bytes = response.body_mut().with_config().limit(MANIFEST_LIMIT).read_to_vec().map_err(|error| {
            OciError::BadResponse {
                method: "GET".to_owned(),
                url: call.url.clone(),
                reason: format!("reading the manifest: {error} (a manifest is at most 4 MiB)"),
            }
        })?;
        self.stats.bytes_downloaded += bytes.len() as u64;
        let digest = Digest::of(&bytes);
        if let Some(expected) = expected {
            if digest != expected {
                return Err(OciError::DigestMismatch { what, expected, found: digest });
            }
        } else if let Some(claimed) = header_digest.as_deref().and_then(|text| Digest::parse(text).ok())
            && claimed != digest
        {
            return Err(OciError::DigestMismatch { what, expected: claimed, found: digest });
        }
        let media_type = media_type_of(header_type.as_deref(), &bytes);
        Ok(PulledManifest { media_type, bytes, digest })
    }

    /// Streams a blob into `out`, checking its digest on the way; returns its
    /// size. On `DigestMismatch` the caller must discard what was written
    /// (write to a temporary file, rename on success). Redirects (to a CDN
    /// or object store) are followed, without the registry's credentials.
    pub fn pull_blob(
        &mut self,
        repository: &str,
        digest: &Digest,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, OciError> {
        validate(repository)?;
        let what = format!("blob {digest} in repository {repository} on registry {}", self.registry);
        let call =
            Call::new("GET", self.url(repository, &format!("blobs/{digest}")), repository, "pull").what(what.clone());
        let mut response = self.send(&call)?;
        if response.status().as_u16() != 200 {
            return Err(self.transport.status_error(&call, response));
        }
        let mut reader = response.body_mut().as_reader();
        let mut hasher = DigestWriter::default();
        let mut buffer = vec![0; 64 << 10];
        let mut size = 0u64;
        loop {
            let read = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    return Err(OciError::BadResponse {
                        method: "GET".to_owned(),
                        url: call.url.clone(),
                        reason: format!("reading the blob after {size} bytes: {error}"),
                    });
                }
            };
            hasher.update(&buffer[..read]);
            out.write_all(&buffer[..read]).map_err(|source| OciError::Write { what: what.clone(), source })?;
            size += read as u64;
            self.stats.bytes_downloaded += read as u64;
        }
        out.flush().map_err(|source| OciError::Write { what: what.clone(), source })?;
        let found = hasher.finish();
        if found != *digest {
            return Err(OciError::DigestMismatch { what, expected: digest.clone(), found });
        }
        Ok(size)
    }

    /// The OCI 1.1 referrers of `digest` (an image index of the manifests
    /// whose `subject` it is), or None if the registry has no referrers API
    /// (distribution 2.8 and other OCI 1.0 registries): then referrers are
    /// found under the fallback tag `sha256-<hex>`.
    pub fn referrers(&mut self, repository: &str, digest: &Digest) -> Result<Option<PulledManifest>, OciError> {
        validate(repository)?;
        let call = Call::new("GET", self.url(repository, &format!("referrers/{digest}")), repository, "pull")
            .what(format!("referrers of {digest} in repository {repository} on registry {}", self.registry))
            .header("accept", OCI_INDEX);
        let mut response = self.send(&call)?;
        match response.status().as_u16() {
            200 => {}
            // A registry with the API answers 200 with an empty index for a
            // digest nothing refers to; 404 means no API.
            404 => return Ok(None),
            _ => return Err(self.transport.status_error(&call, response)),
        }
        let header_type = http::header(&response, "content-type");
        let bytes = response.body_mut().with_config().limit(MANIFEST_LIMIT).read_to_vec().map_err(|error| {
            OciError::BadResponse {
                method: "GET".to_owned(),
                url: call.url.clone(),
                reason: format!("reading the referrers index: {error}"),
            }
        })?;
        self.stats.bytes_downloaded += bytes.len() as u64;
        let digest = Digest::of(&bytes);
        Ok(Some(PulledManifest { media_type: media_type_of(header_type.as_deref(), &bytes), bytes, digest }))
    }

    /// The repository's tags, following the registry's pagination.
    pub fn tags(&mut self, repository: &str) -> Result<Vec<String>, OciError> {
        validate(repository)?;
        #[derive(serde::Deserialize)]
        struct TagList {
            tags: Option<Vec<String>>,
        }
        let mut tags = Vec::new();
        let mut url = self.url(repository, "tags/list");
        for _ in 0..MAX_TAG_PAGES {
            let call = Call::new("GET", url, repository, "pull")
                .what(format!("repository {repository} on registry {}", self.registry));
            let mut response = self.send(&call)?;
            if response.status().as_u16() != 200 {
                return Err(self.transport.status_error(&call, response));
            }
            let next = http::header(&response, "link").and_then(|link| next_link(&link));
            let body = response.body_mut().with_config().limit(MANIFEST_LIMIT).read_to_vec().unwrap_or_default();
            self.stats.bytes_downloaded += body.len() as u64;
            let list: TagList = serde_json::from_slice(&body).map_err(|error| OciError::BadResponse {
                method: "GET".to_owned(),
                url: call.url.clone(),
                reason: format!("the tag list is not JSON: {error}"),
            })?;
            tags.extend(list.tags.unwrap_or_default());
            match next {
                Some(next) => url = self.resolve(&next, &call)?,
                None => return Ok(tags),
            }
        }
        Err(OciError::BadResponse {
            method: "GET".to_owned(),
            url: self.url(repository, "tags/list"),
            reason: format!("the tag list goes on for more than {MAX_TAG_PAGES} pages"),
        })
    }

    /// What this client has moved so far.
    pub fn stats(&self) -> TransferStats {
        TransferStats { requests: self.transport.requests(), ..self.stats }
    }

    fn send(&mut self, call: &Call<'_>) -> Result<ureq::http::Response<ureq::Body>, OciError> {
        self.transport.send(call)
    }

    fn url(&self, repository: &str, path: &str) -> String {
        format!("{}/v2/{repository}/{path}", self.base)
    }

    /// A Location or Link target: absolute, or a path on this registry.
    fn resolve(&self, location: &str, call: &Call<'_>) -> Result<String, OciError> {
        if location.starts_with("https://") || location.starts_with("http://") {
            Ok(location.to_owned())
        } else if location.starts_with('/') {
            Ok(format!("{}{location}", self.base))
        } else {
            Err(OciError::BadResponse {
                method: call.method.to_owned(),
                url: call.url.clone(),
                reason: format!("the registry answered with a location `{location}` that is neither a URL nor a path"),
            })
        }
    }
}

fn validate(repository: &str) -> Result<(), OciError> {
    validate_repository(repository).map_err(|reason| OciError::InvalidReference { text: repository.to_owned(), reason })
}

/// A manifest reference is a tag (None) or a digest (a tag has no `:`).
fn manifest_reference(reference: &str) -> Result<Option<Digest>, OciError> {
    let invalid = |reason| OciError::InvalidReference { text: reference.to_owned(), reason };
    if reference.contains(':') {
        return Digest::parse(reference).map(Some).map_err(invalid);
    }
    validate_tag(reference).map(|()| None).map_err(invalid)
}

/// A manifest is pushed under a tag or its own digest.
fn check_reference(reference: &str, digest: &Digest, what: &str) -> Result<(), OciError> {
    match manifest_reference(reference)? {
        Some(expected) if expected != *digest => {
            Err(OciError::DigestMismatch { what: what.to_owned(), expected, found: digest.clone() })
        }
        _ => Ok(()),
    }
}

fn check_registry_digest(
    response: &ureq::http::Response<ureq::Body>,
    digest: &Digest,
    what: &str,
) -> Result<(), OciError> {
    match http::header(response, "docker-content-digest").map(|text| Digest::parse(&text)) {
        Some(Ok(claimed)) if claimed != *digest => {
            Err(OciError::DigestMismatch { what: what.to_owned(), expected: digest.clone(), found: claimed })
        }
        // Absent, or another algorithm: nothing to compare.
        _ => Ok(()),
    }
}

/// The Content-Type without parameters; if the registry gave none useful,
/// the manifest's own `mediaType`.
fn media_type_of(header: Option<&str>, bytes: &[u8]) -> String {
    let header = header.map(|value| value.split(';').next().unwrap_or("").trim().to_owned());
    match header {
        Some(value) if !value.is_empty() && value != "application/octet-stream" && value != "application/json" => value,
        other => {
            #[derive(serde::Deserialize)]
            struct Typed {
                #[serde(rename = "mediaType")]
                media_type: Option<String>,
            }
            serde_json::from_slice::<Typed>(bytes).ok().and_then(|typed| typed.media_type).or(other).unwrap_or_default()
        }
    }
}

/// `</v2/x/tags/list?n=100&last=b>; rel="next"` → the target.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find(|part| part.contains("rel=\"next\"") || part.contains("rel=next")).and_then(|part| {
        let start = part.find('<')? + 1;
        let end = part.find('>')?;
        Some(part[start..end].to_owned())
    })
}

fn find_credentials(registry: &str, options: &ClientOptions) -> Result<Option<Credentials>, OciError> {
    let Some(path) = auth::docker_config_path(options.docker_config.as_deref()) else {
        return Ok(None);
    };
    let explicit = options.docker_config.is_some();
    let mut names = vec![registry];
    if registry == "docker.io" {
        names.extend(["index.docker.io", "registry-1.docker.io"]);
    }
    for name in names {
        if let Some(credentials) = auth::from_docker_config(&path, name, explicit)? {
            return Ok(Some(credentials));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_media_types() {
        assert_eq!(
            next_link(r#"</v2/x/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/x/tags/list?last=b&n=2")
        );
        assert_eq!(next_link(r#"<https://r/x>; rel="prev""#), None);
        assert_eq!(media_type_of(Some("application/vnd.oci.image.index.v1+json; charset=utf-8"), b"{}"), OCI_INDEX);
        assert_eq!(media_type_of(Some("application/json"), br#"{"mediaType":"x/y"}"#), "x/y");
        assert_eq!(media_type_of(None, b"{}"), "");
    }

    #[test]
    fn a_client_needs_a_registry_host() {
        for registry in ["bad host", "host:port", "", "a/b"] {
            let error = RegistryClient::new(registry, &ClientOptions::default()).err().unwrap();
            assert!(matches!(error, OciError::InvalidReference { .. }), "{registry}: {error}");
        }
    }

    #[test]
    fn references_are_tags_or_matching_digests() {
        let digest = Digest::of(b"m");
        assert!(check_reference("v1", &digest, "m").is_ok());
        assert!(check_reference(&digest.to_string(), &digest, "m").is_ok());
        assert!(matches!(
            check_reference(&Digest::of(b"n").to_string(), &digest, "m"),
            Err(OciError::DigestMismatch { .. })
        ));
        assert!(matches!(check_reference("../x", &digest, "m"), Err(OciError::InvalidReference { .. })));
        assert!(matches!(check_reference("sha512:00", &digest, "m"), Err(OciError::InvalidReference { .. })));
    }
}
