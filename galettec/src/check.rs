//! Checking a parsed chain against its NF crates: name resolution, ports,
//! links and graph rules. Produces the typed [`ChainIr`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use galette_grammar::ast::{ChainFile, Destination, Endpoint, Ident, Item, LinkTarget, NfDecl, NfSource};
use galette_grammar::{Diagnostic, FileId, Severity, Span};

use crate::ir::{ChainIr, InstanceIr, PortIr, Target};
use crate::signature::{NfSignature, UseSite, read_signature};
use crate::source::{SourceFiles, SourceReader};
use crate::suggest::closest;

/// Names with a fixed meaning in links; no NF may take them.
const RESERVED: [&str; 5] = ["rx", "tx", "pass", "drop", "abort"];

/// Where the checker finds NF crates.
pub struct CheckContext<'a> {
    pub reader: &'a dyn SourceReader,
    /// The `.gal` file in the file table.
    pub chain_file: FileId,
    /// The directory holding the `.gal` file: crate paths are relative to it.
    pub chain_dir: PathBuf,
    /// The standard NF library: `std.NAME` is the crate `stdlib_dir/NAME`.
    pub stdlib_dir: PathBuf,
}

/// The checker's result: a chain when there were no errors, and every
/// diagnostic found (warnings included) either way.
pub struct CheckOutput {
    pub chain: Option<ChainIr>,
    pub diagnostics: Vec<Diagnostic>,
}

/// An instance while checking: its declaration, its NF's signature if that
/// could be read, and what each port is linked to so far.
struct Declared<'ast> {
    decl: &'ast NfDecl,
    nf: Option<NfSignature>,
    links: Vec<Option<(Target, Span)>>,
}

pub fn check(ast: &ChainFile, files: &mut SourceFiles, cx: &CheckContext<'_>) -> CheckOutput {
    let mut checker = Checker { cx, diagnostics: Vec::new(), instances: Vec::new(), by_name: HashMap::new(), entry: None, rx_linked: false };
    checker.declare(ast, files);
    for item in &ast.items {
        if let Item::Link(link) = item {
            checker.link(&link.from, &link.to);
        }
    }
    let chain = checker.finish(ast);
    CheckOutput { chain, diagnostics: checker.diagnostics }
}

struct Checker<'a, 'ast> {
    cx: &'a CheckContext<'a>,
    diagnostics: Vec<Diagnostic>,
    instances: Vec<Declared<'ast>>,
    by_name: HashMap<&'ast str, usize>,
    /// Where `rx` leads, and the span of that link.
    entry: Option<(Target, Span)>,
    /// Whether any link from `rx` was written, even one with errors: then a
    /// missing entry is not worth a second error.
    rx_linked: bool,
}

impl<'a, 'ast> Checker<'a, 'ast> {
    fn error(&mut self, code: &'static str, message: impl Into<String>, span: Span, label: impl Into<String>) -> &mut Diagnostic {
        self.diagnostics.push(Diagnostic::error(code, message, self.cx.chain_file, span, label));
        self.diagnostics.last_mut().expect("just pushed")
    }

    fn unsupported(&mut self, what: &str, span: Span) {
        self.error("E0900", format!("{what} are not supported by this version of galettec yet"), span, "not supported yet")
            .help = Some("see docs/language.md for what this version compiles".into());
    }

    /// Declarations: instances (with their NF signatures) and maps.
    fn declare(&mut self, ast: &'ast ChainFile, files: &mut SourceFiles) {
        for item in &ast.items {
            match item {
                Item::Map(map) => self.unsupported("maps", map.span),
                Item::Nf(decl) => self.declare_instance(decl, files),
                Item::Link(_) => {}
            }
        }
    }

    fn declare_instance(&mut self, decl: &'ast NfDecl, files: &mut SourceFiles) {
        let name = decl.name.name.as_str();
        if RESERVED.contains(&name) {
            self.error("E0105", format!("`{name}` is a reserved name"), decl.name.span, "cannot name an NF")
                .help = Some(format!("choose another name; {} have fixed meanings in links", quoted_list(&RESERVED)));
            return;
        }
        if let Some(&first) = self.by_name.get(name) {
            let first_span = self.instances[first].decl.name.span;
            let file = self.cx.chain_file;
            self.error("E0101", format!("the NF `{name}` is declared twice"), decl.name.span, "declared again here")
                .with_label_mut(file, first_span, "first declared here");
            return;
        }
        if !decl.bindings.is_empty() {
            let span = decl.bindings[0].field.span.to(decl.bindings[decl.bindings.len() - 1].map.span);
            self.unsupported("map bindings", span);
        }
        for attribute in &decl.attributes {
            self.unsupported("placement attributes", attribute.span);
        }
        let crate_dir = self.crate_dir(&decl.source);
        let used_at = UseSite { file: self.cx.chain_file, span: decl.source.span() };
        let nf = match read_signature(&crate_dir, self.cx.reader, files, used_at) {
            Ok(nf) => Some(nf),
            Err(diagnostic) => {
                self.diagnostics.push(diagnostic);
                None
            }
        };
        if let Some(nf) = &nf
            && nf.needs_std
        {
            self.unsupported("NFs that need std (they run in userland)", decl.source.span());
        }
        let ports = nf.as_ref().map_or(0, |nf| nf.ports.len());
        self.by_name.insert(name, self.instances.len());
        self.instances.push(Declared { decl, nf, links: vec![None; ports] });
    }

    fn crate_dir(&self, source: &NfSource) -> PathBuf {
        match source {
            NfSource::Std { name, .. } => self.cx.stdlib_dir.join(&name.name),
            NfSource::Path { path, .. } => self.cx.chain_dir.join(Path::new(path)),
        }
    }

    fn link(&mut self, from: &Endpoint, to: &LinkTarget) {
        let node = from.node.name.as_str();
        if node == "rx" {
            self.link_rx(from, to);
            return;
        }
        if RESERVED.contains(&node) {
            self.error("E0107", format!("`{node}` is a destination, not a source of packets"), from.node.span, "nothing leaves from here")
                .help = Some("links start at `rx` or at an NF".into());
            return;
        }
        let Some(instance) = self.resolve_instance(&from.node) else { return };
        if self.instances[instance].nf.is_none() {
            return; // Its crate could not be read; that is reported already.
        }
        match to {
            LinkTarget::Single(destination) => {
                let Some(port) = self.resolve_port(instance, from) else { return };
                self.connect(instance, port, destination);
            }
            LinkTarget::FanOut(routes) => {
                if let Some(port) = &from.port {
                    self.error("E0108", "a fan-out block links every port itself", port.span, "remove this port")
                        .help = Some(format!("write `{node} -> {{ port: destination, ... }}`"));
                    return;
                }
                for route in routes {
                    if let Some(port) = self.find_port(instance, &route.port) {
                        self.connect(instance, port, &route.destination);
                    }
                }
            }
        }
    }

    fn link_rx(&mut self, from: &Endpoint, to: &LinkTarget) {
        self.rx_linked = true;
        if let Some(port) = &from.port {
            self.error("E0106", "`rx` has no ports", port.span, "remove this port")
                .help = Some("write `rx -> NF`".into());
            return;
        }
        let LinkTarget::Single(destination) = to else {
            self.error("E0106", "`rx` has no ports to fan out", from.span, "rx leads to one destination")
                .help = Some("write `rx -> NF`".into());
            return;
        };
        let Some(target) = self.resolve_destination(destination) else { return };
        if let Some((_, first)) = self.entry {
            let file = self.cx.chain_file;
            self.error("E0104", "`rx` is linked twice", destination.span, "second link")
                .with_label_mut(file, first, "first link");
            return;
        }
        self.entry = Some((target, destination.span));
    }

    /// The port a `node -> ...` or `node.port -> ...` link leaves by.
    fn resolve_port(&mut self, instance: usize, from: &Endpoint) -> Option<usize> {
        if let Some(port) = &from.port {
            return self.find_port(instance, port);
        }
        let nf = self.instances[instance].nf.as_ref()?;
        if nf.ports.len() == 1 {
            return Some(0);
        }
        let names: Vec<&str> = nf.ports.iter().map(|p| p.name.as_str()).collect();
        let help = format!("link each port: `{} -> {{ {} }}`", from.node.name, names.iter().map(|p| format!("{p}: ...")).collect::<Vec<_>>().join(", "));
        let (file, span) = (nf.lib_file, nf.action_span);
        let message = format!("`{}` has {} ports; say which one this link is for", from.node.name, names.len());
        self.error("E0304", message, from.span, format!("ports: {}", names.join(", ")))
            .with_label_mut(file, span, "ports declared here")
            .help = Some(help);
        None
    }

    fn find_port(&mut self, instance: usize, port: &Ident) -> Option<usize> {
        let nf = self.instances[instance].nf.as_ref()?;
        if let Some(index) = nf.ports.iter().position(|p| p.name == port.name) {
            return Some(index);
        }
        let names: Vec<&str> = nf.ports.iter().map(|p| p.name.as_str()).collect();
        let help = match closest(&port.name, names.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("its ports are {}", quoted_list(&names)),
        };
        let (file, span) = (nf.lib_file, nf.action_span);
        let instance_name = &self.instances[instance].decl.name.name;
        let message = format!("`{instance_name}` has no port `{}`", port.name);
        self.error("E0301", message, port.span, "unknown port")
            .with_label_mut(file, span, "ports declared here")
            .help = Some(help);
        None
    }

    fn connect(&mut self, instance: usize, port: usize, destination: &Destination) {
        let Some(target) = self.resolve_destination(destination) else { return };
        if let Some((_, first)) = self.instances[instance].links[port] {
            let nf = self.instances[instance].nf.as_ref().expect("ports come from the signature");
            let message = format!("port `{}.{}` is linked twice", self.instances[instance].decl.name.name, nf.ports[port].name);
            let file = self.cx.chain_file;
            self.error("E0302", message, destination.span, "second link")
                .with_label_mut(file, first, "first link")
                .help = Some("a port leads to exactly one destination; remove one link".into());
            return;
        }
        self.instances[instance].links[port] = Some((target, destination.span));
    }

    fn resolve_destination(&mut self, destination: &Destination) -> Option<Target> {
        if destination.upcall {
            self.unsupported("upcalls (`!nf`)", destination.span);
            return None;
        }
        let name = destination.name.name.as_str();
        match name {
            "tx" => Some(Target::Tx),
            "pass" => Some(Target::Pass),
            "drop" => Some(Target::Drop),
            "abort" => Some(Target::Abort),
            "rx" => {
                self.error("E0106", "`rx` is where packets arrive; nothing links to it", destination.name.span, "not a destination")
                    .help = Some("destinations are an NF, `tx`, `pass`, `drop` or `abort`".into());
                None
            }
            _ => self.resolve_instance(&destination.name).map(Target::Instance),
        }
    }

    fn resolve_instance(&mut self, name: &Ident) -> Option<usize> {
        if let Some(&index) = self.by_name.get(name.name.as_str()) {
            return Some(index);
        }
        let known: Vec<&str> = self.by_name.keys().copied().chain(RESERVED.iter().copied().filter(|r| *r != "rx")).collect();
        let help = match closest(&name.name, known) {
            Some(near) => format!("did you mean `{near}`?"),
            None => "declare it with `nf NAME = std.NF` or use `tx`, `pass`, `drop` or `abort`".to_owned(),
        };
        self.error("E0102", format!("no NF named `{}`", name.name), name.span, "not declared").help = Some(help);
        None
    }

    /// Whole-chain rules, then the IR if nothing was wrong.
    fn finish(&mut self, ast: &ChainFile) -> Option<ChainIr> {
        let Some((entry, _)) = self.entry else {
            if self.rx_linked {
                return None;
            }
            self.error("E0103", "nothing is linked to `rx`", ast.name.span, "in this chain")
                .help = Some("add a link like `rx -> NF`: packets arriving on the interface enter the chain there".into());
            return None;
        };
        self.report_unconnected_ports();
        if self.diagnostics.iter().any(Diagnostic::is_error) {
            return None;
        }
        let reachable = self.reachable_from(entry);
        self.report_unreachable(&reachable);
        if self.report_cycle(entry) {
            return None;
        }
        Some(self.build_ir(ast, entry, &reachable))
    }

    fn report_unconnected_ports(&mut self) {
        let mut found = Vec::new();
        for declared in &self.instances {
            let Some(nf) = &declared.nf else { continue };
            let open: Vec<&str> = nf
                .ports
                .iter()
                .zip(&declared.links)
                .filter(|(_, link)| link.is_none())
                .map(|(port, _)| port.name.as_str())
                .collect();
            if !open.is_empty() {
                let name = &declared.decl.name.name;
                let example = open.iter().map(|p| format!("{p}: drop")).collect::<Vec<_>>().join(", ");
                let noun = if open.len() == 1 { "port" } else { "ports" };
                found.push(
                    Diagnostic::error("E0303", format!("{noun} of `{name}` left unconnected: {}", open.join(", ")), self.cx.chain_file, declared.decl.name.span, "declared here")
                        .with_label(nf.lib_file, nf.action_span, "ports declared here")
                        .with_help(format!("every port leads somewhere; for example `{name} -> {{ {example} }}`")),
                );
            }
        }
        self.diagnostics.extend(found);
    }

    fn successors(&self, instance: usize) -> impl Iterator<Item = usize> + '_ {
        self.instances[instance].links.iter().filter_map(|link| match link {
            Some((Target::Instance(next), _)) => Some(*next),
            _ => None,
        })
    }

    fn reachable_from(&self, entry: Target) -> Vec<bool> {
        let mut reachable = vec![false; self.instances.len()];
        let mut stack: Vec<usize> = match entry {
            Target::Instance(first) => vec![first],
            _ => vec![],
        };
        while let Some(instance) = stack.pop() {
            if !std::mem::replace(&mut reachable[instance], true) {
                stack.extend(self.successors(instance));
            }
        }
        reachable
    }

    fn report_unreachable(&mut self, reachable: &[bool]) {
        for (declared, _) in self.instances.iter().zip(reachable).filter(|(_, reached)| !**reached) {
            let mut warning = Diagnostic::error("W0101", format!("`{}` is never reached from `rx`", declared.decl.name.name), self.cx.chain_file, declared.decl.name.span, "unreachable")
                .with_help("link it from `rx` or from a reachable NF, or remove it; it is left out of the bundle");
            warning.severity = Severity::Warning;
            self.diagnostics.push(warning);
        }
    }

    /// Reports the first cycle found from `entry`; true if there was one.
    fn report_cycle(&mut self, entry: Target) -> bool {
        let Target::Instance(first) = entry else { return false };
        let mut state = vec![Visit::New; self.instances.len()];
        let mut path = Vec::new();
        let Some(cycle) = self.find_cycle(first, &mut state, &mut path) else { return false };
        let names: Vec<&str> = cycle.iter().chain(cycle.first()).map(|&i| self.instances[i].decl.name.name.as_str()).collect();
        let message = format!("the chain loops: {}", names.join(" -> "));
        let span = self.instances[cycle[0]].decl.name.span;
        self.error("E0305", message, span, "the loop starts here")
            .help = Some("packets must leave a chain; send one of these ports to `tx`, `pass` or `drop`".into());
        true
    }

    fn find_cycle(&self, instance: usize, state: &mut [Visit], path: &mut Vec<usize>) -> Option<Vec<usize>> {
        state[instance] = Visit::OnPath;
        path.push(instance);
        for next in self.successors(instance) {
            match state[next] {
                Visit::OnPath => {
                    let start = path.iter().position(|&i| i == next).expect("on the path");
                    return Some(path[start..].to_vec());
                }
                Visit::New => {
                    if let Some(cycle) = self.find_cycle(next, state, path) {
                        return Some(cycle);
                    }
                }
                Visit::Done => {}
            }
        }
        path.pop();
        state[instance] = Visit::Done;
        None
    }

    fn build_ir(&self, ast: &ChainFile, entry: Target, reachable: &[bool]) -> ChainIr {
        // Unreachable instances are left out, so indices are renumbered.
        let mut new_index = vec![None; self.instances.len()];
        for (new, (old, _)) in reachable.iter().enumerate().filter(|(_, r)| **r).enumerate() {
            new_index[old] = Some(new);
        }
        let renumber = |target: Target| match target {
            Target::Instance(old) => Target::Instance(new_index[old].expect("successors of reachable NFs are reachable")),
            other => other,
        };
        let instances = self
            .instances
            .iter()
            .zip(reachable)
            .filter(|(_, reached)| **reached)
            .map(|(declared, _)| {
                let nf = declared.nf.clone().expect("no errors, so every signature was read");
                let ports = nf
                    .ports
                    .iter()
                    .zip(&declared.links)
                    .map(|(port, link)| PortIr {
                        name: port.name.clone(),
                        variant: port.variant.clone(),
                        target: renumber(link.expect("no errors, so every port is linked").0),
                    })
                    .collect();
                InstanceIr { name: declared.decl.name.name.clone(), span: declared.decl.name.span, source: declared.decl.source.to_string(), nf, ports }
            })
            .collect();
        ChainIr { name: ast.name.name.clone(), instances, entry: renumber(entry) }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    New,
    OnPath,
    Done,
}

/// Adds a secondary label to a diagnostic being built in place.
trait WithLabelMut {
    fn with_label_mut(&mut self, file: FileId, span: Span, message: &str) -> &mut Self;
}

impl WithLabelMut for Diagnostic {
    fn with_label_mut(&mut self, file: FileId, span: Span, message: &str) -> &mut Self {
        self.secondary.push(galette_grammar::Label { file, span, message: message.into() });
        self
    }
}

fn quoted_list(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests;
