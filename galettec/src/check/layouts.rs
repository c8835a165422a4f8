//! What the bytes of a map's key and value mean, for every NF that binds it.
//!
//! The names are checked in [`declarations`](super::declarations); here the
//! types behind them are: a struct used as a map key or value must be
//! `#[repr(C)]` (`E0407`), and NFs that share a map must lay its key and
//! value out the same way (`E0408`), even when their crates each define a
//! type of that name.

use galette_grammar::Span;

use super::{Checker, DiagnosticExt};
use crate::layout::{LayoutProblem, TypeLayout};

impl Checker<'_, '_> {
    /// Checks the layouts of the field `slot` of `instance`, bound at
    /// `used_at` to `map`, whose type names already agree with the chain.
    pub(super) fn check_binding_layouts(&mut self, instance: usize, slot: usize, map: usize, used_at: Span) {
        self.report_not_repr_c(instance, slot, used_at);
        let Some((first, first_slot, first_used_at)) = self.first_bindings[map] else {
            self.first_bindings[map] = Some((instance, slot, used_at));
            return;
        };
        let layouts = |checker: &Self, instance: usize, slot: usize| {
            let nf = checker.instances[instance].nf.as_ref().expect("bound instances have a signature");
            nf.maps[slot].type_layouts.clone()
        };
        let (theirs, ours) = (layouts(self, first, first_slot), layouts(self, instance, slot));
        let declared = self.maps[map].as_ref().expect("only valid maps are bound");
        let roles = if theirs.len() == 2 { ["key", "value"].as_slice() } else { ["value"].as_slice() };
        let type_names = if theirs.len() == 2 {
            vec![declared.key.clone(), declared.value.clone()]
        } else {
            vec![declared.value.clone()]
        };
        for ((role, type_name), (theirs, ours)) in roles.iter().zip(type_names).zip(theirs.iter().zip(&ours)) {
            let (Ok(theirs), Ok(ours)) = (theirs, ours) else { continue };
            if theirs.layout != ours.layout {
                self.report_layout_difference(
                    map,
                    role,
                    &type_name,
                    (first, first_used_at, theirs),
                    (instance, used_at, ours),
                );
            }
        }
    }

    /// `E0407` for every struct in the field's types that is not `#[repr(C)]`.
    fn report_not_repr_c(&mut self, instance: usize, slot: usize, used_at: Span) {
        let nf = self.instances[instance].nf.as_ref().expect("bound instances have a signature");
        let field = &nf.maps[slot];
        let problems: Vec<(String, galette_grammar::FileId, Span)> = field
            .type_layouts
            .iter()
            .filter_map(|layout| match layout {
                Err(LayoutProblem::NotReprC { name, file, span }) => Some((name.clone(), *file, *span)),
                _ => None,
            })
            .collect();
        let (lib_file, type_span, field_name) = (nf.lib_file, field.type_span, field.name.clone());
        for (name, file, span) in problems {
            if !self.reported_layouts.insert((file, span)) {
                continue;
            }
            let chain_file = self.cx.chain_file;
            let message = format!("`{name}` is used in a map but is not `#[repr(C)]`");
            self.diagnostics.push(galette_grammar::Diagnostic::error("E0407", message, file, span, "not `#[repr(C)]`"));
            self.diagnostics
                .last_mut()
                .expect("just pushed")
                .label(lib_file, type_span, format!("the map field `{field_name}` holds it"))
                .label(chain_file, used_at, "the map is bound here")
                .help(format!(
                    "add `#[repr(C)]` to `{name}`: its bytes are shared with the kernel and other NFs, and Rust may reorder the fields of any other struct"
                ));
        }
    }

    fn report_layout_difference(
        &mut self,
        map: usize,
        role: &str,
        type_name: &str,
        (first, first_used_at, theirs): (usize, Span, &TypeLayout),
        (second, used_at, ours): (usize, Span, &TypeLayout),
    ) {
        let map_name = self.maps[map].as_ref().map(|m| m.name.clone()).unwrap_or_default();
        let name_of = |checker: &Self, instance: usize| checker.instances[instance].decl.name.name.clone();
        let (first_name, second_name) = (name_of(self, first), name_of(self, second));
        let describe = |layout: &TypeLayout| format!("{} bytes: {}", layout.layout.size, layout.summary);
        let chain_file = self.cx.chain_file;
        let message = format!(
            "`{first_name}` and `{second_name}` share the map `{map_name}` but lay out its {role} type `{type_name}` differently"
        );
        let diagnostic = self.error("E0408", message, used_at, format!("`{second_name}` binds it here")).label(
            chain_file,
            first_used_at,
            format!("`{first_name}` binds it here"),
        );
        for (instance_name, layout) in [(&first_name, theirs), (&second_name, ours)] {
            if let Some((file, span)) = layout.defined_at {
                diagnostic.label(file, span, format!("in `{instance_name}`, {}", describe(layout)));
            }
        }
        let help = if theirs.defined_at.is_none() || ours.defined_at.is_none() {
            format!("`{first_name}` reads {}, `{second_name}` reads {}", describe(theirs), describe(ours))
        } else {
            "each NF would read the other's bytes as its own fields: define the type once, in a crate both NFs use (such as nf-std), or give both definitions the same fields in the same order".to_owned()
        };
        diagnostic.help(help);
    }
}
