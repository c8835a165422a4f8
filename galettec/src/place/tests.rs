use super::*;
use crate::check::check_in_memory;
use crate::source::InMemory;

const NO_STD: &str =
    "#![no_std]\npub enum Action { Out }\npub fn packet<P: Packet>(p: &mut P) -> Action { Action::Out }";
const NEEDS_STD: &str = "pub enum Action { Out }\npub fn packet<P: Packet>(p: &mut P) -> Action { Action::Out }";

fn placed(source: &str) -> Result<Vec<(String, Placement, String)>, Vec<&'static str>> {
    placed_with(source, &PlaceOptions::default())
}

fn placed_with(source: &str, options: &PlaceOptions) -> Result<Vec<(String, Placement, String)>, Vec<&'static str>> {
    let reader = InMemory::default()
        .with("std/a/Cargo.toml", "[package]\nname = \"a\"\n")
        .with("std/a/src/lib.rs", NO_STD)
        .with("std/heavy/Cargo.toml", "[package]\nname = \"heavy\"\n")
        .with("std/heavy/src/lib.rs", NEEDS_STD);
    let output = check_in_memory(source, &reader, ".");
    let chain = output.chain.unwrap_or_else(|| panic!("{:?}", output.diagnostics));
    let placed = place(chain, 0, options).map_err(|errors| errors.iter().map(|e| e.code).collect::<Vec<_>>())?;
    Ok(placed.instances().map(|(i, d)| (i.name.clone(), d.placement, d.reason.to_string())).collect())
}

fn placements(source: &str) -> Vec<Placement> {
    placed(source).unwrap().into_iter().map(|(_, placement, _)| placement).collect()
}

#[test]
fn no_std_instances_run_in_xdp() {
    let result = placed("chain c\nnf x = std.a\nrx -> x\nx -> tx").unwrap();
    assert_eq!(result[0].1, Placement::Xdp);
    assert!(result[0].2.contains("XDP fast path"));
}

#[test]
fn each_rule_moves_an_instance_to_userland() {
    use Placement::{Userland, Xdp};
    assert_eq!(placements("chain c\nnf x = std.a @userland\nrx -> x\nx -> tx"), [Userland]);
    assert_eq!(placements("chain c\nnf x = std.heavy\nrx -> x\nx -> tx"), [Userland]);
    assert_eq!(placements("chain c\nnf x = std.a\nnf y = std.a\nrx -> x\nx -> !y\ny -> tx"), [Xdp, Userland]);
    assert_eq!(placements("chain c\nnf x = std.a\nrx -> !x\nx -> tx"), [Userland]);
}

#[test]
fn everything_after_userland_stays_in_userland() {
    let result =
        placed("chain c\nnf x = std.a\nnf y = std.heavy\nnf z = std.a\nrx -> x\nx -> y\ny -> z\nz -> tx").unwrap();
    let kinds: Vec<_> = result.iter().map(|r| r.1).collect();
    assert_eq!(kinds, [Placement::Xdp, Placement::Userland, Placement::Userland]);
    assert!(result[2].2.contains("`y` before it runs in userland"), "{}", result[2].2);
}

#[test]
fn xdp_on_an_instance_that_cannot_run_there_is_an_error() {
    assert_eq!(placed("chain c\nnf x = std.heavy @xdp\nrx -> x\nx -> tx").unwrap_err(), ["E0501"]);
    assert_eq!(placed("chain c\nnf x = std.a @xdp\nrx -> !x\nx -> tx").unwrap_err(), ["E0501"]);
    let ok = placed("chain c\nnf x = std.a @xdp\nrx -> x\nx -> tx").unwrap();
    assert_eq!(ok[0].2, "the chain marks it `@xdp`");
}

fn line_of(nfs: usize) -> String {
    let mut source = String::from("chain long\n");
    for i in 0..nfs {
        source.push_str(&format!("nf n{i} = std.a\n"));
    }
    source.push_str("rx -> n0\n");
    for i in 1..nfs {
        source.push_str(&format!("n{} -> n{i}\n", i - 1));
    }
    source.push_str(&format!("n{} -> tx\n", nfs - 1));
    source
}

#[test]
fn a_long_chain_without_splits_runs_wholly_in_xdp() {
    let result = placed(&line_of(64)).unwrap();
    assert!(result.iter().all(|r| r.1 == Placement::Xdp), "one fused segment costs no tail call");
}

#[test]
fn splits_count_against_the_tail_call_limit() {
    // Every instance after the first its own segment: n_k is k tail calls
    // from `rx`.
    let splits = (1..40)
        .map(|instance| Split { instance, rejected_program: "galette_rx".into(), summary: "too large".into() })
        .collect();
    let result = placed_with(&line_of(40), &PlaceOptions { splits, ..PlaceOptions::default() }).unwrap();
    let in_xdp = result.iter().take_while(|r| r.1 == Placement::Xdp).count();
    assert_eq!(in_xdp, DEFAULT_MAX_TAIL_CALLS as usize + 1, "n0 to n32 run in XDP");
    assert!(result[33..].iter().all(|r| r.1 == Placement::Userland));
    assert_eq!(result[33].2, "reaching it takes 33 tail calls, more than the limit of 32");
    assert!(result[34].2.contains("`n33` before it runs in userland"), "{}", result[34].2);
}

#[test]
fn a_verifier_rejection_moves_an_instance_to_userland_or_fails_xdp() {
    let source = "chain c\nnf x = std.a\nnf y = std.a\nrx -> x\nx -> y\ny -> tx";
    let reader =
        InMemory::default().with("std/a/Cargo.toml", "[package]\nname = \"a\"\n").with("std/a/src/lib.rs", NO_STD);
    let chain = check_in_memory(source, &reader, ".").chain.unwrap();
    let log = "0: R0 !read_ok\nBPF program is too large\nprocessed 9 insns (limit 1000000)\n";
    let options = PlaceOptions { rejected_by_verifier: vec![(0, log.into())], ..PlaceOptions::default() };
    let placed = place(chain, 0, &options).unwrap();
    assert_eq!(placed.decision(0).reason, PlacementReason::VerifierRejected("BPF program is too large".into()));
    assert_eq!(placed.decision(1).placement, Placement::Userland, "after userland");

    let source = source.replace("std.a\nnf y", "std.a @xdp\nnf y");
    let chain = check_in_memory(&source, &reader, ".").chain.unwrap();
    let errors = place(chain, 0, &options).unwrap_err();
    assert_eq!(errors[0].code, "E0502");
    assert!(errors[0].help.as_deref().unwrap().contains("BPF program is too large"));
}
