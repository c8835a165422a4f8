//! What hovering over a name shows: for an instance its crate, ports (with
//! the doc comments of their `Action` variants), map fields and placement;
//! for a port, a map, a role or a destination what it is.

use std::fmt::Write;

use galette_bundle::{MapKind, Placement};
use galette_grammar::ast::Item;

use super::analysis::{Analysis, Symbol};
use crate::check::ResolvedInstance;
use crate::source::display_path;

/// Markdown for the name at `offset`, and the span it is about.
pub fn hover(analysis: &Analysis, offset: usize) -> Option<(String, galette_grammar::Span)> {
    let occurrence = analysis.occurrence_at(offset)?;
    let text = match &occurrence.symbol {
        Symbol::Instance(name) | Symbol::NfSource { instance: name } => instance(analysis, name)?,
        Symbol::Port { instance, port } => port_text(analysis, instance, port)?,
        Symbol::MapField { instance, field } => map_field(analysis, instance, field)?,
        Symbol::Map(name) => map(analysis, name)?,
        Symbol::Role(name) => format!(
            "interface role `{name}`\n\nPackets arriving on it enter at `rx.{name}`; `-> {name}` sends them out of it. \
             The runtime maps it to an interface: `galette run BUNDLE --iface {name}=IF`."
        ),
        Symbol::Rx => {
            "`rx`: where packets arriving on the chain's interfaces enter it (`rx.ROLE` for one role)".to_owned()
        }
        Symbol::Builtin(builtin) => format!("`{}`: {}", builtin.name(), builtin.meaning()),
        Symbol::MapKind(kind) => match MapKind::from_name(kind) {
            Some(kind) => format!("`{kind}`: the kernel's `{}`", kernel_map_type(kind)),
            None => return None,
        },
        Symbol::Attribute(name) => match name.as_str() {
            "xdp" => "`@xdp`: this NF must run in the XDP fast path (an error if it cannot)".to_owned(),
            "userland" => "`@userland`: this NF runs in userland, fed by an AF_XDP socket".to_owned(),
            _ => return None,
        },
        Symbol::Chain | Symbol::Type(_) => return None,
    };
    Some((text, occurrence.span))
}

fn instance(analysis: &Analysis, name: &str) -> Option<String> {
    let resolved = analysis.instance(name)?;
    let mut text = format!("nf `{name}`");
    let Some(nf) = &resolved.nf else {
        text.push_str("\n\nIts NF crate could not be read (see the diagnostics).");
        return Some(text);
    };
    let _ = write!(text, " = crate `{}` ({})", nf.package, display_path(&nf.crate_dir));
    text.push_str("\n\n**Ports**\n");
    for port in &nf.ports {
        let _ = write!(text, "\n- `{}` (`Action::{}`)", port.name, port.variant);
        if !port.doc.is_empty() {
            let _ = write!(text, ": {}", one_line(&port.doc));
        }
    }
    if !nf.maps.is_empty() {
        text.push_str("\n\n**Maps**\n");
        for slot in &nf.maps {
            let _ = write!(text, "\n- `{}: {}`", slot.name, slot.ty);
            if let Some(map) = bound_map(analysis, name, &slot.name) {
                let _ = write!(text, ", bound to `{map}`");
            }
            if !slot.doc.is_empty() {
                let _ = write!(text, ": {}", one_line(&slot.doc));
            }
        }
    }
    text.push_str("\n\n**Placement**: ");
    text.push_str(&placement(analysis, resolved));
    Some(text)
}

/// Where the instance runs and why, or why that is not known yet.
fn placement(analysis: &Analysis, resolved: &ResolvedInstance) -> String {
    if analysis.checked.chain.is_none() {
        return "decided once the chain has no errors".to_owned();
    }
    match analysis.decision(&resolved.name) {
        Some(decision) => {
            let place = match decision.placement {
                Placement::Xdp => "XDP",
                Placement::Userland => "userland",
            };
            format!("{place}: {} (before the kernel verifier's word; `galettec explain` asks it)", decision.reason)
        }
        None => "none: no packet reaches it from `rx`, so it is left out of the bundle".to_owned(),
    }
}

/// The chain map bound to `field` of `instance`, as written.
fn bound_map<'a>(analysis: &'a Analysis, instance: &str, field: &str) -> Option<&'a str> {
    analysis.checked.ast.items.iter().find_map(|item| match item {
        Item::Nf(nf) if nf.name.name == instance => {
            nf.bindings.iter().find(|binding| binding.field.name == field).map(|binding| binding.map.name.as_str())
        }
        _ => None,
    })
}

fn port_text(analysis: &Analysis, instance: &str, port: &str) -> Option<String> {
    let nf = analysis.signature(instance)?;
    let found = nf.ports.iter().find(|p| p.name == port)?;
    let mut text = format!("port `{instance}.{port}`: `{}::Action::{}`", nf.lib_name, found.variant);
    if !found.doc.is_empty() {
        let _ = write!(text, "\n\n{}", found.doc);
    }
    Some(text)
}

fn map_field(analysis: &Analysis, instance: &str, field: &str) -> Option<String> {
    let nf = analysis.signature(instance)?;
    let slot = nf.maps.iter().find(|slot| slot.name == field)?;
    let mut text = format!("map field `{field}: {}` of `{instance}` (crate `{}`)", slot.ty, nf.package);
    if !slot.doc.is_empty() {
        let _ = write!(text, "\n\n{}", slot.doc);
    }
    Some(text)
}

fn map(analysis: &Analysis, name: &str) -> Option<String> {
    let declared = analysis.checked.ast.items.iter().find_map(|item| match item {
        Item::Map(map) if map.name.name == name => Some(map),
        _ => None,
    })?;
    let key = declared.key.as_ref().map(|key| format!("{}, ", key.name)).unwrap_or_default();
    let capacity = declared.capacity.value.map_or_else(|| "?".to_owned(), |value| value.to_string());
    let mut text = format!("map `{name}`: `{}<{key}{}>[{capacity}]`", declared.kind.name, declared.value.name);
    if let Some(kind) = MapKind::from_name(&declared.kind.name) {
        let _ = write!(text, ", a kernel `{}`", kernel_map_type(kind));
    }
    let users: Vec<String> = analysis
        .checked
        .ast
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Nf(nf) => Some(nf.bindings.iter().filter(|b| b.map.name == name).map(|b| {
                let ty = analysis
                    .signature(&nf.name.name)
                    .and_then(|sig| sig.maps.iter().find(|slot| slot.name == b.field.name))
                    .map(|slot| format!(" (`{}`)", slot.ty))
                    .unwrap_or_default();
                format!("`{}.{}`{ty}", nf.name.name, b.field.name)
            })),
            _ => None,
        })
        .flatten()
        .collect();
    if users.is_empty() {
        text.push_str("\n\nNo NF binds it.");
    } else {
        let _ = write!(text, "\n\nBound by {}.", users.join(", "));
    }
    Some(text)
}

fn kernel_map_type(kind: MapKind) -> &'static str {
    match kind {
        MapKind::Array => "BPF_MAP_TYPE_ARRAY",
        MapKind::Hash => "BPF_MAP_TYPE_HASH",
        MapKind::LruHash => "BPF_MAP_TYPE_LRU_HASH",
        MapKind::LpmTrie => "BPF_MAP_TYPE_LPM_TRIE",
        MapKind::PercpuArray => "BPF_MAP_TYPE_PERCPU_ARRAY",
        MapKind::PercpuHash => "BPF_MAP_TYPE_PERCPU_HASH",
    }
}

/// A doc comment's first paragraph on one line, for a list entry.
fn one_line(doc: &str) -> String {
    doc.split("\n\n").next().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ")
}
