//! Placement: deciding for every instance whether it runs in XDP or in
//! userland, with the reason in words.

use galette_bundle::Placement;

use crate::ir::ChainIr;

/// Where one instance runs and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub placement: Placement,
    pub reason: PlacementReason,
}

/// Why an instance was placed where it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacementReason {
    /// Its crate is not `#![no_std]`, and eBPF has no std.
    NeedsStd,
    /// Nothing keeps it out of the fast path.
    FastPathByDefault,
}

impl std::fmt::Display for PlacementReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PlacementReason::NeedsStd => "its crate needs std, which eBPF does not have",
            PlacementReason::FastPathByDefault => "nothing requires userland, so it runs in the XDP fast path",
        })
    }
}

/// One decision per instance of `chain`, in instance order.
pub fn place(chain: &ChainIr) -> Vec<Decision> {
    chain
        .instances
        .iter()
        .map(|instance| {
            if instance.nf.needs_std {
                Decision { placement: Placement::Userland, reason: PlacementReason::NeedsStd }
            } else {
                Decision { placement: Placement::Xdp, reason: PlacementReason::FastPathByDefault }
            }
        })
        .collect()
}
