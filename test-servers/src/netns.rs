//! Starting a server's program here, or in a network namespace of the test.

use std::process::Command;

/// `program`, to be run in `namespace` when there is one. `ip netns exec`
/// execs the program in its own process, so the child's pid is the
/// program's and signals sent to it reach the server.
pub(crate) fn command_in(namespace: Option<&str>, program: &str) -> Command {
    match namespace {
        None => Command::new(program),
        Some(namespace) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", namespace, program]);
            command
        }
    }
}
