//! CPU time, from /proc: the softirq time of the whole machine and the time
//! of the DUT's processes (a userland forwarder) and threads (the NAPI
//! threads where its XDP programs run).

use std::time::Instant;

/// A reading to take the difference of.
#[derive(Debug, Clone, Copy)]
pub struct CpuReading {
    at: Instant,
    softirq_ticks: u64,
    process_ticks: u64,
}

impl CpuReading {
    /// Now, for the machine and the processes or threads `pids`.
    pub fn now(pids: &[u32]) -> CpuReading {
        CpuReading {
            at: Instant::now(),
            softirq_ticks: softirq_ticks(),
            process_ticks: pids.iter().copied().map(process_ticks).sum(),
        }
    }

    /// Cores busy between `self` and `later` (1.0 = one core all the time).
    pub fn cores_until(&self, later: &CpuReading) -> f64 {
        let seconds = later.at.duration_since(self.at).as_secs_f64();
        if seconds <= 0.0 {
            return 0.0;
        }
        let ticks = later.softirq_ticks.saturating_sub(self.softirq_ticks)
            + later.process_ticks.saturating_sub(self.process_ticks);
        ticks as f64 / ticks_per_second() / seconds
    }

    /// The machine's softirq time between `self` and `later`, in
    /// nanoseconds: whole ticks (10 ms) of each CPU, summed.
    pub fn softirq_ns_until(&self, later: &CpuReading) -> u64 {
        let ticks = later.softirq_ticks.saturating_sub(self.softirq_ticks);
        (ticks as f64 * 1e9 / ticks_per_second()) as u64
    }
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// The machine's softirq time: the 7th number of /proc/stat's `cpu` line.
fn softirq_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines()
        .find(|line| line.starts_with("cpu "))
        .and_then(|line| line.split_whitespace().nth(7))
        .and_then(|ticks| ticks.parse().ok())
        .unwrap_or(0)
}

/// A process's user and system time, with its threads' (or a kernel
/// thread's).
fn process_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name is in parentheses and may hold spaces: fields count
    // from the last `)`. utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else { return 0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|value| value.parse::<u64>().ok()).unwrap_or(0);
    field(14) + field(15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_worked_has_cpu_time() {
        // Work until the kernel has charged at least one tick (10 ms).
        let start = process_ticks(std::process::id());
        let mut spin = 0u64;
        while process_ticks(std::process::id()) == start {
            for _ in 0..100_000 {
                spin = std::hint::black_box(spin.wrapping_add(1));
            }
        }
        assert!(process_ticks(std::process::id()) > start);
        assert_eq!(process_ticks(u32::MAX), 0, "no such process");
        let reading = CpuReading::now(&[]);
        assert!(reading.cores_until(&reading) == 0.0);
    }
}
