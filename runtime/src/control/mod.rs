//! The control plane of a running chain: `galette run` listens on a
//! root-only Unix socket, one per chain, where `galette reload` and
//! `galette status` ask it to replace its bundle or to describe itself.
//!
//! - `run_dir.rs`: where the socket and the state file of each chain are,
//!   and finding a chain's socket by name or interface;
//! - `claim.rs`: how `galette run` takes its chain's files (refusing a second
//!   run, replacing a killed one's), and removes them when it ends;
//! - `protocol.rs`: the requests and responses, one JSON line each;
//! - `server.rs`: the thread that accepts connections and hands each request
//!   to `galette run`'s main loop, which answers one at a time;
//! - `session.rs`: the main loop's side: the running bundle, the reload
//!   history, and the answer to each request;
//! - `client.rs`: the other side, for `galette reload` and `galette status`;
//! - `text.rs`, `timestamp.rs`: how answers print for people.
//!
//! Nothing listens on a network port: the socket's permissions (0600, in a
//! 0700 directory, both root's) are its access control.

mod claim;
pub mod client;
mod error;
pub mod protocol;
pub mod run_dir;
pub mod server;
pub mod session;
pub mod text;
pub mod timestamp;

pub use error::ControlError;
pub use protocol::{AttachedInterface, ReloadOutcome, ReloadRecord, Request, Response, StatusReport};
pub use run_dir::{ChainEntry, ChainName, ChainTarget, RUN_DIR, RunDir};
pub use server::{ControlServer, PendingRequest};
pub use session::ChainSession;
pub use timestamp::UnixSeconds;

/// What the tests of this module share.
#[cfg(test)]
pub(crate) mod test_support {
    use std::time::Duration;

    use crate::reload::{ReloadReport, UserlandChange};

    /// A reload from `from` to `to` that kept `acl_v4` and `flows`, created
    /// `seen` and removed nothing, in 1.234 ms. The one place the tests
    /// spell out every field of the report.
    pub fn report(from: &str, to: &str) -> ReloadReport {
        ReloadReport {
            from_digest: from.into(),
            to_digest: to.into(),
            kept: vec!["acl_v4".into(), "flows".into()],
            created: vec!["seen".into()],
            removed: vec![],
            counters_kept: true,
            switch_after: Duration::from_micros(1234),
            userland: UserlandChange::Unchanged,
            reused_libraries: vec![],
            warnings: vec![],
        }
    }
}
