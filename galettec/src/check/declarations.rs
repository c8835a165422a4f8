//! Declarations: interface roles, maps, and NF instances with their crates,
//! placement attributes and map bindings.

use std::path::Path;

use galette_grammar::ast::{BrokenShape, ChainFile, Ident, IfaceDecl, Item, MapDecl, NfDecl, NfSource};
use galette_grammar::{Diagnostic, Span};

use super::{Checker, Declared, DiagnosticExt, Named, RESERVED, quoted_list};
use crate::ir::{ARRAY_INDEX_TYPE, MapIr, MapKind, PREFIX_KEY_TYPES, PlacementConstraint};
use crate::layout::TypeIndex;
use crate::signature::{UseSite, read_signature};
use crate::source::{SourceFiles, normalize};
use crate::suggest::closest;

/// The largest map capacity the kernel takes (`max_entries` is a u32).
const MAX_CAPACITY: u64 = u32::MAX as u64;

impl<'ast> Checker<'_, 'ast> {
    /// Declares everything first, so links may name what is declared later.
    pub(super) fn declare(&mut self, ast: &'ast ChainFile, files: &mut SourceFiles) {
        for item in &ast.items {
            match item {
                Item::Iface(iface) => self.declare_role(iface),
                Item::Map(map) => self.declare_map(map),
                Item::Nf(_) | Item::Link(_) | Item::Broken(_) => {}
            }
        }
        for broken in ast.broken() {
            if let BrokenShape::Map(Some(name)) = &broken.shape {
                self.declare_broken_map(name);
            }
        }
        // Instances come after maps, so their bindings can be resolved.
        for item in &ast.items {
            if let Item::Nf(decl) = item {
                self.declare_instance(decl, files);
            }
        }
        self.declare_broken_names(ast);
    }

    /// What statements with syntax errors meant, as far as it can be told,
    /// so that their error is the only one they cause: the NF, role or map
    /// they declare is known (when the name is free), the maps they mention
    /// count as used, and a link they start counts as written (its ports
    /// and `rx` are not reported as unconnected).
    fn declare_broken_names(&mut self, ast: &'ast ChainFile) {
        for broken in ast.broken() {
            match &broken.shape {
                BrokenShape::Nf(Some(name)) | BrokenShape::Iface(Some(name)) => {
                    self.names.entry(&name.name).or_insert(Named::Broken(name.span));
                }
                BrokenShape::Link { from } if from.name == "rx" => {
                    self.rx_linked = true;
                    self.rx_link_failed = true;
                }
                BrokenShape::Link { from } => {
                    if let Some(&Named::Instance(index)) = self.names.get(from.name.as_str()) {
                        self.instances[index].link_failed = true;
                    }
                }
                _ => {}
            }
            for name in &broken.names {
                if let Some(&map) = self.map_names.get(name.name.as_str()) {
                    self.map_used[map] = true;
                }
            }
        }
    }

    /// A map a broken statement declares: known, so bindings to it are no
    /// error, but without a type, like a map with errors.
    fn declare_broken_map(&mut self, name: &'ast Ident) {
        if self.map_names.contains_key(name.name.as_str()) {
            return;
        }
        self.map_names.insert(&name.name, self.maps.len());
        self.maps.push(None);
        self.map_used.push(false);
        self.first_bindings.push(None);
    }

    /// Checks a new NF or role name; true if it may be declared.
    fn claim_name(&mut self, name: &'ast galette_grammar::ast::Ident, what: &str) -> bool {
        let text = name.name.as_str();
        if RESERVED.contains(&text) {
            self.error("E0105", format!("`{text}` is a reserved name"), name.span, format!("cannot name {what}"))
                .help(format!("choose another name; {} have fixed meanings in links", quoted_list(RESERVED)));
            return false;
        }
        if let Some(&existing) = self.names.get(text) {
            let first = match existing {
                Named::Instance(index) => self.instances[index].decl.name.span,
                Named::Role(index) => self.roles[index].name.span,
                Named::Broken(span) => span,
            };
            let file = self.cx.chain_file;
            self.error("E0101", format!("the name `{text}` is declared twice"), name.span, "declared again here")
                .label(file, first, "first declared here")
                .help("NFs and interface roles share one set of names; rename one of them");
            return false;
        }
        true
    }

    fn declare_role(&mut self, iface: &'ast IfaceDecl) {
        if self.claim_name(&iface.name, "an interface role") {
            self.names.insert(&iface.name.name, Named::Role(self.roles.len()));
            self.roles.push(iface);
        }
    }

    fn declare_map(&mut self, map: &'ast MapDecl) {
        let name = map.name.name.as_str();
        if let Some(&first) = self.map_names.get(name) {
            let file = self.cx.chain_file;
            let first_span = self.maps[first].as_ref().map_or(map.name.span, |m| m.span);
            self.error("E0109", format!("the map `{name}` is declared twice"), map.name.span, "declared again here")
                .label(file, first_span, "first declared here")
                .help("rename one of them; NFs that bind the same name share one map");
            return;
        }
        let kind = MapKind::from_name(&map.kind.name);
        if kind.is_none() {
            let help = match closest(&map.kind.name, MapKind::ALL.map(MapKind::name)) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("the map kinds are {}", quoted_list(MapKind::ALL.map(MapKind::name))),
            };
            self.error("E0120", format!("unknown map kind `{}`", map.kind.name), map.kind.span, "not a map kind")
                .help(help);
        }
        let capacity = match map.capacity.value {
            Some(0) => {
                self.error("E0121", "a map needs a capacity of at least 1", map.capacity.span, "zero entries")
                    .help("give the number of entries the map can hold");
                None
            }
            Some(value) if value <= MAX_CAPACITY => Some(value),
            _ => {
                self.error("E0121", "this capacity is larger than the kernel allows", map.capacity.span, "too large")
                    .help(format!("a map holds at most {MAX_CAPACITY} entries"));
                None
            }
        };
        // `array<V>` has the implicit key `u32`; other kinds need one written.
        let key = match (kind, &map.key) {
            (_, Some(key)) => Some(key.name.clone()),
            (Some(kind), None) if kind.is_array() => Some(ARRAY_INDEX_TYPE.to_owned()),
            (Some(kind), None) => {
                self.error(
                    "E0124",
                    format!("a {} needs a key type and a value type", kind.name()),
                    map.kind.span.to(map.value.span),
                    "only one type parameter",
                )
                .help(format!(
                    "write `{}<KEY, {}>`; only arrays, indexed by `u32`, take the value type alone",
                    kind.name(),
                    map.value.name
                ));
                None
            }
            (None, None) => None,
        };
        if let (Some(kind), Some(key)) = (kind, &map.key) {
            self.check_key_type(map, kind, key);
        }
        // A map with an error is still declared (as `None`), so bindings to
        // it do not cause a second error.
        let declared = kind.zip(capacity).zip(key).map(|((kind, capacity), key)| MapIr {
            name: name.to_owned(),
            kind,
            key,
            value: map.value.name.clone(),
            capacity,
            span: map.name.span,
        });
        self.map_names.insert(name, self.maps.len());
        self.maps.push(declared);
        self.map_used.push(false);
        self.first_bindings.push(None);
    }

    /// The key types some kinds require: a prefix for an LPM trie, an index
    /// for an array.
    fn check_key_type(&mut self, map: &MapDecl, kind: MapKind, key: &Ident) {
        let key_span = key.span;
        let key = key.name.as_str();
        if kind == MapKind::LpmTrie && !PREFIX_KEY_TYPES.contains(&key) {
            self.error(
                "E0122",
                format!("an lpm_trie's key must be a prefix, not `{key}`"),
                key_span,
                "not a prefix type",
            )
            .help(format!("use {}, which hold a prefix length and an address", quoted_list(PREFIX_KEY_TYPES)));
        }
        if kind.is_array() && key != ARRAY_INDEX_TYPE {
            self.error(
                "E0123",
                format!("an {}'s key is its index, a `u32`, not `{key}`", kind.name()),
                key_span,
                "not `u32`",
            )
            .help(format!(
                "write `{kind}<{value}>` (or `{kind}<u32, {value}>`), or use a hash map for other keys",
                kind = kind.name(),
                value = map.value.name
            ));
        }
    }

    fn declare_instance(&mut self, decl: &'ast NfDecl, files: &mut SourceFiles) {
        if !self.claim_name(&decl.name, "an NF") {
            return;
        }
        let constraint = self.placement_constraint(decl);
        let crate_dir = match &decl.source {
            NfSource::Std { name, .. } => self.cx.stdlib_dir.join(&name.name),
            NfSource::Path { path, .. } => normalize(&self.cx.chain_dir.join(Path::new(path))),
        };
        let used_at = UseSite { file: self.cx.chain_file, span: decl.source.span() };
        if let NfSource::Std { name, .. } = &decl.source
            && !self.is_standard_nf(&name.name, decl.source.span())
        {
            self.names.insert(&decl.name.name, Named::Instance(self.instances.len()));
            self.instances.push(Declared {
                decl,
                nf: None,
                constraint,
                bindings: Vec::new(),
                links: Vec::new(),
                link_failed: false,
            });
            return;
        }
        let nf = match self.signatures.get(&crate_dir) {
            Some(known) => known.clone(),
            None => {
                let nf_std_dir = &self.cx.nf_std_dir;
                let reader = self.cx.reader;
                let nf_std = self.nf_std_types.get_or_insert_with(|| TypeIndex::read_crate(nf_std_dir, reader, files));
                let read = match read_signature(&crate_dir, reader, files, used_at, nf_std) {
                    Ok(nf) => Some(nf),
                    Err(diagnostic) => {
                        self.diagnostics.push(diagnostic);
                        None
                    }
                };
                self.signatures.insert(crate_dir, read.clone());
                read
            }
        };
        let (ports, slots) = nf.as_ref().map_or((0, 0), |nf| (nf.ports.len(), nf.maps.len()));
        self.names.insert(&decl.name.name, Named::Instance(self.instances.len()));
        self.instances.push(Declared {
            decl,
            nf,
            constraint,
            bindings: vec![None; slots],
            links: vec![None; ports],
            link_failed: false,
        });
        self.bind_maps(self.instances.len() - 1);
    }

    /// Whether `std.NAME` is one of the standard NFs; if the standard library
    /// can be listed and it is not, says so with the closest names.
    fn is_standard_nf(&mut self, name: &str, span: Span) -> bool {
        let Ok(known) = self.cx.reader.subdirectories(&self.cx.stdlib_dir) else { return true };
        if known.iter().any(|nf| nf == name) {
            return true;
        }
        let help = match closest(name, known.iter().map(String::as_str)) {
            Some(near) => format!("did you mean `std.{near}`?"),
            None => format!(
                "the standard NFs are {}",
                quoted_list(known.iter().map(|nf| format!("std.{nf}")).collect::<Vec<_>>().iter().map(String::as_str))
            ),
        };
        self.error("E0201", format!("there is no standard NF `std.{name}`"), span, "not in the standard library")
            .help(help);
        false
    }

    fn placement_constraint(&mut self, decl: &NfDecl) -> Option<(PlacementConstraint, Span)> {
        let mut found: Option<(PlacementConstraint, Span)> = None;
        for attribute in &decl.attributes {
            let constraint = match attribute.name.as_str() {
                "xdp" => PlacementConstraint::Xdp,
                "userland" => PlacementConstraint::Userland,
                other => {
                    let help = match closest(other, ["xdp", "userland"]) {
                        Some(near) => format!("did you mean `@{near}`?"),
                        None => "the attributes are `@xdp` and `@userland`".to_owned(),
                    };
                    self.error("E0113", format!("unknown attribute `@{other}`"), attribute.span, "not an attribute")
                        .help(help);
                    continue;
                }
            };
            if let Some((_, first)) = found {
                let file = self.cx.chain_file;
                self.error(
                    "E0114",
                    "an NF takes one placement attribute",
                    attribute.span,
                    "second placement attribute",
                )
                .label(file, first, "first one")
                .help("keep `@xdp` or `@userland`, not both");
                continue;
            }
            found = Some((constraint, attribute.span));
        }
        found
    }

    /// Resolves `{ field: map }` of the instance at `index`.
    fn bind_maps(&mut self, index: usize) {
        let decl = self.instances[index].decl;
        let mut field_unknown = false;
        for binding in &decl.bindings {
            let map = self.resolve_map(&binding.map);
            let Some(nf) = &self.instances[index].nf else { continue };
            let Some(slot) = nf.maps.iter().position(|slot| slot.name == binding.field.name) else {
                let fields: Vec<&str> = nf.maps.iter().map(|slot| slot.name.as_str()).collect();
                let help = match closest(&binding.field.name, fields.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None if fields.is_empty() => "this NF uses no maps; remove the binding".to_owned(),
                    None => format!("its map fields are {}", quoted_list(fields.iter().copied())),
                };
                let (file, span, label) = match nf.maps_span {
                    Some(span) => (nf.lib_file, span, "the NF's maps are declared here"),
                    None => (nf.lib_file, nf.action_span, "this NF has no `#[maps]` struct"),
                };
                let message = format!("`{}` has no map field `{}`", decl.name.name, binding.field.name);
                self.error("E0401", message, binding.field.span, "unknown map field")
                    .label(file, span, label)
                    .help(help);
                field_unknown = true;
                continue;
            };
            if let Some((_, first)) = self.instances[index].bindings[slot] {
                let file = self.cx.chain_file;
                self.error(
                    "E0403",
                    format!("the map field `{}` is bound twice", binding.field.name),
                    binding.field.span,
                    "bound again here",
                )
                .label(file, first, "first bound here")
                .help("a map field takes one map: remove one of the two bindings");
                continue;
            }
            if let Some(map) = map
                && self.check_binding_types(index, slot, map, binding.map.span)
            {
                self.check_binding_layouts(index, slot, map, binding.map.span);
            }
            self.instances[index].bindings[slot] = Some((map, binding.field.span));
        }
        // A misspelt field most likely meant one of the unbound ones.
        if !field_unknown {
            self.report_unbound_slots(index);
        }
    }

    /// The NF's field and the chain's map must be the same kind of map with
    /// the same key and value types. (Two NFs sharing a map thus agree.)
    fn check_binding_types(&mut self, instance: usize, slot: usize, map: usize, used_at: Span) -> bool {
        let nf = self.instances[instance].nf.as_ref().expect("bindings are checked against a signature");
        let (file, field) = (nf.lib_file, nf.maps[slot].clone());
        let declared = self.maps[map].clone().expect("only valid maps are bound");
        let field_span = field.type_span;
        let Some(field_kind) = field.kind else {
            let message = format!("the map field `{}` has type `{}`, which is not an nf-std map", field.name, field.ty);
            let kinds = quoted_list(MapKind::ALL.map(MapKind::rust_type));
            self.diagnostics.push(
                Diagnostic::error("E0404", message, file, field_span, "not a map type")
                    .with_label(self.cx.chain_file, used_at, "bound here")
                    .with_help(format!("map fields have one of the types {kinds} from `nf_std::maps`")),
            );
            return false;
        };
        if field_kind != declared.kind {
            let message = format!(
                "the map `{}` ({}) is bound to the field `{}` of type `{}`",
                declared.name,
                declared.kind.name(),
                field.name,
                field.ty
            );
            let chain_file = self.cx.chain_file;
            self.error("E0405", message, used_at, format!("of kind `{}`", declared.kind.name()))
                .label(file, field_span, format!("expects a `{}`", field_kind.rust_type()))
                .help(format!("declare the map as `{}<...>`, or bind a map of that kind", field_kind.name()))
                .label(chain_file, declared.span, "declared here");
            return false;
        }
        let expected: Vec<&str> = if declared.kind.is_array() {
            vec![declared.value.as_str()]
        } else {
            vec![declared.key.as_str(), declared.value.as_str()]
        };
        if field.type_args.iter().map(String::as_str).ne(expected.iter().copied()) {
            let chain_type = format!("{}<{}, {}>", declared.kind.name(), declared.key, declared.value);
            let message = format!(
                "the types of `{}` ({chain_type}) differ from the field `{}` ({})",
                declared.name, field.name, field.ty
            );
            let chain_file = self.cx.chain_file;
            let help = match misspelt_type(&expected, &field.type_args) {
                Some((written, meant)) => {
                    format!("did you mean `{meant}`? the NF's field is `{}`, not `{written}`", field.ty)
                }
                None => {
                    "a map's key and value types must be the same in the chain and in every NF that uses it".to_owned()
                }
            };
            self.error("E0406", message, used_at, chain_type.clone())
                .label(file, field_span, format!("the NF expects `{}`", field.ty))
                .label(chain_file, declared.span, "declared here")
                .help(help);
            return false;
        }
        true
    }

    fn resolve_map(&mut self, name: &galette_grammar::ast::Ident) -> Option<usize> {
        if let Some(&index) = self.map_names.get(name.name.as_str()) {
            self.map_used[index] = true;
            return self.maps[index].is_some().then_some(index);
        }
        self.map_binding_failed = true;
        let help = match closest(&name.name, self.map_names.keys().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("declare it with `map {}: KIND<KEY, VALUE>[CAPACITY]`", name.name),
        };
        self.error("E0110", format!("no map named `{}`", name.name), name.span, "not declared").help(help);
        None
    }

    fn report_unbound_slots(&mut self, index: usize) {
        let declared = &self.instances[index];
        let Some(nf) = &declared.nf else { return };
        let unbound: Vec<&str> = nf
            .maps
            .iter()
            .zip(&declared.bindings)
            .filter(|(_, bound)| bound.is_none())
            .map(|(slot, _)| slot.name.as_str())
            .collect();
        if unbound.is_empty() {
            return;
        }
        let name = declared.decl.name.name.clone();
        let span = declared.decl.name.span;
        let (file, maps_span) = (nf.lib_file, nf.maps_span.unwrap_or(nf.action_span));
        let example = unbound.iter().map(|field| format!("{field}: MAP")).collect::<Vec<_>>().join(", ");
        let noun = if unbound.len() == 1 { "field" } else { "fields" };
        let message = format!("map {noun} of `{name}` left unbound: {}", unbound.join(", "));
        self.error("E0402", message, span, "declared here")
            .label(file, maps_span, "the NF's maps are declared here")
            .help(format!("bind every map field to a chain map: `nf {name} = ... {{ {example} }}`"));
    }
}

/// The one type the chain wrote that differs from the NF's and looks like a
/// misspelling of it: `(written, meant)`.
fn misspelt_type<'a>(written: &[&'a str], expected: &'a [String]) -> Option<(&'a str, &'a str)> {
    if written.len() != expected.len() {
        return None;
    }
    let mut differing = written.iter().zip(expected).filter(|(written, expected)| **written != expected.as_str());
    let (written, expected) = differing.next()?;
    if differing.next().is_some() {
        return None;
    }
    closest(written, [expected.as_str()]).map(|meant| (*written, meant))
}
