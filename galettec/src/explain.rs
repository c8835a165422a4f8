//! Showing a checked chain to people: the placement table with reasons and
//! the XDP part's segments, and the chain as a Graphviz graph with its XDP
//! and userland parts marked.

use std::fmt::Write;

use galette_bundle::Placement;

use crate::ir::Target;
use crate::place::PlacedChain;
use crate::segments::{SegmentStart, segments};

/// One line per instance: name, where it runs, why; then one line per
/// segment of the XDP part (one eBPF program each): what it fuses and, for
/// a split, why the chain was split there.
pub fn placement_table(placed: &PlacedChain) -> String {
    let chain = &placed.chain;
    let width = chain.instances.iter().map(|i| i.name.len()).max().unwrap_or(0).max("instance".len());
    let mut table = format!("{:width$}  {:8}  reason\n", "instance", "runs in");
    for (instance, decision) in placed.instances() {
        let place = match decision.placement {
            Placement::Xdp => "XDP",
            Placement::Userland => "userland",
        };
        writeln!(table, "{:width$}  {place:8}  {}", instance.name, decision.reason).expect("writing to a String");
    }
    table.push_str(&segment_table(placed));
    table
}

/// The segments of the XDP part, each with where it starts, the NFs it
/// fuses and, for a split, the verifier's reason.
fn segment_table(placed: &PlacedChain) -> String {
    let chain = &placed.chain;
    let segments = segments(placed);
    let width = segments.iter().map(|segment| segment.program.len()).max().unwrap_or(0).max("program".len());
    let mut table = format!("\n{:width$}  starts at  fuses\n", "program");
    for segment in &segments {
        let start = match segment.start {
            SegmentStart::Entry => "rx".to_owned(),
            SegmentStart::RoleEntry(role) => format!("rx.{}", chain.roles[role].name),
            SegmentStart::Split(index) => chain.instances[index].name.clone(),
        };
        let fused: Vec<&str> = segment.instances.iter().map(|&index| chain.instances[index].name.as_str()).collect();
        let fused = if fused.is_empty() { "nothing".to_owned() } else { fused.join(", ") };
        writeln!(table, "{:width$}  {start:9}  {fused}", segment.program).expect("writing to a String");
        if let SegmentStart::Split(index) = segment.start
            && let Some(split) = placed.splits().iter().find(|split| split.instance == index)
        {
            writeln!(
                table,
                "{:width$}  split here: the kernel verifier rejected `{}` as one program ({})",
                "", split.rejected_program, split.summary
            )
            .expect("writing to a String");
        }
    }
    table
}

/// The chain in the DOT language: instances in two clusters (XDP and
/// userland), one edge per port labelled with the port, upcalls dashed.
pub fn dot_graph(placed: &PlacedChain) -> String {
    let chain = &placed.chain;
    let mut dot = String::new();
    let mut line = |text: String| {
        dot.push_str(&text);
        dot.push('\n');
    };
    line(format!("digraph {} {{", quote(&chain.name)));
    line("  rankdir=LR;".into());
    line("  node [shape=box, style=rounded, fontname=\"sans-serif\"];".into());
    line("  edge [fontname=\"sans-serif\", fontsize=10];".into());
    line("  rx [shape=circle];".into());
    for (cluster, placement, colour, label) in [
        ("cluster_xdp", Placement::Xdp, "#e8f4e8", "XDP (kernel fast path)"),
        ("cluster_userland", Placement::Userland, "#e8eef8", "userland (AF_XDP workers)"),
    ] {
        let members: Vec<&str> =
            placed.instances().filter(|(_, d)| d.placement == placement).map(|(i, _)| i.name.as_str()).collect();
        if members.is_empty() {
            continue;
        }
        line(format!("  subgraph {cluster} {{"));
        line(format!("    label={}; style=filled; color=\"{colour}\";", quote(label)));
        for member in members {
            line(format!("    {} [label={}];", node(member), quote(member)));
        }
        line("  }".into());
    }
    let mut terminals = Vec::new();
    let mut target_node = |target: Target| -> String {
        let name = match target {
            Target::Instance(index) => return node(&chain.instances[index].name),
            Target::Redirect(role) => format!("out {}", chain.roles[role].name),
            Target::Tx => "tx".into(),
            Target::Pass => "pass".into(),
            Target::Drop => "drop".into(),
            Target::Abort => "abort".into(),
        };
        if !terminals.contains(&name) {
            terminals.push(name.clone());
        }
        quote(&name)
    };
    let mut edges = Vec::new();
    for entry in &chain.entries {
        let from = match entry.role {
            Some(role) => format!("rx.{}", chain.roles[role].name),
            None => "rx".into(),
        };
        let style = if entry.upcall { ", style=dashed" } else { "" };
        edges.push(format!("  rx -> {} [label={}{style}];", target_node(entry.target), quote(&from)));
    }
    for instance in &chain.instances {
        for port in &instance.ports {
            let style = if port.upcall { ", style=dashed" } else { "" };
            edges.push(format!(
                "  {} -> {} [label={}{style}];",
                node(&instance.name),
                target_node(port.target),
                quote(&port.name)
            ));
        }
    }
    for terminal in &terminals {
        line(format!("  {} [shape=plaintext];", quote(terminal)));
    }
    for edge in edges {
        line(edge);
    }
    line("}".into());
    dot
}

/// Instance nodes get a prefix so an NF named like a DOT keyword or like a
/// terminal (`drop`) cannot collide.
fn node(instance: &str) -> String {
    quote(&format!("nf {instance}"))
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_in_memory;
    use crate::place::{PlaceOptions, place};
    use crate::source::InMemory;

    fn checked(source: &str) -> PlacedChain {
        let nf =
            "#![no_std]\npub enum Action { Ok, Bad }\npub fn packet<P: Packet>(p: &mut P) -> Action { Action::Ok }";
        let reader =
            InMemory::default().with("std/f/Cargo.toml", "[package]\nname = \"f\"\n").with("std/f/src/lib.rs", nf);
        let chain = check_in_memory(source, &reader, ".").chain.unwrap();
        place(chain, 0, &PlaceOptions::default()).unwrap()
    }

    const CHAIN: &str = "chain demo\nnf a = std.f\nnf b = std.f @userland\nrx -> a\na -> { ok: tx, bad: !b }\nb -> { ok: pass, bad: drop }";

    #[test]
    fn the_table_gives_every_instance_its_place_and_reason() {
        let table = placement_table(&checked(CHAIN));
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "instance  runs in   reason");
        assert_eq!(lines[1], "a         XDP       nothing requires userland, so it runs in the XDP fast path");
        assert_eq!(lines[2], "b         userland  the chain marks it `@userland`");
        assert_eq!(lines[4], "program     starts at  fuses");
        assert_eq!(lines[5], "galette_rx  rx         a");
    }

    #[test]
    fn a_split_says_why_it_is_there() {
        use crate::place::Split;
        let source =
            "chain demo\nnf a = std.f\nnf b = std.f\nrx -> a\na -> { ok: b, bad: drop }\nb -> { ok: tx, bad: drop }";
        let nf =
            "#![no_std]\npub enum Action { Ok, Bad }\npub fn packet<P: Packet>(p: &mut P) -> Action { Action::Ok }";
        let reader =
            InMemory::default().with("std/f/Cargo.toml", "[package]\nname = \"f\"\n").with("std/f/src/lib.rs", nf);
        let chain = check_in_memory(source, &reader, ".").chain.unwrap();
        let split = Split { instance: 1, rejected_program: "galette_rx".into(), summary: "too large".into() };
        let placed = place(chain, 0, &PlaceOptions { splits: vec![split], ..PlaceOptions::default() }).unwrap();
        let table = placement_table(&placed);
        assert!(table.contains("galette_rx    rx         a\n"), "{table}");
        assert!(table.contains("galette_nf_1  b          b\n"), "{table}");
        assert!(
            table.contains("split here: the kernel verifier rejected `galette_rx` as one program (too large)"),
            "{table}"
        );
    }

    #[test]
    fn the_graph_marks_both_parts_and_every_port() {
        let dot = dot_graph(&checked(CHAIN));
        assert!(dot.starts_with("digraph \"demo\" {"));
        assert!(dot.contains("subgraph cluster_xdp {\n    label=\"XDP (kernel fast path)\"; style=filled; color=\"#e8f4e8\";\n    \"nf a\" [label=\"a\"];"));
        assert!(dot.contains("subgraph cluster_userland {"));
        assert!(dot.contains("  \"nf a\" -> \"nf b\" [label=\"bad\", style=dashed];"));
        assert!(dot.contains("  \"nf b\" -> \"pass\" [label=\"ok\"];"));
        assert!(dot.contains("  rx -> \"nf a\" [label=\"rx\"];"));
        assert!(dot.trim_end().ends_with('}'));
    }
}
