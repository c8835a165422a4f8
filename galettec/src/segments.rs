//! Segments: the parts of a chain's XDP side that each become one eBPF
//! program.
//!
//! A segment starts where `rx` (or `rx.ROLE`) leads, or at an instance where
//! the XDP part was split, and takes in every XDP instance reachable from
//! there without an upcall and without crossing another split. Code
//! generation fuses a segment's NFs into its one program, which calls each
//! NF's `packet` as a function; only a split costs a tail call. A chain is
//! one segment per entry until the kernel verifier rejects one: then the
//! compiler splits it (see [`split_point`]) and verifies again.

use crate::codegen::{ENTRY_PROGRAM, instance_program, role_entry_program};
use crate::ir::{ChainIr, EntryIr, Target};
use crate::place::PlacedChain;

/// Where a segment starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentStart {
    /// Where `rx` leads: the program attached to the interfaces.
    Entry,
    /// Where `rx.ROLE` leads, for the role with this index.
    RoleEntry(usize),
    /// At this instance, where the XDP part was split.
    Split(usize),
}

/// One segment: one eBPF program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub start: SegmentStart,
    /// The program's name in the object.
    pub program: String,
    /// The XDP instances fused into it, in the order packets can reach them
    /// (topological); empty for an entry that leads straight to a verdict,
    /// to userland or to a split.
    pub instances: Vec<usize>,
}

/// Every segment of `placed`: the entry's, each role's (for chains with
/// roles), then one per split, in instance order.
pub fn segments(placed: &PlacedChain) -> Vec<Segment> {
    let chain = &placed.chain;
    let entry_of = |role| entry_link(chain, role).filter(|entry| !entry.upcall).map(|entry| entry.target);
    let mut found = vec![Segment {
        start: SegmentStart::Entry,
        program: ENTRY_PROGRAM.to_owned(),
        instances: fused_from(placed, entry_of(None)),
    }];
    for role in 0..chain.roles.len() {
        found.push(Segment {
            start: SegmentStart::RoleEntry(role),
            program: role_entry_program(role),
            instances: fused_from(placed, entry_of(Some(role))),
        });
    }
    let mut split_instances: Vec<usize> = placed.splits().iter().map(|split| split.instance).collect();
    split_instances.sort_unstable();
    for instance in split_instances {
        found.push(Segment {
            start: SegmentStart::Split(instance),
            program: instance_program(instance),
            instances: fused_from(placed, Some(Target::Instance(instance))).into_iter().collect(),
        });
    }
    found
}

/// Where packets arriving on the interface of `role` go (`None`: on any
/// interface of a chain without roles): the role's own `rx.ROLE`, else `rx`.
pub fn entry_link(chain: &ChainIr, role: Option<usize>) -> Option<&EntryIr> {
    chain
        .entries
        .iter()
        .find(|entry| entry.role == role)
        .or_else(|| chain.entries.iter().find(|entry| entry.role.is_none()))
}

/// The XDP instances a segment starting at `start` takes in, in topological
/// order. The start itself is taken in even when it is a split (it is that
/// segment's own first instance).
fn fused_from(placed: &PlacedChain, start: Option<Target>) -> Vec<usize> {
    let chain = &placed.chain;
    let Some(Target::Instance(first)) = start else { return Vec::new() };
    if !placed.runs_in_xdp(first) {
        return Vec::new();
    }
    let mut taken = vec![false; chain.instances.len()];
    let mut stack = vec![first];
    taken[first] = true;
    while let Some(index) = stack.pop() {
        for port in &chain.instances[index].ports {
            let Target::Instance(next) = port.target else { continue };
            if port.upcall || !placed.runs_in_xdp(next) || placed.starts_segment(next) || taken[next] {
                continue;
            }
            taken[next] = true;
            stack.push(next);
        }
    }
    chain.topological_order().into_iter().filter(|index| taken[*index]).collect()
}

/// Where to split a segment the verifier rejected: the instance in the
/// middle of its instances (by count, in topological order), so that each
/// round halves what the verifier must accept at once. `None` when the
/// segment has fewer than two instances: then there is nothing to split,
/// and its one NF is what the verifier rejects.
pub fn split_point(segment: &Segment) -> Option<usize> {
    (segment.instances.len() >= 2).then(|| segment.instances[segment.instances.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_in_memory;
    use crate::place::{PlaceOptions, Split, place};
    use crate::source::InMemory;

    fn placed(source: &str, splits: &[usize]) -> PlacedChain {
        let nf =
            "#![no_std]\npub enum Action { Ok, Bad }\npub fn packet<P: Packet>(p: &mut P) -> Action { Action::Ok }";
        let reader =
            InMemory::default().with("std/f/Cargo.toml", "[package]\nname = \"f\"\n").with("std/f/src/lib.rs", nf);
        let chain = check_in_memory(source, &reader, ".").chain.unwrap();
        let splits = splits
            .iter()
            .map(|&instance| Split { instance, rejected_program: "galette_rx".into(), summary: "too big".into() })
            .collect();
        place(chain, 0, &PlaceOptions { splits, ..PlaceOptions::default() }).unwrap()
    }

    fn line(nfs: usize) -> String {
        let mut text = String::from("chain line\n");
        for i in 0..nfs {
            text.push_str(&format!("nf n{i} = std.f\n"));
        }
        text.push_str("rx -> n0\n");
        for i in 1..nfs {
            text.push_str(&format!("n{} -> {{ ok: n{i}, bad: drop }}\n", i - 1));
        }
        text.push_str(&format!("n{} -> {{ ok: tx, bad: drop }}\n", nfs - 1));
        text
    }

    #[test]
    fn an_unsplit_chain_is_one_segment_of_every_xdp_instance() {
        let segments = segments(&placed(&line(64), &[]));
        assert_eq!(segments.len(), 1);
        assert_eq!(segments[0].program, "galette_rx");
        assert_eq!(segments[0].instances, (0..64).collect::<Vec<_>>());
        assert_eq!(split_point(&segments[0]), Some(32));
    }

    #[test]
    fn a_split_starts_a_segment_that_the_one_before_does_not_take_in() {
        let segments = segments(&placed(&line(8), &[4]));
        assert_eq!(segments.len(), 2);
        assert_eq!(segments[0].instances, [0, 1, 2, 3]);
        assert_eq!(segments[1].start, SegmentStart::Split(4));
        assert_eq!(segments[1].program, "galette_nf_4");
        assert_eq!(segments[1].instances, [4, 5, 6, 7]);
    }

    #[test]
    fn upcalls_and_userland_end_a_segment_and_roles_get_their_own() {
        let source = "chain c\niface lan\niface wan\nnf a = std.f\nnf b = std.f\nnf u = std.f @userland\n\
                      rx.lan -> a\nrx.wan -> b\na -> { ok: b, bad: !u }\nb -> { ok: tx, bad: drop }\nu -> { ok: tx, bad: drop }";
        let segments = segments(&placed(source, &[]));
        let programs: Vec<(&str, &[usize])> =
            segments.iter().map(|segment| (segment.program.as_str(), segment.instances.as_slice())).collect();
        assert_eq!(programs, [("galette_rx", &[][..]), ("galette_rx_0", &[0, 1][..]), ("galette_rx_1", &[1][..])]);
        assert_eq!(split_point(&segments[2]), None);
    }
}
