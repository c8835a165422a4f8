//! The benchmark leaves nothing behind when it is interrupted: its network
//! namespaces (and with them every interface and XDP program in them) are
//! gone, so are the processes it started and its run directory, and it says
//! it was interrupted. Needs root, like the benchmark.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The benchmark's namespaces: `gal-bench-PID-...`.
fn namespaces_of(pid: u32) -> Vec<String> {
    let output = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    let prefix = format!("gal-bench-{pid}-");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn ctrl_c_removes_the_testbed() {
    let out = tempfile::tempdir().unwrap();
    let mut bench = Command::new(env!("CARGO_BIN_EXE_galette-bench"))
        .args(["--quick", "--only", "chain-cost", "--out"])
        .arg(out.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = bench.id();
    // The testbed exists once its namespaces do (after the eBPF build).
    let deadline = Instant::now() + Duration::from_secs(900);
    while namespaces_of(pid).is_empty() {
        if let Some(status) = bench.try_wait().unwrap() {
            let output = bench.wait_with_output().unwrap();
            panic!(
                "the benchmark ended ({status}) before its testbed existed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert!(Instant::now() < deadline, "no testbed after 15 minutes");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let output = bench.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("galette-bench: interrupted; the testbed has been removed"), "{stderr}");
    assert_eq!(namespaces_of(pid), Vec::<String>::new(), "namespaces left behind");
}

/// The reload experiment, interrupted while it reloads: besides the
/// namespaces, its `galette run` and `galette reload` processes and its run
/// directory (`/run/galette-bench-PID`) are gone. It runs the `galette`
/// built next to the benchmark, as `cargo xtask bench` does (`cargo test
/// --workspace` builds it; alone, `cargo build -p galette` first).
#[test]
fn ctrl_c_during_the_reloads_removes_everything() {
    let bench = Path::new(env!("CARGO_BIN_EXE_galette-bench"));
    let galette = bench.with_file_name("galette");
    assert!(galette.is_file(), "{} is missing: build it first (cargo build -p galette)", galette.display());
    let out = tempfile::tempdir().unwrap();
    let mut run = Command::new(bench)
        .args(["--quick", "--only", "reload", "--out"])
        .arg(out.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = run.id();
    // Interrupt once the first chain has been reloaded at least once.
    let deadline = Instant::now() + Duration::from_secs(900);
    while !reloaded_once(out.path()) {
        end_if_exited(&mut run, "before its first reload");
        assert!(Instant::now() < deadline, "no reload after 15 minutes");
        std::thread::sleep(Duration::from_millis(50));
    }
    let control_dir = PathBuf::from(format!("/run/galette-bench-{pid}"));
    assert!(control_dir.is_dir(), "the run directory is where the test looks for it");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let output = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("galette-bench: interrupted; the testbed has been removed"), "{stderr}");
    assert_eq!(namespaces_of(pid), Vec::<String>::new(), "namespaces left behind");
    assert!(!control_dir.exists(), "{} left behind", control_dir.display());
    assert_eq!(processes_mentioning(out.path()), Vec::<String>::new(), "processes left behind");
}

/// Whether a `galette run` of the reload experiment under `out` has said it
/// reloaded (its output goes to a log in the run's work directory).
fn reloaded_once(out: &Path) -> bool {
    let Ok(runs) = std::fs::read_dir(out) else { return false };
    runs.flatten().any(|run| {
        let Ok(logs) = std::fs::read_dir(run.path().join("work")) else { return false };
        logs.flatten().any(|log| {
            let name = log.file_name().to_string_lossy().into_owned();
            name.starts_with("reload-")
                && name.ends_with(".log")
                && std::fs::read_to_string(log.path()).is_ok_and(|text| text.contains("galette: reloaded"))
        })
    })
}

fn end_if_exited(child: &mut Child, when: &str) {
    if let Some(status) = child.try_wait().unwrap() {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        panic!("the benchmark ended ({status}) {when}: {stderr}");
    }
}

/// The command lines of the processes whose arguments mention `path`.
fn processes_mentioning(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    let Ok(processes) = std::fs::read_dir("/proc") else { return Vec::new() };
    processes
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().bytes().all(|byte| byte.is_ascii_digit()))
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&needle))
        .collect()
}
