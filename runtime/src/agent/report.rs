//! The agent's reported state: who the device is, what it runs, the last
//! refusal, and the chain's counters.

use galette_bundle::Platform;
use galette_fleet::state::{REPORTED_FORMAT, ReportedState, Running};

use super::Agent;
use crate::counters::ChainCounters;
use crate::stats::CountersFormat;

pub(super) fn reported_state(agent: &Agent) -> ReportedState {
    let running = agent.applied.as_ref().map(|applied| Running {
        chain: applied.chain.clone(),
        bundle_digest: applied.desired.state.bundle.as_ref().map(|b| b.bundle_digest.clone()).unwrap_or_default(),
        version: applied.desired.state.version,
        reference: applied.desired.state.bundle.as_ref().map(|b| b.reference.clone()).unwrap_or_default(),
    });
    ReportedState {
        format: REPORTED_FORMAT.to_owned(),
        device: agent.config.device.clone(),
        platform: Some(Platform::host().map_or_else(galette_bundle::host_platform_name, |p| p.name().to_owned())),
        kernel: kernel_release(),
        agent_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        running,
        last_error: agent.last_error.clone(),
        counters: counters(agent),
        at: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_secs()),
    }
}

/// The running chain's counters as `galette stats --json` prints them.
fn counters(agent: &Agent) -> Option<serde_json::Value> {
    agent.chain.as_ref()?;
    let applied = agent.applied.as_ref()?;
    let bundle = galette_bundle::Bundle::open(&applied.bundle_dir).ok()?;
    let counters = ChainCounters::open_pinned(&bundle, &agent.config.run.bpffs).ok()?;
    let line = CountersFormat::Json.line(counters.chain(), &counters.reading().ok()?, false);
    serde_json::from_str(&line).ok()
}

fn kernel_release() -> Option<String> {
    // SAFETY: uname fills the struct it is given.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut name) } != 0 {
        return None;
    }
    // SAFETY: uname NUL-terminates its fields.
    let release = unsafe { std::ffi::CStr::from_ptr(name.release.as_ptr()) };
    Some(release.to_string_lossy().into_owned())
}
