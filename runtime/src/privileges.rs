//! Checking up front that this process may load and attach XDP programs, so
//! the user gets one clear sentence instead of a kernel EPERM later.

use crate::RunError;

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// Succeeds when the effective capabilities allow loading BPF programs
/// (CAP_BPF, or CAP_SYS_ADMIN on older kernels) and attaching them to
/// interfaces (CAP_NET_ADMIN).
pub fn check_privileges() -> Result<(), RunError> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = effective_capabilities(&status).unwrap_or(0);
    let mut missing = Vec::new();
    if !has(effective, CAP_BPF) && !has(effective, CAP_SYS_ADMIN) {
        missing.push("CAP_BPF");
    }
    if !has(effective, CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if missing.is_empty() { Ok(()) } else { Err(RunError::Privileges { missing }) }
}

fn effective_capabilities(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|line| line.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

fn has(capabilities: u64, capability: u32) -> bool {
    capabilities & (1 << capability) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_effective_set() {
        let status = "Name:\tx\nCapEff:\t0000000000001000\n";
        let caps = effective_capabilities(status).unwrap();
        assert!(has(caps, CAP_NET_ADMIN));
        assert!(!has(caps, CAP_BPF));
    }
}
