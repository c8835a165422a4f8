use super::*;
use crate::source::InMemory;

const ONE_PORT: &str = "#![no_std]\npub enum Action { Out }\npub fn packet<P: Packet>(p: &mut P) -> Action { Action::Out }";
const TWO_PORTS: &str =
    "#![no_std]\npub enum Action { Allowed, Denied }\npub fn packet<P: Packet>(p: &mut P) -> Action { Action::Allowed }";

fn reader() -> InMemory {
    InMemory::default()
        .with("std/swap/Cargo.toml", "[package]\nname = \"swap\"\n")
        .with("std/swap/src/lib.rs", ONE_PORT)
        .with("std/acl/Cargo.toml", "[package]\nname = \"acl\"\n")
        .with("std/acl/src/lib.rs", TWO_PORTS)
}

fn run(source: &str) -> CheckOutput {
    let ast = galette_grammar::parse(source, 0).expect("test chains parse");
    let mut files = SourceFiles::default();
    files.add("chain.gal", source);
    let reader = reader();
    let cx = CheckContext { reader: &reader, chain_file: 0, chain_dir: "chains".into(), stdlib_dir: "std".into() };
    check(&ast, &mut files, &cx)
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
    assert_eq!(chain.entry, Target::Instance(0));
    assert_eq!(chain.instances[0].ports[0].target, Target::Instance(1));
    assert_eq!(chain.instances[0].ports[1].target, Target::Drop);
    assert_eq!(chain.instances[1].ports[0].target, Target::Tx);
    assert_eq!(chain.max_ports(), 2);
}

#[test]
fn a_chain_may_lead_straight_out() {
    let chain = run("chain c\nrx -> pass").chain.unwrap();
    assert_eq!(chain.entry, Target::Pass);
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
    assert_eq!(codes("chain c\nnf s = std.swap\nrx.x -> s\ns -> tx"), ["E0106"]);
    assert_eq!(codes("chain c\nnf s = std.swap\nrx -> s\ns -> rx"), ["E0106", "E0303"]);
    assert_eq!(codes("chain c\nrx -> tx\ntx -> drop"), ["E0107"]);
}

#[test]
fn ports_are_checked() {
    let out = run("chain c\nnf a = std.acl\nrx -> a\na -> { allowd: tx, denied: drop }");
    assert_eq!(out.diagnostics[0].code, "E0301");
    assert_eq!(out.diagnostics[0].help.as_deref(), Some("did you mean `allowed`?"));
    assert_eq!(out.diagnostics[0].secondary[0].file, 1, "points into the NF's lib.rs");
    assert_eq!(codes("chain c\nnf a = std.acl\nrx -> a\na -> tx"), ["E0304", "E0303"]);
    assert_eq!(codes("chain c\nnf a = std.acl\nrx -> a\na.allowed -> tx\na.allowed -> drop\na.denied -> drop"), ["E0302"]);
    let out = run("chain c\nnf a = std.acl\nrx -> a");
    assert_eq!(out.diagnostics[0].code, "E0303");
    assert!(out.diagnostics[0].message.contains("allowed, denied"));
    assert_eq!(codes("chain c\nnf a = std.acl\nrx -> a\na.allowed -> { x: tx }"), ["E0108", "E0303"]);
}

#[test]
fn cycles_are_errors_with_their_path() {
    let out = run("chain c\nnf a = std.swap\nnf b = std.swap\nrx -> a\na -> b\nb -> a");
    assert_eq!(out.diagnostics[0].code, "E0305");
    assert_eq!(out.diagnostics[0].message, "the chain loops: a -> b -> a");
    assert!(out.chain.is_none());
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
    assert_eq!(chain.entry, Target::Instance(0));
}

#[test]
fn constructs_not_built_yet_say_so() {
    assert_eq!(codes("chain c\nmap m: hash<u32, u32>[4]\nrx -> tx"), ["E0900"]);
    assert_eq!(codes("chain c\nnf s = std.swap @userland\nrx -> s\ns -> tx"), ["E0900"]);
    assert_eq!(codes("chain c\nnf s = std.swap\nrx -> !s\ns -> tx"), ["E0900"]);
}
