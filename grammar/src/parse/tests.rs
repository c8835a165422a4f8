use super::*;
use crate::ast::{BrokenShape, LinkTarget, NfSource};

const MACSWAP: &str = "chain macswap\nnf swap = std.macswap\nrx -> swap\nswap -> tx\n";

fn codes(source: &str) -> Vec<&'static str> {
    parse(source, 0).diagnostics.iter().map(|d| d.code).collect()
}

#[test]
fn parses_the_smallest_chain() {
    let chain = parse(MACSWAP, 0).into_result().unwrap();
    assert_eq!(chain.name.unwrap().name, "macswap");
    assert_eq!(chain.items.len(), 3);
    let Item::Nf(nf) = &chain.items[0] else { panic!("expected an nf") };
    assert!(matches!(&nf.source, NfSource::Std { name, .. } if name.name == "macswap"));
    assert_eq!(&MACSWAP[nf.name.span.start..nf.name.span.end], "swap");
}

#[test]
fn parses_every_construct() {
    let source = r#"chain s
        iface lan
        map allow: lpm_trie<Ipv4Prefix, u8>[65_536]
        nf acl = std.acl { allow: allow, } @xdp
        nf dpi = "nfs/dpi"
            @userland
        rx.lan -> acl
        acl -> {
            allowed: !dpi,
            denied: drop,
        }
        dpi.clean
            -> lan
    "#;
    let chain = parse(source, 0).into_result().unwrap();
    assert!(matches!(&chain.items[0], Item::Iface(iface) if iface.name.name == "lan"));
    let Item::Map(map) = &chain.items[1] else { panic!("expected a map") };
    assert_eq!(map.capacity.value, Some(65_536));
    let Item::Nf(acl) = &chain.items[2] else { panic!("expected an nf") };
    assert_eq!(acl.bindings.len(), 1);
    assert_eq!(acl.attributes[0].name, "xdp");
    let Item::Nf(dpi) = &chain.items[3] else { panic!("expected an nf") };
    assert_eq!(dpi.attributes[0].name, "userland", "an attribute on the next line continues the statement");
    let Item::Link(link) = &chain.items[5] else { panic!("expected a link") };
    let LinkTarget::FanOut(routes) = &link.to else { panic!("expected a fan-out") };
    assert!(routes[0].destination.upcall);
    assert_eq!(routes[1].destination.name.name, "drop");
    assert_eq!(chain.items.len(), 7);
}

#[test]
fn an_unexpected_token_says_what_was_expected() {
    let errors = parse("chain a\nrx -> -> tx", 0).into_result().unwrap_err();
    assert_eq!(errors[0].code, "E0002");
    assert_eq!(errors[0].message, "unexpected `->`");
    assert!(errors[0].primary.message.contains("a name"), "{:?}", errors[0]);
}

#[test]
fn an_incomplete_statement_is_reported_at_its_end() {
    let errors = parse("chain a\nrx ->", 0).into_result().unwrap_err();
    assert_eq!(errors[0].code, "E0003");
    assert_eq!(errors[0].primary.span, Span::new(13, 13));
}

#[test]
fn every_broken_statement_is_reported() {
    let source = "chain a\nnf = std.x\nnf b = std.y\nrx -> -> b\nmap m: hash<u32 u32>[1]\nb -> tx\n";
    assert_eq!(codes(source), ["E0002", "E0002", "E0002"]);
}

#[test]
fn an_unclosed_brace_does_not_swallow_the_next_declaration() {
    assert_eq!(codes("chain a\nnf b = std.y { m: x\nnf c = std.y { m x }\n"), ["E0003", "E0002"]);
}

#[test]
fn a_keyword_always_starts_a_statement() {
    assert_eq!(codes("chain a\nrx -> {\nnf t = std.x\nt -> tx"), ["E0003"]);
    assert!(parse("chain a nf t = std.x\nrx -> t", 0).into_result().is_ok());
}

#[test]
fn the_header_comes_first_and_once() {
    assert_eq!(codes(""), ["E0005"]);
    assert_eq!(codes("// only a comment"), ["E0005"]);
    assert_eq!(codes("rx -> tx"), ["E0005"]);
    assert_eq!(codes("chain a\nchain b\nrx -> tx"), ["E0006"]);
    assert_eq!(codes("rx -> tx\nchain a"), ["E0005"], "a late header is not a second one");
    assert_eq!(codes("chain a {\nrx -> tx"), ["E0002"], "a broken header is a syntax error");
}

#[test]
fn only_std_is_a_library() {
    assert_eq!(codes("chain a\nnf x = lib.x"), ["E0004"]);
}

#[test]
fn bad_characters_are_reported_and_skipped() {
    assert_eq!(codes("chain a\nrx -> $tx\n"), ["E0001"]);
    assert_eq!(codes("chain a\nnf b = \"nfs/b\nrx -> tx\n"), ["E0001"]);
}

#[test]
fn a_broken_statement_is_a_node_between_the_statements_that_parsed() {
    let source = "chain a\nnf b = std.y\nrx -> -> b\nb -> tx\n";
    let parsed = parse(source, 0);
    assert_eq!(parsed.diagnostics.len(), 1);
    let chain = parsed.chain;
    assert!(!chain.is_complete());
    assert_eq!(chain.name.as_ref().unwrap().name, "a");
    assert!(matches!(&chain.items[0], Item::Nf(nf) if nf.name.name == "b"));
    let Item::Broken(broken) = &chain.items[1] else { panic!("expected the broken link: {:?}", chain.items[1]) };
    assert!(matches!(&broken.shape, BrokenShape::Link { from } if from.name == "rx"));
    assert_eq!(&source[broken.span.start..broken.span.end], "rx -> -> b");
    let names: Vec<&str> = broken.names.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["rx", "b"]);
    assert!(matches!(&chain.items[2], Item::Link(_)));
}

#[test]
fn a_broken_declaration_keeps_the_name_it_declares() {
    let shape = |source: &str| parse(source, 0).chain.broken().next().map(|b| b.shape.clone());
    let name = |n: &str, at: usize| Some(Ident { name: n.to_owned(), span: Span::new(at, at + n.len()) });
    assert_eq!(shape("chain a\nnf acl = std.acl {"), Some(BrokenShape::Nf(name("acl", 11))));
    assert_eq!(shape("chain a\nmap m: hash<u32 u32>[1]"), Some(BrokenShape::Map(name("m", 12))));
    assert_eq!(shape("chain a\niface lan wan"), Some(BrokenShape::Iface(name("lan", 14))));
    assert_eq!(shape("chain a\nnf = std.x"), Some(BrokenShape::Nf(None)));
    assert_eq!(shape("chain a {"), Some(BrokenShape::Header));
    assert_eq!(shape("chain a\nfoo bar"), Some(BrokenShape::Unknown));
    assert!(matches!(shape("chain a\nacl.allowed -> -> tx"), Some(BrokenShape::Link { from }) if from.name == "acl"));
}

#[test]
fn a_file_without_a_header_still_has_its_items() {
    let parsed = parse("nf b = std.y\nrx -> b\n", 0);
    assert_eq!(parsed.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(), ["E0005"]);
    assert_eq!(parsed.chain.name, None);
    assert_eq!(parsed.chain.items.len(), 2);
    assert!(!parsed.chain.is_complete());
}

#[test]
fn an_unclosed_fan_out_block_does_not_swallow_the_links_after_it() {
    let source = "chain a\nacl -> { allowed: c,\nc -> tx\nc.x -> tx\n";
    let parsed = parse(source, 0);
    assert_eq!(parsed.diagnostics.len(), 1, "{:?}", parsed.diagnostics);
    let kinds: Vec<bool> = parsed.chain.items.iter().map(|item| matches!(item, Item::Broken(_))).collect();
    assert_eq!(kinds, [true, false, false]);
}

#[test]
fn never_panics_on_prefixes_of_a_valid_chain() {
    for end in 0..=MACSWAP.len() {
        let _ = parse(&MACSWAP[..end], 0);
    }
}
