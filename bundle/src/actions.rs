//! The action table: where each port of each XDP instance leads, as the
//! generated programs read it at run time (so links can change without
//! recompiling), and the program array they tail-call through.
//!
//! The table is an array map of `u32` action codes. Port `p` of instance `i`
//! is at [`action_slot`]`(i, p, max_ports)`; where `rx` leads is at
//! [`entry_slot`]. A code is a kind in its low 8 bits and a target (an
//! instance index) above them. An all-zero table drops everything, so a chain
//! whose table is not filled yet fails closed.

/// Name of the array map of action codes.
pub const ACTIONS_MAP: &str = "GALETTE_ACTIONS";

/// Name of the program array holding one program per XDP instance, indexed
/// by instance.
pub const PROGRAMS_MAP: &str = "GALETTE_PROGS";

/// The kinds of action; the values are part of the bundle format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ActionKind {
    Drop = 0,
    Tx = 1,
    Pass = 2,
    Abort = 3,
    /// Tail-call the program of the target instance.
    Instance = 4,
    /// Hand the packet to userland, where the target instance runs next:
    /// write [`UpcallMetadata`] in front of it and redirect it into an
    /// AF_XDP socket.
    Upcall = 5,
    /// Send the packet out of the interface of the target interface role.
    Redirect = 6,
}

impl ActionKind {
    pub const ALL: [ActionKind; 7] = [
        ActionKind::Drop,
        ActionKind::Tx,
        ActionKind::Pass,
        ActionKind::Abort,
        ActionKind::Instance,
        ActionKind::Upcall,
        ActionKind::Redirect,
    ];
}

/// Name of the DEVMAP holding, per interface role, the interface it runs on.
pub const DEVS_MAP: &str = "GALETTE_DEVS";

/// The most interface roles a chain can have.
pub const MAX_ROLES: u32 = 16;

/// Name of the XSKMAP holding the userland workers' AF_XDP sockets.
pub const XSKS_MAP: &str = "GALETTE_XSKS";

/// The most userland worker sockets a chain can have.
pub const MAX_WORKERS: u32 = 64;

/// Name of the hash map from an interface's index to its first slot in
/// [`XSKS_MAP`]: an upcall must land in a socket bound to the interface and
/// RX queue the packet came in on (the kernel refuses any other), so each
/// interface has its own [`MAX_WORKERS`] slots, `workers` per queue: the
/// socket of worker `w` on queue `q` is at `xsk_slot(interface, q * workers
/// + w)`.
pub const XSK_BASES_MAP: &str = "GALETTE_XSK_BASES";

/// How many sockets [`XSKS_MAP`] holds: [`MAX_WORKERS`] per interface.
pub const XSKS_CAPACITY: u32 = MAX_ROLES * MAX_WORKERS;

/// The [`XSKS_MAP`] slot `index` (`queue * workers + worker`) of the
/// interface attached `interface`-th (a role's index, or 0 for a chain
/// without roles).
pub const fn xsk_slot(interface: u32, index: u32) -> u32 {
    interface * MAX_WORKERS + index
}

/// Name of the array map of run-time settings the XDP programs read.
pub const CONFIG_MAP: &str = "GALETTE_CONFIG";

/// Slot of [`CONFIG_MAP`] holding how many worker sockets each interface
/// has in [`XSKS_MAP`] (upcalls pick one of that many at random).
pub const CONFIG_WORKERS: u32 = 0;

/// Slot of [`CONFIG_MAP`] holding the object's generation: which load of the
/// chain it is in this runtime, 0 for the first and one more per live
/// reload. Upcalls carry it ([`UpcallMetadata::generation`]), so a worker
/// runs each frame through the userland part of the chain that sent it up.
pub const CONFIG_GENERATION: u32 = 1;

/// How many slots [`CONFIG_MAP`] has.
pub const CONFIG_SLOTS: u32 = 2;

/// The 8 bytes an upcall writes just in front of the frame (XDP metadata),
/// which the userland worker reads to know where the packet goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct UpcallMetadata {
    /// The instance to run next, in userland.
    pub instance: u16,
    /// The generation of the XDP object that sent the packet up (see
    /// [`CONFIG_GENERATION`]).
    pub generation: u16,
    /// The action-table slot that sent the packet up (which port of which
    /// XDP instance, or the entry), for counters and debugging.
    pub slot: u32,
}

const _: () = assert!(core::mem::size_of::<UpcallMetadata>() == 8);

/// Bits below the target in an action code.
pub const ACTION_KIND_BITS: u32 = 8;

/// The code of an action of `kind` towards instance `target` (0 when the
/// kind has no target).
pub const fn action_code(kind: ActionKind, target: u32) -> u32 {
    (target << ACTION_KIND_BITS) | kind as u32
}

/// The kind and target of an action code, or `None` for an unknown kind.
pub fn decode_action(code: u32) -> Option<(ActionKind, u32)> {
    let kind = ActionKind::ALL.into_iter().find(|kind| *kind as u32 == code & ((1 << ACTION_KIND_BITS) - 1))?;
    Some((kind, code >> ACTION_KIND_BITS))
}

/// The slot of port `port` of instance `instance` in the action table.
pub const fn action_slot(instance: u32, port: u32, max_ports: u32) -> u32 {
    instance * max_ports + port
}

/// The slot of where `rx` leads: just after every instance's ports.
pub const fn entry_slot(instances: u32, max_ports: u32) -> u32 {
    instances * max_ports
}

/// The slot of where `rx.ROLE` leads for the role with index `role`: just
/// after the entry slot.
pub const fn role_entry_slot(instances: u32, max_ports: u32, role: u32) -> u32 {
    entry_slot(instances, max_ports) + 1 + role
}

/// How many slots the action table needs.
pub const fn action_slots(instances: u32, max_ports: u32, roles: u32) -> u32 {
    entry_slot(instances, max_ports) + 1 + roles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for kind in ActionKind::ALL {
            assert_eq!(decode_action(action_code(kind, 41)), Some((kind, 41)));
        }
        assert_eq!(decode_action(0), Some((ActionKind::Drop, 0)), "an empty slot drops");
        assert_eq!(decode_action(0xff), None);
    }

    #[test]
    fn every_port_and_the_entry_have_their_own_slot() {
        assert_eq!(action_slot(0, 1, 3), 1);
        assert_eq!(action_slot(2, 0, 3), 6);
        assert_eq!(entry_slot(3, 3), 9);
        assert_eq!(action_slots(3, 3, 0), 10);
        assert_eq!(role_entry_slot(3, 3, 1), 11);
        assert_eq!(action_slots(3, 3, 2), 12);
    }
}

/// Every slot of the action table of a resolved manifest, with its code:
/// each port of each XDP instance, then the entry, then each role's entry.
pub fn action_table(resolved: &crate::ResolvedManifest) -> Vec<(u32, u32)> {
    use crate::{Placement, Target};
    let Some(entry) = resolved.entry else { return Vec::new() };
    let instances = resolved.placements.len() as u32;
    let max_ports = resolved.max_ports;
    let code_of = |target: Target| match target {
        Target::Tx => action_code(ActionKind::Tx, 0),
        Target::Pass => action_code(ActionKind::Pass, 0),
        Target::Drop => action_code(ActionKind::Drop, 0),
        Target::Abort => action_code(ActionKind::Abort, 0),
        Target::Redirect(role) => action_code(ActionKind::Redirect, role as u32),
        Target::Instance(index) => match resolved.placements[index] {
            Placement::Xdp => action_code(ActionKind::Instance, index as u32),
            Placement::Userland => action_code(ActionKind::Upcall, index as u32),
        },
    };
    let mut table = Vec::new();
    for (index, (placement, ports)) in resolved.placements.iter().zip(&resolved.ports).enumerate() {
        if *placement != Placement::Xdp {
            continue;
        }
        for (port, target) in ports.iter().enumerate() {
            table.push((action_slot(index as u32, port as u32, max_ports), code_of(*target)));
        }
    }
    table.push((entry_slot(instances, max_ports), code_of(entry)));
    for (role, target) in resolved.role_entries.iter().enumerate() {
        table.push((role_entry_slot(instances, max_ports, role as u32), code_of(*target)));
    }
    table
}

#[cfg(test)]
mod table_tests {
    use super::*;
    use crate::{Instance, Manifest, Placement, PortAction, ResolvedManifest, testing};

    fn instance(name: &str, ports: Vec<PortAction>) -> Instance {
        testing::instance(name, Placement::Xdp, ports)
    }

    fn manifest(instances: Vec<Instance>, entry: PortAction) -> Manifest {
        let mut manifest = testing::manifest("c", instances);
        manifest.xdp.as_mut().expect("an XDP part").entry = entry;
        manifest
    }

    #[test]
    fn every_port_and_the_entry_get_their_code() {
        let chain = manifest(
            vec![
                instance("a", vec![PortAction::Instance("b".into()), PortAction::Drop]),
                instance("b", vec![PortAction::Tx]),
            ],
            PortAction::Instance("a".into()),
        );
        let table = action_table(&ResolvedManifest::resolve(&chain).unwrap());
        assert_eq!(
            table,
            [
                (0, action_code(ActionKind::Instance, 1)),
                (1, action_code(ActionKind::Drop, 0)),
                (2, action_code(ActionKind::Tx, 0)),
                (4, action_code(ActionKind::Instance, 0)),
            ]
        );
    }

    #[test]
    fn a_link_into_userland_is_an_upcall() {
        let mut up = instance("up", vec![PortAction::Tx]);
        up.placement = Placement::Userland;
        up.library = Some("user/up.so".into());
        let chain = manifest(
            vec![instance("a", vec![PortAction::Instance("up".into())]), up],
            PortAction::Instance("a".into()),
        );
        let table = action_table(&ResolvedManifest::resolve(&chain).unwrap());
        assert_eq!(table[0], (0, action_code(ActionKind::Upcall, 1)));
        assert_eq!(table.len(), 2, "the userland instance's ports are not in the XDP table");
    }

    #[test]
    fn role_entries_and_redirects_name_roles_by_index() {
        let mut chain = manifest(vec![instance("a", vec![PortAction::Redirect("wan".into())])], PortAction::Drop);
        chain.roles = vec!["lan".into(), "wan".into()];
        chain.xdp.as_mut().unwrap().role_entries = ["lan", "wan"]
            .iter()
            .map(|role| crate::RoleEntry {
                role: (*role).into(),
                program: format!("rx_{role}"),
                action: PortAction::Instance("a".into()),
            })
            .collect();
        let table = action_table(&ResolvedManifest::resolve(&chain).unwrap());
        assert_eq!(
            table,
            [
                (0, action_code(ActionKind::Redirect, 1)),
                (2, action_code(ActionKind::Drop, 0)),
                (3, action_code(ActionKind::Instance, 0)),
                (4, action_code(ActionKind::Instance, 0)),
            ]
        );
    }
}
