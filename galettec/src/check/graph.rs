//! Whole-chain rules (entries, unconnected ports, unused maps, reachability,
//! cycles) and building the IR.

use galette_grammar::ast::ChainFile;
use galette_grammar::{Diagnostic, Span};

use super::{Checker, DiagnosticExt};
use crate::ir::{BindingIr, ChainIr, EntryIr, InstanceIr, PortIr, RoleIr, Target};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    New,
    OnPath,
    Done,
}

impl Checker<'_, '_> {
    pub(super) fn finish(&mut self, ast: &ChainFile) -> Option<ChainIr> {
        self.report_missing_entries(ast);
        self.report_unconnected_ports();
        self.report_unused_maps();
        // A broken statement may have meant anything: the graph rules need
        // the whole chain.
        if !ast.is_complete() || self.diagnostics.iter().any(Diagnostic::is_error) {
            return None;
        }
        let reachable = self.reachable();
        self.report_unreachable(&reachable);
        if self.report_cycle() {
            return None;
        }
        Some(self.build_ir(ast, &reachable))
    }

    fn report_missing_entries(&mut self, ast: &ChainFile) {
        // Where "in this chain" points: its header, or the file's start.
        let header = ast.name.as_ref().map_or(Span::default(), |name| name.span);
        if self.entries.is_empty() {
            if !self.rx_linked {
                self.error("E0103", "nothing is linked to `rx`", header, "in this chain")
                    .help("add a link like `rx -> NF`: packets arriving on the interface enter the chain there");
            }
            return;
        }
        if self.rx_link_failed || self.entries.iter().any(|entry| entry.role.is_none()) {
            return;
        }
        let missing: Vec<String> = (0..self.roles.len())
            .filter(|role| !self.entries.iter().any(|entry| entry.role == Some(*role)))
            .map(|role| format!("rx.{}", self.roles[role].name.name))
            .collect();
        if !missing.is_empty() {
            let example = format!("{} -> NF", missing[0]);
            self.error("E0103", format!("nothing is linked to {}", missing.join(", ")), header, "in this chain")
                .help(format!("packets arriving on every interface role need somewhere to go; add `{example}`"));
        }
    }

    fn report_unconnected_ports(&mut self) {
        let mut found = Vec::new();
        for declared in self.instances.iter().filter(|declared| !declared.link_failed) {
            let Some(nf) = &declared.nf else { continue };
            let open: Vec<&str> = nf
                .ports
                .iter()
                .zip(&declared.links)
                .filter(|(_, link)| link.is_none())
                .map(|(port, _)| port.name.as_str())
                .collect();
            if open.is_empty() {
                continue;
            }
            let name = &declared.decl.name.name;
            let example = open.iter().map(|p| format!("{p}: drop")).collect::<Vec<_>>().join(", ");
            let noun = if open.len() == 1 { "port" } else { "ports" };
            let message = format!("{noun} of `{name}` left unconnected: {}", open.join(", "));
            found.push(
                Diagnostic::error("E0303", message, self.cx.chain_file, declared.decl.name.span, "declared here")
                    .with_label(nf.lib_file, nf.action_span, "ports declared here")
                    .with_help(format!("every port leads somewhere; for example `{name} -> {{ {example} }}`")),
            );
        }
        self.diagnostics.extend(found);
    }

    fn report_unused_maps(&mut self) {
        if self.map_binding_failed {
            return;
        }
        let unused: Vec<_> = self
            .maps
            .iter()
            .zip(&self.map_used)
            .filter_map(|(map, used)| map.as_ref().filter(|_| !used).map(|map| (map.name.clone(), map.span)))
            .collect();
        for (name, span) in unused {
            self.warning("W0102", format!("the map `{name}` is not used by any NF"), span, "declared here")
                .help(format!("bind it with `nf NAME = ... {{ FIELD: {name} }}`, or remove it"));
        }
    }

    fn successors(&self, instance: usize) -> impl Iterator<Item = usize> + '_ {
        self.instances[instance].links.iter().filter_map(|link| match link.map(|end| end.target) {
            Some(Target::Instance(next)) => Some(next),
            _ => None,
        })
    }

    fn entry_instances(&self) -> Vec<usize> {
        self.entries
            .iter()
            .filter_map(|entry| match entry.end.target {
                Target::Instance(first) => Some(first),
                _ => None,
            })
            .collect()
    }

    fn reachable(&self) -> Vec<bool> {
        let mut reachable = vec![false; self.instances.len()];
        let mut stack = self.entry_instances();
        while let Some(instance) = stack.pop() {
            if !std::mem::replace(&mut reachable[instance], true) {
                stack.extend(self.successors(instance));
            }
        }
        reachable
    }

    fn report_unreachable(&mut self, reachable: &[bool]) {
        let unreachable: Vec<_> = self
            .instances
            .iter()
            .zip(reachable)
            .filter(|(_, reached)| !**reached)
            .map(|(declared, _)| (declared.decl.name.name.clone(), declared.decl.name.span))
            .collect();
        for (name, span) in unreachable {
            self.warning("W0101", format!("`{name}` is never reached from `rx`"), span, "unreachable")
                .help("link it from `rx` or from a reachable NF, or remove it; it is left out of the bundle");
        }
    }

    /// Reports the first cycle found; true if there was one.
    fn report_cycle(&mut self) -> bool {
        let Some(cycle) = self.find_cycle() else { return false };
        let names: Vec<&str> =
            cycle.iter().chain(cycle.first()).map(|&i| self.instances[i].decl.name.name.as_str()).collect();
        let message = format!("the chain loops: {}", names.join(" -> "));
        let span = self.instances[cycle[0]].decl.name.span;
        self.error("E0305", message, span, "the loop starts here")
            .help("packets must leave a chain; send one of these ports to `tx`, `pass` or `drop`");
        true
    }

    /// A cycle among the links, as the instances on it in order. From every
    /// instance, not only reachable ones: a loop is a mistake wherever it is.
    /// Depth-first with an explicit stack, so a chain of any length cannot
    /// overflow the call stack.
    fn find_cycle(&self) -> Option<Vec<usize>> {
        let successors: Vec<Vec<usize>> = (0..self.instances.len()).map(|i| self.successors(i).collect()).collect();
        let mut state = vec![Visit::New; self.instances.len()];
        for root in 0..self.instances.len() {
            if state[root] != Visit::New {
                continue;
            }
            // The current path, each instance with the next successor to try.
            let mut path: Vec<(usize, usize)> = vec![(root, 0)];
            state[root] = Visit::OnPath;
            while let Some((instance, next)) = path.last_mut() {
                let instance = *instance;
                let Some(&successor) = successors[instance].get(*next) else {
                    state[instance] = Visit::Done;
                    path.pop();
                    continue;
                };
                *next += 1;
                match state[successor] {
                    Visit::OnPath => {
                        let start = path.iter().position(|&(i, _)| i == successor).expect("on the path");
                        return Some(path[start..].iter().map(|&(i, _)| i).collect());
                    }
                    Visit::New => {
                        state[successor] = Visit::OnPath;
                        path.push((successor, 0));
                    }
                    Visit::Done => {}
                }
            }
        }
        None
    }

    /// The IR of a chain without errors. Unreachable instances are left out,
    /// so instance indices are renumbered.
    fn build_ir(&self, ast: &ChainFile, reachable: &[bool]) -> ChainIr {
        let mut new_index = vec![None; self.instances.len()];
        for (new, (old, _)) in reachable.iter().enumerate().filter(|(_, r)| **r).enumerate() {
            new_index[old] = Some(new);
        }
        let renumber = |target: Target| match target {
            Target::Instance(old) => {
                Target::Instance(new_index[old].expect("successors of reachable NFs are reachable"))
            }
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
                    .map(|(port, link)| {
                        let end = link.expect("no errors, so every port is linked");
                        PortIr {
                            name: port.name.clone(),
                            variant: port.variant.clone(),
                            target: renumber(end.target),
                            upcall: end.upcall,
                            span: end.span,
                        }
                    })
                    .collect();
                let bindings = nf
                    .maps
                    .iter()
                    .zip(&declared.bindings)
                    .map(|(slot, bound)| {
                        let (map, span) = bound.expect("no errors, so every map field is bound");
                        BindingIr {
                            field: slot.name.clone(),
                            map: map.expect("no errors, so every bound map is valid"),
                            span,
                        }
                    })
                    .collect();
                InstanceIr {
                    name: declared.decl.name.name.clone(),
                    span: declared.decl.name.span,
                    source: declared.decl.source.to_string(),
                    source_span: declared.decl.source.span(),
                    nf,
                    constraint: declared.constraint,
                    bindings,
                    ports,
                }
            })
            .collect();
        ChainIr {
            name: ast.name.as_ref().map_or_else(String::new, |name| name.name.clone()),
            roles: self
                .roles
                .iter()
                .map(|role| RoleIr { name: role.name.name.clone(), span: role.name.span })
                .collect(),
            maps: self.maps.iter().map(|map| map.clone().expect("no errors, so every map is valid")).collect(),
            instances,
            entries: self
                .entries
                .iter()
                .map(|entry| EntryIr {
                    role: entry.role,
                    target: renumber(entry.end.target),
                    upcall: entry.end.upcall,
                    span: entry.end.span,
                })
                .collect(),
        }
    }
}
