//! What placement decides about building: the chains this version cannot
//! build yet (E0900), and `pass` after userland (W0103). Both depend on
//! where each instance runs, so they are checked on the placed chain, before
//! any code is generated.

use galette_bundle::{MAX_ROLES, Placement};
use galette_grammar::{Diagnostic, FileId, Severity};

use super::PlacedChain;
use crate::ir::{MapKind, Target};

/// What this version of the code generator cannot build yet, as E0900
/// diagnostics pointing at each use. [`generate_ebpf_crate`] must only be
/// called for a chain without any.
///
/// [`generate_ebpf_crate`]: crate::codegen::generate_ebpf_crate
pub fn unsupported(placed: &PlacedChain, chain_file: FileId) -> Vec<Diagnostic> {
    let chain = &placed.chain;
    let not_yet = |what: &str, span, label: &str| {
        Diagnostic::error(
            "E0900",
            format!("{what} cannot be built by this version of galettec yet"),
            chain_file,
            span,
            label,
        )
        .with_help("the chain is valid; see docs/language.md for what this version builds")
    };
    let mut found = Vec::new();
    for (instance, decision) in placed.instances() {
        if decision.placement == Placement::Userland {
            for binding in instance.bindings.iter().filter(|b| placed.map_owner(b.map).is_none()) {
                found.push(not_yet(
                    "maps that only userland NFs needing std bind",
                    binding.span,
                    "no `#![no_std]` NF binds this map, so it has no type in the XDP part",
                ));
            }
            let per_cpu = instance
                .bindings
                .iter()
                .filter(|b| matches!(chain.maps[b.map].kind, MapKind::PercpuArray | MapKind::PercpuHash));
            for binding in per_cpu {
                found.push(not_yet(
                    "per-CPU maps in userland NFs",
                    binding.span,
                    &format!("placed in userland: {}", decision.reason),
                ));
            }
        }
    }
    // Upcall metadata names the next instance in 16 bits.
    if chain.instances.len() > usize::from(u16::MAX) {
        found.push(not_yet(
            &format!("chains with more than {} NF instances", u16::MAX),
            chain.instances[usize::from(u16::MAX)].span,
            "one instance too many",
        ));
    }
    if chain.roles.len() as u32 > MAX_ROLES {
        found.push(not_yet(
            &format!("chains with more than {MAX_ROLES} interface roles"),
            chain.roles[MAX_ROLES as usize].span,
            "one role too many",
        ));
    }
    found
}

/// W0103 for every `pass` that a userland instance leads to: a frame that
/// reached userland through an AF_XDP socket cannot be handed to the host's
/// network stack from there, so the runtime drops it (and counts it).
pub fn pass_after_userland(placed: &PlacedChain, chain_file: FileId) -> Vec<Diagnostic> {
    placed
        .instances()
        .filter(|(_, decision)| decision.placement == Placement::Userland)
        .flat_map(|(instance, decision)| {
            instance.ports.iter().filter(|port| port.target == Target::Pass).map(move |port| {
                let mut warning = Diagnostic::error(
                    "W0103",
                    format!("`{}.{}` leads to `pass`, but `{}` runs in userland", instance.name, port.name, instance.name),
                    chain_file,
                    port.span,
                    "frames here are dropped",
                )
                .with_label(chain_file, instance.span, format!("in userland: {}", decision.reason))
                .with_help("a frame in an AF_XDP socket cannot go back to the host's network stack; use `drop`, or `tx` to send it back out");
                warning.severity = Severity::Warning;
                warning
            })
        })
        .collect()
}
