//! Completion, from the tokens of the statement before the cursor: ports
//! after `nf.` and in fan-out blocks, map fields and maps in bindings,
//! `std.` NFs, map kinds and types, destinations, roles after `rx.`,
//! attributes after `@`, and at the start of a statement the keywords and
//! the names a link starts from.

use galette_bundle::MapKind;
use galette_grammar::Token;
use lsp_types::{CompletionItem, CompletionItemKind, Documentation, MarkupContent, MarkupKind};

use super::analysis::{Analysis, Builtin};
use crate::compile::CompileOptions;
use crate::ir::PREFIX_KEY_TYPES;
use crate::signature::NfSignature;
use crate::source::normalize;

/// Types a map's key or value commonly has, besides those the chain's NFs use.
const PRIMITIVE_TYPES: [&str; 8] = ["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"];

/// The completions at `offset`. `std_nfs` are the standard NFs' names.
pub fn completions(
    analysis: &Analysis,
    offset: usize,
    options: &CompileOptions,
    std_nfs: &[String],
) -> Vec<CompletionItem> {
    // The word being typed is what is completed; what comes before it in
    // its statement says what it can be.
    let tokens: Vec<Token<'_>> = galette_grammar::statement_before(&analysis.text, offset)
        .into_iter()
        .filter(|(span, token)| !(matches!(token, Token::Ident(_)) && span.end == offset))
        .map(|(_, token)| token)
        .collect();
    Context { analysis, options, std_nfs }.at(&tokens)
}

struct Context<'a> {
    analysis: &'a Analysis,
    options: &'a CompileOptions,
    std_nfs: &'a [String],
}

impl Context<'_> {
    fn at(&self, tokens: &[Token<'_>]) -> Vec<CompletionItem> {
        use Token::*;
        match tokens {
            [] => self.statement_start(),
            [Map, Ident(_), Colon] => self.map_kinds(),
            [Map, .., LAngle] | [Map, .., LAngle, Ident(_), Comma] => self.types(),
            [Nf, Ident(_), Equals] => self.std_nfs(true),
            [Nf, Ident(_), Equals, Ident("std"), Dot] => self.std_nfs(false),
            [Nf, .., At] => attributes(),
            [Nf, Ident(instance), Equals, rest @ ..] => self.bindings(instance, rest),
            [Ident("rx"), Dot] => self.roles(),
            [Ident(instance), Dot] => self.ports(instance, &[]),
            [Ident(from), rest @ ..] => self.link(from, rest),
            _ => Vec::new(),
        }
    }

    fn statement_start(&self) -> Vec<CompletionItem> {
        let mut items: Vec<CompletionItem> = ["nf", "map", "iface"]
            .into_iter()
            .map(|keyword| item(keyword, CompletionItemKind::KEYWORD, "declaration"))
            .collect();
        items.push(item("rx", CompletionItemKind::KEYWORD, "where packets enter: `rx -> NF`"));
        items.extend(self.instances());
        items
    }

    /// The rest of a link from `from`, after its first token.
    fn link(&self, from: &str, rest: &[Token<'_>]) -> Vec<CompletionItem> {
        use Token::*;
        // `from.port` is one name: what follows it is the same as after `from`.
        let rest = match rest {
            [Dot, Ident(_), rest @ ..] => rest,
            rest => rest,
        };
        match rest {
            [Arrow] => self.destinations(),
            [Arrow, Bang] => self.instances(),
            [Arrow, LBrace, routes @ ..] => match routes.last() {
                None | Some(Comma) => {
                    let written: Vec<&str> = routes
                        .windows(2)
                        .filter_map(|pair| match pair {
                            [Ident(port), Colon] => Some(*port),
                            _ => None,
                        })
                        .collect();
                    self.ports(from, &written)
                }
                Some(Colon) => self.destinations(),
                Some(Bang) => self.instances(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// In `nf NAME = SOURCE { ... }`: map fields of NAME's crate, or maps.
    fn bindings(&self, instance: &str, rest: &[Token<'_>]) -> Vec<CompletionItem> {
        use Token::*;
        let Some(open) = rest.iter().position(|token| *token == LBrace) else { return Vec::new() };
        if rest[open..].contains(&RBrace) {
            return Vec::new();
        }
        match rest.last() {
            Some(LBrace | Comma) => {
                let written: Vec<&str> = rest[open..]
                    .windows(2)
                    .filter_map(|pair| match pair {
                        [Ident(field), Colon] => Some(*field),
                        _ => None,
                    })
                    .collect();
                let Some(nf) = self.nf_of(instance, &rest[..open]) else { return Vec::new() };
                nf.maps
                    .iter()
                    .filter(|slot| !written.contains(&slot.name.as_str()))
                    .map(|slot| documented(item(&slot.name, CompletionItemKind::FIELD, &slot.ty), &slot.doc))
                    .collect()
            }
            Some(Colon) => self.maps(),
            _ => Vec::new(),
        }
    }

    /// The signature of `instance`'s crate: as the check read it, or, for
    /// an `nf` line being typed, read from the `source` tokens written.
    fn nf_of(&self, instance: &str, source: &[Token<'_>]) -> Option<NfSignature> {
        if let Some(known) = self.analysis.signature(instance) {
            return Some(known.clone());
        }
        let crate_dir = match source {
            [Token::Ident("std"), Token::Dot, Token::Ident(name)] => self.options.stdlib_dir.join(name),
            [Token::Str(path)] => normalize(&self.analysis.chain_dir().join(path)),
            _ => return None,
        };
        self.analysis.read_crate(&crate_dir, self.options)
    }

    fn ports(&self, instance: &str, written: &[&str]) -> Vec<CompletionItem> {
        let Some(nf) = self.analysis.signature(instance) else { return Vec::new() };
        port_items(nf, written)
    }

    fn destinations(&self) -> Vec<CompletionItem> {
        let mut items: Vec<CompletionItem> = Builtin::ALL
            .into_iter()
            .map(|builtin| item(builtin.name(), CompletionItemKind::CONSTANT, builtin.meaning()))
            .collect();
        items.extend(self.instances());
        items.extend(self.roles());
        items
    }

    fn instances(&self) -> Vec<CompletionItem> {
        let mut names: Vec<&String> = self.analysis.declarations.instances.keys().collect();
        names.sort();
        names.into_iter().map(|name| item(name, CompletionItemKind::FUNCTION, "nf")).collect()
    }

    fn roles(&self) -> Vec<CompletionItem> {
        let mut names: Vec<&String> = self.analysis.declarations.roles.keys().collect();
        names.sort();
        names.into_iter().map(|name| item(name, CompletionItemKind::INTERFACE, "interface role")).collect()
    }

    fn maps(&self) -> Vec<CompletionItem> {
        let mut names: Vec<&String> = self.analysis.declarations.maps.keys().collect();
        names.sort();
        names.into_iter().map(|name| item(name, CompletionItemKind::VARIABLE, "map")).collect()
    }

    fn map_kinds(&self) -> Vec<CompletionItem> {
        MapKind::ALL.into_iter().map(|kind| item(kind.name(), CompletionItemKind::TYPE_PARAMETER, "map kind")).collect()
    }

    /// Key and value types: the primitives, the prefixes, and every type
    /// the chain's NFs use in their maps.
    fn types(&self) -> Vec<CompletionItem> {
        let mut names: Vec<String> = PRIMITIVE_TYPES.iter().chain(&PREFIX_KEY_TYPES).map(|t| (*t).to_owned()).collect();
        for instance in &self.analysis.checked.instances {
            for slot in instance.nf.iter().flat_map(|nf| &nf.maps) {
                names.extend(slot.type_args.iter().cloned());
            }
        }
        names.sort();
        names.dedup();
        names.iter().map(|name| item(name, CompletionItemKind::STRUCT, "type")).collect()
    }

    /// The standard NFs, as `std.NAME` or after `std.` as `NAME`.
    fn std_nfs(&self, qualified: bool) -> Vec<CompletionItem> {
        self.std_nfs
            .iter()
            .map(|name| {
                let label = if qualified { format!("std.{name}") } else { name.clone() };
                item(&label, CompletionItemKind::MODULE, "standard NF")
            })
            .collect()
    }
}

fn port_items(nf: &NfSignature, written: &[&str]) -> Vec<CompletionItem> {
    nf.ports
        .iter()
        .filter(|port| !written.contains(&port.name.as_str()))
        .map(|port| {
            let detail = format!("Action::{}", port.variant);
            documented(item(&port.name, CompletionItemKind::ENUM_MEMBER, &detail), &port.doc)
        })
        .collect()
}

fn attributes() -> Vec<CompletionItem> {
    vec![
        item("xdp", CompletionItemKind::KEYWORD, "must run in the XDP fast path"),
        item("userland", CompletionItemKind::KEYWORD, "runs in userland, over AF_XDP"),
    ]
}

fn item(label: &str, kind: CompletionItemKind, detail: &str) -> CompletionItem {
    CompletionItem {
        label: label.to_owned(),
        kind: Some(kind),
        detail: Some(detail.to_owned()),
        ..CompletionItem::default()
    }
}

fn documented(mut item: CompletionItem, doc: &str) -> CompletionItem {
    if !doc.is_empty() {
        item.documentation =
            Some(Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value: doc.to_owned() }));
    }
    item
}
