//! The control socket's server: a thread accepts each connection, reads its
//! request and hands it to `galette run`'s main loop, which owns the running
//! chain and answers requests one at a time (so two reloads at once are
//! done one after the other, never interleaved); the answer comes back to
//! this thread over a channel of its own and goes out on the connection.

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use super::claim::{Claim, claim};
use super::error::ControlError;
use super::protocol::{LineError, Request, Response, read_line, write_line};
use super::run_dir::{ChainEntry, RunDir};
use crate::RunError;

/// How long a client has to send its request, and to take the answer.
const CLIENT_PATIENCE: Duration = Duration::from_secs(5);
/// How often the accepting thread looks whether it should stop.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// A chain's control socket, served. Dropping it stops the thread, answers
/// the requests still waiting that the chain is stopping, and removes the
/// socket and the state file.
pub struct ControlServer {
    requests: Option<Receiver<PendingRequest>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    // Dropped after `drop` has stopped the thread: the files go last.
    claim: Claim,
}

/// A request the main loop has to answer.
pub struct PendingRequest {
    request: Request,
    answer: Sender<Response>,
}

impl PendingRequest {
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Sends the answer to the client (which may have gone).
    pub fn answer(self, response: Response) {
        let _ = self.answer.send(response);
    }
}

impl ControlServer {
    /// Takes the chain's place in `run_dir` (refusing if the chain runs
    /// already) and serves its socket.
    pub fn start(run_dir: &RunDir, entry: &ChainEntry) -> Result<ControlServer, ControlError> {
        let (claim, listener) = claim(run_dir, entry)?;
        let listen_error = |source| ControlError::Listen { path: claim.socket().to_owned(), source };
        // Non-blocking, so the thread notices `stop` between connections.
        listener.set_nonblocking(true).map_err(listen_error)?;
        let (sender, requests) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("galette-control".into())
                .spawn(move || serve(&listener, &sender, &stop))
                .map_err(listen_error)?
        };
        Ok(ControlServer { requests: Some(requests), stop, thread: Some(thread), claim })
    }

    /// The socket it listens on.
    pub fn socket(&self) -> &Path {
        self.claim.socket()
    }

    /// The next request, if one comes within `wait`; it always takes `wait`
    /// when none comes, so a caller can pace a loop with it.
    pub fn next_request(&self, wait: Duration) -> Option<PendingRequest> {
        let requests = self.requests.as_ref()?;
        match requests.recv_timeout(wait) {
            Ok(pending) => Some(pending),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                // The thread is gone (it does not end on its own): no more
                // requests, but the caller's pace stays.
                std::thread::sleep(wait);
                None
            }
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Requests still queued are dropped with the receiver, which the
        // thread, waiting for their answer, takes as "stopping".
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: &UnixListener, requests: &Sender<PendingRequest>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => answer(stream, requests),
            // Nothing to accept, or a passing failure (out of file
            // descriptors, say): try again a moment later.
            Err(_) => std::thread::sleep(ACCEPT_POLL),
        }
    }
}

fn answer(stream: UnixStream, requests: &Sender<PendingRequest>) {
    let configured = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(CLIENT_PATIENCE)))
        .and_then(|()| stream.set_write_timeout(Some(CLIENT_PATIENCE)));
    if configured.is_err() {
        return;
    }
    let response = match read_line::<Request>(&stream) {
        Ok(request) => forward(request, requests),
        // A connection that closes without a word is a probe (is anyone
        // there?), not a request.
        Err(LineError::Closed) => return,
        Err(error) => failed(ControlError::BadRequest(error)),
    };
    // A client that went away has no use for the answer. One that cannot be
    // written (a path that is not UTF-8) is replaced by the reason.
    if let Err(LineError::Json(error)) = write_line(&stream, &response) {
        let _ = write_line(&stream, &failed(ControlError::Unencodable(error)));
    }
}

/// Hands `request` to the main loop and waits for its answer.
fn forward(request: Request, requests: &Sender<PendingRequest>) -> Response {
    let (answer, answered) = mpsc::channel();
    if requests.send(PendingRequest { request, answer }).is_err() {
        return failed(ControlError::Stopping);
    }
    answered.recv().unwrap_or_else(|_| failed(ControlError::Stopping))
}

fn failed(error: ControlError) -> Response {
    Response::Failed { error: RunError::from(error).one_line() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::client::ask;
    use crate::control::protocol::StatusReport;
    use crate::control::timestamp::UnixSeconds;
    use std::io::Write;
    use std::time::Instant;

    fn entry() -> ChainEntry {
        ChainEntry { chain: "macswap".into(), pid: std::process::id(), interfaces: vec![] }
    }

    fn status(pid: u32) -> Response {
        Response::Status {
            status: StatusReport {
                chain: "macswap".into(),
                pid,
                interfaces: vec![],
                bundle: "/b".into(),
                digest: "sha256:aa".into(),
                running_since: UnixSeconds(0),
                reloads: vec![],
            },
        }
    }

    #[test]
    fn concurrent_requests_reach_the_main_loop_one_at_a_time_and_all_get_their_answer() {
        let temp = tempfile::tempdir().unwrap();
        let server = ControlServer::start(&RunDir::new(temp.path()), &entry()).unwrap();
        let socket = server.socket().to_owned();
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let socket = socket.clone();
                std::thread::spawn(move || ask(&socket, &Request::Status, Duration::from_secs(10)).unwrap())
            })
            .collect();
        // The main loop: each request is answered before the next is taken.
        let mut answered = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while answered < 4 && Instant::now() < deadline {
            if let Some(pending) = server.next_request(Duration::from_millis(50)) {
                assert_eq!(pending.request(), &Request::Status);
                std::thread::sleep(Duration::from_millis(30));
                answered += 1;
                pending.answer(status(answered));
            }
        }
        let mut pids: Vec<u32> = clients
            .into_iter()
            .map(|client| match client.join().unwrap() {
                Response::Status { status } => status.pid,
                other => panic!("{other:?}"),
            })
            .collect();
        pids.sort();
        assert_eq!(pids, [1, 2, 3, 4], "each got the answer to its own request");
    }

    #[test]
    fn a_malformed_request_is_answered_with_the_reason() {
        let temp = tempfile::tempdir().unwrap();
        let server = ControlServer::start(&RunDir::new(temp.path()), &entry()).unwrap();
        let mut stream = UnixStream::connect(server.socket()).unwrap();
        stream.write_all(b"{\"request\":\"reload\",\"bundle\":\"relative\"}\n").unwrap();
        match read_line::<Response>(&stream).unwrap() {
            Response::Failed { error } => assert!(
                error
                    .to_string()
                    .starts_with("not a request this galette understands: the bundle's path must be absolute"),
                "{error}"
            ),
            other => panic!("{other:?}"),
        }
        assert!(server.next_request(Duration::from_millis(10)).is_none(), "the main loop never saw it");
    }

    #[test]
    fn a_request_left_unanswered_when_the_server_stops_is_told_so() {
        let temp = tempfile::tempdir().unwrap();
        let server = ControlServer::start(&RunDir::new(temp.path()), &entry()).unwrap();
        let socket = server.socket().to_owned();
        let client = std::thread::spawn(move || ask(&socket, &Request::Status, Duration::from_secs(10)).unwrap());
        // Wait until the request is queued, then stop without taking it.
        std::thread::sleep(Duration::from_millis(300));
        drop(server);
        match client.join().unwrap() {
            Response::Failed { error } => assert_eq!(error.to_string(), "the chain is stopping"),
            other => panic!("{other:?}"),
        }
        assert!(!temp.path().join("macswap.sock").exists());
        assert!(!temp.path().join("macswap.json").exists());
    }
}
