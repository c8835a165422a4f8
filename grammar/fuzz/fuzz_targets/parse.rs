//! Feeds arbitrary bytes to `galette_grammar::parse` (as UTF-8 when they
//! are; lossily converted otherwise) and checks what it promises: no panic,
//! and diagnostics whose labels point at text of the file they were given,
//! on char boundaries, with a code and a message. A tree's names must be the
//! text their spans cover.
#![no_main]

use galette_grammar::ast::{Item, LinkTarget, NfSource};
use galette_grammar::{Span, parse};
use libfuzzer_sys::fuzz_target;

const FILE: usize = 3;

fn assert_span(source: &str, span: Span, what: &str) {
    assert!(span.start <= span.end && span.end <= source.len(), "{what}: span {span:?} outside {} bytes", source.len());
    assert!(
        source.is_char_boundary(span.start) && source.is_char_boundary(span.end),
        "{what}: span {span:?} not on char boundaries"
    );
}

fn assert_name(source: &str, name: &galette_grammar::ast::Ident) {
    assert_span(source, name.span, "name");
    assert_eq!(&source[name.span.start..name.span.end], name.name, "a name's span is not its text");
}

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    let parsed = parse(&source, FILE);
    assert!(parsed.chain.is_complete() || !parsed.diagnostics.is_empty(), "an incomplete tree and no diagnostics");
    for diagnostic in &parsed.diagnostics {
        assert!(!diagnostic.code.is_empty() && !diagnostic.message.is_empty(), "{diagnostic:?}");
        for label in std::iter::once(&diagnostic.primary).chain(&diagnostic.secondary) {
            assert_eq!(label.file, FILE, "{diagnostic:?}");
            assert_span(&source, label.span, diagnostic.code);
        }
    }
    let tree = parsed.chain;
    if let Some(name) = &tree.name {
        assert_name(&source, name);
    }
    for item in &tree.items {
        match item {
            Item::Iface(iface) => assert_name(&source, &iface.name),
            Item::Map(map) => {
                for name in [&map.name, &map.kind, &map.value].into_iter().chain(&map.key) {
                    assert_name(&source, name);
                }
                assert_span(&source, map.capacity.span, "capacity");
            }
            Item::Nf(nf) => {
                assert_name(&source, &nf.name);
                assert_span(&source, nf.span, "nf");
                if let NfSource::Std { name, .. } = &nf.source {
                    assert_name(&source, name);
                }
                for binding in &nf.bindings {
                    assert_name(&source, &binding.field);
                    assert_name(&source, &binding.map);
                }
                for attribute in &nf.attributes {
                    assert_name(&source, attribute);
                }
            }
            Item::Link(link) => {
                assert_span(&source, link.span, "link");
                assert_name(&source, &link.from.node);
                if let Some(port) = &link.from.port {
                    assert_name(&source, port);
                }
                match &link.to {
                    LinkTarget::Single(destination) => assert_name(&source, &destination.name),
                    LinkTarget::FanOut(routes) => {
                        for route in routes {
                            assert_name(&source, &route.port);
                            assert_name(&source, &route.destination.name);
                        }
                    }
                }
            }
            Item::Broken(broken) => {
                assert_span(&source, broken.span, "broken statement");
                for name in &broken.names {
                    assert_name(&source, name);
                }
            }
        }
    }
});
