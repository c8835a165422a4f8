//! Starting a server on a port picked free: binding port 0 and closing it
//! finds one, but another process can take it before the server binds it,
//! so a start that fails on a taken port is tried again on another.

use std::net::{IpAddr, SocketAddr, TcpListener};

/// How many ports to try before giving up.
const ATTEMPTS: usize = 5;

/// A port nothing listens on at `address`, asked in `namespace` (or the
/// test's own).
fn free_port(address: IpAddr, namespace: Option<&str>) -> u16 {
    let address = SocketAddr::new(address, 0);
    let bind = || {
        let listener = TcpListener::bind(address).unwrap_or_else(|error| panic!("binding {address}: {error}"));
        listener.local_addr().expect("the bound address").port()
    };
    match namespace {
        None => bind(),
        Some(namespace) => galette_testbed::run_in_netns(namespace, bind)
            .unwrap_or_else(|error| panic!("entering namespace {namespace}: {error}")),
    }
}

/// Calls `start` with free ports until it comes up, and returns the port.
/// `start` returns the server's log when it did not (having stopped what it
/// started); a log that does not say the port was taken ends the tries with
/// a panic naming `what` (this is test support).
pub(crate) fn start_on_a_free_port(
    what: &str,
    address: IpAddr,
    namespace: Option<&str>,
    mut start: impl FnMut(u16) -> Result<(), String>,
) -> u16 {
    let mut last_log = String::new();
    for _ in 0..ATTEMPTS {
        let port = free_port(address, namespace);
        match start(port) {
            Ok(()) => return port,
            Err(log) if log.to_lowercase().contains("address already in use") => last_log = log,
            Err(log) => panic!("{what} did not come up on {address}:{port}:\n{log}"),
        }
    }
    panic!("{what} found no free port after {ATTEMPTS} attempts:\n{last_log}");
}
