//! Where a packet goes after each port of each userland instance, decided
//! once from the manifest, and the userland counters.

use std::sync::atomic::{AtomicU64, Ordering};

use galette_bundle::{Manifest, Placement, PortAction};

use crate::stats::InstanceCounters;

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
pub fn routes(manifest: &Manifest) -> Result<Vec<Option<Vec<Route>>>, String> {
    manifest
        .instances
        .iter()
        .map(|instance| {
            if instance.placement != Placement::Userland {
                return Ok(None);
            }
            let routes = instance
                .ports
                .iter()
                .map(|port| match &port.action {
                    PortAction::Tx => Ok(Route::Tx),
                    PortAction::Drop => Ok(Route::Drop),
                    PortAction::Abort => Ok(Route::Abort),
                    PortAction::Pass => Ok(Route::Pass),
                    PortAction::Redirect(role) => match manifest.roles.iter().position(|known| known == role) {
                        Some(index) => Ok(Route::Out(index as u32)),
                        None => {
                            Err(format!("`{}` leads out of `{role}`, which is not a role of the chain", instance.name))
                        }
                    },
                    PortAction::Instance(name) => {
                        let next =
                            manifest.instances.iter().position(|other| &other.name == name).ok_or_else(|| {
                                format!("`{}` leads to `{name}`, which is not an instance", instance.name)
                            })?;
                        if manifest.instances[next].placement != Placement::Userland {
                            return Err(format!(
                                "`{}` in userland leads to `{name}` in XDP; packets never return to XDP",
                                instance.name
                            ));
                        }
                        Ok(Route::Next(next))
                    }
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(Some(routes))
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

    pub fn snapshot(&self, name: &str, port_names: &[String]) -> InstanceCounters {
        InstanceCounters {
            name: name.to_owned(),
            received: self.received.load(Ordering::Relaxed),
            ports: port_names
                .iter()
                .cloned()
                .zip(self.ports.iter().map(|count| count.load(Ordering::Relaxed)))
                .collect(),
            aborted: self.panicked.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use galette_bundle::{FORMAT_VERSION, Instance, Port};

    fn instance(name: &str, placement: Placement, actions: Vec<PortAction>) -> Instance {
        Instance {
            name: name.into(),
            source: "std.x".into(),
            placement,
            reason: String::new(),
            program: None,
            library: None,
            ports: actions.into_iter().enumerate().map(|(i, action)| Port { name: format!("p{i}"), action }).collect(),
            maps: vec![],
        }
    }

    fn manifest(instances: Vec<Instance>) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            chain: "c".into(),
            compiler_version: "0".into(),
            platform: galette_bundle::host_platform(),
            xdp: None,
            roles: vec![],
            instances,
            maps: vec![],
            artifacts: vec![],
        }
    }

    #[test]
    fn userland_ports_route_to_verdicts_and_userland_instances() {
        let chain = manifest(vec![
            instance("x", Placement::Xdp, vec![PortAction::Instance("a".into())]),
            instance("a", Placement::Userland, vec![PortAction::Instance("b".into()), PortAction::Pass]),
            instance("b", Placement::Userland, vec![PortAction::Tx, PortAction::Drop, PortAction::Abort]),
        ]);
        let routes = routes(&chain).unwrap();
        assert_eq!(routes[0], None);
        assert_eq!(routes[1], Some(vec![Route::Next(2), Route::Pass]));
        assert_eq!(routes[2], Some(vec![Route::Tx, Route::Drop, Route::Abort]));
    }

    #[test]
    fn redirects_name_the_role_by_index() {
        let mut chain = manifest(vec![
            instance("x", Placement::Xdp, vec![PortAction::Instance("a".into())]),
            instance(
                "a",
                Placement::Userland,
                vec![PortAction::Redirect("wan".into()), PortAction::Redirect("lan".into())],
            ),
        ]);
        chain.roles = vec!["lan".into(), "wan".into()];
        assert_eq!(routes(&chain).unwrap()[1], Some(vec![Route::Out(1), Route::Out(0)]));
        chain.roles = vec!["lan".into()];
        assert!(routes(&chain).unwrap_err().contains("`wan`, which is not a role"));
    }

    #[test]
    fn userland_never_leads_back_to_xdp() {
        let chain = manifest(vec![
            instance("x", Placement::Xdp, vec![PortAction::Tx]),
            instance("a", Placement::Userland, vec![PortAction::Instance("x".into())]),
        ]);
        assert!(routes(&chain).unwrap_err().contains("never return to XDP"));
    }
}
