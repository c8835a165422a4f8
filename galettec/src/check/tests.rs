use super::*;
use crate::source::InMemory;

const ONE_PORT: &str =
    "#![no_std]\npub enum Action { Out }\npub fn packet<P: Packet>(p: &mut P) -> Action { Action::Out }";
const WITH_MAPS: &str = "#![no_std]\n#[maps]\npub struct Maps { allow: LpmTrie<Ipv4Prefix, u8>, hits: Array<u64> }\npub enum Action { Out }\npub fn packet<P: Packet>(p: &mut P, m: &mut Maps) -> Action { Action::Out }";
const TWO_PORTS: &str = "#![no_std]\npub enum Action { Allowed, Denied }\npub fn packet<P: Packet>(p: &mut P) -> Action { Action::Allowed }";

fn reader() -> InMemory {
    InMemory::default()
        .with("std/swap/Cargo.toml", "[package]\nname = \"swap\"\n")
        .with("std/swap/src/lib.rs", ONE_PORT)
        .with("std/acl/Cargo.toml", "[package]\nname = \"acl\"\n")
        .with("std/acl/src/lib.rs", TWO_PORTS)
        .with("std/filter/Cargo.toml", "[package]\nname = \"filter\"\n")
        .with("std/filter/src/lib.rs", WITH_MAPS)
}

fn run(source: &str) -> CheckOutput {
    check_in_memory(source, &reader(), "chains")
}

/// The codes of every diagnostic, in order.
fn codes(source: &str) -> Vec<&'static str> {
    run(source).diagnostics.iter().map(|d| d.code).collect()
}

#[test]
fn a_linear_chain_becomes_ir() {
    let out = run("chain c\nnf a = std.acl\nnf s = std.swap\nrx -> a\na -> { allowed: s, denied: drop }\ns -> tx");
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    let chain = out.chain.unwrap();
    assert_eq!(chain.entries[0].target, Target::Instance(0));
    assert_eq!(chain.instances[0].ports[0].target, Target::Instance(1));
    assert_eq!(chain.instances[0].ports[1].target, Target::Drop);
    assert_eq!(chain.instances[1].ports[0].target, Target::Tx);
    assert_eq!(chain.max_ports(), 2);
}

#[test]
fn a_chain_may_lead_straight_out() {
    let chain = run("chain c\nrx -> pass").chain.unwrap();
    assert_eq!(chain.entries[0].target, Target::Pass);
    assert!(chain.instances.is_empty());
}

#[test]
fn names_are_resolved_with_suggestions() {
    let out = run("chain c\nnf swap = std.swap\nrx -> swp\nswap -> tx");
    assert_eq!(out.diagnostics[0].code, "E0102");
    assert_eq!(out.diagnostics[0].help.as_deref(), Some("did you mean `swap`?"));
    assert_eq!(codes("chain c\nnf s = std.swap\nnf s = std.swap\nrx -> s\ns -> tx"), ["E0101"]);
    assert_eq!(codes("chain c\nnf tx = std.swap\nrx -> drop"), ["E0105"]);
    assert_eq!(codes("chain c\nnf s = std.nope\nrx -> drop"), ["E0201"]);
}

#[test]
fn rx_must_be_linked_exactly_once() {
    assert_eq!(codes("chain c\nnf s = std.swap\ns -> tx"), ["E0103"]);
    assert_eq!(codes("chain c\nrx -> tx\nrx -> drop"), ["E0104"]);
    assert_eq!(codes("chain c\nnf s = std.swap\nrx.x -> s\ns -> tx"), ["E0112"]);
    assert_eq!(codes("chain c\nnf s = std.swap\nrx -> { a: s }\ns -> tx"), ["E0106"]);
    assert_eq!(codes("chain c\nnf s = std.swap\nrx -> s\ns -> rx"), ["E0106"]);
    assert_eq!(codes("chain c\nrx -> tx\ntx -> drop"), ["E0107"]);
}

#[test]
fn ports_are_checked() {
    let out = run("chain c\nnf a = std.acl\nrx -> a\na -> { allowd: tx, denied: drop }");
    let unknown = out.diagnostics.iter().find(|d| d.code == "E0301").unwrap();
    assert_eq!(unknown.help.as_deref(), Some("did you mean `allowed`?"));
    assert_eq!(unknown.secondary[0].file, 1, "points into the NF's lib.rs");
    assert_eq!(codes("chain c\nnf a = std.acl\nrx -> a\na -> tx"), ["E0304"]);
    assert_eq!(
        codes("chain c\nnf a = std.acl\nrx -> a\na.allowed -> tx\na.allowed -> drop\na.denied -> drop"),
        ["E0302"]
    );
    let out = run("chain c\nnf a = std.acl\nrx -> a");
    assert_eq!(out.diagnostics[0].code, "E0303");
    assert!(out.diagnostics[0].message.contains("allowed, denied"));
    assert_eq!(codes("chain c\nnf a = std.acl\nrx -> a\na.allowed -> { x: tx }"), ["E0108"]);
}

#[test]
fn cycles_are_errors_with_their_path() {
    let out = run("chain c\nnf a = std.swap\nnf b = std.swap\nrx -> a\na -> b\nb -> a");
    assert_eq!(out.diagnostics[0].code, "E0305");
    assert_eq!(out.diagnostics[0].message, "the chain loops: a -> b -> a");
    assert!(out.chain.is_none());
    let unreachable_loop = codes("chain c\nnf a = std.swap\nnf t = std.swap\nrx -> a\na -> tx\nt -> t");
    assert_eq!(unreachable_loop, ["W0101", "E0305"], "a loop is an error even where no packet goes");
}

#[test]
fn unreachable_instances_warn_and_are_left_out() {
    let out = run("chain c\nnf a = std.swap\nnf b = std.swap\nrx -> b\na -> tx\nb -> tx");
    assert_eq!(out.diagnostics.len(), 1);
    assert_eq!(out.diagnostics[0].code, "W0101");
    assert_eq!(out.diagnostics[0].severity, Severity::Warning);
    let chain = out.chain.unwrap();
    assert_eq!(chain.instances.len(), 1);
    assert_eq!(chain.instances[0].name, "b");
    assert_eq!(chain.entries[0].target, Target::Instance(0));
}

#[test]
fn interface_roles_are_entries_and_destinations() {
    let chain =
        run("chain c\niface lan\niface wan\nnf s = std.swap\nrx.lan -> s\nrx.wan -> drop\ns -> wan").chain.unwrap();
    assert_eq!(chain.roles.len(), 2);
    assert_eq!(chain.entries[0].role, Some(0));
    assert_eq!(chain.instances[0].ports[0].target, Target::Redirect(1));
    assert_eq!(codes("chain c\niface lan\niface wan\nrx.lan -> drop"), ["E0103"]);
    assert_eq!(codes("chain c\niface lan\nrx.lan -> drop\nrx -> drop"), ["E0104"]);
    assert_eq!(codes("chain c\niface lan\nrx.lan -> drop\nrx.lan -> tx"), ["E0104"]);
    assert_eq!(codes("chain c\niface lan\nrx.lna -> drop"), ["E0112"]);
    assert_eq!(codes("chain c\niface lan\nnf lan = std.swap\nrx -> drop"), ["E0101"]);
    assert_eq!(codes("chain c\niface lan\nrx -> drop\nlan -> drop"), ["E0107"]);
    assert_eq!(codes("chain c\niface lan\nrx -> !lan"), ["E0116"]);
}

#[test]
fn maps_are_declared_and_bound() {
    let source = "chain c\nmap allow: lpm_trie<Ipv4Prefix, u8>[16]\nmap hits: array<u32, u64>[1]\nnf f = std.filter { allow: allow, hits: hits }\nrx -> f\nf -> tx";
    let chain = run(source).chain.unwrap();
    assert_eq!(chain.maps[0].kind, crate::ir::MapKind::LpmTrie);
    assert_eq!(chain.instances[0].bindings[1].map, 1);
    assert_eq!(codes("chain c\nmap m: hashmap<u32, u32>[4]\nrx -> tx"), ["E0120"]);
    assert_eq!(codes("chain c\nmap m: hash<u32, u32>[0]\nrx -> tx"), ["E0121"]);
    assert_eq!(codes("chain c\nmap m: hash<u32, u32>[99999999999]\nrx -> tx"), ["E0121"]);
    assert_eq!(codes("chain c\nmap m: hash<u32, u32>[1]\nmap m: hash<u32, u32>[1]\nrx -> tx"), ["W0102", "E0109"]);
    assert_eq!(codes("chain c\nmap m: hash<u32, u32>[1]\nrx -> tx"), ["W0102"]);
}

#[test]
fn arrays_may_leave_their_u32_key_implicit() {
    let source = "chain c\nmap allow: lpm_trie<Ipv4Prefix, u8>[16]\nmap hits: array<u64>[1]\nnf f = std.filter { allow: allow, hits: hits }\nrx -> f\nf -> tx";
    let chain = run(source).chain.unwrap();
    assert_eq!((chain.maps[1].key.as_str(), chain.maps[1].value.as_str()), ("u32", "u64"));
    assert_eq!(codes("chain c\nmap m: percpu_array<u64>[2]\nrx -> tx"), ["W0102"]);
    assert_eq!(codes("chain c\nmap m: hash<u64>[2]\nrx -> tx"), ["E0124"]);
    assert_eq!(codes("chain c\nmap m: lpm_trie<u8>[2]\nrx -> tx"), ["E0124"]);
}

#[test]
fn bindings_are_checked_against_the_nf() {
    let header = "chain c\nmap a: lpm_trie<Ipv4Prefix, u8>[16]\nmap h: array<u32, u64>[1]\n";
    let with = |nf: &str| format!("{header}{nf}\nrx -> f\nf -> tx");
    assert_eq!(codes(&with("nf f = std.filter { allow: a, hit: h }")), ["E0401"]);
    let out = run(&with("nf f = std.filter { allow: a, hit: h }"));
    assert_eq!(out.diagnostics[0].help.as_deref(), Some("did you mean `hits`?"));
    assert_eq!(codes(&with("nf f = std.filter { allow: a }")), ["W0102", "E0402"]);
    assert_eq!(codes(&with("nf f = std.filter { allow: a, allow: a, hits: h }")), ["E0403"]);
    assert_eq!(codes(&with("nf f = std.filter { allow: nope, hits: h }")), ["E0110"]);
}

#[test]
fn misspelt_names_get_suggestions_across_swaps_and_case() {
    let header = "chain c\nmap a: lpm_trie<Ipv4Prefix, u8>[16]\nmap h: array<u32, u64>[1]\n";
    let with = |nf: &str| format!("{header}{nf}\nrx -> f\nf -> tx");
    let help = |source: &str| run(source).diagnostics[0].help.clone().unwrap_or_default();
    assert_eq!(help(&with("nf f = std.filter { allow: a, hist: h }")), "did you mean `hits`?");
    assert_eq!(help(&with("nf f = std.filter { allow: a, HITS: h }")), "did you mean `hits`?");
    let typo = "chain c\nmap a: lpm_trie<Ipv4Prefix, u8>[16]\nmap h: array<u46>[1]\nnf f = std.filter { allow: a, hits: h }\nrx -> f\nf -> tx";
    assert!(help(typo).starts_with("did you mean `u64`?"), "{}", help(typo));
}

#[test]
fn placement_attributes_are_checked() {
    assert!(codes("chain c\nnf s = std.swap @userland\nrx -> s\ns -> tx").is_empty());
    assert_eq!(codes("chain c\nnf s = std.swap @userlnd\nrx -> s\ns -> tx"), ["E0113"]);
    assert_eq!(codes("chain c\nnf s = std.swap @xdp @userland\nrx -> s\ns -> tx"), ["E0114"]);
}

/// The checker's codes for a file with syntax errors (which the parser
/// reports; the checker only sees the broken nodes).
#[test]
fn what_a_broken_statement_names_is_not_reported_again() {
    // The broken `nf` declares `a`: linking to it and from it is no error.
    assert_eq!(codes("chain c\nnf a = std.acl {\nrx -> a\na -> tx"), Vec::<&str>::new());
    // A broken link from `rx` is a link from `rx`.
    assert_eq!(codes("chain c\nnf s = std.swap\nrx -> -> s\ns -> tx"), Vec::<&str>::new());
    // A broken link from `a` may have linked its ports.
    assert_eq!(codes("chain c\nnf a = std.acl\nrx -> a\na -> { allowed: drop,, }"), Vec::<&str>::new());
    // A map a broken statement mentions counts as used (no W0102), and the
    // bindings of a broken `nf` are unknown (no E0402).
    let broken_binding = "chain c\nmap m: lpm_trie<Ipv4Prefix, u8>[4]\nnf f = std.filter { allow m }\nrx -> f\nf -> tx";
    assert_eq!(codes(broken_binding), Vec::<&str>::new());
    // A broken map counts as declared: binding it is no error.
    assert_eq!(
        codes("chain c\nmap hits: array<u64 [4]\nnf f = std.filter { hits: hits }\nrx -> f\nf -> tx"),
        ["E0402"]
    );
    // What the broken statements do not name is still checked.
    assert_eq!(codes("chain c\nnf a = std.acl {\nnf s = std.swap\nrx -> s\ns.outt -> a"), ["E0301"]);
    // And no chain comes out of a file that did not parse.
    assert!(run("chain c\nnf s = std.swap\nrx -> s\ns -> tx\nfoo bar").chain.is_none());
    assert!(run("nf s = std.swap\nrx -> s\ns -> tx").chain.is_none());
}
