//! Named network namespaces: creating them, removing them, and running code
//! inside them.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::panic;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

use crate::command;

/// Where `ip netns` keeps the bind-mounted namespace files.
const NETNS_RUN_DIR: &str = "/var/run/netns";

/// Counts the namespace name prefixes handed out by this process, so that
/// concurrent tests in one process never pick the same names.
static NEXT_PREFIX: AtomicU32 = AtomicU32::new(0);

/// Returns a namespace name prefix `gal-{tag}-{pid}-{counter}` that no other
/// call in any running process returns: the process id separates processes,
/// the counter separates calls within one.
///
/// `tag` names the test or tool for whoever reads `ip netns list`; it may
/// hold only ASCII letters, digits, `-` and `_`, because it becomes part of a
/// file name.
pub fn unique_namespace_prefix(tag: &str) -> io::Result<String> {
    let tag_is_valid =
        !tag.is_empty() && tag.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if !tag_is_valid {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("namespace tag {tag:?} must be non-empty ASCII letters, digits, '-' or '_'"),
        ));
    }
    let counter = NEXT_PREFIX.fetch_add(1, Ordering::Relaxed);
    Ok(format!("gal-{tag}-{}-{counter}", std::process::id()))
}

/// A named network namespace (as made by `ip netns add`) that is deleted
/// when this guard is dropped.
///
/// Deleting a namespace also destroys the interfaces inside it, including
/// veth devices (whose peers in other namespaces go with them).
#[derive(Debug)]
pub struct NetworkNamespace {
    /// Empty once the namespace has been deleted explicitly, so `Drop`
    /// knows there is nothing left to do.
    name: String,
}

impl NetworkNamespace {
    /// Creates the namespace `name` with `ip netns add`.
    pub fn create(name: &str) -> io::Result<NetworkNamespace> {
        command::run("ip", &["netns", "add", name])?;
        Ok(NetworkNamespace { name: name.to_owned() })
    }

    /// The namespace's name, as used by `ip -n NAME` and [`run_in_netns`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Deletes the namespace now, reporting failure (dropping the guard
    /// deletes it too but has to ignore errors).
    pub fn delete(mut self) -> io::Result<()> {
        let name = std::mem::take(&mut self.name);
        command::run("ip", &["netns", "delete", &name]).map(drop)
    }
}

impl Drop for NetworkNamespace {
    fn drop(&mut self) {
        if !self.name.is_empty() {
            // Nothing useful can be done about a failure here; `delete`
            // exists for callers who want to see it.
            let _ = command::run("ip", &["netns", "delete", &self.name]);
        }
    }
}

/// Runs `f` on a fresh thread that has entered the network namespace `ns`
/// (one made by `ip netns add`), and returns what `f` returns.
///
/// Only that thread switches namespace, so the caller is unaffected. Sockets
/// and other kernel objects that `f` creates keep the namespace they were
/// created in after the thread ends: this is how the other helpers open
/// sockets on interfaces inside a namespace. A panic in `f` is passed on to
/// the caller.
pub fn run_in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> io::Result<T> {
    let namespace_path = Path::new(NETNS_RUN_DIR).join(ns);
    let namespace = File::open(&namespace_path).map_err(|error| {
        io::Error::new(error.kind(), format!("opening network namespace {}: {error}", namespace_path.display()))
    })?;
    thread::scope(|scope| {
        let worker = thread::Builder::new().name(format!("netns-{ns}")).spawn_scoped(scope, move || {
            enter_network_namespace(&namespace, ns)?;
            Ok(f())
        })?;
        worker.join().unwrap_or_else(|payload| panic::resume_unwind(payload))
    })
}

/// Moves the calling thread into the network namespace behind `namespace`.
fn enter_network_namespace(namespace: &File, ns: &str) -> io::Result<()> {
    // SAFETY: setns only reads the file descriptor, which `namespace` keeps
    // open for the duration of the call.
    let result = unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) };
    if result != 0 {
        let error = io::Error::last_os_error();
        return Err(io::Error::new(error.kind(), format!("setns into network namespace {ns}: {error}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_unique_and_carry_the_tag() {
        let first = unique_namespace_prefix("unit").unwrap();
        let second = unique_namespace_prefix("unit").unwrap();
        assert_ne!(first, second);
        assert!(first.starts_with(&format!("gal-unit-{}-", std::process::id())));
    }

    #[test]
    fn tags_that_are_not_plain_names_are_rejected() {
        for tag in ["", "a/b", "..", "with space"] {
            let error = unique_namespace_prefix(tag).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{tag:?}");
        }
    }

    #[test]
    fn missing_namespace_is_an_error_not_a_panic() {
        let error = run_in_netns("gal-no-such-namespace", || ()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
