//! The typed chain IR: what checking produces and placement and code
//! generation consume. Names are resolved to indices; every port has exactly
//! one target.

use galette_grammar::Span;

use crate::signature::NfSignature;

/// A checked chain.
#[derive(Debug, Clone)]
pub struct ChainIr {
    pub name: String,
    /// Instances reachable from `rx`, in the order they were declared.
    pub instances: Vec<InstanceIr>,
    /// Where `rx` leads.
    pub entry: Target,
}

/// One NF instance.
#[derive(Debug, Clone)]
pub struct InstanceIr {
    pub name: String,
    pub span: Span,
    /// The NF source as written (`std.macswap`).
    pub source: String,
    pub nf: NfSignature,
    /// One entry per port of the NF, in the NF's port order.
    pub ports: Vec<PortIr>,
}

/// A port of an instance and where it leads.
#[derive(Debug, Clone)]
pub struct PortIr {
    pub name: String,
    /// The `Action` variant in the NF's Rust code.
    pub variant: String,
    pub target: Target,
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
}

impl ChainIr {
    /// The most ports any instance has.
    pub fn max_ports(&self) -> u32 {
        self.instances.iter().map(|i| i.ports.len() as u32).max().unwrap_or(0)
    }
}
