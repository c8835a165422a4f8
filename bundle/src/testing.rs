//! Manifests for tests, with every field a test does not care about filled
//! in: for this crate's tests and, with the `testing` feature, for the tests
//! of the crates that read bundles.

use crate::{FORMAT_VERSION, Instance, Manifest, Placement, Platform, Port, PortAction, XDP_OBJECT, XdpPart};

/// An instance `name` with ports `p0`, `p1`, ... leading where `ports` say;
/// an XDP instance is fused into the program before it (it has no program
/// of its own), a userland one has the library `NAME.so`.
pub fn instance(name: &str, placement: Placement, ports: Vec<PortAction>) -> Instance {
    Instance {
        name: name.into(),
        source: "std.x".into(),
        placement,
        reason: String::new(),
        program: None,
        library: (placement == Placement::Userland).then(|| format!("{name}.so")),
        ports: ports.into_iter().enumerate().map(|(i, action)| Port { name: format!("p{i}"), action }).collect(),
        maps: vec![],
    }
}

/// The chain `chain` of `instances`, for this machine's platform, with an
/// XDP part (`XDP_OBJECT`, up to 2 ports per instance) whose `rx` leads to
/// the first instance (to `drop` without any), no roles, maps or artifacts.
pub fn manifest(chain: &str, instances: Vec<Instance>) -> Manifest {
    let entry = instances.first().map_or(PortAction::Drop, |first| PortAction::Instance(first.name.clone()));
    Manifest {
        format_version: FORMAT_VERSION,
        chain: chain.into(),
        compiler_version: "0".into(),
        platforms: Platform::host().into_iter().collect(),
        xdp: Some(XdpPart {
            object: XDP_OBJECT.into(),
            entry_program: "galette_rx".into(),
            entry,
            role_entries: vec![],
            max_ports: 2,
        }),
        roles: vec![],
        instances,
        maps: vec![],
        artifacts: vec![],
    }
}

/// `roles` as the manifest holds them.
pub fn roles(roles: &[&str]) -> Vec<String> {
    roles.iter().map(|role| (*role).to_owned()).collect()
}
