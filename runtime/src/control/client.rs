//! The client side of the control socket, for `galette reload` and `galette
//! status`: find the running chain's socket, send one request, read one
//! answer.

use std::io::ErrorKind;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use galette_bundle::Bundle;

use super::error::ControlError;
use super::protocol::{AbsolutePath, LineError, Request, Response, StatusReport, read_line, write_line};
use super::run_dir::{ChainName, ChainTarget, Located, RunDir};
use crate::RunError;
use crate::reload::ReloadReport;

/// How long `galette reload` waits for the answer: loading a large chain,
/// the kernel's verifier included, can take seconds.
pub const RELOAD_PATIENCE: Duration = Duration::from_secs(120);
/// How long `galette status` waits: the main loop answers between two
/// counter readings, unless a reload is under way.
pub const STATUS_PATIENCE: Duration = Duration::from_secs(30);

/// A reload the running chain did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub chain: ChainName,
    pub bundle: PathBuf,
    pub report: ReloadReport,
}

/// `galette reload`: verifies `bundle` here first (a bundle that does not
/// open never reaches the running chain), then asks the chain `target`
/// names (by default the one the bundle is of) to run it.
pub fn reload(run_dir: &RunDir, target: Option<ChainTarget>, bundle: &Path) -> Result<Reloaded, RunError> {
    let opened = Bundle::open(bundle)?;
    let path = AbsolutePath::canonical(bundle)
        .map_err(|source| ControlError::BundlePath { path: bundle.to_owned(), source })?;
    let target = match target {
        Some(target) => target,
        None => ChainTarget::Chain(ChainName::new(&opened.manifest.chain)?),
    };
    let request = Request::Reload { bundle: path.clone() };
    let (located, response) = ask_running(run_dir, &target, &request, RELOAD_PATIENCE)?;
    match response {
        Response::Reloaded { report } => Ok(Reloaded { chain: located.chain, bundle: path.into(), report }),
        Response::ReloadRefused { error } | Response::Failed { error } => Err(RunError::Remote(error)),
        other => Err(wrong_answer(&request, &other).into()),
    }
}

/// `galette status`: the chain `target` names, as it describes itself.
pub fn status(run_dir: &RunDir, target: &ChainTarget) -> Result<StatusReport, RunError> {
    let request = Request::Status;
    let (_, response) = ask_running(run_dir, target, &request, STATUS_PATIENCE)?;
    match response {
        Response::Status { status } => Ok(status),
        Response::Failed { error } => Err(RunError::Remote(error)),
        other => Err(wrong_answer(&request, &other).into()),
    }
}

/// Finds the chain's socket and asks it; a socket that is there but not
/// served is a chain that is not running, said as such.
fn ask_running(
    run_dir: &RunDir,
    target: &ChainTarget,
    request: &Request,
    wait: Duration,
) -> Result<(Located, Response), ControlError> {
    let located = run_dir.locate(target)?;
    match ask(&located.socket, request, wait) {
        Ok(response) => Ok((located, response)),
        Err(ControlError::Connect { source, .. }) if source.kind() == ErrorKind::ConnectionRefused => {
            Err(ControlError::NotAnswering { chain: located.chain.to_string(), socket: located.socket })
        }
        Err(ControlError::Connect { source, .. }) if source.kind() == ErrorKind::NotFound => {
            Err(run_dir.not_running(target))
        }
        Err(error) => Err(error),
    }
}

/// Sends `request` on `socket` and reads the answer, waiting at most `wait`
/// for it.
pub fn ask(socket: &Path, request: &Request, wait: Duration) -> Result<Response, ControlError> {
    let stream = UnixStream::connect(socket).map_err(|source| match source.kind() {
        ErrorKind::PermissionDenied => ControlError::NeedsRoot { path: socket.to_owned() },
        _ => ControlError::Connect { socket: socket.to_owned(), source },
    })?;
    let exchange_error = |source| ControlError::Exchange { socket: socket.to_owned(), source };
    stream.set_read_timeout(Some(wait)).map_err(exchange_error)?;
    stream.set_write_timeout(Some(wait)).map_err(exchange_error)?;
    write_line(&stream, request).map_err(|error| match error {
        LineError::Io(source) => exchange_error(source),
        other => exchange_error(std::io::Error::other(other)),
    })?;
    read_line(&stream).map_err(|error| match error {
        LineError::Io(source) if matches!(source.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            ControlError::NoAnswer { socket: socket.to_owned(), waited: wait }
        }
        LineError::Io(source) => exchange_error(source),
        LineError::Closed => {
            exchange_error(std::io::Error::new(ErrorKind::UnexpectedEof, "it closed the connection without an answer"))
        }
        other => ControlError::BadAnswer { socket: socket.to_owned(), source: other },
    })
}

fn wrong_answer(request: &Request, response: &Response) -> ControlError {
    ControlError::WrongAnswer { asked: request.name(), answered: response.name() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::AttachedInterface;
    use crate::control::run_dir::ChainEntry;
    use crate::control::server::ControlServer;

    #[test]
    fn a_socket_nothing_serves_is_a_chain_that_is_not_running() {
        let temp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(temp.path());
        let killed = std::os::unix::net::UnixListener::bind(temp.path().join("macswap.sock")).unwrap();
        drop(killed);
        let target = ChainTarget::Chain(ChainName::new("macswap").unwrap());
        let error = status(&dir, &target).unwrap_err();
        assert_eq!(
            galette_bundle::error_chain(&error),
            format!(
                "chain `macswap` is not running: nothing answers on its socket {}",
                temp.path().join("macswap.sock").display()
            )
        );
    }

    #[test]
    fn a_refusal_comes_back_as_the_runtimes_own_error() {
        let temp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(temp.path());
        let entry = ChainEntry {
            chain: "macswap".into(),
            pid: 1,
            interfaces: vec![AttachedInterface { interface: "veth0".into(), role: None }],
        };
        let server = ControlServer::start(&dir, &entry).unwrap();
        let refusal = RunError::Reload(crate::reload::ReloadRefusal::NoXdpPart).one_line();
        let main_loop = std::thread::spawn(move || {
            loop {
                if let Some(pending) = server.next_request(Duration::from_millis(20)) {
                    pending.answer(Response::Failed { error: refusal });
                    return;
                }
            }
        });
        let error = status(&dir, &ChainTarget::Interface("veth0".into())).unwrap_err();
        main_loop.join().unwrap();
        let line = error.one_line();
        assert_eq!(line.to_string(), "reload refused; the running chain is unchanged: the bundle has no XDP part");
        use miette::Diagnostic;
        assert_eq!(line.code().unwrap().to_string(), "galette::reload");
    }

    #[test]
    fn a_bundle_that_does_not_open_is_refused_before_any_chain_is_looked_for() {
        let temp = tempfile::tempdir().unwrap();
        let error = reload(&RunDir::new(temp.path()), None, &temp.path().join("missing.bundle")).unwrap_err();
        assert!(matches!(error, RunError::Bundle(_)), "{error:?}");
    }
}
