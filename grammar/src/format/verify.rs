//! The formatter's check of its own output, so that a bug in it can cost a
//! file its new layout, never its meaning or a comment.

use super::FormatError;
use super::units::comment_text;
use crate::Span;
use crate::ast::{ChainFile, Destination, Endpoint, Ident, Item, LinkTarget, NfSource};
use crate::lexer::{Lexeme, lex_keeping_comments};

/// Whether `formatted` parses to `chain` (the tree of `source`), spans
/// aside, and holds the same comments in the same order.
pub(super) fn same_chain_and_comments(source: &str, chain: &ChainFile, formatted: &str) -> Result<(), FormatError> {
    let reparsed = crate::parse(formatted, 0).into_result().map_err(|_| bug("the formatted text does not parse"))?;
    if without_spans(chain) != without_spans(&reparsed) {
        return Err(bug("the formatted text parses to another chain"));
    }
    if comments(source) != comments(formatted) {
        return Err(bug("the formatted text does not hold the same comments"));
    }
    Ok(())
}

/// The comments of `text` as the formatter writes them.
fn comments(text: &str) -> Option<Vec<String>> {
    let lexemes = lex_keeping_comments(text).ok()?;
    Some(
        lexemes
            .into_iter()
            .filter(|(_, lexeme)| !matches!(lexeme, Lexeme::Token(_)))
            .map(|(span, _)| comment_text(text.get(span.start..span.end).unwrap_or("")).into_owned())
            .collect(),
    )
}

/// `chain` with every span zeroed, to compare trees by what they say.
fn without_spans(chain: &ChainFile) -> ChainFile {
    let mut chain = chain.clone();
    chain.name.iter_mut().for_each(erase_ident);
    for item in &mut chain.items {
        match item {
            Item::Iface(iface) => {
                iface.span = Span::default();
                erase_ident(&mut iface.name);
            }
            Item::Map(map) => {
                map.span = Span::default();
                map.capacity.span = Span::default();
                for ident in [&mut map.name, &mut map.kind, &mut map.value].into_iter().chain(map.key.as_mut()) {
                    erase_ident(ident);
                }
            }
            Item::Nf(nf) => {
                nf.span = Span::default();
                erase_ident(&mut nf.name);
                match &mut nf.source {
                    NfSource::Std { name, span } => {
                        erase_ident(name);
                        *span = Span::default();
                    }
                    NfSource::Path { span, .. } => *span = Span::default(),
                }
                for binding in &mut nf.bindings {
                    erase_ident(&mut binding.field);
                    erase_ident(&mut binding.map);
                }
                nf.attributes.iter_mut().for_each(erase_ident);
            }
            Item::Link(link) => {
                link.span = Span::default();
                erase_endpoint(&mut link.from);
                match &mut link.to {
                    LinkTarget::Single(destination) => erase_destination(destination),
                    LinkTarget::FanOut(routes) => {
                        for route in routes {
                            erase_ident(&mut route.port);
                            erase_destination(&mut route.destination);
                        }
                    }
                }
            }
            Item::Broken(broken) => {
                broken.span = Span::default();
                broken.names.iter_mut().for_each(erase_ident);
            }
        }
    }
    chain
}

fn erase_ident(ident: &mut Ident) {
    ident.span = Span::default();
}

fn erase_endpoint(endpoint: &mut Endpoint) {
    endpoint.span = Span::default();
    erase_ident(&mut endpoint.node);
    if let Some(port) = &mut endpoint.port {
        erase_ident(port);
    }
}

fn erase_destination(destination: &mut Destination) {
    destination.span = Span::default();
    erase_ident(&mut destination.name);
}

fn bug(what: &str) -> FormatError {
    FormatError::Bug(what.to_owned())
}
