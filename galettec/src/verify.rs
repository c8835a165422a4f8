//! The kernel verifier in the loop: when galettec may load programs, it loads
//! every program of a built object into the kernel, without attaching any,
//! and reports which ones the verifier rejects and why.

use aya::Ebpf;
use aya::programs::{ProgramError, Xdp};
use galette_bundle::error_chain;

/// What the verifier said about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifierOutcome {
    /// The check could not run (no privileges to load programs); says why.
    Skipped(String),
    /// Every program was loaded; these were rejected, with the end of the
    /// verifier's log.
    Checked { rejected: Vec<Rejection> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub program: String,
    pub log: String,
}

/// How many lines of the verifier's log to keep: its end says what failed.
const LOG_LINES: usize = 12;

/// Loads each program of `object` into the kernel and unloads it again.
pub fn verify_object(object: &[u8]) -> VerifierOutcome {
    let mut ebpf = match Ebpf::load(object) {
        Ok(ebpf) => ebpf,
        Err(error) => {
            let text = error_chain(&error);
            let why = if text.contains("Operation not permitted") || text.contains("os error 1)") {
                "loading programs needs root (CAP_BPF); run galettec as root to have the kernel verifier check the chain".to_owned()
            } else {
                format!("the object could not be loaded: {text}")
            };
            return VerifierOutcome::Skipped(why);
        }
    };
    let mut rejected = Vec::new();
    for (name, program) in ebpf.programs_mut() {
        let result = match <&mut Xdp>::try_from(program) {
            Ok(xdp) => xdp.load(),
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            rejected.push(Rejection { program: name.to_owned(), log: log_excerpt(&error) });
        }
    }
    VerifierOutcome::Checked { rejected }
}

/// The last lines of the verifier's log, or the error itself when the
/// kernel said nothing more.
fn log_excerpt(error: &ProgramError) -> String {
    if let ProgramError::LoadError { verifier_log, .. } = error {
        let log = verifier_log.to_string();
        let lines: Vec<&str> = log.lines().filter(|line| !line.trim().is_empty()).collect();
        if !lines.is_empty() {
            return lines[lines.len().saturating_sub(LOG_LINES)..].join("\n");
        }
    }
    error_chain(error)
}

/// The cause in a verifier's log: its last line that is not statistics.
pub fn log_summary(log: &str) -> String {
    let is_statistics = |line: &&str| {
        let line = line.trim();
        line.is_empty()
            || line.starts_with("processed ")
            || line.starts_with("verification time")
            || line.starts_with("stack depth")
    };
    log.lines().rev().find(|line| !is_statistics(line)).unwrap_or("no log").trim().to_owned()
}
