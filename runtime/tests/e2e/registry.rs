//! Bundles from a registry (Debian's docker-registry, TLS and basic auth,
//! started by each test): `galette pull` into an empty store and again, a
//! device with the fleet's key refusing what it must, and `galette run`
//! straight from a reference on a veth testbed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

use galette_bundle::Platform;
use galette_oci::push::{PushReport, push};
use galette_oci::signature::{generate_key_pair, read_private_key};
use galette_oci::{ClientOptions, Reference, RegistryClient};
use galette_test_servers::{Registry, RegistryOptions};
use galette_testbed::{GatewayTopology, attach_xdp_pass, run_in_netns};

use crate::security::{Background, curl, describe, wait_listening};
use crate::support::{RunningGalette, galette, project_root};

/// A fleet key pair in `dir`: (private, public).
fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (private, public) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.pub")));
    generate_key_pair(&private, &public).unwrap();
    (private, public)
}

fn client_options(registry: &Registry) -> ClientOptions {
    ClientOptions {
        ca_file: Some(registry.ca_file().to_owned()),
        credentials: registry.credentials(),
        ..ClientOptions::default()
    }
}

/// Pushes `bundle` to `reference`, signed with `key` when given.
fn publish(registry: &Registry, bundle: &Path, reference: &str, key: Option<&Path>) -> PushReport {
    let reference = Reference::parse(reference).unwrap();
    let mut client = RegistryClient::new(&reference.registry, &client_options(registry)).unwrap();
    let key = key.map(|path| read_private_key(path).unwrap());
    push(bundle, &reference, &mut client, key.as_ref()).unwrap()
}

/// `chain` (a path from the project root) compiled into `dir/name`.
fn compile(chain: &Path, dir: &Path, name: &str) -> PathBuf {
    let bundle = dir.join(name);
    let options =
        galettec::CompileOptions { platforms: Platform::ALL.to_vec(), ..galettec::CompileOptions::from_env() };
    galettec::compile_chain(chain, &bundle, &options).unwrap();
    bundle
}

/// The registry options of `galette`: its CA and credentials.
fn registry_arguments(registry: &Registry) -> Vec<String> {
    let (user, password) = registry.credentials().unwrap();
    vec!["--ca".into(), registry.ca_file().display().to_string(), "--user".into(), format!("{user}:{password}")]
}

/// `galette pull REFERENCE DEST --store STORE` with `extra` arguments.
fn galette_pull(registry: &Registry, reference: &str, dest: &Path, store: &Path, extra: &[&str]) -> Output {
    galette()
        .args(["pull", reference])
        .arg(dest)
        .arg("--store")
        .arg(store)
        .args(registry_arguments(registry))
        .args(extra)
        .output()
        .unwrap()
}

/// The number before `label` in `text` (`3 blobs fetched`).
fn number_before(text: &str, label: &str) -> u64 {
    let end = text.find(label).unwrap_or_else(|| panic!("no {label:?} in {text}"));
    text[..end].split_whitespace().last().unwrap().trim_start_matches(['(', ',']).parse().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_pull_fetches_only_what_the_store_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(RegistryOptions::default());
    let (private, public) = key_pair(dir.path(), "fleet");
    let first = compile(&project_root().join("examples/security.gal"), dir.path(), "v1");
    let v1 = format!("{}/fleet/security:v1", registry.address());
    let report = publish(&registry, &first, &v1, Some(&private));
    let store = dir.path().join("store");
    let trust = ["--trust-key", public.to_str().unwrap()];

    // Into an empty store: this platform's manifest.json, object and
    // library, nothing of the other platform's.
    let pulled = galette_pull(&registry, &v1, &dir.path().join("pulled"), &store, &trust);
    let stdout = text(&pulled.stdout);
    assert!(pulled.status.success(), "{stdout}{}", text(&pulled.stderr));
    assert_eq!(number_before(&stdout, "blobs fetched"), 3, "{stdout}");
    assert!(stdout.contains("signed by ed25519:"), "{stdout}");
    let bundle = galette_bundle::Bundle::open(&dir.path().join("pulled")).unwrap();
    assert_eq!(bundle.digest, galette_bundle::Bundle::open(&first).unwrap().digest);
    let other = Platform::ALL.into_iter().find(|platform| Some(*platform) != Platform::host()).unwrap();
    assert!(!dir.path().join("pulled/user").join(other.name()).exists(), "no library of {other} fetched");
    assert!(dir.path().join("pulled/signature.json").is_file());

    // By digest, as a device pinned to one version names it.
    let by_digest = format!("{}/fleet/security@{}", registry.address(), report.top);
    let pinned = galette_pull(&registry, &by_digest, &dir.path().join("pinned"), &store, &trust);
    assert!(pinned.status.success(), "{}{}", text(&pinned.stdout), text(&pinned.stderr));

    // Again: everything comes from the store.
    let again = galette_pull(&registry, &v1, &dir.path().join("again"), &store, &trust);
    let stdout = text(&again.stdout);
    assert!(again.status.success(), "{stdout}{}", text(&again.stderr));
    assert_eq!(number_before(&stdout, "blobs fetched"), 0, "{stdout}");
    assert_eq!(number_before(&stdout, "from the store"), 3, "{stdout}");

    // A changed chain: only its manifest.json and object are fetched.
    let source = dir.path().join("security.gal");
    let original = std::fs::read_to_string(project_root().join("examples/security.gal")).unwrap();
    std::fs::write(&source, original.replace("[1024]", "[2048]")).unwrap();
    let second = compile(&source, dir.path(), "v2");
    let v2 = format!("{}/fleet/security:v2", registry.address());
    publish(&registry, &second, &v2, Some(&private));
    let changed = galette_pull(&registry, &v2, &dir.path().join("v2-pulled"), &store, &trust);
    let stdout = text(&changed.stdout);
    assert!(changed.status.success(), "{stdout}{}", text(&changed.stderr));
    assert_eq!(number_before(&stdout, "blobs fetched"), 2, "{stdout}");
    assert_eq!(number_before(&stdout, "from the store"), 1, "the library: {stdout}");
}

#[test]
fn a_device_with_the_fleet_key_refuses_what_the_fleet_did_not_sign() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(RegistryOptions::default());
    let (fleet, fleet_public) = key_pair(dir.path(), "fleet");
    let (intruder, _) = key_pair(dir.path(), "intruder");
    let bundle = compile(&project_root().join("examples/upcall_reflector.gal"), dir.path(), "b");
    let address = registry.address();
    let trust = ["--trust-key", fleet_public.to_str().unwrap()];
    let refused = |reference: &str, expected: &str, extra: &[&str]| {
        let store = tempfile::tempdir().unwrap();
        let output = galette_pull(&registry, reference, &store.path().join("b"), store.path(), extra);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{reference}: {stderr}");
        assert!(stderr.contains(expected), "{reference}: expected {expected:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!store.path().join("b").exists(), "nothing assembled for a refused bundle");
    };

    let unsigned = format!("{address}/fleet/reflector:unsigned");
    publish(&registry, &bundle, &unsigned, None);
    refused(&unsigned, "the bundle is not signed (no signature tagged sha256-", &trust);
    // Without a key, the same bundle is pulled (the local workflow).
    let store = dir.path().join("store");
    assert!(galette_pull(&registry, &unsigned, &dir.path().join("open"), &store, &[]).status.success());

    let other_key = format!("{address}/fleet/reflector:intruder");
    publish(&registry, &bundle, &other_key, Some(&intruder));
    refused(&other_key, "not by the key this device trusts", &trust);

    // A layer changed in the registry's own storage: the registry serves
    // bytes that are not the digest's.
    let signed = format!("{address}/fleet/reflector:signed");
    publish(&registry, &bundle, &signed, Some(&fleet));
    let library = galette_bundle::Bundle::open(&bundle).unwrap();
    let swap = library.manifest.instances.iter().find(|instance| instance.name == "swap").unwrap();
    let path = library.library_path(swap).unwrap();
    let hex = &library.manifest.artifacts.iter().find(|artifact| artifact.path == path).unwrap().sha256;
    let blob = registry.blob_file(hex);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    refused(&signed, &format!("layer `{path}`: blob sha256:{hex}"), &trust);

    // A local directory without a signature, on a device with the key.
    let output = galette()
        .arg("run")
        .arg(&bundle)
        .args(["--iface", "lo", "--trust-key", fleet_public.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the bundle is not signed"), "{stderr}");
}

#[test]
fn a_chain_runs_straight_from_the_registry() {
    let topology = GatewayTopology::create("e2e-oci").unwrap();
    let (client, server, gateway) = (topology.client(), topology.server(), topology.gateway_namespace());
    let _client_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let _server_program = attach_xdp_pass(server.namespace(), server.interface()).unwrap();
    topology.disable_tx_offload().unwrap();
    // The registry where galette runs: on the gateway namespace's loopback.
    let registry = Registry::start_in_namespace(RegistryOptions::default(), gateway);

    let dir = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(dir.path(), "fleet");
    let bundle = compile(&project_root().join("examples/security.gal"), dir.path(), "security");
    let reference = format!("{}/fleet/security:v1", registry.address());
    let report = run_in_netns(gateway, || publish(&registry, &bundle, &reference, Some(&private))).unwrap();

    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.txt"), "hello from the registry's chain\n").unwrap();
    let server_ip = GatewayTopology::SERVER_IP.to_string();
    let _http = Background::start(
        server.namespace(),
        "/usr/bin/python3",
        &["-m", "http.server", "80", "--bind", &server_ip, "--directory", site.path().to_str().unwrap()],
        None,
    );
    wait_listening(server.namespace(), SocketAddr::from((GatewayTopology::SERVER_IP, 80)));

    let examples = project_root().join("examples/security");
    let store = dir.path().join("store");
    let mut arguments = vec![
        format!("lan={}", GatewayTopology::LAN),
        format!("wan={}", GatewayTopology::WAN),
        format!("acl_v4={}", examples.join("acl_v4.txt").display()),
        format!("acl_v6={}", examples.join("acl_v6.txt").display()),
        format!("classifier_config={}", examples.join("classifier.txt").display()),
    ];
    let flags = ["--iface", "--iface", "--load", "--load", "--load"];
    let mut args: Vec<String> = Vec::new();
    for (flag, value) in flags.iter().zip(arguments.drain(..)) {
        args.extend([(*flag).to_owned(), value]);
    }
    args.extend(["--store".to_owned(), store.display().to_string(), "--trust-key".to_owned()]);
    args.push(public.display().to_string());
    args.extend(registry_arguments(&registry));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let signatures = examples.join("signatures.txt");
    let mut running = RunningGalette::start_with_env(
        gateway,
        Path::new(&reference),
        &args,
        &[("GALETTE_DPI_SIGNATURES", &signatures)],
    );
    running.wait_attached(gateway, GatewayTopology::LAN);
    running.wait_attached(gateway, GatewayTopology::WAN);

    let fetched = curl(client.namespace(), GatewayTopology::CLIENT_IP, "/index.txt", &[]);
    assert!(
        fetched.status.success() && fetched.stdout == b"hello from the registry's chain\n",
        "through the chain pulled from the registry: {}",
        describe(&fetched)
    );
    let output = running.stop_with(libc::SIGTERM);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{}{stderr}", text(&output.stdout));
    assert!(stderr.contains(&format!("pulled {reference}")), "{stderr}");
    assert!(stderr.contains("signed by ed25519:"), "{stderr}");
    let pulled = store.join("bundles").join(report.bundle_digest.hex());
    assert!(pulled.join("manifest.json").is_file(), "assembled in the store: {}", pulled.display());
}

#[test]
fn a_running_chain_reloads_from_the_registry_and_keeps_refusing_what_the_fleet_did_not_sign() {
    use galette_oci::Digest;
    use galette_oci::signature::{sign, write_bundle_signature};
    use galette_testbed::{VethPair, probe_reflector};

    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(RegistryOptions::default());
    let (private, public) = key_pair(dir.path(), "fleet");
    let once = compile(&project_root().join("tests/reload/marks_once.gal"), dir.path(), "once");
    let twice = compile(&project_root().join("tests/reload/marks_twice.gal"), dir.path(), "twice");
    // The first bundle runs from a local directory, signed in place.
    let digest = Digest::parse(&galette_bundle::Bundle::open(&once).unwrap().digest).unwrap();
    write_bundle_signature(&once, &sign(&read_private_key(&private).unwrap(), &digest)).unwrap();
    let signed = format!("{}/fleet/marks:twice", registry.address());
    publish(&registry, &twice, &signed, Some(&private));
    // Another bundle of the chain (the same one would be signed already: a
    // signature belongs to content, whatever its tag).
    let other = compile(&project_root().join("tests/reload/two_tier.gal"), dir.path(), "other");
    let unsigned = format!("{}/fleet/marks:unsigned", registry.address());
    publish(&registry, &other, &unsigned, None);

    let pair = VethPair::create("e2e-ocir").unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    let _client_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let run_dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("acl_v4.txt");
    std::fs::write(&rules, "198.18.0.0/15 1\n").unwrap();
    let load = format!("acl_v4={}", rules.display());
    let trust = public.to_str().unwrap();
    let mut running = RunningGalette::start_with(
        gateway.namespace(),
        &once,
        gateway.interface(),
        &["--run-dir", run_dir.path().to_str().unwrap(), "--trust-key", trust, "--load", &load],
    );
    running.wait_attached(gateway.namespace(), gateway.interface());
    let reload = |reference: &str, trust_key: Option<&str>| {
        let mut command = galette();
        command.args(["reload", reference, "--chain", "marks", "--run-dir", run_dir.path().to_str().unwrap()]);
        command.arg("--store").arg(dir.path().join("store")).args(registry_arguments(&registry));
        if let Some(key) = trust_key {
            command.args(["--trust-key", key]);
        }
        command.output().unwrap()
    };

    let output = reload(&signed, Some(trust));
    assert!(output.status.success(), "{}{}", text(&output.stdout), text(&output.stderr));
    assert!(text(&output.stdout).contains("reloaded chain `marks`"), "{}", text(&output.stdout));
    // Unsigned: refused by the pull when the command has the key, and by the
    // running chain (which has it) when the command does not.
    for trust_key in [Some(trust), None] {
        let output = reload(&unsigned, trust_key);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("the bundle is not signed"), "{stderr}");
    }
    let reflected = probe_reflector(client, gateway, 50, std::time::Duration::from_secs(1)).unwrap();
    assert_eq!(reflected.swapped, 50, "the reloaded chain still runs: {reflected:?}");
    let output = running.stop_with(libc::SIGINT);
    assert!(output.status.success(), "{}", text(&output.stderr));
    pair.cleanup().unwrap();
}
