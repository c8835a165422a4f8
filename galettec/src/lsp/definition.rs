//! Go to definition: an instance to its `nf` line (and from there, or from
//! its source, to its crate's `Action` enum), a port to its variant, a map
//! field to its field in the NF's `#[maps]` struct, a map or a role to its
//! declaration.

use lsp_types::Location;

use super::analysis::{Analysis, Symbol};
use super::diagnostics::location;

pub fn definition(analysis: &Analysis, offset: usize) -> Option<Location> {
    let occurrence = analysis.occurrence_at(offset)?;
    let chain_file = analysis.checked.chain_file;
    let in_chain = |span| location(analysis, chain_file, span);
    let signature = |instance: &str| analysis.current_signature(instance);
    match &occurrence.symbol {
        Symbol::Instance(name) => {
            let declared = *analysis.declarations.instances.get(name)?;
            if declared != occurrence.span {
                return in_chain(declared);
            }
            // On the declaration itself, the next place to look is the NF.
            let nf = signature(name)?;
            location(analysis, nf.lib_file, nf.action_span)
        }
        Symbol::NfSource { instance } => {
            let nf = signature(instance)?;
            location(analysis, nf.lib_file, nf.action_span)
        }
        Symbol::Port { instance, port } => {
            let nf = signature(instance)?;
            let found = nf.ports.iter().find(|p| &p.name == port)?;
            location(analysis, nf.lib_file, found.span)
        }
        Symbol::MapField { instance, field } => {
            let nf = signature(instance)?;
            let slot = nf.maps.iter().find(|slot| &slot.name == field)?;
            location(analysis, nf.lib_file, slot.span)
        }
        Symbol::Map(name) => in_chain(*analysis.declarations.maps.get(name)?),
        Symbol::Role(name) => in_chain(*analysis.declarations.roles.get(name)?),
        Symbol::Chain
        | Symbol::MapKind(_)
        | Symbol::Type(_)
        | Symbol::Rx
        | Symbol::Builtin(_)
        | Symbol::Attribute(_) => None,
    }
}
