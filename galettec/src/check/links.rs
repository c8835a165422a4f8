//! Links: where `rx` leads, which port each link leaves by, and what each
//! destination names.

use galette_grammar::ast::{Destination, Endpoint, Ident, LinkTarget};

use super::{Checker, DiagnosticExt, Entry, LinkEnd, Named, RESERVED, quoted_list};
use crate::ir::Target;
use crate::suggest::closest;

impl Checker<'_, '_> {
    pub(super) fn link(&mut self, from: &Endpoint, to: &LinkTarget) {
        let node = from.node.name.as_str();
        if node == "rx" {
            self.link_rx(from, to);
            return;
        }
        if RESERVED.contains(&node) {
            self.error(
                "E0107",
                format!("`{node}` is a destination, not a source of packets"),
                from.node.span,
                "nothing leaves from here",
            )
            .help("links start at `rx` or at an NF");
            return;
        }
        let instance = match self.resolve_name(&from.node) {
            Some(Named::Instance(instance)) => instance,
            Some(Named::Role(_)) => {
                self.error(
                    "E0107",
                    format!("`{node}` is an interface role, not a source of packets"),
                    from.node.span,
                    "nothing leaves from here",
                )
                .help(format!("packets arriving on it enter the chain at `rx.{node}`"));
                return;
            }
            Some(Named::Broken(_)) | None => return,
        };
        if self.instances[instance].nf.is_none() {
            return; // Its crate could not be read; that is reported already.
        }
        let errors_before = self.diagnostics.len();
        self.met_broken_name = false;
        self.link_ports(instance, from, to);
        if self.diagnostics.len() > errors_before || self.met_broken_name {
            self.instances[instance].link_failed = true;
        }
    }

    fn link_ports(&mut self, instance: usize, from: &Endpoint, to: &LinkTarget) {
        let node = from.node.name.as_str();
        match to {
            LinkTarget::Single(destination) => {
                if let Some(port) = self.resolve_port(instance, from) {
                    self.connect(instance, port, destination);
                }
            }
            LinkTarget::FanOut(routes) => {
                if let Some(port) = &from.port {
                    self.error("E0108", "a fan-out block links every port itself", port.span, "remove this port")
                        .help(format!("write `{node} -> {{ port: destination, ... }}`"));
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
        let errors_before = self.diagnostics.len();
        self.met_broken_name = false;
        self.link_rx_entry(from, to);
        if self.diagnostics.len() > errors_before || self.met_broken_name {
            self.rx_link_failed = true;
        }
    }

    fn link_rx_entry(&mut self, from: &Endpoint, to: &LinkTarget) {
        let role = match &from.port {
            None => None,
            Some(role) => match self.names.get(role.name.as_str()) {
                Some(&Named::Role(index)) => Some(index),
                Some(Named::Broken(_)) => {
                    self.met_broken_name = true;
                    return;
                }
                _ => {
                    self.unknown_role(role);
                    return;
                }
            },
        };
        let LinkTarget::Single(destination) = to else {
            self.error("E0106", "`rx` has no ports to fan out", from.span, "rx leads to one destination")
                .help("write `rx -> NF`, or `rx.ROLE -> NF` for each interface role");
            return;
        };
        let Some(end) = self.resolve_destination(destination) else { return };
        let clash = self.entries.iter().find(|entry| entry.role == role || entry.role.is_none() != role.is_none());
        if let Some(first) = clash {
            let file = self.cx.chain_file;
            let first_span = first.end.span;
            let message = if first.role == role {
                format!("`{}` is linked twice", rx_name(self, role))
            } else {
                "`rx` is linked both for every interface and for one role".to_owned()
            };
            self.error("E0104", message, destination.span, "second link")
                .label(file, first_span, "first link")
                .help("write one `rx -> NF` for every interface, or one `rx.ROLE -> NF` per interface role");
            return;
        }
        self.entries.push(Entry { role, end });
    }

    fn unknown_role(&mut self, role: &Ident) {
        if let Some(Named::Instance(_)) = self.names.get(role.name.as_str()) {
            self.error("E0112", format!("`{}` is an NF, not an interface role", role.name), role.span, "not a role")
                .help(format!("packets enter NFs through links: write `rx -> {}`", role.name));
            return;
        }
        let roles: Vec<&str> = self.roles.iter().map(|r| r.name.name.as_str()).collect();
        let help = match closest(&role.name, roles.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None if roles.is_empty() => format!("declare the role with `iface {}`", role.name),
            None => format!("the interface roles are {}", quoted_list(roles.iter().copied())),
        };
        self.error("E0112", format!("no interface role named `{}`", role.name), role.span, "not declared").help(help);
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
        let help = format!(
            "link each port: `{} -> {{ {} }}`",
            from.node.name,
            names.iter().map(|p| format!("{p}: ...")).collect::<Vec<_>>().join(", ")
        );
        let (file, span) = (nf.lib_file, nf.action_span);
        let message = format!("`{}` has {} ports; say which one this link is for", from.node.name, names.len());
        let label = format!("ports: {}", names.join(", "));
        self.error("E0304", message, from.span, label).label(file, span, "ports declared here").help(help);
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
            None => format!("its ports are {}", quoted_list(names.iter().copied())),
        };
        let (file, span) = (nf.lib_file, nf.action_span);
        let message = format!("`{}` has no port `{}`", self.instances[instance].decl.name.name, port.name);
        self.error("E0301", message, port.span, "unknown port").label(file, span, "ports declared here").help(help);
        None
    }

    fn connect(&mut self, instance: usize, port: usize, destination: &Destination) {
        let Some(end) = self.resolve_destination(destination) else { return };
        if let Some(first) = self.instances[instance].links[port] {
            let nf = self.instances[instance].nf.as_ref().expect("ports come from the signature");
            let message =
                format!("port `{}.{}` is linked twice", self.instances[instance].decl.name.name, nf.ports[port].name);
            let file = self.cx.chain_file;
            self.error("E0302", message, destination.span, "second link")
                .label(file, first.span, "first link")
                .help("a port leads to exactly one destination; remove one link");
            return;
        }
        self.instances[instance].links[port] = Some(end);
    }

    fn resolve_destination(&mut self, destination: &Destination) -> Option<LinkEnd> {
        let name = destination.name.name.as_str();
        let target = match name {
            "tx" => Target::Tx,
            "pass" => Target::Pass,
            "drop" => Target::Drop,
            "abort" => Target::Abort,
            "rx" => {
                self.error(
                    "E0106",
                    "`rx` is where packets arrive; nothing links to it",
                    destination.name.span,
                    "not a destination",
                )
                .help("destinations are an NF, an interface role, `tx`, `pass`, `drop` or `abort`");
                return None;
            }
            _ => match self.resolve_name(&destination.name)? {
                Named::Instance(index) => Target::Instance(index),
                Named::Role(index) => Target::Redirect(index),
                Named::Broken(_) => {
                    self.met_broken_name = true;
                    return None;
                }
            },
        };
        if destination.upcall && !matches!(target, Target::Instance(_)) {
            self.error(
                "E0116",
                "only an NF can be the target of an upcall",
                destination.span,
                "`!` needs an NF after it",
            )
            .help(format!("`!NF` hands the packet to NF in userland; write `{name}` without `!`"));
            return None;
        }
        Some(LinkEnd { target, upcall: destination.upcall, span: destination.span })
    }

    fn resolve_name(&mut self, name: &Ident) -> Option<Named> {
        if let Some(&named) = self.names.get(name.name.as_str()) {
            return Some(named);
        }
        let known: Vec<&str> =
            self.names.keys().copied().chain(RESERVED.iter().copied().filter(|r| *r != "rx")).collect();
        let help = match closest(&name.name, known) {
            Some(near) => format!("did you mean `{near}`?"),
            None => "declare it with `nf NAME = std.NF`, or use `tx`, `pass`, `drop` or `abort`".to_owned(),
        };
        self.error("E0102", format!("nothing named `{}`", name.name), name.span, "not declared").help(help);
        None
    }
}

/// `rx` or `rx.ROLE`.
fn rx_name(checker: &Checker<'_, '_>, role: Option<usize>) -> String {
    match role {
        None => "rx".to_owned(),
        Some(index) => format!("rx.{}", checker.roles[index].name.name),
    }
}
