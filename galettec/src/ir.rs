//! The typed chain IR: what checking produces and placement and code
//! generation consume. Names are resolved to indices; every port has exactly
//! one target.

use galette_grammar::Span;

use crate::signature::NfSignature;

/// A checked chain.
#[derive(Debug, Clone)]
pub struct ChainIr {
    pub name: String,
    /// Interface roles (`iface NAME`), in declaration order.
    pub roles: Vec<RoleIr>,
    /// Chain maps (`map NAME: ...`), in declaration order.
    pub maps: Vec<MapIr>,
    /// Instances reachable from `rx`, in the order they were declared.
    pub instances: Vec<InstanceIr>,
    /// Where arriving packets go: one entry for every interface (`rx -> X`),
    /// or one per role (`rx.lan -> X`).
    pub entries: Vec<EntryIr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleIr {
    pub name: String,
    pub span: Span,
}

/// A chain map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapIr {
    pub name: String,
    pub kind: MapKind,
    /// Key and value types as written; checked against the NFs' fields.
    pub key: String,
    pub value: String,
    pub capacity: u64,
    pub span: Span,
}

/// The kinds of map the language offers, each a kernel map type: the
/// manifest's own type, so chain, compiler and runtime name them alike.
pub use galette_bundle::MapKind;

/// The key of every array: its index.
pub const ARRAY_INDEX_TYPE: &str = "u32";

/// The key types nf-std can use in an LPM trie.
pub const PREFIX_KEY_TYPES: [&str; 2] = ["Ipv4Prefix", "Ipv6Prefix"];

/// Where packets arriving on an interface (or on every interface) go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryIr {
    /// The role the entry is for; `None` for every interface.
    pub role: Option<usize>,
    pub target: Target,
    pub upcall: bool,
    pub span: Span,
}

/// A placement the chain asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacementConstraint {
    /// `@xdp`.
    Xdp,
    /// `@userland`.
    Userland,
}

/// One NF instance.
#[derive(Debug, Clone)]
pub struct InstanceIr {
    pub name: String,
    pub span: Span,
    /// The NF source as written (`std.macswap`), and where.
    pub source: String,
    pub source_span: Span,
    pub nf: NfSignature,
    /// `@xdp` or `@userland`, and where it was written.
    pub constraint: Option<(PlacementConstraint, Span)>,
    /// Map fields of the NF, each bound to a chain map (index into
    /// [`ChainIr::maps`]), in the NF's field order.
    pub bindings: Vec<BindingIr>,
    /// One entry per port of the NF, in the NF's port order.
    pub ports: Vec<PortIr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingIr {
    pub field: String,
    pub map: usize,
    pub span: Span,
}

/// A port of an instance and where it leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortIr {
    pub name: String,
    /// The `Action` variant in the NF's Rust code.
    pub variant: String,
    pub target: Target,
    /// Whether the link is an upcall (`!nf`): the packet moves to userland.
    pub upcall: bool,
    /// The destination as written in the link.
    pub span: Span,
}

/// Where a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Tx,
    Pass,
    Drop,
    Abort,
    /// Another instance, by index into [`ChainIr::instances`].
    Instance(usize),
    /// Out of the interface of a role, by index into [`ChainIr::roles`].
    Redirect(usize),
}

impl ChainIr {
    /// The most ports any instance has.
    pub fn max_ports(&self) -> u32 {
        self.instances.iter().map(|i| i.ports.len() as u32).max().unwrap_or(0)
    }

    /// Every instance, each after every instance that links to it (Kahn's
    /// algorithm, the smallest index first among those ready, so the order
    /// is stable; the checker has ruled out cycles).
    pub fn topological_order(&self) -> Vec<usize> {
        let mut incoming = vec![0usize; self.instances.len()];
        for port in self.instances.iter().flat_map(|instance| &instance.ports) {
            if let Target::Instance(next) = port.target {
                incoming[next] += 1;
            }
        }
        let mut ready: std::collections::BTreeSet<usize> =
            (0..self.instances.len()).filter(|&index| incoming[index] == 0).collect();
        let mut order = Vec::with_capacity(self.instances.len());
        while let Some(index) = ready.pop_first() {
            order.push(index);
            for port in &self.instances[index].ports {
                if let Target::Instance(next) = port.target {
                    incoming[next] -= 1;
                    if incoming[next] == 0 {
                        ready.insert(next);
                    }
                }
            }
        }
        order
    }
}
