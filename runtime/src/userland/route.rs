//! Where a packet goes after each port of each userland instance, decided
//! once from the manifest, and the userland counters.

use std::sync::atomic::{AtomicU64, Ordering};

use galette_bundle::{Placement, ResolvedManifest, Target};

use crate::stats::{InstanceCounters, PortCounter};

/// What a worker does with a packet after an NF chose a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Run this userland instance next (run to completion in the worker).
    Next(usize),
    /// Send it back out of the interface it came in on.
    Tx,
    /// Send it out of the interface of this role (by index), through the
    /// worker's socket there.
    Out(u32),
    Drop,
    /// Drop it and count it as an error.
    Abort,
    /// `pass` after an upcall: the host stack cannot take a frame back from
    /// an AF_XDP socket, so it is dropped and counted (galettec warns).
    Pass,
}

/// Per manifest instance: the routes of its ports, for userland instances.
/// The manifest was checked when the bundle was opened (a userland port
/// never leads back to XDP), so every port has a route.
pub fn routes(resolved: &ResolvedManifest) -> Vec<Option<Vec<Route>>> {
    resolved
        .placements
        .iter()
        .zip(&resolved.ports)
        .map(|(placement, ports)| {
            (*placement == Placement::Userland).then(|| {
                ports
                    .iter()
                    .map(|target| match *target {
                        Target::Tx => Route::Tx,
                        Target::Drop => Route::Drop,
                        Target::Abort => Route::Abort,
                        Target::Pass => Route::Pass,
                        Target::Redirect(role) => Route::Out(role as u32),
                        Target::Instance(next) => Route::Next(next),
                    })
                    .collect()
            })
        })
        .collect()
}

/// Counters of one userland instance, shared by the workers.
#[derive(Debug, Default)]
pub struct UserlandCounters {
    pub received: AtomicU64,
    pub ports: Vec<AtomicU64>,
    /// Packets the NF panicked on (aborted).
    pub panicked: AtomicU64,
}

impl UserlandCounters {
    pub fn new(ports: usize) -> UserlandCounters {
        UserlandCounters { ports: (0..ports).map(|_| AtomicU64::new(0)).collect(), ..UserlandCounters::default() }
    }

    pub fn snapshot(&self, name: &str, port_names: &[&str]) -> InstanceCounters {
        InstanceCounters {
            name: name.to_owned(),
            received: self.received.load(Ordering::Relaxed),
            ports: port_names
                .iter()
                .zip(&self.ports)
                .map(|(port, count)| PortCounter { name: (*port).to_owned(), packets: count.load(Ordering::Relaxed) })
                .collect(),
            aborted: self.panicked.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use galette_bundle::testing::{self, instance};
    use galette_bundle::{Instance, Manifest, PortAction};

    fn routes_of(instances: Vec<Instance>, roles: &[&str]) -> Vec<Option<Vec<Route>>> {
        let manifest = Manifest { roles: testing::roles(roles), ..testing::manifest("c", instances) };
        routes(&ResolvedManifest::resolve(&manifest).unwrap())
    }

    #[test]
    fn userland_ports_route_to_verdicts_and_userland_instances() {
        let routes = routes_of(
            vec![
                instance("x", Placement::Xdp, vec![PortAction::Instance("a".into())]),
                instance("a", Placement::Userland, vec![PortAction::Instance("b".into()), PortAction::Pass]),
                instance("b", Placement::Userland, vec![PortAction::Tx, PortAction::Drop, PortAction::Abort]),
            ],
            &[],
        );
        assert_eq!(routes[0], None);
        assert_eq!(routes[1], Some(vec![Route::Next(2), Route::Pass]));
        assert_eq!(routes[2], Some(vec![Route::Tx, Route::Drop, Route::Abort]));
    }

    #[test]
    fn redirects_name_the_role_by_index() {
        let routes = routes_of(
            vec![
                instance("x", Placement::Xdp, vec![PortAction::Instance("a".into())]),
                instance(
                    "a",
                    Placement::Userland,
                    vec![PortAction::Redirect("wan".into()), PortAction::Redirect("lan".into())],
                ),
            ],
            &["lan", "wan"],
        );
        assert_eq!(routes[1], Some(vec![Route::Out(1), Route::Out(0)]));
    }
}
