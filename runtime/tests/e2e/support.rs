//! Shared helpers of the runtime's end-to-end tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use galette::stats::{CountersReport, InstanceCounters};
use galette_testbed::{RawSocket, VethSide, xdp_program_attached};
use galettec::{CompileOptions, compile_chain};

/// The project's root directory.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// `examples/NAME.gal`, compiled once per test binary with the real compiler
/// and eBPF toolchain, into cargo's temporary directory for tests (readable
/// by any user: one test runs the runtime unprivileged).
pub fn example_bundle(name: &str) -> PathBuf {
    bundle_of(&format!("examples/{name}.gal"))
}

/// The chain at `relative_path` (from the project root), compiled once per
/// test binary.
pub fn bundle_of(relative_path: &str) -> PathBuf {
    static BUNDLES: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut bundles = BUNDLES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(bundle) = bundles.get_or_insert_with(HashMap::new).get(relative_path) {
        return bundle.clone();
    }
    // Named after the whole path: two chains may share a file name
    // (tests/userland/two_tier.gal, tests/reload/two_tier.gal).
    let name = relative_path.trim_end_matches(".gal").replace(['/', '.'], "-");
    let bundle = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("e2e-{}-{name}.bundle", std::process::id()));
    let chain = project_root().join(relative_path);
    if let Err(error) = compile_chain(&chain, &bundle, &CompileOptions::from_env()) {
        panic!("compiling {}: {error}", chain.display());
    }
    bundles.get_or_insert_with(HashMap::new).insert(relative_path.to_owned(), bundle.clone());
    bundle
}

/// The names of every example chain (`examples/*.gal`).
pub fn example_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(project_root().join("examples"))
        .unwrap()
        .filter_map(|entry| {
            let path = entry.unwrap().path();
            (path.extension()? == "gal").then(|| path.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
}

/// The `galette` binary under test.
pub fn galette() -> Command {
    Command::new(env!("CARGO_BIN_EXE_galette"))
}

/// The argument that has `galette run` print its counters as JSON lines,
/// which [`final_counters`] reads.
pub const STATS_JSON: &str = "--stats-json";

/// The last counters a `galette run --stats-json` printed (after the chain
/// was detached), read from its standard output.
pub fn final_counters(output: &Output) -> CountersReport {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<CountersReport>(line).ok())
        .find(|report| report.is_final)
        .unwrap_or_else(|| panic!("no final counters (run with {STATS_JSON}) in:\n{stdout}"))
}

/// The counters of the chain running from `bundle` now, as `galette stats
/// --once --json` reads them through the pins under `bpffs`.
pub fn counters_now(bundle: &Path, bpffs: &Path) -> CountersReport {
    let output = galette().args(["stats", "--once", "--json", "--bpffs"]).arg(bpffs).arg(bundle).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "galette stats: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|err| panic!("galette stats --json printed {stdout:?}: {err}"))
}

/// The counters of `instance` in `report`, or a panic that shows the report.
pub fn instance<'a>(report: &'a CountersReport, instance: &str) -> &'a InstanceCounters {
    report.instance(instance).unwrap_or_else(|| panic!("no instance `{instance}` in {report:?}"))
}

/// The packets that left `instance` by `port`, or a panic that shows the
/// report.
pub fn port(report: &CountersReport, instance_name: &str, port: &str) -> u64 {
    instance(report, instance_name)
        .port(port)
        .unwrap_or_else(|| panic!("no port `{port}` of `{instance_name}` in {report:?}"))
}

/// A `galette run` inside a namespace; killed (SIGKILL) if the test ends
/// without stopping it, so a failing test leaves no process behind.
pub struct RunningGalette {
    child: Option<Child>,
    /// Its standard output and error, read as they come: a pipe nobody
    /// reads fills up after 64 KiB, and galette would then block on its
    /// next line (a long test prints many).
    output: Option<(OutputReader, OutputReader)>,
    /// Its own control directory (`GALETTE_RUN_DIR`), so that tests running
    /// the same chain at once in their own namespaces do not meet in
    /// /run/galette; a `--run-dir` among the arguments wins.
    _run_dir: tempfile::TempDir,
}

impl RunningGalette {
    pub fn start(namespace: &str, bundle: &Path, interface: &str) -> RunningGalette {
        RunningGalette::start_with(namespace, bundle, interface, &[])
    }

    /// `galette run` with more arguments.
    pub fn start_with(namespace: &str, bundle: &Path, interface: &str, extra: &[&str]) -> RunningGalette {
        let mut arguments = vec!["--iface", interface];
        arguments.extend_from_slice(extra);
        RunningGalette::start_without_iface(namespace, bundle, &arguments)
    }

    /// `galette run` with the interfaces among `arguments`.
    pub fn start_without_iface(namespace: &str, bundle: &Path, arguments: &[&str]) -> RunningGalette {
        RunningGalette::start_with_env(namespace, bundle, arguments, &[])
    }

    /// `galette run` with the interfaces among `arguments` and these
    /// environment variables set.
    pub fn start_with_env(namespace: &str, bundle: &Path, arguments: &[&str], env: &[(&str, &Path)]) -> RunningGalette {
        let run_dir = tempfile::tempdir().unwrap();
        let child = Command::new("ip")
            .env("GALETTE_RUN_DIR", run_dir.path())
            .envs(env.iter().copied())
            .args(["netns", "exec", namespace])
            .arg(env!("CARGO_BIN_EXE_galette"))
            .arg("run")
            .arg(bundle)
            .args(["--stats-interval", "0.2"])
            .args(arguments)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn galette");
        let mut child = child;
        let stdout = OutputReader::start(child.stdout.take().expect("piped"));
        let stderr = OutputReader::start(child.stderr.take().expect("piped"));
        RunningGalette { child: Some(child), output: Some((stdout, stderr)), _run_dir: run_dir }
    }

    /// Waits until an XDP program is attached to the interface, or panics
    /// with galette's output if it exits or takes more than 30 seconds.
    pub fn wait_attached(&mut self, namespace: &str, interface: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !xdp_program_attached(namespace, interface).unwrap() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let output = self.collect(status);
                panic!("galette exited with {status} before attaching: {}", String::from_utf8_lossy(&output.stderr));
            }
            assert!(Instant::now() < deadline, "galette did not attach within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` and collects galette's exit status and output.
    pub fn stop_with(mut self, signal: i32) -> Output {
        let mut child = self.child.take().unwrap();
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        self.collect(status)
    }

    /// The output of the exited galette.
    fn collect(&mut self, status: std::process::ExitStatus) -> Output {
        let (stdout, stderr) = self.output.take().expect("collected once");
        Output { status, stdout: stdout.finish(), stderr: stderr.finish() }
    }
}

/// A thread reading one of a child's pipes to its end.
struct OutputReader(std::thread::JoinHandle<Vec<u8>>);

impl OutputReader {
    fn start(mut pipe: impl std::io::Read + Send + 'static) -> OutputReader {
        OutputReader(std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        }))
    }

    fn finish(self) -> Vec<u8> {
        self.0.join().unwrap_or_default()
    }
}

impl Drop for RunningGalette {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends `count` copies of one frame from `from` towards `to` as fast as the
/// socket takes them.
pub fn flood(from: &VethSide, to: &VethSide, count: usize) {
    let sender = RawSocket::open(from.namespace(), from.interface()).unwrap();
    let frame = from.udp_frame_to(to, 40_004, vec![0x42; 64]).to_bytes();
    for _ in 0..count {
        // A full socket buffer only means this frame is not sent; the flood
        // is bounded either way.
        let _ = sender.send(&frame);
    }
    std::thread::sleep(Duration::from_millis(500));
}
