//! How reloads and statuses print for people: one line per reload (in
//! `galette run`'s output, from `galette reload`, in `galette status`), and
//! `galette status`'s few labelled lines.

use std::fmt::Write;
use std::path::Path;

use super::protocol::{ReloadOutcome, ReloadRecord, StatusReport};
use crate::error::OneLine;
use crate::reload::{ReloadReport, UserlandChange};

/// `reloaded chain `x` from /srv/new.bundle: sha256:… -> sha256:…, kept maps
/// a, b; created c; removed none; counters kept (switch after 1.2 ms)`.
pub fn reloaded(chain: &str, bundle: &Path, report: &ReloadReport) -> String {
    format!("reloaded chain `{chain}` from {}: {}", bundle.display(), report_summary(report))
}

/// `reload of chain `x` from /srv/new.bundle refused: WHY`.
pub fn refused(chain: &str, bundle: &Path, error: &OneLine) -> String {
    format!("reload of chain `{chain}` from {} refused: {error}", bundle.display())
}

/// The line of a reload that was asked of chain `chain`.
pub fn reload_record(chain: &str, record: &ReloadRecord) -> String {
    match &record.outcome {
        ReloadOutcome::Ok { report } => reloaded(chain, &record.bundle, report),
        ReloadOutcome::Refused { error } => refused(chain, &record.bundle, error),
    }
}

/// The digests, the maps, the counters, the switch time and what went wrong
/// after it.
fn report_summary(report: &ReloadReport) -> String {
    let names = |maps: &[String]| if maps.is_empty() { "none".to_owned() } else { maps.join(", ") };
    let mut summary = format!(
        "{} -> {}, kept maps {}; created {}; removed {}; counters {} (switch after {:.1} ms)",
        report.from_digest,
        report.to_digest,
        names(&report.kept),
        names(&report.created),
        names(&report.removed),
        if report.counters_kept { "kept" } else { "copied by instance" },
        report.switch_after.as_secs_f64() * 1000.0
    );
    match report.userland {
        UserlandChange::Unchanged => {}
        UserlandChange::Started => summary.push_str("; userland tier started"),
        UserlandChange::Stopped { accounted, total } => {
            let _ = write!(summary, "; userland tier stopped, frames accounted for: {accounted} of {total}");
        }
    }
    if !report.reused_libraries.is_empty() {
        let _ = write!(summary, "; userland libraries reused: {}", report.reused_libraries.join(", "));
    }
    for warning in &report.warnings {
        let _ = write!(summary, "; warning: {warning}");
    }
    summary
}

/// `galette status` without `--json`.
pub fn status(status: &StatusReport) -> String {
    let interfaces = status.interfaces.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let mut text = String::new();
    let _ = writeln!(text, "chain:         {} (galette run, pid {})", status.chain, status.pid);
    let _ = writeln!(text, "interfaces:    {interfaces}");
    let _ = writeln!(text, "bundle:        {}", status.bundle.display());
    let _ = writeln!(text, "digest:        {}", status.digest);
    let _ = writeln!(text, "running since: {}", status.running_since);
    if status.reloads.is_empty() {
        let _ = writeln!(text, "reloads:       none");
        return text;
    }
    let _ = writeln!(text, "reloads:       the last {}, oldest first", status.reloads.len());
    for record in &status.reloads {
        let (outcome, detail) = match &record.outcome {
            ReloadOutcome::Ok { report } => ("ok", report_summary(report)),
            ReloadOutcome::Refused { error } => ("refused", error.to_string()),
        };
        let _ = writeln!(text, "  {}  {outcome:<7}  {}: {detail}", record.at, record.bundle.display());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::AttachedInterface;
    use crate::control::timestamp::UnixSeconds;

    fn report() -> ReloadReport {
        crate::control::test_support::report("sha256:aa", "sha256:bb")
    }

    #[test]
    fn a_reload_is_one_line_with_digests_maps_and_switch_time() {
        assert_eq!(
            reloaded("gw", Path::new("/srv/new.bundle"), &report()),
            "reloaded chain `gw` from /srv/new.bundle: sha256:aa -> sha256:bb, kept maps acl_v4, flows; created seen; removed none; counters kept (switch after 1.2 ms)"
        );
    }

    #[test]
    fn a_status_shows_the_bundle_and_each_reload() {
        let refusal = crate::RunError::Reload(crate::reload::ReloadRefusal::NoXdpPart).one_line();
        let status = StatusReport {
            chain: "gw".into(),
            pid: 7,
            interfaces: vec![
                AttachedInterface { interface: "eth0".into(), role: Some("lan".into()) },
                AttachedInterface { interface: "eth1".into(), role: Some("wan".into()) },
            ],
            bundle: "/srv/new.bundle".into(),
            digest: "sha256:bb".into(),
            running_since: UnixSeconds(1_709_251_199),
            reloads: vec![
                ReloadRecord {
                    at: UnixSeconds(1_709_251_190),
                    bundle: "/srv/bad.bundle".into(),
                    outcome: ReloadOutcome::Refused { error: refusal },
                },
                ReloadRecord {
                    at: UnixSeconds(1_709_251_199),
                    bundle: "/srv/new.bundle".into(),
                    outcome: ReloadOutcome::Ok { report: report() },
                },
            ],
        };
        assert_eq!(
            super::status(&status),
            "\
chain:         gw (galette run, pid 7)
interfaces:    lan=eth0, wan=eth1
bundle:        /srv/new.bundle
digest:        sha256:bb
running since: 2024-02-29T23:59:59Z
reloads:       the last 2, oldest first
  2024-02-29T23:59:50Z  refused  /srv/bad.bundle: reload refused; the running chain is unchanged: the bundle has no XDP part
  2024-02-29T23:59:59Z  ok       /srv/new.bundle: sha256:aa -> sha256:bb, kept maps acl_v4, flows; created seen; removed none; counters kept (switch after 1.2 ms)
"
        );
    }
}
