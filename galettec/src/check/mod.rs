//! Checking a parsed chain against its NF crates: name resolution, maps and
//! bindings, ports and links, and the graph rules. Produces the typed
//! [`ChainIr`].
//!
//! The work is split by concern: [`declarations`] (roles, maps, instances),
//! [`layouts`] (what the bytes of shared map types mean), [`links`] (rx,
//! ports, destinations) and [`graph`] (whole-chain rules and building the
//! IR). They share the [`Checker`] state.

mod declarations;
mod graph;
mod layouts;
mod links;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use galette_grammar::ast::{ChainFile, IfaceDecl, Item, NfDecl};
use galette_grammar::{Diagnostic, FileId, Label, Severity, Span};

use crate::ir::{ChainIr, MapIr, PlacementConstraint, Target};
use crate::layout::TypeIndex;
use crate::signature::NfSignature;
use crate::source::{SourceFiles, SourceReader};

/// Names with a fixed meaning in links; no NF or role may take them.
pub const RESERVED: [&str; 5] = ["rx", "tx", "pass", "drop", "abort"];

/// Where the checker finds NF crates.
pub struct CheckContext<'a> {
    pub reader: &'a dyn SourceReader,
    /// The `.gal` file in the file table.
    pub chain_file: FileId,
    /// The directory holding the `.gal` file: crate paths are relative to it.
    pub chain_dir: PathBuf,
    /// The standard NF library: `std.NAME` is the crate `stdlib_dir/NAME`.
    pub stdlib_dir: PathBuf,
    /// The `nf-std` crate, whose types NFs use as map keys and values.
    pub nf_std_dir: PathBuf,
}

/// The checker's result: a chain when there were no errors, and every
/// diagnostic found (warnings included) either way.
pub struct CheckOutput {
    pub chain: Option<ChainIr>,
    pub diagnostics: Vec<Diagnostic>,
    /// Every instance declared, with its NF's signature when its crate could
    /// be read, errors or not: what an editor shows about a chain that does
    /// not check yet.
    pub instances: Vec<ResolvedInstance>,
}

/// An instance as declared, and what its crate says.
#[derive(Debug, Clone)]
pub struct ResolvedInstance {
    pub name: String,
    /// Its name in the `nf` line.
    pub span: Span,
    pub nf: Option<NfSignature>,
}

pub fn check(ast: &ChainFile, files: &mut SourceFiles, cx: &CheckContext<'_>) -> CheckOutput {
    let mut checker = Checker {
        cx,
        diagnostics: Vec::new(),
        roles: Vec::new(),
        maps: Vec::new(),
        map_used: Vec::new(),
        map_names: HashMap::new(),
        instances: Vec::new(),
        names: HashMap::new(),
        entries: Vec::new(),
        rx_linked: false,
        rx_link_failed: false,
        map_binding_failed: false,
        signatures: HashMap::new(),
        nf_std_types: None,
        first_bindings: Vec::new(),
        reported_layouts: HashSet::new(),
        met_broken_name: false,
    };
    checker.declare(ast, files);
    for item in &ast.items {
        if let Item::Link(link) = item {
            checker.link(&link.from, &link.to);
        }
    }
    let chain = checker.finish(ast);
    checker.diagnostics.sort_by_key(|d| (d.primary.file != cx.chain_file, d.primary.span.start));
    let instances = checker
        .instances
        .iter()
        .map(|declared| ResolvedInstance {
            name: declared.decl.name.name.clone(),
            span: declared.decl.name.span,
            nf: declared.nf.clone(),
        })
        .collect();
    CheckOutput { chain, diagnostics: checker.diagnostics, instances }
}

/// What a name in a link refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Named {
    Instance(usize),
    Role(usize),
    /// What a statement with a syntax error declares (an NF or a role, at
    /// this span): links naming it say nothing more about it.
    Broken(Span),
}

/// An instance while checking.
struct Declared<'ast> {
    decl: &'ast NfDecl,
    /// Its NF's signature, if the crate could be read.
    nf: Option<NfSignature>,
    constraint: Option<(PlacementConstraint, Span)>,
    /// Per map slot of the NF: the chain map bound to it (`None` when that
    /// map is broken, which is reported already), and where.
    bindings: Vec<Option<(Option<usize>, Span)>>,
    /// Per port of the NF: where it leads, once linked.
    links: Vec<Option<LinkEnd>>,
    /// Whether a link from it had an error; its unconnected ports are then
    /// likely the ones that link meant, and are not reported again.
    link_failed: bool,
}

/// Where a port or `rx` leads, as written.
#[derive(Debug, Clone, Copy)]
struct LinkEnd {
    target: Target,
    upcall: bool,
    span: Span,
}

/// A link from `rx`: for every interface (`role: None`) or one role.
struct Entry {
    role: Option<usize>,
    end: LinkEnd,
}

struct Checker<'a, 'ast> {
    cx: &'a CheckContext<'a>,
    diagnostics: Vec<Diagnostic>,
    roles: Vec<&'ast IfaceDecl>,
    maps: Vec<Option<MapIr>>,
    /// Per map: whether some instance binds it.
    map_used: Vec<bool>,
    map_names: HashMap<&'ast str, usize>,
    instances: Vec<Declared<'ast>>,
    /// NF and role names share one namespace: both can be destinations.
    names: HashMap<&'ast str, Named>,
    entries: Vec<Entry>,
    /// Whether any link from `rx` was written, even one with errors: then a
    /// missing entry is not worth a second error.
    rx_linked: bool,
    /// Whether a link from `rx` had an error: then it may have meant one of
    /// the roles that look unlinked.
    rx_link_failed: bool,
    /// Whether a binding named a map that does not exist: then it may have
    /// meant one of the maps that look unused.
    map_binding_failed: bool,
    /// NF signatures by crate directory: a crate used by many instances is
    /// read and parsed once (`None` if it could not be, which was reported).
    signatures: HashMap<PathBuf, Option<NfSignature>>,
    /// nf-std's type definitions, read when the first NF crate is.
    nf_std_types: Option<TypeIndex>,
    /// Per map: the first binding of it whose types agree with the chain
    /// (instance, map slot, where): what later bindings' layouts must match.
    first_bindings: Vec<Option<(usize, usize, Span)>>,
    /// Structs already reported as not `#[repr(C)]`, by file and span, so a
    /// crate used by several instances is told once.
    reported_layouts: HashSet<(FileId, Span)>,
    /// Whether the link being checked named something a broken statement
    /// declares: the link is then as good as failed, without an error of
    /// its own.
    met_broken_name: bool,
}

impl Checker<'_, '_> {
    /// Adds an error in the chain file and returns it for more labels.
    fn error(
        &mut self,
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> &mut Diagnostic {
        self.diagnostics.push(Diagnostic::error(code, message, self.cx.chain_file, span, label));
        self.diagnostics.last_mut().expect("just pushed")
    }

    /// Adds a warning in the chain file and returns it for more labels.
    fn warning(
        &mut self,
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> &mut Diagnostic {
        let diagnostic = self.error(code, message, span, label);
        diagnostic.severity = Severity::Warning;
        diagnostic
    }
}

/// Building a diagnostic in place.
trait DiagnosticExt {
    fn label(&mut self, file: FileId, span: Span, message: impl Into<String>) -> &mut Self;
    fn help(&mut self, help: impl Into<String>) -> &mut Self;
}

impl DiagnosticExt for Diagnostic {
    fn label(&mut self, file: FileId, span: Span, message: impl Into<String>) -> &mut Self {
        self.secondary.push(Label { file, span, message: message.into() });
        self
    }

    fn help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }
}

/// `a`, `b` and `c` as "`a`, `b`, `c`".
fn quoted_list<'n>(names: impl IntoIterator<Item = &'n str>) -> String {
    names.into_iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// Checks `source` as `chain.gal` in `chain_dir` against the crates of
/// `reader` (the standard NFs under `std/`, nf-std under `nf-std/`): how the
/// front end's unit tests check a chain.
#[cfg(test)]
pub(crate) fn check_in_memory(source: &str, reader: &crate::source::InMemory, chain_dir: &str) -> CheckOutput {
    let ast = galette_grammar::parse(source, 0).chain;
    let mut files = SourceFiles::default();
    files.add("chain.gal", source);
    let cx = CheckContext {
        reader,
        chain_file: 0,
        chain_dir: chain_dir.into(),
        stdlib_dir: "std".into(),
        nf_std_dir: "nf-std".into(),
    };
    check(&ast, &mut files, &cx)
}

#[cfg(test)]
mod tests;
