//! The control protocol: what `galette reload` and `galette status` ask a
//! running `galette run`, and what it answers. A connection carries one
//! request and one response, each one JSON object on one line (see
//! docs/runtime.md, "The control socket").

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::timestamp::UnixSeconds;
use crate::error::OneLine;
use crate::reload::ReloadReport;

/// The longest line either side reads: a status with ten reloads of chains
/// with many maps is a few kilobytes.
pub const MAX_LINE: usize = 1 << 20;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Replace the running chain with the bundle at this path. The client
    /// has verified it; the runtime opens and verifies it again, since it is
    /// what runs it.
    Reload { bundle: AbsolutePath },
    /// Describe the running chain and its last reloads.
    Status,
}

impl Request {
    /// The request's name, as the protocol spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Reload { .. } => "reload",
            Request::Status => "status",
        }
    }
}

/// A path that is absolute: the runtime's working directory is none of the
/// client's business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PathBuf", into = "PathBuf")]
pub struct AbsolutePath(PathBuf);

impl AbsolutePath {
    /// `path` with every symbolic link resolved (so the runtime opens the
    /// files the client verified), which is always absolute.
    pub fn canonical(path: &Path) -> std::io::Result<AbsolutePath> {
        std::fs::canonicalize(path).map(AbsolutePath)
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl TryFrom<PathBuf> for AbsolutePath {
    type Error = String;

    fn try_from(path: PathBuf) -> Result<Self, Self::Error> {
        if path.is_absolute() {
            Ok(AbsolutePath(path))
        } else {
            Err(format!("the bundle's path must be absolute, not {}", path.display()))
        }
    }
}

impl From<AbsolutePath> for PathBuf {
    fn from(path: AbsolutePath) -> PathBuf {
        path.0
    }
}

/// What the running chain answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    /// The reload happened: the new bundle runs.
    Reloaded {
        report: ReloadReport,
    },
    /// The reload was refused, or failed; the chain runs as it did.
    ReloadRefused {
        error: OneLine,
    },
    Status {
        status: StatusReport,
    },
    /// The request was not handled: it did not read as one, or the chain is
    /// stopping.
    Failed {
        error: OneLine,
    },
}

impl Response {
    /// The response's name, as the protocol spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Response::Reloaded { .. } => "reloaded",
            Response::ReloadRefused { .. } => "reload_refused",
            Response::Status { .. } => "status",
            Response::Failed { .. } => "failed",
        }
    }
}

/// The running chain, as `galette status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub chain: String,
    /// The `galette run` process.
    pub pid: u32,
    pub interfaces: Vec<AttachedInterface>,
    /// The bundle running now (the last one reloaded, or the one started).
    pub bundle: PathBuf,
    /// Its digest (`sha256:` and the SHA-256 of its manifest.json).
    pub digest: String,
    /// Since when that bundle runs.
    pub running_since: UnixSeconds,
    /// The last reloads, refused ones included, oldest first.
    pub reloads: Vec<ReloadRecord>,
}

impl StatusReport {
    /// The report as one line of JSON, as `galette status --json` prints it.
    pub fn to_json_line(&self) -> String {
        // A report the client has was read from JSON: every path in it is
        // UTF-8, so it writes as JSON again.
        serde_json::to_string(self).expect("a status report always serializes")
    }
}

/// An interface the chain is attached to, with its role in the chain when
/// the chain has interface roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedInterface {
    pub interface: String,
    pub role: Option<String>,
}

impl std::fmt::Display for AttachedInterface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.role {
            Some(role) => write!(f, "{role}={}", self.interface),
            None => f.write_str(&self.interface),
        }
    }
}

/// One reload the running chain was asked for, and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadRecord {
    /// When it was asked for.
    pub at: UnixSeconds,
    pub bundle: PathBuf,
    #[serde(flatten)]
    pub outcome: ReloadOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReloadOutcome {
    Ok { report: ReloadReport },
    Refused { error: OneLine },
}

impl From<ReloadOutcome> for Response {
    fn from(outcome: ReloadOutcome) -> Response {
        match outcome {
            ReloadOutcome::Ok { report } => Response::Reloaded { report },
            ReloadOutcome::Refused { error } => Response::ReloadRefused { error },
        }
    }
}

/// Why a line was not read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("the connection closed before a whole line")]
    Closed,
    #[error("the line is longer than {MAX_LINE} bytes")]
    TooLong,
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// Writes `message` as one line of JSON.
pub fn write_line<T: Serialize>(mut stream: impl Write, message: &T) -> Result<(), LineError> {
    let mut line = serde_json::to_vec(message)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    Ok(stream.flush()?)
}

/// Reads one line of JSON (at most [`MAX_LINE`] bytes) as a `T`.
pub fn read_line<T: DeserializeOwned>(stream: impl Read) -> Result<T, LineError> {
    let mut line = Vec::new();
    BufReader::new(stream.take(MAX_LINE as u64 + 1)).read_until(b'\n', &mut line)?;
    match line.last() {
        Some(b'\n') => Ok(serde_json::from_slice(&line)?),
        _ if line.len() > MAX_LINE => Err(LineError::TooLong),
        _ => Err(LineError::Closed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn report() -> ReloadReport {
        crate::control::test_support::report("sha256:aa", "sha256:bb")
    }

    fn refusal() -> OneLine {
        crate::RunError::Reload(crate::reload::ReloadRefusal::NoXdpPart).one_line()
    }

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(message: T) -> String {
        let mut bytes = Vec::new();
        write_line(&mut bytes, &message).unwrap();
        assert_eq!(bytes.iter().filter(|&&byte| byte == b'\n').count(), 1, "one line, at the end");
        assert_eq!(read_line::<T>(bytes.as_slice()).unwrap(), message);
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn requests_round_trip_as_the_documented_lines() {
        let reload = Request::Reload { bundle: PathBuf::from("/srv/new.bundle").try_into().unwrap() };
        assert_eq!(round_trip(reload), "{\"request\":\"reload\",\"bundle\":\"/srv/new.bundle\"}\n");
        assert_eq!(round_trip(Request::Status), "{\"request\":\"status\"}\n");
    }

    #[test]
    fn responses_round_trip() {
        let line = round_trip(Response::Reloaded { report: report() });
        assert!(line.starts_with("{\"response\":\"reloaded\",\"report\":{\"from_digest\":\"sha256:aa\""), "{line}");
        let line = round_trip(Response::ReloadRefused { error: refusal() });
        assert!(
            line.contains("\"message\":\"reload refused; the running chain is unchanged: the bundle has no XDP part\"")
        );
        assert!(line.contains("\"code\":\"galette::reload\""), "{line}");
        round_trip(Response::Failed { error: refusal() });
        let status = StatusReport {
            chain: "macswap".into(),
            pid: 42,
            interfaces: vec![AttachedInterface { interface: "veth0".into(), role: Some("lan".into()) }],
            bundle: "/srv/a.bundle".into(),
            digest: "sha256:bb".into(),
            running_since: UnixSeconds(1_700_000_000),
            reloads: vec![
                ReloadRecord {
                    at: UnixSeconds(1_700_000_000),
                    bundle: "/srv/a.bundle".into(),
                    outcome: ReloadOutcome::Ok { report: report() },
                },
                ReloadRecord {
                    at: UnixSeconds(1_700_000_100),
                    bundle: "/srv/b.bundle".into(),
                    outcome: ReloadOutcome::Refused { error: refusal() },
                },
            ],
        };
        let line = round_trip(Response::Status { status });
        assert!(line.contains("{\"at\":1700000100,\"bundle\":\"/srv/b.bundle\",\"outcome\":\"refused\",\"error\":"));
    }

    #[test]
    fn a_relative_bundle_path_is_not_a_request() {
        let error = read_line::<Request>(&b"{\"request\":\"reload\",\"bundle\":\"new.bundle\"}\n"[..]).unwrap_err();
        assert!(error.to_string().contains("the bundle's path must be absolute, not new.bundle"), "{error}");
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        assert!(matches!(read_line::<Request>(&b""[..]), Err(LineError::Closed)));
        assert!(matches!(read_line::<Request>(&b"{\"request\":\"status\"}"[..]), Err(LineError::Closed)));
        assert!(matches!(read_line::<Request>(&b"{\"request\":\"format_disk\"}\n"[..]), Err(LineError::Json(_))));
        assert!(matches!(read_line::<Request>(&b"\xff\xfe\n"[..]), Err(LineError::Json(_))));
        let long = vec![b' '; MAX_LINE + 10];
        assert!(matches!(read_line::<Request>(long.as_slice()), Err(LineError::TooLong)));
    }
}
