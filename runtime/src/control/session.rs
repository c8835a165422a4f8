//! The main loop's side of the control socket: which bundle runs and since
//! when, the last reloads, and the answer to each request. `galette run`'s
//! main loop owns both this and the running chain, and answers one request
//! at a time.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use galette_bundle::Bundle;

use super::protocol::{AttachedInterface, ReloadOutcome, ReloadRecord, Request, Response, StatusReport};
use super::run_dir::ChainEntry;
use super::text;
use super::timestamp::UnixSeconds;
use crate::RunError;
use crate::attach::Attachment;
use crate::loader::RunningChain;
use crate::reload::ReloadReport;
use crate::trust::Trust;

/// How many reloads `galette status` shows.
pub const HISTORY: usize = 10;

/// Replacing the running chain with another bundle: what
/// [`RunningChain::reload`] does, or a stand-in in tests.
pub trait Reload {
    fn reload(&mut self, bundle: Bundle) -> Result<ReloadReport, RunError>;
}

impl Reload for RunningChain {
    fn reload(&mut self, bundle: Bundle) -> Result<ReloadReport, RunError> {
        RunningChain::reload(self, bundle)
    }
}

/// The interfaces of `attachments`, with their roles' names.
pub fn attached_interfaces(bundle: &Bundle, attachments: &[Attachment]) -> Vec<AttachedInterface> {
    attachments
        .iter()
        .map(|attachment| AttachedInterface {
            interface: attachment.interface.clone(),
            role: attachment.role.and_then(|role| bundle.manifest.roles.get(role as usize).cloned()),
        })
        .collect()
}

impl ChainEntry {
    /// The state file of this process running `bundle` on `interfaces`.
    pub fn new(bundle: &Bundle, interfaces: Vec<AttachedInterface>) -> ChainEntry {
        ChainEntry { chain: bundle.manifest.chain.clone(), pid: std::process::id(), interfaces }
    }
}

/// The running chain as the control socket describes it.
#[derive(Debug, Clone)]
pub struct ChainSession {
    chain: String,
    interfaces: Vec<AttachedInterface>,
    bundle: PathBuf,
    digest: String,
    running_since: UnixSeconds,
    /// Oldest first, at most [`HISTORY`].
    reloads: VecDeque<ReloadRecord>,
    /// Which bundles a reload may bring (the rule `galette run` was started
    /// with).
    trust: Trust,
}

/// What the main loop does with one request: the response for the client
/// and, for a reload, the line `galette run` prints about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub response: Response,
    pub log_line: Option<String>,
}

impl ChainSession {
    /// The chain just started from `bundle`, found at `bundle_path`.
    pub fn new(bundle_path: &Path, bundle: &Bundle, interfaces: Vec<AttachedInterface>, trust: Trust) -> ChainSession {
        ChainSession {
            trust,
            chain: bundle.manifest.chain.clone(),
            interfaces,
            // What `galette status` shows should not depend on the
            // directory `galette run` was started in.
            bundle: std::fs::canonicalize(bundle_path).unwrap_or_else(|_| bundle_path.to_owned()),
            digest: bundle.digest.clone(),
            running_since: UnixSeconds::now(),
            reloads: VecDeque::with_capacity(HISTORY),
        }
    }

    pub fn answer(&mut self, request: &Request, chain: &mut impl Reload) -> Answer {
        match request {
            Request::Status => Answer { response: Response::Status { status: self.status() }, log_line: None },
            Request::Reload { bundle } => {
                let record = self.reload(bundle.as_path(), chain);
                let log_line = format!("galette: {}", text::reload_record(&self.chain, &record));
                Answer { response: record.outcome.into(), log_line: Some(log_line) }
            }
        }
    }

    pub fn status(&self) -> StatusReport {
        StatusReport {
            chain: self.chain.clone(),
            pid: std::process::id(),
            interfaces: self.interfaces.clone(),
            bundle: self.bundle.clone(),
            digest: self.digest.clone(),
            running_since: self.running_since,
            reloads: self.reloads.iter().cloned().collect(),
        }
    }

    /// Opens and verifies the bundle at `path` (the client did, but this is
    /// the process that runs it, and the files may have changed since), has
    /// `chain` run it, and records how that went.
    fn reload(&mut self, path: &Path, chain: &mut impl Reload) -> ReloadRecord {
        let at = UnixSeconds::now();
        let reloaded = self.trust.open(path).and_then(|bundle| {
            let digest = bundle.digest.clone();
            chain.reload(bundle).map(|report| (digest, report))
        });
        let outcome = match reloaded {
            Ok((digest, report)) => {
                self.bundle = path.to_owned();
                self.digest = digest;
                self.running_since = UnixSeconds::now();
                ReloadOutcome::Ok { report }
            }
            Err(error) => ReloadOutcome::Refused { error: error.one_line() },
        };
        let record = ReloadRecord { at, bundle: path.to_owned(), outcome };
        if self.reloads.len() == HISTORY {
            self.reloads.pop_front();
        }
        self.reloads.push_back(record.clone());
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::AbsolutePath;
    use crate::reload::ReloadRefusal;
    use galette_bundle::{Placement, XDP_OBJECT, testing};

    /// Reloads as the kernel side would, or refuses every one.
    struct StandIn {
        refuse: bool,
        running: String,
    }

    impl Reload for StandIn {
        fn reload(&mut self, bundle: Bundle) -> Result<ReloadReport, RunError> {
            if self.refuse {
                return Err(RunError::Reload(ReloadRefusal::NoXdpPart));
            }
            let from_digest = std::mem::replace(&mut self.running, bundle.digest.clone());
            Ok(crate::control::test_support::report(&from_digest, &bundle.digest))
        }
    }

    /// A bundle of chain `sample` whose object is `object`.
    fn bundle(dir: &Path, object: &[u8]) -> Bundle {
        let manifest = testing::manifest("sample", vec![testing::instance("a", Placement::Xdp, vec![])]);
        galette_bundle::write_bundle(dir, manifest, &[galette_bundle::ArtifactFile::shared(XDP_OBJECT, object)])
            .unwrap();
        Bundle::open(dir).unwrap()
    }

    fn reload_request(path: &Path) -> Request {
        Request::Reload { bundle: AbsolutePath::canonical(path).unwrap() }
    }

    fn interfaces() -> Vec<AttachedInterface> {
        vec![AttachedInterface { interface: "veth0".into(), role: None }]
    }

    #[test]
    fn a_reload_changes_what_status_shows_and_is_kept_in_the_history() {
        let temp = tempfile::tempdir().unwrap();
        let first = bundle(&temp.path().join("a"), b"one");
        let second = bundle(&temp.path().join("b"), b"two");
        let mut session = ChainSession::new(&first.dir, &first, interfaces(), Trust::AnyBundle);
        let mut chain = StandIn { refuse: false, running: first.digest.clone() };
        let before = session.status();
        assert_eq!((before.chain.as_str(), before.digest.as_str()), ("sample", first.digest.as_str()));
        assert_eq!(before.interfaces, interfaces());
        assert!(before.reloads.is_empty());

        let answer = session.answer(&reload_request(&second.dir), &mut chain);
        let Response::Reloaded { report } = &answer.response else { panic!("{answer:?}") };
        assert_eq!((&report.from_digest, &report.to_digest), (&first.digest, &second.digest));
        let line = answer.log_line.unwrap();
        assert!(line.starts_with("galette: reloaded chain `sample` from "), "{line}");
        assert!(
            line.ends_with("kept maps acl_v4, flows; created seen; removed none; counters kept (switch after 1.2 ms)"),
            "{line}"
        );
        let after = session.status();
        assert_eq!(after.digest, second.digest);
        assert_eq!(after.bundle, std::fs::canonicalize(&second.dir).unwrap());
        assert!(after.running_since >= before.running_since);
        assert_eq!(after.reloads.len(), 1);
        assert!(matches!(after.reloads[0].outcome, ReloadOutcome::Ok { .. }));
    }

    #[test]
    fn a_refused_reload_changes_nothing_but_the_history() {
        let temp = tempfile::tempdir().unwrap();
        let first = bundle(&temp.path().join("a"), b"one");
        let mut session = ChainSession::new(&first.dir, &first, interfaces(), Trust::AnyBundle);
        let mut chain = StandIn { refuse: true, running: first.digest.clone() };
        let answer = session.answer(&reload_request(&first.dir), &mut chain);
        let Response::ReloadRefused { error } = &answer.response else { panic!("{answer:?}") };
        assert_eq!(error.to_string(), "reload refused; the running chain is unchanged: the bundle has no XDP part");
        assert!(
            answer
                .log_line
                .unwrap()
                .ends_with("refused: reload refused; the running chain is unchanged: the bundle has no XDP part")
        );
        let status = session.status();
        assert_eq!(status.digest, first.digest);
        assert!(matches!(&status.reloads[..], [ReloadRecord { outcome: ReloadOutcome::Refused { .. }, .. }]));
    }

    #[test]
    fn a_bundle_changed_after_the_client_checked_it_is_refused_by_the_runtime() {
        let temp = tempfile::tempdir().unwrap();
        let first = bundle(&temp.path().join("a"), b"one");
        let second = bundle(&temp.path().join("b"), b"two");
        std::fs::write(second.dir.join(XDP_OBJECT), b"tampered").unwrap();
        let mut session = ChainSession::new(&first.dir, &first, interfaces(), Trust::AnyBundle);
        let mut chain = StandIn { refuse: false, running: first.digest.clone() };
        let answer = session.answer(&reload_request(&second.dir), &mut chain);
        let Response::ReloadRefused { error } = &answer.response else { panic!("{answer:?}") };
        assert!(error.to_string().starts_with("cannot use bundle: artifact xdp/chain.o does not match"), "{error}");
        assert_eq!(session.status().digest, first.digest);
    }

    #[test]
    fn the_history_keeps_the_last_ten_reloads() {
        let temp = tempfile::tempdir().unwrap();
        let first = bundle(&temp.path().join("a"), b"one");
        let mut session = ChainSession::new(&first.dir, &first, interfaces(), Trust::AnyBundle);
        let mut chain = StandIn { refuse: true, running: first.digest.clone() };
        for n in 0..HISTORY + 3 {
            let missing = temp.path().join(format!("missing-{n}"));
            std::fs::create_dir(&missing).unwrap();
            session.answer(&reload_request(&missing), &mut chain);
        }
        let reloads = session.status().reloads;
        assert_eq!(reloads.len(), HISTORY);
        assert!(reloads[0].bundle.ends_with("missing-3"), "{:?}", reloads[0].bundle);
        assert!(reloads[HISTORY - 1].bundle.ends_with(format!("missing-{}", HISTORY + 2)));
    }

    #[test]
    fn a_roles_interfaces_carry_its_name() {
        let temp = tempfile::tempdir().unwrap();
        let mut sample = bundle(&temp.path().join("a"), b"one");
        sample.manifest.roles = vec!["lan".into(), "wan".into()];
        let attachments = [
            Attachment { interface: "eth0".into(), program: "rx_lan".into(), role: Some(0) },
            Attachment { interface: "eth1".into(), program: "rx_wan".into(), role: Some(1) },
        ];
        let attached = attached_interfaces(&sample, &attachments);
        let shown: Vec<String> = attached.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["lan=eth0", "wan=eth1"]);
        assert_eq!(ChainEntry::new(&sample, attached).pid, std::process::id());
    }
}
