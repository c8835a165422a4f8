//! The syntax tree of a `.gal` file. Every node carries its span.

use crate::Span;

/// A name as written, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A whole `.gal` file, as far as it parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainFile {
    /// `chain NAME`; `None` when the file has no header that parsed.
    pub name: Option<Ident>,
    pub items: Vec<Item>,
}

impl ChainFile {
    /// The broken statements, in source order.
    pub fn broken(&self) -> impl Iterator<Item = &BrokenStatement> {
        self.items.iter().filter_map(|item| match item {
            Item::Broken(broken) => Some(broken),
            _ => None,
        })
    }

    /// Whether every statement parsed and the header is there: only then
    /// does the tree say everything the file means.
    pub fn is_complete(&self) -> bool {
        self.name.is_some() && self.broken().next().is_none()
    }
}

/// A top-level declaration or link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Iface(IfaceDecl),
    Map(MapDecl),
    Nf(NfDecl),
    Link(Link),
    /// A statement with a syntax error, kept so that later stages know
    /// what it was meant to declare or link and do not report the names it
    /// mentions as missing or unused.
    Broken(BrokenStatement),
}

/// A statement that did not parse (its error is among the parser's
/// diagnostics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenStatement {
    /// What the statement was, as far as its first tokens tell.
    pub shape: BrokenShape,
    /// Every name written in it, in order.
    pub names: Vec<Ident>,
    pub span: Span,
}

/// What a broken statement's first tokens say it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokenShape {
    /// `chain ...`.
    Header,
    /// `iface NAME ...`, with the name when one follows the keyword.
    Iface(Option<Ident>),
    /// `map NAME ...`.
    Map(Option<Ident>),
    /// `nf NAME ...`.
    Nf(Option<Ident>),
    /// `NAME -> ...` or `NAME.PORT -> ...`: a link leaving `NAME`.
    Link { from: Ident },
    /// Anything else.
    Unknown,
}

/// `iface NAME`: an interface role of a gateway with several interfaces;
/// the runtime maps roles to interfaces (`--iface lan=eth0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceDecl {
    pub name: Ident,
    pub span: Span,
}

/// `map NAME: KIND<KEY, VALUE>[CAPACITY]`, or `KIND<VALUE>` for arrays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDecl {
    pub name: Ident,
    pub kind: Ident,
    /// `None` in the one-parameter form `array<V>`, whose key is implicit
    /// (an array is indexed by `u32`); the checker refuses it for other kinds.
    pub key: Option<Ident>,
    pub value: Ident,
    pub capacity: Capacity,
    pub span: Span,
}

/// A map's capacity as written. The value is `None` when the digits do not
/// fit in a `u64`; the checker reports that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    pub value: Option<u64>,
    pub span: Span,
}

/// `nf NAME = SOURCE { field: map, ... } @attribute ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfDecl {
    pub name: Ident,
    pub source: NfSource,
    pub bindings: Vec<Binding>,
    pub attributes: Vec<Ident>,
    pub span: Span,
}

/// Where an NF's code comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NfSource {
    /// `std.NAME`: a crate of the standard NF library.
    Std { name: Ident, span: Span },
    /// `"PATH"`: a crate directory, relative to the `.gal` file.
    Path { path: String, span: Span },
}

impl NfSource {
    pub fn span(&self) -> Span {
        match self {
            NfSource::Std { span, .. } | NfSource::Path { span, .. } => *span,
        }
    }
}

impl std::fmt::Display for NfSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NfSource::Std { name, .. } => write!(f, "std.{}", name.name),
            NfSource::Path { path, .. } => write!(f, "\"{path}\""),
        }
    }
}

/// `FIELD: MAP` inside an instance's braces: binds the NF's map field to a
/// chain map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub field: Ident,
    pub map: Ident,
}

/// `FROM -> TO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub from: Endpoint,
    pub to: LinkTarget,
    pub span: Span,
}

/// The left side of a link: `rx`, `rx.ROLE`, `nf` or `nf.port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub node: Ident,
    pub port: Option<Ident>,
    pub span: Span,
}

/// The right side of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkTarget {
    /// `-> dest`.
    Single(Destination),
    /// `-> { port: dest, ... }`: one destination per port of the source.
    FanOut(Vec<PortRoute>),
}

/// `port: dest` inside a fan-out block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRoute {
    pub port: Ident,
    pub destination: Destination,
}

/// Where a link leads: an NF, an interface role (out of that interface), or
/// one of `tx`, `pass`, `drop`, `abort` (told apart by the checker),
/// optionally as an upcall (`!nf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub upcall: bool,
    pub name: Ident,
    pub span: Span,
}
