//! Placement: deciding for every instance whether it runs in XDP or in
//! userland, with the reason in words.
//!
//! An instance runs in userland when it is marked `@userland`, when its crate
//! needs std, when it is reached by an upcall (`!nf`), or when an instance
//! before it runs in userland (packets never return from userland to XDP).
//! Otherwise it runs in XDP. `@xdp` on an instance that cannot run there is
//! an error that says why.

mod build_limits;

use galette_bundle::Placement;
use galette_grammar::{Diagnostic, FileId};

use crate::ir::{ChainIr, InstanceIr, PlacementConstraint, Target};

pub use build_limits::{pass_after_userland, unsupported};

/// A checked chain with the placement of every instance: what code
/// generation, the manifest and `explain` work from.
#[derive(Debug, Clone)]
pub struct PlacedChain {
    pub chain: ChainIr,
    /// One per instance of `chain`, in instance order.
    decisions: Vec<Decision>,
    /// The XDP instances that start a segment of their own, entered by a
    /// tail call (see [`crate::segments`]); empty unless the verifier
    /// rejected a fused segment.
    splits: Vec<Split>,
}

impl PlacedChain {
    /// Every instance with its decision, in instance order.
    pub fn instances(&self) -> impl Iterator<Item = (&InstanceIr, &Decision)> {
        self.chain.instances.iter().zip(&self.decisions)
    }

    /// The decision for the instance at `index`.
    pub fn decision(&self, index: usize) -> &Decision {
        &self.decisions[index]
    }

    pub fn runs_in_xdp(&self, index: usize) -> bool {
        self.decisions[index].placement == Placement::Xdp
    }

    /// Where the XDP part is split into segments joined by tail calls.
    pub fn splits(&self) -> &[Split] {
        &self.splits
    }

    /// Whether the XDP instance at `index` starts a segment of its own.
    pub fn starts_segment(&self, index: usize) -> bool {
        self.splits.iter().any(|split| split.instance == index)
    }

    /// The instance whose NF gives `map` its type in the XDP object: the first
    /// XDP instance that binds it or, when only userland instances do, a
    /// `#![no_std]` userland instance that does (its crate is then built for
    /// BPF only for that type: the map must exist in the object, where the
    /// runtime creates and pins every map). `None` if only NFs that need std
    /// bind it.
    pub fn map_owner(&self, map: usize) -> Option<usize> {
        let binds = |instance: &InstanceIr| instance.bindings.iter().any(|b| b.map == map);
        let instances = || self.chain.instances.iter().enumerate();
        instances()
            .find(|(index, instance)| self.runs_in_xdp(*index) && binds(instance))
            .or_else(|| instances().find(|(_, instance)| !instance.nf.needs_std && binds(instance)))
            .map(|(index, _)| index)
    }
}

/// Where one instance runs and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub placement: Placement,
    pub reason: PlacementReason,
}

/// A split of the XDP part: `instance` starts a segment of its own, which
/// the segment before it enters with a tail call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub instance: usize,
    /// The program the kernel verifier rejected while `instance` was fused
    /// into it.
    pub rejected_program: String,
    /// The verifier's reason, the last line of its log.
    pub summary: String,
}

/// Why an instance was placed where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacementReason {
    /// The chain says `@userland`.
    AskedForUserland,
    /// Its crate is not `#![no_std]`, and eBPF has no std.
    NeedsStd,
    /// A link to it is an upcall (`!nf`).
    Upcall,
    /// The named instance before it runs in userland.
    AfterUserland(String),
    /// Reaching it from `rx` takes more tail calls (segments) than the limit.
    TailCallLimit { depth: u32, limit: u32 },
    /// The kernel verifier rejected its program; the last line of its log.
    VerifierRejected(String),
    /// The chain says `@xdp`, and nothing keeps it from XDP.
    AskedForXdp,
    /// Nothing keeps it out of the fast path.
    FastPathByDefault,
}

impl std::fmt::Display for PlacementReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlacementReason::AskedForUserland => f.write_str("the chain marks it `@userland`"),
            PlacementReason::NeedsStd => f.write_str("its crate needs std, which eBPF does not have"),
            PlacementReason::Upcall => f.write_str("it is reached by an upcall (`!`)"),
            PlacementReason::AfterUserland(before) => {
                write!(f, "`{before}` before it runs in userland, and packets never return to XDP")
            }
            PlacementReason::TailCallLimit { depth, limit } => {
                write!(f, "reaching it takes {depth} tail calls, more than the limit of {limit}")
            }
            PlacementReason::VerifierRejected(summary) => write!(f, "the kernel verifier rejected it ({summary})"),
            PlacementReason::AskedForXdp => f.write_str("the chain marks it `@xdp`"),
            PlacementReason::FastPathByDefault => {
                f.write_str("nothing requires userland, so it runs in the XDP fast path")
            }
        }
    }
}

/// The most tail calls in a row a chain makes: the kernel's limit
/// (`MAX_TAIL_CALL_CNT`) is 33. Only splits between segments are tail calls.
pub const DEFAULT_MAX_TAIL_CALLS: u32 = 32;

/// What placement takes into account besides the chain.
#[derive(Debug, Clone)]
pub struct PlaceOptions {
    /// An XDP instance may be at most this many tail calls from `rx`.
    pub max_tail_calls: u32,
    /// Instances whose XDP program the kernel verifier rejected, with the
    /// verifier's log (see `verify`).
    pub rejected_by_verifier: Vec<(usize, String)>,
    /// Where earlier rounds of verification split the XDP part.
    pub splits: Vec<Split>,
}

impl Default for PlaceOptions {
    fn default() -> Self {
        PlaceOptions { max_tail_calls: DEFAULT_MAX_TAIL_CALLS, rejected_by_verifier: Vec::new(), splits: Vec::new() }
    }
}

/// `chain` with a decision for every instance, or the errors of `@xdp`
/// instances that cannot run in XDP.
pub fn place(chain: ChainIr, chain_file: FileId, options: &PlaceOptions) -> Result<PlacedChain, Vec<Diagnostic>> {
    let decisions = decide_all(&chain, chain_file, options)?;
    // A split only matters where its instance still runs in XDP.
    let splits =
        options.splits.iter().filter(|split| decisions[split.instance].placement == Placement::Xdp).cloned().collect();
    Ok(PlacedChain { chain, decisions, splits })
}

fn decide_all(chain: &ChainIr, chain_file: FileId, options: &PlaceOptions) -> Result<Vec<Decision>, Vec<Diagnostic>> {
    let max_tail_calls = options.max_tail_calls;
    let incoming = incoming_links(chain);
    let mut decisions: Vec<Option<Decision>> = vec![None; chain.instances.len()];
    // Tail calls from `rx` to each XDP instance, on the longest path: one
    // for each split on the way, the instance's own included.
    let mut depth = vec![0u32; chain.instances.len()];
    let splits_at = |index: usize| u32::from(options.splits.iter().any(|split| split.instance == index));
    for index in chain.topological_order() {
        let mut decision = decide(chain, index, &incoming[index], &decisions);
        if decision.placement == Placement::Xdp
            && let Some((_, log)) = options.rejected_by_verifier.iter().find(|(rejected, _)| *rejected == index)
        {
            // The log ends with statistics; the cause is the line before them.
            let summary = crate::verify::log_summary(log);
            decision = Decision { placement: Placement::Userland, reason: PlacementReason::VerifierRejected(summary) };
        }
        if decision.placement == Placement::Xdp {
            depth[index] = splits_at(index)
                + incoming[index].iter().filter_map(|link| link.from).map(|before| depth[before]).max().unwrap_or(0);
            if depth[index] > max_tail_calls {
                decision = Decision {
                    placement: Placement::Userland,
                    reason: PlacementReason::TailCallLimit { depth: depth[index], limit: max_tail_calls },
                };
            }
        }
        decisions[index] = Some(decision);
    }
    let decisions: Vec<Decision> =
        decisions.into_iter().map(|d| d.expect("every instance is reachable and ordered")).collect();

    let errors: Vec<Diagnostic> = chain
        .instances
        .iter()
        .zip(&decisions)
        .filter_map(|(instance, decision)| {
            let (PlacementConstraint::Xdp, span) = instance.constraint? else { return None };
            (decision.placement == Placement::Userland).then(|| match &decision.reason {
                PlacementReason::VerifierRejected(_) => {
                    let index =
                        chain.instances.iter().position(|i| i.name == instance.name).expect("an instance of the chain");
                    let log = options
                        .rejected_by_verifier
                        .iter()
                        .find(|(i, _)| *i == index)
                        .map_or("", |(_, log)| log.as_str());
                    Diagnostic::error(
                        "E0502",
                        format!("the kernel verifier rejected `{}`, which asks for XDP", instance.name),
                        chain_file,
                        span,
                        "asks for XDP",
                    )
                    .with_label(chain_file, instance.span, "its program was rejected")
                    .with_help(format!(
                        "the end of the verifier's log:\n{log}\nremove `@xdp` to run it in userland instead"
                    ))
                }
                reason => {
                    let diagnostic = Diagnostic::error(
                        "E0501",
                        format!("`{}` cannot run in XDP", instance.name),
                        chain_file,
                        span,
                        "asks for XDP",
                    )
                    .with_label(chain_file, instance.span, format!("it must run in userland: {reason}"));
                    match (reason, instance.nf.conditional_no_std) {
                        (PlacementReason::NeedsStd, Some(line)) => diagnostic
                            .with_label(instance.nf.lib_file, line, "a condition galettec does not evaluate: this reads as needing std")
                            .with_help("write `#![no_std]`: host tests can still use std with `#[cfg(test)] extern crate std;`"),
                        _ => diagnostic.with_help("remove `@xdp`, or change what forces it into userland"),
                    }
                }
            })
        })
        .collect();
    if errors.is_empty() { Ok(decisions) } else { Err(errors) }
}

/// A link into an instance: from `rx` (`None`) or another instance, and
/// whether it is an upcall.
#[derive(Debug, Clone, Copy)]
struct IncomingLink {
    from: Option<usize>,
    upcall: bool,
}

/// Per instance, every link into it; built once, so placing a chain costs
/// time linear in its size.
fn incoming_links(chain: &ChainIr) -> Vec<Vec<IncomingLink>> {
    let mut incoming = vec![Vec::new(); chain.instances.len()];
    for entry in &chain.entries {
        if let Target::Instance(index) = entry.target {
            incoming[index].push(IncomingLink { from: None, upcall: entry.upcall });
        }
    }
    for (from, instance) in chain.instances.iter().enumerate() {
        for port in &instance.ports {
            if let Target::Instance(index) = port.target {
                incoming[index].push(IncomingLink { from: Some(from), upcall: port.upcall });
            }
        }
    }
    incoming
}

fn decide(chain: &ChainIr, index: usize, incoming: &[IncomingLink], decided: &[Option<Decision>]) -> Decision {
    let instance = &chain.instances[index];
    let userland = |reason| Decision { placement: Placement::Userland, reason };
    if matches!(instance.constraint, Some((PlacementConstraint::Userland, _))) {
        return userland(PlacementReason::AskedForUserland);
    }
    if instance.nf.needs_std {
        return userland(PlacementReason::NeedsStd);
    }
    if incoming.iter().any(|link| link.upcall) {
        return userland(PlacementReason::Upcall);
    }
    let userland_predecessor = incoming
        .iter()
        .filter_map(|link| link.from)
        .find(|before| decided[*before].as_ref().is_some_and(|d| d.placement == Placement::Userland));
    if let Some(before) = userland_predecessor {
        return userland(PlacementReason::AfterUserland(chain.instances[before].name.clone()));
    }
    let reason = match instance.constraint {
        Some((PlacementConstraint::Xdp, _)) => PlacementReason::AskedForXdp,
        _ => PlacementReason::FastPathByDefault,
    };
    Decision { placement: Placement::Xdp, reason }
}

#[cfg(test)]
mod tests;
