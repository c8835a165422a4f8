//! Which CPUs a thread may run on, and where and how long it ran: what
//! keeps a traffic generator and the device under test on CPUs of their
//! own, and what shows that they stayed there.

use std::io;
use std::mem;

/// The CPUs the calling thread may run on, ascending.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    thread_affinity(0)
}

/// The CPUs thread `tid` may run on, ascending (`0`: the calling thread).
pub fn thread_affinity(tid: u32) -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain bits; all zeros is the empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: the kernel writes at most `size_of` bytes into `set`.
    let result = unsafe { libc::sched_getaffinity(tid as libc::pid_t, mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if result != 0 {
        let error = io::Error::last_os_error();
        return Err(io::Error::new(error.kind(), format!("reading the CPU affinity of thread {tid}: {error}")));
    }
    // SAFETY: CPU_ISSET only reads the set, for indexes below its size.
    Ok((0..libc::CPU_SETSIZE as usize).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) }).collect())
}

/// Lets thread `tid` (`0`: the calling thread; a kernel thread too) run
/// only on `cpus`.
pub fn set_thread_affinity(tid: u32, cpus: &[usize]) -> io::Result<()> {
    if cpus.is_empty() || cpus.iter().any(|&cpu| cpu >= libc::CPU_SETSIZE as usize) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{cpus:?} is not a set of CPUs")));
    }
    // SAFETY: cpu_set_t is plain bits; all zeros is the empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: `cpu` is below CPU_SETSIZE, checked above.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: the kernel reads `size_of` bytes from `set`.
    let result = unsafe { libc::sched_setaffinity(tid as libc::pid_t, mem::size_of::<libc::cpu_set_t>(), &set) };
    if result != 0 {
        let error = io::Error::last_os_error();
        return Err(io::Error::new(error.kind(), format!("pinning thread {tid} to CPUs {cpus:?}: {error}")));
    }
    Ok(())
}

/// The CPU thread `tid` last ran on (`processor` in /proc/TID/stat).
pub fn last_cpu(tid: u32) -> io::Result<usize> {
    let stat = std::fs::read_to_string(format!("/proc/{tid}/stat"))?;
    stat_field(&stat, 39)
        .and_then(|cpu| cpu.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no CPU in /proc/{tid}/stat: {stat:?}")))
}

/// How long thread `tid` has run, in nanoseconds (the first number of
/// /proc/TID/schedstat: exact, where /proc/TID/stat counts ticks).
pub fn thread_run_ns(tid: u32) -> io::Result<u64> {
    let schedstat = std::fs::read_to_string(format!("/proc/{tid}/schedstat"))?;
    schedstat.split_whitespace().next().and_then(|ns| ns.parse().ok()).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, format!("unexpected /proc/{tid}/schedstat: {schedstat:?}"))
    })
}

/// Field `n` (from 1, as proc(5) counts) of a /proc/PID/stat line. The
/// command name, field 2, is in parentheses and may hold spaces, so fields
/// after it count from the last `)`.
fn stat_field(stat: &str, n: usize) -> Option<&str> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(n.checked_sub(3)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_past_a_name_with_spaces() {
        // Fields 3 to 52, each holding its own number but the state.
        let fields: Vec<String> = (4..=52).map(|n| n.to_string()).collect();
        let stat = format!("42 (napi/veth0 (x)-7) S {}", fields.join(" "));
        let stat = stat.as_str();
        assert_eq!(stat_field(stat, 3), Some("S"));
        assert_eq!(stat_field(stat, 15), Some("15"));
        assert_eq!(stat_field(stat, 39), Some("39"));
        assert_eq!(stat_field(stat, 2), None);
        assert_eq!(stat_field("no name", 3), None);
    }

    #[test]
    fn a_thread_pinned_to_one_cpu_runs_there() {
        let cpus = allowed_cpus().unwrap();
        let last = *cpus.last().unwrap();
        // A thread of its own, so that the test harness keeps its affinity.
        let (affinity, ran_on) = std::thread::spawn(move || {
            set_thread_affinity(0, &[last]).unwrap();
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() } as u32;
            std::thread::yield_now();
            (allowed_cpus().unwrap(), last_cpu(tid).unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(affinity, [last]);
        assert_eq!(ran_on, last);
        assert!(thread_run_ns(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn an_empty_or_impossible_set_is_refused() {
        assert_eq!(set_thread_affinity(0, &[]).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(set_thread_affinity(0, &[usize::MAX]).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
