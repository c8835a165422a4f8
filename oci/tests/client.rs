//! The registry client against a real registry: Debian's docker-registry
//! (CNCF distribution 2.8), started per test with TLS and basic auth, and
//! clients nobody here wrote (skopeo, curl) reading what it pushed.

use std::process::Command;

use galette_oci::media_types::{BUNDLE_MANIFEST, LIBRARY, OCI_INDEX, OCI_MANIFEST, SIGNATURE, XDP_OBJECT};
use galette_oci::{ClientOptions, Digest, OciError, RegistryClient};
use galette_test_servers::{Registry, RegistryOptions};
use serde_json::json;

// The bundle layout's own media types, so that these tests show the
// registry accepts them.
const CONFIG_TYPE: &str = BUNDLE_MANIFEST;
const XDP_TYPE: &str = XDP_OBJECT;
const LIB_TYPE: &str = LIBRARY;

fn options(registry: &Registry) -> ClientOptions {
    ClientOptions {
        ca_file: Some(registry.ca_file().to_owned()),
        credentials: registry.credentials(),
        docker_config: Some(empty_docker_config()),
        ..ClientOptions::default()
    }
}

/// A docker config without credentials, so that the machine's own
/// ~/.docker/config.json plays no part.
fn empty_docker_config() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("galette-oci-test-{}-config.json", std::process::id()));
    std::fs::write(&path, r#"{"auths": {}}"#).unwrap();
    path
}

fn client(registry: &Registry) -> RegistryClient {
    RegistryClient::new(&registry.address(), &options(registry)).expect("a client")
}

fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    json!({"mediaType": media_type, "digest": Digest::of(bytes).to_string(), "size": bytes.len()})
}

/// Pushes a config and layers (skipping blobs already there) and an OCI
/// image manifest over them under `tag`; returns the manifest's bytes.
fn push_artifact(client: &mut RegistryClient, repository: &str, tag: &str, layers: &[(&str, &[u8])]) -> Vec<u8> {
    let config = br#"{"galette":"bundle"}"#;
    for bytes in std::iter::once(&config[..]).chain(layers.iter().map(|(_, bytes)| *bytes)) {
        let digest = Digest::of(bytes);
        if !client.blob_exists(repository, &digest).unwrap() {
            client.push_blob(repository, &digest, bytes).unwrap();
        }
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(CONFIG_TYPE, config),
        "layers": layers.iter().map(|(media_type, bytes)| descriptor(media_type, bytes)).collect::<Vec<_>>(),
        "annotations": {"org.opencontainers.image.title": "galette test"},
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = client.push_manifest(repository, tag, OCI_MANIFEST, &bytes).unwrap();
    assert_eq!(digest, Digest::of(&bytes));
    bytes
}

#[test]
fn a_blob_pushed_twice_is_uploaded_once_and_pulled_verified() {
    let registry = Registry::start(RegistryOptions::default());
    let mut client = client(&registry);
    let blob = b"an eBPF object, say".repeat(1000);
    let digest = Digest::of(&blob);
    for _ in 0..2 {
        if !client.blob_exists("fleet/chain", &digest).unwrap() {
            client.push_blob("fleet/chain", &digest, &blob).unwrap();
        }
    }
    assert_eq!(registry.requests("PUT", "/blobs/uploads/"), 1, "one upload:\n{}", registry.log());
    let stats = client.stats();
    assert_eq!((stats.blobs_uploaded, stats.blob_bytes_uploaded, stats.blobs_already_there), (1, blob.len() as u64, 1));

    let mut pulled = Vec::new();
    assert_eq!(client.pull_blob("fleet/chain", &digest, &mut pulled).unwrap(), blob.len() as u64);
    assert_eq!(pulled, blob);
    assert_eq!(client.stats().bytes_downloaded, blob.len() as u64);

    let missing = Digest::of(b"never pushed");
    let error = client.pull_blob("fleet/chain", &missing, &mut Vec::new()).unwrap_err();
    assert!(matches!(error, OciError::NotFound { .. }), "{error}");
    assert!(error.to_string().contains(&missing.to_string()), "{error}");

    // The registry's storage edited behind its back: the bytes it serves no
    // longer have the digest they are served under.
    std::fs::write(registry.blob_file(digest.hex()), b"tampered").unwrap();
    let error = client.pull_blob("fleet/chain", &digest, &mut Vec::new()).unwrap_err();
    match &error {
        OciError::DigestMismatch { expected, found, .. } => {
            assert_eq!(expected, &digest);
            assert_eq!(found, &Digest::of(b"tampered"));
        }
        other => panic!("expected a digest mismatch, got {other}"),
    }
    assert!(error.to_string().contains("fleet/chain"), "{error}");

    let error = client.push_blob("fleet/chain", &digest, b"other bytes").unwrap_err();
    assert!(matches!(error, OciError::DigestMismatch { .. }), "the client checks what it is given: {error}");
}

#[test]
fn manifests_and_an_index_with_galette_media_types_push_and_pull_by_tag_and_digest() {
    let registry = Registry::start(RegistryOptions::default());
    let mut client = client(&registry);
    let repository = "fleet/chain";
    let x86 = push_artifact(&mut client, repository, "v1-x86_64", &[(XDP_TYPE, b"xdp"), (LIB_TYPE, b"lib x86_64")]);
    let arm = push_artifact(&mut client, repository, "v1-aarch64", &[(XDP_TYPE, b"xdp"), (LIB_TYPE, b"lib aarch64")]);

    let pulled = client.pull_manifest(repository, "v1-x86_64").unwrap();
    assert_eq!((pulled.media_type.as_str(), &pulled.bytes, &pulled.digest), (OCI_MANIFEST, &x86, &Digest::of(&x86)));
    let by_digest = client.pull_manifest(repository, &Digest::of(&arm).to_string()).unwrap();
    assert_eq!(by_digest.bytes, arm);

    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": Digest::of(&x86).to_string(), "size": x86.len(),
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": Digest::of(&arm).to_string(), "size": arm.len(),
             "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    }))
    .unwrap();
    let index_digest = client.push_manifest(repository, "v1", OCI_INDEX, &index).unwrap();
    let pulled = client.pull_manifest(repository, "v1").unwrap();
    assert_eq!((pulled.media_type.as_str(), &pulled.bytes, pulled.digest), (OCI_INDEX, &index, index_digest.clone()));
    let pulled = client.pull_manifest(repository, &index_digest.to_string()).unwrap();
    assert_eq!(pulled.bytes, index);

    let mut tags = client.tags(repository).unwrap();
    tags.sort();
    assert_eq!(tags, ["v1", "v1-aarch64", "v1-x86_64"]);

    let error = client.pull_manifest(repository, "v2").unwrap_err();
    assert!(matches!(error, OciError::NotFound { .. }), "{error}");
    assert!(error.to_string().contains("manifest v2 in repository fleet/chain"), "{error}");
    let error = client.tags("fleet/nothing").unwrap_err();
    assert!(matches!(error, OciError::NotFound { .. }), "{error}");

    // A manifest over a blob the registry lacks is refused by the registry.
    let dangling = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": descriptor(CONFIG_TYPE, b"{}"), "layers": [],
    }))
    .unwrap();
    let error = client.push_manifest(repository, "dangling", OCI_MANIFEST, &dangling).unwrap_err();
    assert!(matches!(error, OciError::Http { status: 400, .. }), "{error}");
    assert!(error.to_string().contains("MANIFEST_BLOB_UNKNOWN"), "{error}");
}

#[test]
fn a_wrong_password_is_unauthorized_with_a_hint() {
    let registry = Registry::start(RegistryOptions::default());
    let mut wrong = options(&registry);
    wrong.credentials = Some(("galette".to_owned(), "wrong".to_owned()));
    let mut client = RegistryClient::new(&registry.address(), &wrong).unwrap();
    let error = client.blob_exists("fleet/chain", &Digest::of(b"x")).unwrap_err();
    assert!(matches!(error, OciError::Unauthorized { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains(&registry.address()) && text.contains("fleet/chain") && text.contains("galette"), "{text}");
    assert!(text.contains("docker login"), "{text}");

    let mut anonymous = options(&registry);
    anonymous.credentials = None;
    let error = RegistryClient::new(&registry.address(), &anonymous).unwrap().tags("fleet/chain").unwrap_err();
    assert!(error.to_string().contains(galette_oci::LOGIN_HINT), "{error}");
}

#[test]
fn credentials_come_from_a_docker_config_file() {
    let registry = Registry::start(RegistryOptions::default());
    let (user, password) = registry.credentials().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    for key in [registry.address(), format!("https://{}", registry.address())] {
        std::fs::write(&config, json!({"auths": {key: {"auth": auth}}}).to_string()).unwrap();
        let options = ClientOptions { credentials: None, docker_config: Some(config.clone()), ..options(&registry) };
        let mut client = RegistryClient::new(&registry.address(), &options).unwrap();
        assert!(!client.blob_exists("fleet/chain", &Digest::of(b"x")).unwrap());
    }
}

#[test]
fn a_client_without_the_ca_fails_with_a_tls_error_naming_the_registry() {
    let registry = Registry::start(RegistryOptions::default());
    let options = ClientOptions { ca_file: None, ..options(&registry) };
    let error = RegistryClient::new(&registry.address(), &options).unwrap().tags("fleet/chain").unwrap_err();
    assert!(matches!(error, OciError::Tls { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains(&registry.address()) && text.contains("--ca FILE"), "{text}");
}

#[test]
fn plain_http_only_when_asked_for() {
    let registry = Registry::start(RegistryOptions { tls: false, basic_auth: false });
    let plain =
        ClientOptions { plain_http: true, docker_config: Some(empty_docker_config()), ..ClientOptions::default() };
    let mut client = RegistryClient::new(&registry.address(), &plain).unwrap();
    let manifest = push_artifact(&mut client, "fleet/chain", "v1", &[(XDP_TYPE, b"xdp")]);
    assert_eq!(client.pull_manifest("fleet/chain", "v1").unwrap().bytes, manifest);

    let https = ClientOptions { plain_http: false, ..plain.clone() };
    let error = RegistryClient::new(&registry.address(), &https).unwrap().tags("fleet/chain").unwrap_err();
    assert!(matches!(error, OciError::Tls { .. }), "{error:?}");
    assert!(error.to_string().contains("--plain-http"), "{error}");

    let tls_registry = Registry::start(RegistryOptions::default());
    let error = RegistryClient::new(&tls_registry.address(), &plain).unwrap().tags("fleet/chain").unwrap_err();
    assert!(matches!(error, OciError::Http { status: 400, .. }), "{error:?}");
    assert!(error.to_string().contains("serves HTTPS"), "{error}");
}

#[test]
fn skopeo_and_curl_read_what_was_pushed() {
    let registry = Registry::start(RegistryOptions::default());
    let mut client = client(&registry);
    let layer = b"the eBPF object".as_slice();
    let manifest = push_artifact(&mut client, "fleet/chain", "v1", &[(XDP_TYPE, layer)]);
    let (user, password) = registry.credentials().unwrap();

    let output = Command::new("skopeo")
        .args(["inspect", "--raw", "--creds", &format!("{user}:{password}"), "--cert-dir"])
        .arg(registry.cert_dir())
        .arg(format!("docker://{}/fleet/chain:v1", registry.address()))
        .output()
        .expect("running skopeo");
    assert!(output.status.success(), "skopeo: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.stdout, manifest, "skopeo reads the manifest's exact bytes");

    let output = Command::new("skopeo")
        .args(["list-tags", "--creds", &format!("{user}:{password}"), "--cert-dir"])
        .arg(registry.cert_dir())
        .arg(format!("docker://{}/fleet/chain", registry.address()))
        .output()
        .expect("running skopeo");
    assert!(output.status.success(), "skopeo: {}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("\"v1\""));

    let output = Command::new("curl")
        .args(["-sSf", "-u", &format!("{user}:{password}"), "--cacert"])
        .arg(registry.ca_file())
        .arg(format!("{}/v2/fleet/chain/blobs/{}", registry.url(), Digest::of(layer)))
        .output()
        .expect("running curl");
    assert!(output.status.success(), "curl: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.stdout, layer);
}

/// What distribution 2.8 (OCI distribution spec 1.0) makes of OCI 1.1:
/// it stores `subject` and `artifactType` untouched but has no referrers
/// API, so referrers must use the spec's fallback, an index tagged
/// `sha256-<hex of the subject>`; the short-lived artifact manifest type
/// (1.1 release candidates) is refused.
#[test]
fn oci_1_1_fields_on_distribution_2_8() {
    let registry = Registry::start(RegistryOptions::default());
    let mut client = client(&registry);
    let repository = "fleet/chain";
    let bundle = push_artifact(&mut client, repository, "v1", &[(XDP_TYPE, b"xdp")]);
    let bundle_digest = Digest::of(&bundle);
    let empty = b"{}";
    let signature = b"an ed25519 signature";
    for bytes in [&empty[..], &signature[..]] {
        client.push_blob(repository, &Digest::of(bytes), bytes).unwrap();
    }
    let subject = json!({"mediaType": OCI_MANIFEST, "digest": bundle_digest.to_string(), "size": bundle.len()});
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.galette.signature.v1",
        "config": descriptor("application/vnd.oci.empty.v1+json", empty),
        "layers": [descriptor("application/vnd.galette.signature.v1+ed25519", signature)],
        "subject": subject,
    }))
    .unwrap();
    let referrer_digest = Digest::of(&referrer);
    assert_eq!(
        client.push_manifest(repository, &referrer_digest.to_string(), OCI_MANIFEST, &referrer).unwrap(),
        referrer_digest
    );
    assert_eq!(client.pull_manifest(repository, &referrer_digest.to_string()).unwrap().bytes, referrer, "kept as is");

    assert_eq!(client.referrers(repository, &bundle_digest).unwrap(), None, "distribution 2.8 has no referrers API");
    let fallback = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": referrer_digest.to_string(), "size": referrer.len(),
                       "artifactType": "application/vnd.galette.signature.v1"}],
    }))
    .unwrap();
    let tag = format!("sha256-{}", bundle_digest.hex());
    client.push_manifest(repository, &tag, OCI_INDEX, &fallback).unwrap();
    assert_eq!(client.pull_manifest(repository, &tag).unwrap().bytes, fallback);

    // The layout's signature scheme (cosign's tag, `sha256-<hex>.sig`, with
    // the signature document as the config) needs nothing beyond tags.
    let document = br#"{"signature":"..."}"#;
    client.push_blob(repository, &Digest::of(document), document).unwrap();
    let signed = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": descriptor(SIGNATURE, document), "layers": [],
    }))
    .unwrap();
    let tag = galette_oci::media_types::signature_tag(&bundle_digest);
    client.push_manifest(repository, &tag, OCI_MANIFEST, &signed).unwrap();
    assert_eq!(client.pull_manifest(repository, &tag).unwrap().bytes, signed);

    let artifact_type = "application/vnd.oci.artifact.manifest.v1+json";
    let artifact = serde_json::to_vec(&json!({
        "mediaType": artifact_type,
        "artifactType": "application/vnd.galette.signature.v1",
        "blobs": [descriptor("application/vnd.galette.signature.v1+ed25519", signature)],
        "subject": subject,
    }))
    .unwrap();
    let error = client.push_manifest(repository, "artifact", artifact_type, &artifact).unwrap_err();
    assert!(error.to_string().contains("MANIFEST_INVALID"), "{error}");
}

/// The `Bearer` flow of Docker Hub, Harbor and GitLab: the registry sends
/// the client to a token service, the token is kept for the repository.
#[test]
fn a_token_service_is_followed_and_its_token_reused() {
    let registry = Registry::start_with_token_service();
    let mut client = client(&registry);
    let manifest = push_artifact(&mut client, "fleet/chain", "v1", &[(XDP_TYPE, b"xdp"), (LIB_TYPE, b"lib")]);
    let after_push = registry.token_requests();
    // A token for pull (HEAD) and one for pull,push (the first POST).
    assert!(after_push <= 2, "tokens are reused, not fetched per request: {after_push}");
    assert_eq!(client.pull_manifest("fleet/chain", "v1").unwrap().bytes, manifest);
    let mut blob = Vec::new();
    client.pull_blob("fleet/chain", &Digest::of(b"lib"), &mut blob).unwrap();
    assert_eq!(blob, b"lib");
    assert_eq!(client.tags("fleet/chain").unwrap(), ["v1"]);
    assert_eq!(registry.token_requests(), after_push, "the repository's token serves pulls too");

    let wrong = ClientOptions { credentials: Some(("galette".to_owned(), "wrong".to_owned())), ..options(&registry) };
    let error = RegistryClient::new(&registry.address(), &wrong).unwrap().tags("fleet/chain").unwrap_err();
    assert!(matches!(error, OciError::Unauthorized { .. }), "{error}");
}

/// Registries on object storage (S3, GCS, a CDN) answer a blob download
/// with a redirect; the client follows it and still checks the digest.
#[test]
fn blob_downloads_follow_redirects() {
    let registry = Registry::start_with_blob_redirects();
    let mut client = client(&registry);
    let layer = b"an eBPF object behind a redirect".as_slice();
    let manifest = push_artifact(&mut client, "fleet/chain", "v1", &[(XDP_TYPE, layer)]);
    let before = registry.blob_store_requests();
    let mut pulled = Vec::new();
    client.pull_blob("fleet/chain", &Digest::of(layer), &mut pulled).unwrap();
    assert_eq!(pulled, layer);
    assert!(registry.blob_store_requests() > before, "the blob came from the store:\n{}", registry.log());
    assert_eq!(client.pull_manifest("fleet/chain", "v1").unwrap().bytes, manifest);

    std::fs::write(registry.blob_file(Digest::of(layer).hex()), b"tampered in the store").unwrap();
    let error = client.pull_blob("fleet/chain", &Digest::of(layer), &mut Vec::new()).unwrap_err();
    assert!(matches!(error, OciError::DigestMismatch { .. }), "{error}");
}
