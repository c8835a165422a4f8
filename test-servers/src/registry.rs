//! Debian's `docker-registry` (CNCF distribution 2.8), started for one test
//! on 127.0.0.1 with a generated configuration: filesystem storage in a
//! temporary directory, TLS with a test CA, htpasswd basic auth, and the
//! access log on so that a test can count the requests a client made.

use std::fs::{self, File};
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::TestCa;
use crate::https::{HttpsServer, Reply};
use crate::netns::command_in;
use crate::ports::start_on_a_free_port;
use crate::token::{self, TokenServer};

const BINARY: &str = "/usr/bin/docker-registry";
/// Where registries listen unless asked otherwise.
const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

const USER: &str = "galette";
const PASSWORD: &str = "test-password";
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How the registry is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryOptions {
    /// HTTPS with a certificate from a fresh test CA (else plain HTTP).
    pub tls: bool,
    /// htpasswd basic auth with one user (else anonymous access).
    pub basic_auth: bool,
}

impl Default for RegistryOptions {
    fn default() -> RegistryOptions {
        RegistryOptions { tls: true, basic_auth: true }
    }
}

/// A running registry; dropping it kills the process and removes its
/// storage.
pub struct Registry {
    child: Option<Child>,
    port: u16,
    options: RegistryOptions,
    ca: Option<TestCa>,
    ca_path: PathBuf,
    token_server: Option<TokenServer>,
    blob_store: Option<HttpsServer>,
    /// The network namespace it listens in, when not the test's own.
    namespace: Option<String>,
    /// The address it listens on (loopback unless asked otherwise).
    listen: IpAddr,
    // Declared last so that the process is gone before its files are.
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry and waits until it answers `GET /v2/`.
    ///
    /// Panics (this is test support) if `docker-registry` is not installed or
    /// does not come up, with the registry's log.
    pub fn start(options: RegistryOptions) -> Registry {
        Registry::start_with(options, false, false, None, LOOPBACK)
    }

    /// A registry (with `options`) on the loopback of network namespace
    /// `namespace`, for a `galette` that runs there: only programs in that
    /// namespace reach it.
    pub fn start_in_namespace(options: RegistryOptions, namespace: &str) -> Registry {
        Registry::start_with(options, false, false, Some(namespace.to_owned()), LOOPBACK)
    }

    /// A registry (with `options`) on `address` of network namespace
    /// `namespace`, for clients in other namespaces routed there; its
    /// certificate names that address too.
    pub fn start_in_namespace_on(options: RegistryOptions, namespace: &str, address: IpAddr) -> Registry {
        Registry::start_with(options, false, false, Some(namespace.to_owned()), address)
    }

    /// A registry (TLS, basic auth) that answers blob downloads with a
    /// redirect to another server, as registries backed by S3, GCS or a CDN
    /// do: distribution's `redirect` storage middleware, pointing at a small
    /// HTTPS server that serves the registry's storage directory and wants
    /// no credentials (like a presigned URL).
    pub fn start_with_blob_redirects() -> Registry {
        Registry::start_with(RegistryOptions::default(), false, true, None, LOOPBACK)
    }

    /// A registry with TLS whose auth is a token service (the `Bearer`
    /// challenge of Docker Hub, Harbor, GitLab): the service hands out
    /// tokens for the same user and password as `credentials()`.
    pub fn start_with_token_service() -> Registry {
        Registry::start_with(RegistryOptions { tls: true, basic_auth: true }, true, false, None, LOOPBACK)
    }

    fn start_with(
        options: RegistryOptions,
        token_auth: bool,
        blob_redirects: bool,
        namespace: Option<String>,
        listen: IpAddr,
    ) -> Registry {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is missing: the registry tests need Debian's docker-registry package (run `cargo xtask setup`)"
        );
        let dir =
            tempfile::Builder::new().prefix("galette-registry-").tempdir().expect("creating a temporary directory");
        let ca = options.tls.then(TestCa::new);
        if let Some(ca) = &ca {
            let listen = listen.to_string();
            let (cert, key) = ca.server_cert(&[&listen, "127.0.0.1", "localhost"]);
            fs::write(dir.path().join("server.crt"), cert).expect("writing the server certificate");
            fs::write(dir.path().join("server.key"), key).expect("writing the server key");
            // skopeo's and docker's --cert-dir convention: a directory with ca.crt.
            fs::create_dir(dir.path().join("certs")).expect("creating the CA directory");
            fs::write(dir.path().join("certs/ca.crt"), &ca.cert_pem).expect("writing the CA certificate");
        }
        if options.basic_auth && !token_auth {
            // distribution's htpasswd accepts only bcrypt; the lowest cost keeps
            // each authenticated request fast (the registry checks it every time).
            let hash = bcrypt::hash(PASSWORD, 4).expect("hashing the test password");
            fs::write(dir.path().join("htpasswd"), format!("{USER}:{hash}\n")).expect("writing htpasswd");
        }
        let ca_path = dir.path().join("certs/ca.crt");
        let token_server = token_auth.then(|| {
            let ca = ca.as_ref().expect("the token service is served with TLS");
            let server = TokenServer::start(ca, Some((USER.to_owned(), PASSWORD.to_owned())));
            fs::write(dir.path().join("token.crt"), &server.signing_cert_pem).expect("writing the token certificate");
            server
        });
        let blob_store = blob_redirects.then(|| {
            let ca = ca.as_ref().expect("the blob store is served with TLS");
            let root = dir.path().join("data");
            HttpsServer::start(ca, move |request| serve_file(&root, request))
        });
        let mut registry =
            Registry { child: None, port: 0, options, ca, ca_path, token_server, blob_store, namespace, listen, dir };
        let namespace = registry.namespace.clone();
        registry.port = start_on_a_free_port("docker-registry", listen, namespace.as_deref(), |port| {
            registry.port = port;
            registry.spawn();
            registry.wait_ready().inspect_err(|_| registry.kill())
        });
        registry
    }

    /// The registry's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// `127.0.0.1:PORT` (or the address it was asked to listen on), the
    /// registry part of a reference.
    pub fn address(&self) -> String {
        format!("{}:{}", self.listen, self.port)
    }

    /// `https://ADDRESS:PORT` (or `http://` without TLS).
    pub fn url(&self) -> String {
        let scheme = if self.options.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.address())
    }

    /// The test CA's certificate (PEM file). Panics without TLS.
    pub fn ca_file(&self) -> &Path {
        assert!(self.options.tls, "this registry serves plain HTTP: it has no CA");
        &self.ca_path
    }

    /// A directory holding the CA as `ca.crt` (skopeo's `--cert-dir`).
    pub fn cert_dir(&self) -> PathBuf {
        assert!(self.options.tls, "this registry serves plain HTTP: it has no CA");
        self.dir.path().join("certs")
    }

    /// The test CA, to issue further certificates. None without TLS.
    pub fn ca(&self) -> Option<&TestCa> {
        self.ca.as_ref()
    }

    /// The user and password the registry accepts, if it has basic auth.
    pub fn credentials(&self) -> Option<(String, String)> {
        self.options.basic_auth.then(|| (USER.to_owned(), PASSWORD.to_owned()))
    }

    /// The registry's output so far (its log and access log).
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(self.log_path()) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// How many requests with `method` whose path contains `path_contains`
    /// the access log shows, e.g. `requests("PUT", "/blobs/uploads/")`.
    pub fn requests(&self, method: &str, path_contains: &str) -> usize {
        // Access-log lines are in the combined log format:
        // `127.0.0.1 - - [date] "PUT /v2/x/blobs/uploads/... HTTP/1.1" 201 0 "" "ureq"`.
        let prefix = format!("\"{method} ");
        self.log()
            .lines()
            .filter_map(|line| line.split_once(&prefix).map(|(_, rest)| rest))
            .filter(|rest| rest.split(' ').next().is_some_and(|path| path.contains(path_contains)))
            .count()
    }

    /// Where the registry keeps blobs (`docker/registry/v2/blobs/sha256/..`),
    /// for tests that tamper with what it serves.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The file holding a blob's bytes in the filesystem storage driver, by
    /// the SHA-256 hex of the blob.
    pub fn blob_file(&self, sha256_hex: &str) -> PathBuf {
        self.storage_dir().join(format!("docker/registry/v2/blobs/sha256/{}/{sha256_hex}/data", &sha256_hex[..2]))
    }

    /// How many requests the token service has had (0 without one).
    pub fn token_requests(&self) -> usize {
        self.token_server.as_ref().map_or(0, TokenServer::requests)
    }

    /// How many requests the blob store behind the redirects has had.
    pub fn blob_store_requests(&self) -> usize {
        self.blob_store.as_ref().map_or(0, HttpsServer::requests)
    }

    /// Stops the registry and removes its storage (as dropping it does).
    pub fn stop(self) {}

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    fn spawn(&mut self) {
        let config = self.dir.path().join("config.yml");
        fs::write(&config, self.config()).expect("writing the registry configuration");
        let log = File::create(self.log_path()).expect("creating the registry log");
        let child = command_in(self.namespace.as_deref(), BINARY)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("duplicating the log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {BINARY}: {error}"));
        self.child = Some(child);
    }

    fn config(&self) -> String {
        let dir = self.dir.path().display();
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {dir}/data\n  delete:\n    enabled: true\n\
             http:\n  addr: {listen}:{port}\n  secret: galette-test-secret\n",
            listen = self.listen,
            port = self.port
        );
        if self.options.tls {
            config.push_str(&format!("  tls:\n    certificate: {dir}/server.crt\n    key: {dir}/server.key\n"));
        }
        if let Some(store) = &self.blob_store {
            config.push_str(&format!(
                "middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: {}\n",
                store.url()
            ));
        }
        if let Some(server) = &self.token_server {
            config.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {dir}/token.crt\n",
                realm = server.realm(),
                service = token::SERVICE,
                issuer = token::ISSUER,
            ));
        } else if self.options.basic_auth {
            config.push_str(&format!("auth:\n  htpasswd:\n    realm: galette-test\n    path: {dir}/htpasswd\n"));
        }
        config
    }

    /// Polls `GET /v2/` until it answers 200 or 401; Err(log) if the process
    /// exits or the timeout passes.
    fn wait_ready(&mut self) -> Result<(), String> {
        let agent = self.probe_agent();
        let url = format!("{}/v2/", self.url());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                return Err(format!("(exited with {status})\n{}", self.log()));
            }
            if self.answers(&agent, &url) {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(format!("(no answer to GET {url} within {READY_TIMEOUT:?})\n{}", self.log()));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether `GET url` answers 200 or 401, asked from the registry's
    /// namespace.
    fn answers(&self, agent: &ureq::Agent, url: &str) -> bool {
        let ask = || agent.get(url).call().is_ok_and(|response| matches!(response.status().as_u16(), 200 | 401));
        match &self.namespace {
            None => ask(),
            Some(namespace) => galette_testbed::run_in_netns(namespace, ask).unwrap_or(false),
        }
    }

    fn probe_agent(&self) -> ureq::Agent {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(ca) = &self.ca {
            let cert = ureq::tls::Certificate::from_pem(ca.cert_pem.as_bytes()).expect("the test CA is PEM");
            tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![cert])));
        }
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(2)))
            .tls_config(tls.build())
            .build()
            .new_agent()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The blob store: a file of the registry's storage by its path.
fn serve_file(root: &Path, request: &crate::https::Request) -> Reply {
    let path = request.target.split('?').next().unwrap_or("");
    let not_found = || Reply { status: "404 Not Found", headers: Vec::new(), body: Vec::new() };
    if path.split('/').any(|part| part == "..") || !matches!(request.method.as_str(), "GET" | "HEAD") {
        return not_found();
    }
    match fs::read(root.join(path.trim_start_matches('/'))) {
        Ok(body) => {
            Reply { status: "200 OK", headers: vec![("content-type", "application/octet-stream".to_owned())], body }
        }
        Err(_) => not_found(),
    }
}
