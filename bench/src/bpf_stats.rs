//! The kernel's run time and run count of eBPF programs (BPF_ENABLE_STATS),
//! for the DUT's CPU time per packet.
//!
//! Statistics are enabled through `aya::sys::enable_stats`, whose file
//! descriptor turns them off again when it is closed: on every return, on
//! Ctrl-C and even when the benchmark is killed, the kernel's setting goes
//! back to what it was (`kernel.bpf_stats_enabled` is never written, and a
//! user's own `sysctl` setting stays as it is).

use std::collections::BTreeSet;
use std::os::fd::OwnedFd;

use aya::programs::{ProgramInfo, loaded_programs};
use aya::sys::{Stats, enable_stats};
use galette_bench_report::ProgramRuns;
use galette_bundle::error_chain;

use crate::BenchError;

/// Run-time statistics on, for as long as this lives.
pub struct StatsEnabled {
    _fd: OwnedFd,
}

impl StatsEnabled {
    pub fn new() -> Result<StatsEnabled, BenchError> {
        let fd = enable_stats(Stats::RunTime).map_err(|err| {
            BenchError::Setup(format!(
                "cannot enable eBPF run-time statistics (BPF_ENABLE_STATS): {}",
                error_chain(&err)
            ))
        })?;
        Ok(StatsEnabled { _fd: fd })
    }
}

/// One program's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub name: String,
    pub id: u32,
    pub run_ns: u64,
    pub runs: u64,
}

impl Snapshot {
    fn of(info: &ProgramInfo) -> Snapshot {
        Snapshot {
            name: info.name_as_str().unwrap_or("").to_owned(),
            id: info.id(),
            run_ns: u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX),
            runs: info.run_count(),
        }
    }
}

/// The counters of the programs `ids`, now; an error if one is gone.
pub fn snapshot(ids: &BTreeSet<u32>) -> Result<Vec<Snapshot>, BenchError> {
    let mut found = Vec::new();
    for info in loaded_programs() {
        let info = info.map_err(|err| BenchError::Run(format!("cannot list eBPF programs: {}", error_chain(&err))))?;
        if ids.contains(&info.id()) {
            found.push(Snapshot::of(&info));
        }
    }
    if found.len() != ids.len() {
        return Err(BenchError::Run(format!("eBPF programs {ids:?} are no longer all loaded")));
    }
    Ok(found)
}

/// What each program did between two snapshots of the same programs.
pub fn between(before: &[Snapshot], after: &[Snapshot]) -> Vec<ProgramRuns> {
    after
        .iter()
        .map(|later| {
            let earlier = before.iter().find(|earlier| earlier.id == later.id);
            let (run_ns, runs) = earlier.map_or((0, 0), |earlier| (earlier.run_ns, earlier.runs));
            ProgramRuns {
                name: later.name.clone(),
                id: later.id,
                run_ns: later.run_ns.saturating_sub(run_ns),
                runs: later.runs.saturating_sub(runs),
            }
        })
        .collect()
}

/// The ids of the eBPF programs process `pid` holds open: for `galette
/// run`, its chain's entry program and every instance program it enters by
/// tail call (the loaded object keeps each program's file descriptor).
pub fn programs_of_process(pid: u32) -> Result<BTreeSet<u32>, BenchError> {
    let fds = format!("/proc/{pid}/fdinfo");
    let entries = std::fs::read_dir(&fds).map_err(|err| BenchError::Run(format!("cannot read {fds}: {err}")))?;
    let mut ids = BTreeSet::new();
    for entry in entries.flatten() {
        // A descriptor closed meanwhile is simply not one of them.
        let Ok(info) = std::fs::read_to_string(entry.path()) else { continue };
        if let Some(id) = program_id(&info) {
            ids.insert(id);
        }
    }
    if ids.is_empty() {
        return Err(BenchError::Run(format!("process {pid} holds no eBPF program")));
    }
    Ok(ids)
}

/// The `prog_id` of a descriptor's fdinfo, if it is an eBPF program's
/// (maps and links have `map_id` and `link_id`, and a link names the
/// program it holds as `prog_id` too, next to a `link_type`).
fn program_id(fdinfo: &str) -> Option<u32> {
    if fdinfo.lines().any(|line| line.starts_with("link_type:") || line.starts_with("link_id:")) {
        return None;
    }
    fdinfo.lines().find_map(|line| line.strip_prefix("prog_id:")).and_then(|id| id.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_program_descriptors_have_a_program_id() {
        let program = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\nprog_type:\t6\nprog_jited:\t1\n\
                       prog_tag:\tab\nmemlock:\t4096\nprog_id:\t42\nrun_time_ns:\t0\nrun_cnt:\t0\n";
        assert_eq!(program_id(program), Some(42));
        let link = "pos:\t0\nlink_type:\txdp\nlink_id:\t7\nprog_tag:\tab\nprog_id:\t42\nifindex:\t3\n";
        assert_eq!(program_id(link), None);
        let map = "pos:\t0\nmap_type:\t2\nmap_id:\t9\n";
        assert_eq!(program_id(map), None);
        assert_eq!(program_id("prog_id:\tx\n"), None);
    }

    #[test]
    fn runs_between_are_differences() {
        let at = |run_ns, runs| vec![Snapshot { name: "p".into(), id: 1, run_ns, runs }];
        assert_eq!(between(&at(100, 2), &at(350, 7)), [ProgramRuns { name: "p".into(), id: 1, run_ns: 250, runs: 5 }]);
    }
}
