//! The benchmark leaves nothing behind when it is interrupted: its network
//! namespaces (and with them every interface and XDP program in them) are
//! gone, and it says it was interrupted. Needs root, like the benchmark.

use std::process::{Command, Stdio};
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
