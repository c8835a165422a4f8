//! Debian's Mosquitto (2.0), started for one test with a mutual-TLS
//! listener: every client needs a certificate from the given CA, its common
//! name is its username, an ACL file decides what it may read and write,
//! and optionally a CRL refuses revoked certificates. Retained messages
//! persist in the broker's temporary directory, so that a stopped and
//! restarted broker still has them. Also `mosquitto_sub` and
//! `mosquitto_pub`, Debian's clients, for tests that need an MQTT client
//! nobody here wrote.

use std::fs::{self, File};
use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::netns::command_in;
use crate::ports::start_on_a_free_port;

const BINARY: &str = "/usr/sbin/mosquitto";
const SUB: &str = "/usr/bin/mosquitto_sub";
const PUB: &str = "/usr/bin/mosquitto_pub";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// How the broker is configured. The files are read where they are, so a
/// test that rewrites the ACL or the CRL and calls [`Mosquitto::reload`]
/// changes what the broker enforces.
#[derive(Debug, Clone)]
pub struct MosquittoOptions {
    /// The CA whose certificates clients must present (PEM).
    pub ca_file: PathBuf,
    /// The broker's certificate and key (PEM).
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// A mosquitto ACL file.
    pub acl_file: PathBuf,
    /// A CRL (PEM) signed by the CA, if revoked certificates are refused.
    pub crl_file: Option<PathBuf>,
    /// Where it listens: 127.0.0.1, or an address in `namespace`.
    pub address: IpAddr,
    /// The network namespace it runs in, when not the test's own.
    pub namespace: Option<String>,
}

/// A running broker; dropping it kills the process and removes its
/// directory (configuration, persistence, log).
pub struct Mosquitto {
    child: Option<Child>,
    port: u16,
    options: MosquittoOptions,
    // Declared last so that the process is gone before its files are.
    dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts mosquitto on `options.address` and a free port, and waits until
    /// it accepts TCP connections there (asked from its namespace).
    ///
    /// Panics (this is test support) if mosquitto is not installed or does
    /// not come up, with its log.
    pub fn start(options: MosquittoOptions) -> Mosquitto {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is missing: the fleet tests need Debian's mosquitto and mosquitto-clients packages \
             (run `cargo xtask setup`)"
        );
        let dir =
            tempfile::Builder::new().prefix("galette-mosquitto-").tempdir().expect("creating a temporary directory");
        let mut broker = Mosquitto { child: None, port: 0, options, dir };
        let (address, namespace) = (broker.options.address, broker.options.namespace.clone());
        broker.port = start_on_a_free_port("mosquitto", address, namespace.as_deref(), |port| {
            broker.port = port;
            broker.spawn_and_wait().inspect_err(|_| broker.kill())
        });
        broker
    }

    /// The broker's process id while it runs (its CPU time and memory are
    /// in /proc). Started in a namespace, it is `ip netns exec`'s, which
    /// execs the broker: the same process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// The port of the TLS listener.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The listener's address and port.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::new(self.options.address, self.port)
    }

    /// The broker's log so far (`log_type all`), across restarts.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(self.log_path()) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// The generated `mosquitto.conf`, for a test's failure message.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }

    /// Stops the broker (SIGTERM, which saves the persistence database; a
    /// SIGKILL after 5 s) and keeps its directory for [`restart`](Self::restart).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        signal(&child, libc::SIGTERM);
        let started = Instant::now();
        while started.elapsed() < STOP_TIMEOUT {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the broker again on the same port with the same configuration
    /// and persistence database (retained messages survive), and waits until
    /// it accepts connections. Panics with the log if it does not come up.
    pub fn restart(&mut self) {
        self.stop();
        // A listener that just closed can leave the port briefly unavailable.
        let started = Instant::now();
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(log) if log.contains("Address already in use") && started.elapsed() < READY_TIMEOUT => {
                    self.kill();
                    thread::sleep(Duration::from_millis(100));
                }
                Err(log) => {
                    self.kill();
                    panic!("mosquitto did not come back up on {}:\n{log}", self.address());
                }
            }
        }
    }

    /// Makes the broker re-read its configuration, the ACL file and the CRL
    /// (SIGHUP), and returns once it has: mosquitto logs "Reloading config"
    /// and then handles the reload in its single event loop before it
    /// accepts another connection, so a connection it logs after that line
    /// proves the reload is done. Connections already open stay open.
    pub fn reload(&self) {
        let child = self.child.as_ref().expect("reload: the broker is not running");
        let before = self.log().matches("Reloading config").count();
        signal(child, libc::SIGHUP);
        let started = Instant::now();
        while self.log().matches("Reloading config").count() == before {
            assert!(started.elapsed() < READY_TIMEOUT, "mosquitto did not reload after SIGHUP:\n{}", self.log());
            thread::sleep(Duration::from_millis(20));
        }
        // A bare TCP connection is logged as "Client connection from ...
        // failed" when mosquitto sees it close before the TLS handshake
        // starts, or as "New connection from ..." (then a protocol error)
        // when it has started it: either line proves the loop got to it.
        let connections =
            |log: &str| log.matches("Client connection from").count() + log.matches("New connection from").count();
        let before = connections(&self.log());
        assert!(self.connect_once(), "mosquitto refused a TCP connection after its reload:\n{}", self.log());
        while connections(&self.log()) == before {
            assert!(started.elapsed() < READY_TIMEOUT, "mosquitto did not accept after its reload:\n{}", self.log());
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.log")
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        fs::write(self.config_path(), self.config()).expect("writing mosquitto.conf");
        // The log goes to a file by `log_dest`; stdout and stderr only carry
        // what mosquitto prints before it has read the configuration.
        let early = File::create(self.dir.path().join("stderr.log")).expect("creating mosquitto's stderr log");
        let child = command_in(self.options.namespace.as_deref(), BINARY)
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(early.try_clone().expect("duplicating the log file"))
            .stderr(early)
            .spawn()
            .unwrap_or_else(|error| panic!("starting {BINARY}: {error}"));
        self.child = Some(child);
        self.wait_ready()
    }

    fn config(&self) -> String {
        let dir = self.dir.path().display();
        let options = &self.options;
        let mut config = format!(
            "# Generated by galette-test-servers for one test.\n\
             # Running as root (tests do), mosquitto would switch to the `mosquitto` user\n\
             # and could not read the 0600 keys in the test's directories.\n\
             user root\n\
             per_listener_settings false\n\
             allow_anonymous false\n\
             persistence true\n\
             persistence_location {dir}/\n\
             # Save after every change, so even a killed broker keeps its retained messages.\n\
             autosave_on_changes true\n\
             autosave_interval 1\n\
             log_dest file {dir}/mosquitto.log\n\
             log_type all\n\
             log_timestamp_format %Y-%m-%dT%H:%M:%S\n\
             connection_messages true\n\
             acl_file {acl}\n\
             \n\
             listener {port} {address}\n\
             cafile {ca}\n\
             certfile {cert}\n\
             keyfile {key}\n\
             require_certificate true\n\
             use_identity_as_username true\n",
            acl = options.acl_file.display(),
            port = self.port,
            address = options.address,
            ca = options.ca_file.display(),
            cert = options.cert_file.display(),
            key = options.key_file.display(),
        );
        if let Some(crl) = &options.crl_file {
            config.push_str(&format!("crlfile {}\n", crl.display()));
        }
        config
    }

    /// Polls a TCP connect until it succeeds; Err(log) if the process exits
    /// or the timeout passes.
    fn wait_ready(&mut self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                return Err(format!("(exited with {status})\n{}", self.full_log()));
            }
            if self.connect_once() {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(format!("(no TCP connection within {READY_TIMEOUT:?})\n{}", self.full_log()));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether a TCP connection to the listener succeeds, from the broker's
    /// namespace.
    fn connect_once(&self) -> bool {
        let address = self.address();
        let connect = || TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok();
        match &self.options.namespace {
            None => connect(),
            Some(namespace) => galette_testbed::run_in_netns(namespace, connect).unwrap_or(false),
        }
    }

    /// What mosquitto printed before its log file took over, then the log.
    fn full_log(&self) -> String {
        let early = fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
        format!("{early}{}", self.log())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits in pid_t");
    // SAFETY: kill(2) only takes numbers; the child has not been waited
    // for, so its pid cannot have been reused.
    unsafe { libc::kill(pid, signal) };
}

/// Subscribes to `topic` with Debian's `mosquitto_sub` as the client whose
/// certificate and key are `identity`, trusting `ca`, and returns the
/// messages (one per line) that arrived before `count` were received or
/// `timeout` passed: fewer than `count` (even none) on a timeout. Err with
/// the client's output if it could not connect or subscribe (a refused TLS
/// handshake, a refused connection).
pub fn mosquitto_sub(
    address: SocketAddr,
    namespace: Option<&str>,
    identity: (&Path, &Path),
    ca: &Path,
    topic: &str,
    count: u32,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    let seconds = timeout.as_secs().max(1).to_string();
    let count = count.to_string();
    let output = client(SUB, address, namespace, identity, ca, &["-t", topic, "-C", &count, "-W", &seconds])?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let messages = stdout.lines().map(str::to_owned).collect();
    // mosquitto_sub exits 27 (MOSQ_ERR_TIMEOUT) when -W passes: that is
    // an answer ("fewer messages"), not a failure.
    match output.status.code() {
        Some(0) | Some(27) => Ok(messages),
        _ => Err(describe(SUB, &output)),
    }
}

/// Publishes `message` on `topic` with Debian's `mosquitto_pub` (QoS 1, so
/// it returns once the broker has taken it; `retain` keeps it for later
/// subscribers). Ok means the broker answered, not that the ACL allowed it:
/// mosquitto drops a denied publish silently for MQTT 3.1.1 clients.
pub fn mosquitto_pub(
    address: SocketAddr,
    namespace: Option<&str>,
    identity: (&Path, &Path),
    ca: &Path,
    topic: &str,
    message: &str,
    retain: bool,
) -> Result<(), String> {
    let mut args = vec!["-t", topic, "-m", message];
    if retain {
        args.push("-r");
    }
    let output = client(PUB, address, namespace, identity, ca, &args)?;
    if output.status.success() { Ok(()) } else { Err(describe(PUB, &output)) }
}

fn client(
    program: &str,
    address: SocketAddr,
    namespace: Option<&str>,
    (cert, key): (&Path, &Path),
    ca: &Path,
    args: &[&str],
) -> Result<Output, String> {
    if !Path::new(program).exists() {
        return Err(format!("{program} is missing: install Debian's mosquitto-clients (run `cargo xtask setup`)"));
    }
    command_in(namespace, program)
        .args(["-h", &address.ip().to_string(), "-p", &address.port().to_string(), "-q", "1"])
        .arg("--cafile")
        .arg(ca)
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("running {program}: {error}"))
}

fn describe(program: &str, output: &Output) -> String {
    format!(
        "{program} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    )
}
