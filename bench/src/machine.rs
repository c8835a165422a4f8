//! What machine a run happened on, when, and leftovers of runs that died.

use std::path::Path;
use std::process::Command;

use galette_bench_report::Machine;

pub fn describe(project_root: &Path) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name").map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib: f64 = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0.0);
    let commit = output("git", &["-C", &project_root.display().to_string(), "rev-parse", "--short", "HEAD"]);
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        memory_gib: memory_kib / 1024.0 / 1024.0,
        kernel: output("uname", &["-r"]),
        galette: format!(
            "{} ({})",
            env!("CARGO_PKG_VERSION"),
            if commit.is_empty() { "unknown commit" } else { &commit }
        ),
    }
}

/// The time now, as `2026-11-22T05:30:00Z`.
pub fn utc_now() -> String {
    output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"])
}

/// Deletes the namespaces of benchmark runs whose process is gone (a run
/// killed with SIGKILL cannot clean up after itself).
pub fn remove_stale_namespaces() {
    for line in output("ip", &["netns", "list"]).lines() {
        let Some(name) = line.split_whitespace().next() else { continue };
        // Named `gal-bench-PID-N-...` by galette-testbed.
        let Some(pid) = name
            .strip_prefix("gal-bench-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "delete", name]).status();
        }
    }
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default()
}
