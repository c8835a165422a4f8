//! One document, checked: the compiler's front end on the editor's text, and
//! an index of what every name in it refers to, which hover, definition,
//! rename and completion read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use galette_grammar::Span;
use galette_grammar::ast::{BrokenShape, ChainFile, Destination, Item, LinkTarget, NfSource};

use super::text::LineIndex;
use crate::check::ResolvedInstance;
use crate::compile::{Checked, CompileOptions, check_text};
use crate::layout::TypeIndex;
use crate::place::Decision;
use crate::signature::{NfSignature, UseSite, read_signature};
use crate::source::FileSystem;
use crate::source::SourceFiles;

/// A destination with a fixed meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Tx,
    Pass,
    Drop,
    Abort,
}

impl Builtin {
    pub const ALL: [Builtin; 4] = [Builtin::Tx, Builtin::Pass, Builtin::Drop, Builtin::Abort];

    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|builtin| builtin.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Tx => "tx",
            Builtin::Pass => "pass",
            Builtin::Drop => "drop",
            Builtin::Abort => "abort",
        }
    }

    /// What it does to a packet, as docs/language.md says.
    pub fn meaning(self) -> &'static str {
        match self {
            Builtin::Tx => "the packet goes back out of the interface it arrived on (`XDP_TX`)",
            Builtin::Pass => "the packet goes on to the host's network stack, as if there were no chain (`XDP_PASS`)",
            Builtin::Drop => "the packet is dropped (`XDP_DROP`)",
            Builtin::Abort => {
                "the packet is dropped as an error, which the kernel reports on its `xdp:xdp_exception` tracepoint (`XDP_ABORTED`)"
            }
        }
    }
}

/// What a name written in the chain refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Symbol {
    /// The chain's name in its header.
    Chain,
    /// An interface role: `iface NAME`, `rx.NAME`, or a destination.
    Role(String),
    Map(String),
    Instance(String),
    /// `instance.port`, or `port:` in a fan-out block from `instance`.
    Port {
        instance: String,
        port: String,
    },
    /// `field:` in an instance's bindings.
    MapField {
        instance: String,
        field: String,
    },
    /// The `std.NAME` or `"PATH"` an instance is made from.
    NfSource {
        instance: String,
    },
    /// The kind in a map declaration (`lpm_trie`).
    MapKind(String),
    /// A key or value type in a map declaration.
    Type(String),
    /// `rx`, where packets enter.
    Rx,
    Builtin(Builtin),
    /// `@xdp`, `@userland`.
    Attribute(String),
}

/// One name in the text and what it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub span: Span,
    pub symbol: Symbol,
}

/// Where each instance, map and role is declared (the first declaration,
/// broken statements included).
#[derive(Debug, Default)]
pub struct Declarations {
    pub instances: HashMap<String, Span>,
    pub maps: HashMap<String, Span>,
    pub roles: HashMap<String, Span>,
}

/// A checked document.
#[derive(Debug)]
pub struct Analysis {
    /// The `.gal` file's path: NF crate paths are relative to its directory.
    pub path: PathBuf,
    pub text: String,
    pub lines: LineIndex,
    /// Everything the compiler's front end found.
    pub checked: Checked,
    /// Every name in the text, in source order.
    pub occurrences: Vec<Occurrence>,
    pub declarations: Declarations,
    /// The NF signatures of instances in earlier versions of the document,
    /// by instance name: while an `nf` line is being typed it does not
    /// parse, and completing its bindings still needs its crate's fields.
    pub remembered: HashMap<String, NfSignature>,
}

impl Analysis {
    /// Runs the front end on `text`, the contents of the editor's buffer for
    /// the file at `path`, with NF crates read from disk.
    pub fn new(path: &Path, text: String, options: &CompileOptions) -> Analysis {
        let checked = check_text(path, text.clone(), options, &FileSystem);
        let declarations = declarations(&checked.ast);
        let occurrences = occurrences(&checked.ast, &declarations);
        let remembered = checked
            .instances
            .iter()
            .filter_map(|instance| Some((instance.name.clone(), instance.nf.clone()?)))
            .collect();
        Analysis {
            path: path.to_owned(),
            lines: LineIndex::new(&text),
            text,
            checked,
            occurrences,
            declarations,
            remembered,
        }
    }

    /// Keeps what `earlier` knew about instances this version cannot read.
    pub fn remember(&mut self, earlier: Analysis) {
        for (name, signature) in earlier.remembered {
            self.remembered.entry(name).or_insert(signature);
        }
    }

    /// The signature of the instance `name`'s crate as this version of the
    /// document read it: its file ids point into this analysis's files, as
    /// locations need.
    pub fn current_signature(&self, name: &str) -> Option<&NfSignature> {
        self.instance(name).and_then(|instance| instance.nf.as_ref())
    }

    /// The signature of the instance `name`'s crate: as this version of the
    /// document reads it, or as an earlier one did. For names and docs only:
    /// a remembered signature's file ids point into an earlier file table.
    pub fn signature(&self, name: &str) -> Option<&NfSignature> {
        self.current_signature(name).or_else(|| self.remembered.get(name))
    }

    /// The name at byte `offset` (its end included, where a cursor after the
    /// last letter is).
    pub fn occurrence_at(&self, offset: usize) -> Option<&Occurrence> {
        self.occurrences.iter().find(|occurrence| occurrence.span.start <= offset && offset <= occurrence.span.end)
    }

    /// The instance named `name`, with its crate's signature if it was read.
    pub fn instance(&self, name: &str) -> Option<&ResolvedInstance> {
        self.checked.instances.iter().find(|instance| instance.name == name)
    }

    /// Where the instance `name` is placed and why, when the chain checks
    /// (and `None` for an instance no packet reaches).
    pub fn decision(&self, name: &str) -> Option<&Decision> {
        let placed = self.checked.chain.as_ref()?;
        placed.instances().find(|(instance, _)| instance.name == name).map(|(_, decision)| decision)
    }

    /// The signature of the NF crate in `crate_dir`, read afresh: for an
    /// `nf` line being typed, whose instance the check did not declare.
    pub fn read_crate(&self, crate_dir: &Path, options: &CompileOptions) -> Option<NfSignature> {
        let mut files = SourceFiles::default();
        let used_at = UseSite { file: files.add("chain", ""), span: Span::default() };
        let nf_std = TypeIndex::read_crate(&options.nf_std_dir, &FileSystem, &mut files);
        read_signature(crate_dir, &FileSystem, &mut files, used_at, &nf_std).ok()
    }

    /// The directory of the chain file, which crate paths are relative to.
    pub fn chain_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Whether every statement parsed.
    pub fn parsed_cleanly(&self) -> bool {
        self.checked.ast.is_complete()
    }
}

fn declarations(ast: &ChainFile) -> Declarations {
    let mut declarations = Declarations::default();
    let first = |table: &mut HashMap<String, Span>, name: &galette_grammar::ast::Ident| {
        table.entry(name.name.clone()).or_insert(name.span);
    };
    for item in &ast.items {
        match item {
            Item::Iface(iface) => first(&mut declarations.roles, &iface.name),
            Item::Map(map) => first(&mut declarations.maps, &map.name),
            Item::Nf(nf) => first(&mut declarations.instances, &nf.name),
            Item::Broken(broken) => match &broken.shape {
                BrokenShape::Iface(Some(name)) => first(&mut declarations.roles, name),
                BrokenShape::Map(Some(name)) => first(&mut declarations.maps, name),
                BrokenShape::Nf(Some(name)) => first(&mut declarations.instances, name),
                _ => {}
            },
            Item::Link(_) => {}
        }
    }
    declarations
}

/// What each name in the tree refers to. Names inside broken statements are
/// left out: what they mean is not known.
fn occurrences(ast: &ChainFile, declarations: &Declarations) -> Vec<Occurrence> {
    let mut found = Vec::new();
    let mut push = |span: Span, symbol: Symbol| found.push(Occurrence { span, symbol });
    if let Some(name) = &ast.name {
        push(name.span, Symbol::Chain);
    }
    // A name in a link is a role when a role has it, else an instance.
    let node = |name: &str| {
        if declarations.roles.contains_key(name) && !declarations.instances.contains_key(name) {
            Symbol::Role(name.to_owned())
        } else {
            Symbol::Instance(name.to_owned())
        }
    };
    let destination = |destination: &Destination| match destination.name.name.as_str() {
        "rx" => Symbol::Rx,
        name => Builtin::from_name(name).map_or_else(|| node(name), Symbol::Builtin),
    };
    for item in &ast.items {
        match item {
            Item::Iface(iface) => push(iface.name.span, Symbol::Role(iface.name.name.clone())),
            Item::Map(map) => {
                push(map.name.span, Symbol::Map(map.name.name.clone()));
                push(map.kind.span, Symbol::MapKind(map.kind.name.clone()));
                for ty in map.key.iter().chain([&map.value]) {
                    push(ty.span, Symbol::Type(ty.name.clone()));
                }
            }
            Item::Nf(nf) => {
                let instance = nf.name.name.clone();
                push(nf.name.span, Symbol::Instance(instance.clone()));
                let source_span = match &nf.source {
                    NfSource::Std { name, .. } => name.span,
                    NfSource::Path { span, .. } => *span,
                };
                push(source_span, Symbol::NfSource { instance: instance.clone() });
                for binding in &nf.bindings {
                    let field = binding.field.name.clone();
                    push(binding.field.span, Symbol::MapField { instance: instance.clone(), field });
                    push(binding.map.span, Symbol::Map(binding.map.name.clone()));
                }
                for attribute in &nf.attributes {
                    push(attribute.span, Symbol::Attribute(attribute.name.clone()));
                }
            }
            Item::Link(link) => {
                let from = link.from.node.name.as_str();
                let from_rx = from == "rx";
                push(link.from.node.span, if from_rx { Symbol::Rx } else { node(from) });
                if let Some(port) = &link.from.port {
                    let symbol = if from_rx {
                        Symbol::Role(port.name.clone())
                    } else {
                        Symbol::Port { instance: from.to_owned(), port: port.name.clone() }
                    };
                    push(port.span, symbol);
                }
                match &link.to {
                    LinkTarget::Single(to) => push(to.name.span, destination(to)),
                    LinkTarget::FanOut(routes) => {
                        for route in routes {
                            let port = Symbol::Port { instance: from.to_owned(), port: route.port.name.clone() };
                            push(route.port.span, port);
                            push(route.destination.name.span, destination(&route.destination));
                        }
                    }
                }
            }
            Item::Broken(_) => {}
        }
    }
    found.sort_by_key(|occurrence| occurrence.span.start);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbols(source: &str) -> Vec<(String, Symbol)> {
        let ast = galette_grammar::parse(source, 0).chain;
        let declarations = declarations(&ast);
        occurrences(&ast, &declarations)
            .into_iter()
            .map(|o| (source[o.span.start..o.span.end].to_owned(), o.symbol))
            .collect()
    }

    #[test]
    fn every_name_is_indexed_with_what_it_refers_to() {
        let found = symbols(
            "chain c\niface lan\nmap m: hash<u32, u64>[4]\nnf a = std.acl { v4: m } @xdp\nrx.lan -> a\na -> { allowed: lan, denied: drop }\na.other -> !a",
        );
        let instance = |name: &str| Symbol::Instance(name.to_owned());
        let port = |name: &str| Symbol::Port { instance: "a".to_owned(), port: name.to_owned() };
        let expected = vec![
            ("c", Symbol::Chain),
            ("lan", Symbol::Role("lan".into())),
            ("m", Symbol::Map("m".into())),
            ("hash", Symbol::MapKind("hash".into())),
            ("u32", Symbol::Type("u32".into())),
            ("u64", Symbol::Type("u64".into())),
            ("a", instance("a")),
            ("acl", Symbol::NfSource { instance: "a".into() }),
            ("v4", Symbol::MapField { instance: "a".into(), field: "v4".into() }),
            ("m", Symbol::Map("m".into())),
            ("xdp", Symbol::Attribute("xdp".into())),
            ("rx", Symbol::Rx),
            ("lan", Symbol::Role("lan".into())),
            ("a", instance("a")),
            ("a", instance("a")),
            ("allowed", port("allowed")),
            ("lan", Symbol::Role("lan".into())),
            ("denied", port("denied")),
            ("drop", Symbol::Builtin(Builtin::Drop)),
            ("a", instance("a")),
            ("other", port("other")),
            ("a", instance("a")),
        ];
        let found: Vec<(&str, Symbol)> = found.iter().map(|(text, symbol)| (text.as_str(), symbol.clone())).collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn a_broken_declaration_still_declares_its_name() {
        let ast = galette_grammar::parse("chain c\nnf a = std.acl {\nmap m: hash<u32 u64>[1]\n", 0).chain;
        let declarations = declarations(&ast);
        assert!(declarations.instances.contains_key("a"));
        assert!(declarations.maps.contains_key("m"));
    }
}
