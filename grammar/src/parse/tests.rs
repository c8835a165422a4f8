use super::*;
use crate::ast::{LinkTarget, NfSource};

const MACSWAP: &str = "chain macswap\nnf swap = std.macswap\nrx -> swap\nswap -> tx\n";

fn codes(source: &str) -> Vec<&'static str> {
    parse(source, 0).err().unwrap_or_default().iter().map(|d| d.code).collect()
}

#[test]
fn parses_the_smallest_chain() {
    let chain = parse(MACSWAP, 0).unwrap();
    assert_eq!(chain.name.name, "macswap");
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
    let chain = parse(source, 0).unwrap();
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
    let errors = parse("chain a\nrx -> -> tx", 0).unwrap_err();
    assert_eq!(errors[0].code, "E0002");
    assert_eq!(errors[0].message, "unexpected `->`");
    assert!(errors[0].primary.message.contains("a name"), "{:?}", errors[0]);
}

#[test]
fn an_incomplete_statement_is_reported_at_its_end() {
    let errors = parse("chain a\nrx ->", 0).unwrap_err();
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
    assert!(parse("chain a nf t = std.x\nrx -> t", 0).is_ok());
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
fn never_panics_on_prefixes_of_a_valid_chain() {
    for end in 0..=MACSWAP.len() {
        let _ = parse(&MACSWAP[..end], 0);
    }
}
