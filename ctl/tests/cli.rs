//! `galette-ctl` for real: the fleet key on disk, signing a bundle, and
//! publishing bundles to Debian's docker-registry (CNCF distribution) over
//! TLS with basic auth, read back by clients nobody here wrote (skopeo,
//! curl).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use galette_test_servers::{Registry, RegistryOptions};

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn galette_ctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_galette-ctl")).args(args).current_dir(project_root()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_success(output: &Output) -> String {
    assert!(output.status.success(), "{}{}", text(&output.stdout), text(&output.stderr));
    text(&output.stdout)
}

/// `chain` compiled into `dir/name` for `platforms`.
fn compile(chain: &str, dir: &Path, name: &str, platforms: &[galette_bundle::Platform]) -> PathBuf {
    let bundle = dir.join(name);
    let options = galettec::CompileOptions { platforms: platforms.to_vec(), ..galettec::CompileOptions::from_env() };
    galettec::compile_chain(&project_root().join(chain), &bundle, &options).unwrap();
    bundle
}

/// A fleet key pair in `dir`: (private, public).
fn key_pair(dir: &Path) -> (PathBuf, PathBuf) {
    assert_success(&galette_ctl(&["key", "init", "--dir", dir.to_str().unwrap()]));
    (dir.join("fleet.key"), dir.join("fleet.pub"))
}

/// The registry options of a command: its CA and credentials.
fn registry_args(registry: &Registry) -> Vec<String> {
    let (user, password) = registry.credentials().unwrap();
    vec!["--ca".into(), registry.ca_file().display().to_string(), "--user".into(), format!("{user}:{password}")]
}

fn push(registry: &Registry, bundle: &Path, reference: &str, key: Option<&Path>) -> Output {
    let mut args = vec!["push".to_owned(), bundle.display().to_string(), reference.to_owned()];
    if let Some(key) = key {
        args.extend(["--key".to_owned(), key.display().to_string()]);
    }
    args.extend(registry_args(registry));
    galette_ctl(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The number after `label` in `text` (`3 uploaded`).
fn number_before(text: &str, label: &str) -> u64 {
    let end = text.find(label).unwrap_or_else(|| panic!("no {label:?} in {text}"));
    text[..end].split_whitespace().last().unwrap().trim_start_matches('(').parse().unwrap()
}

#[test]
fn key_init_writes_a_private_key_only_its_owner_reads_and_never_overwrites_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(dir.path());
    assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&private).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(std::fs::read_to_string(&public).unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
    let again = galette_ctl(&["key", "init", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("already exists; refusing to overwrite a key"), "{}", text(&again.stderr));
}

#[test]
fn sign_writes_a_signature_the_fleet_key_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(dir.path());
    let bundle = compile("examples/macswap.gal", dir.path(), "macswap", &[galette_bundle::Platform::host().unwrap()]);
    let stdout = assert_success(&galette_ctl(&["sign", bundle.to_str().unwrap(), "--key", private.to_str().unwrap()]));
    assert!(stdout.contains("signed bundle sha256:"), "{stdout}");
    let opened = galette_bundle::Bundle::open(&bundle).unwrap();
    let digest = galette_oci::Digest::parse(&opened.digest).unwrap();
    let trusted = galette_oci::signature::read_public_key(&public).unwrap();
    galette_oci::signature::verify_bundle_dir(&bundle, &digest, &trusted).unwrap();
}

#[test]
fn a_pushed_bundle_is_an_index_others_read_and_a_changed_chain_moves_only_its_changed_blobs() {
    use galette_bundle::Platform;
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(RegistryOptions::default());
    let (private, _) = key_pair(dir.path());
    let first = compile("examples/security.gal", dir.path(), "v1", &Platform::ALL);
    let reference = format!("{}/fleet/security:v1", registry.address());

    let stdout = assert_success(&push(&registry, &first, &reference, Some(&private)));
    assert!(stdout.contains("platforms: x86_64-linux, aarch64-linux"), "{stdout}");
    assert!(stdout.contains("signed by ed25519:"), "{stdout}");
    // manifest.json, the object and one library per platform.
    assert_eq!(number_before(&stdout, "uploaded"), 4, "{stdout}");
    let blob_puts = registry.requests("PUT", "/blobs/uploads/");
    assert_eq!(blob_puts, 5, "four bundle blobs and the signature:\n{}", registry.log());

    // The same bundle again: nothing moves but manifests.
    let again = assert_success(&push(&registry, &first, &reference, Some(&private)));
    assert_eq!(number_before(&again, "uploaded"), 0, "{again}");
    assert_eq!(registry.requests("PUT", "/blobs/uploads/"), blob_puts);

    // skopeo reads the index: two platforms, arm64 and amd64.
    let (user, password) = registry.credentials().unwrap();
    let certs = tempfile::tempdir().unwrap();
    std::fs::copy(registry.ca_file(), certs.path().join("ca.crt")).unwrap();
    let skopeo = Command::new("skopeo")
        .args(["inspect", "--raw", "--creds", &format!("{user}:{password}")])
        .arg(format!("--cert-dir={}", certs.path().display()))
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    let raw = assert_success(&skopeo);
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json", "{raw}");
    let architectures: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(architectures, ["amd64", "arm64"]);

    // curl fetches the arm64 manifest and its library, which is the file
    // galettec wrote.
    let curl = |path: &str| {
        let output = Command::new("curl")
            .args(["--silent", "--show-error", "--fail", "--location", "--cacert"])
            .arg(registry.ca_file())
            .args(["--user", &format!("{user}:{password}")])
            .args(["-H", "Accept: application/vnd.oci.image.manifest.v1+json"])
            .arg(format!("https://{}/v2/fleet/security/{path}", registry.address()))
            .output()
            .unwrap();
        assert!(output.status.success(), "curl {path}: {}", text(&output.stderr));
        output.stdout
    };
    let arm = index["manifests"][1]["digest"].as_str().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&curl(&format!("manifests/{arm}"))).unwrap();
    let library = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|layer| layer["annotations"]["org.opencontainers.image.title"] == "user/aarch64-linux/dpi.so")
        .expect("the aarch64 manifest carries its dpi.so");
    let fetched = curl(&format!("blobs/{}", library["digest"].as_str().unwrap()));
    assert_eq!(fetched, std::fs::read(first.join("user/aarch64-linux/dpi.so")).unwrap());

    // A changed chain: its manifest.json and eBPF object change, the
    // libraries do not, and only what changed is uploaded.
    let changed_source = dir.path().join("security.gal");
    let original = std::fs::read_to_string(project_root().join("examples/security.gal")).unwrap();
    std::fs::write(&changed_source, original.replace("[1024]", "[2048]")).unwrap();
    let options =
        galettec::CompileOptions { platforms: Platform::ALL.to_vec(), ..galettec::CompileOptions::from_env() };
    let second = dir.path().join("v2");
    galettec::compile_chain(&changed_source, &second, &options).unwrap();
    let stdout =
        assert_success(&push(&registry, &second, &format!("{}/fleet/security:v2", registry.address()), Some(&private)));
    assert_eq!(number_before(&stdout, "uploaded"), 2, "manifest.json and the object only: {stdout}");
    assert_eq!(number_before(&stdout, "already in the registry"), 2, "{stdout}");
    assert_eq!(registry.requests("PUT", "/blobs/uploads/"), blob_puts + 3, "two blobs and the signature");
}

#[test]
fn registry_problems_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(RegistryOptions::default());
    let bundle = compile("examples/macswap.gal", dir.path(), "macswap", &[galette_bundle::Platform::host().unwrap()]);
    let reference = format!("{}/fleet/macswap:v1", registry.address());

    let wrong_password = galette_ctl(&[
        "push",
        bundle.to_str().unwrap(),
        &reference,
        "--ca",
        registry.ca_file().to_str().unwrap(),
        "--user",
        "fleet:not-the-password",
    ]);
    assert_eq!(wrong_password.status.code(), Some(1));
    let stderr = text(&wrong_password.stderr);
    assert!(stderr.to_lowercase().contains("unauthorized") || stderr.contains("credentials"), "{stderr}");

    let (user, password) = registry.credentials().unwrap();
    let no_ca = galette_ctl(&["push", bundle.to_str().unwrap(), &reference, "--user", &format!("{user}:{password}")]);
    assert_eq!(no_ca.status.code(), Some(1));
    let stderr = text(&no_ca.stderr);
    assert!(stderr.contains(&registry.address()) && stderr.contains("--ca"), "{stderr}");

    let unsigned = assert_success(&push(&registry, &bundle, &reference, None));
    assert!(unsigned.contains("unsigned"), "{unsigned}");

    // Signed in place by `galette-ctl sign`: the push carries that signature.
    let (private, _) = key_pair(dir.path());
    assert_success(&galette_ctl(&["sign", bundle.to_str().unwrap(), "--key", private.to_str().unwrap()]));
    let carried = assert_success(&push(&registry, &bundle, &reference, None));
    assert!(carried.contains("signed by ed25519:"), "{carried}");

    let by_digest = galette_ctl(&["push", bundle.to_str().unwrap(), &format!("{reference}@sha256:{}", "0".repeat(64))]);
    assert_eq!(by_digest.status.code(), Some(1));
}
