//! The memory layout of map key and value types, computed from the NF
//! crates' sources with syn by the rules of `#[repr(C)]`.
//!
//! A chain map is shared by every NF that binds it, in XDP and in userland:
//! each reads the map's bytes as its own Rust type. Comparing the types'
//! names is not enough (two crates may each define a `FlowStats`), so the
//! checker compares what the bytes mean: the size, the alignment, and the
//! scalar at every offset.
//!
//! A type is looked up by name in the NF's own crate (`src/lib.rs` and the
//! modules it declares), then in `nf-std`. A type the compiler cannot find
//! (defined in another dependency, or generic) has no layout here; it is then
//! compared by name only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use galette_grammar::{FileId, Span};

use crate::source::{SourceFiles, SourceReader};

/// How deep `mod` declarations and nested types are followed: far more than
/// real crates need, and a bound on cycles (`type A = B; type B = A;`).
const MAX_DEPTH: usize = 32;

/// Layouts with more scalars than this are not compared (a large array of
/// structs); they would cost more memory than they are worth.
const MAX_SCALARS: usize = 1 << 16;

/// A scalar type: what a run of bytes means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    U8,
    U16,
    U32,
    U64,
    U128,
    I8,
    I16,
    I32,
    I64,
    I128,
    F32,
    F64,
    Bool,
    Char,
}

impl Scalar {
    fn from_name(name: &str) -> Option<Scalar> {
        Some(match name {
            "u8" => Scalar::U8,
            "u16" => Scalar::U16,
            "u32" => Scalar::U32,
            "u64" => Scalar::U64,
            "u128" => Scalar::U128,
            "i8" => Scalar::I8,
            "i16" => Scalar::I16,
            "i32" => Scalar::I32,
            "i64" => Scalar::I64,
            "i128" => Scalar::I128,
            "f32" => Scalar::F32,
            "f64" => Scalar::F64,
            "bool" => Scalar::Bool,
            "char" => Scalar::Char,
            _ => return None,
        })
    }

    /// Size and alignment in bytes (alignment as on 64-bit targets).
    fn size(self) -> u64 {
        match self {
            Scalar::U8 | Scalar::I8 | Scalar::Bool => 1,
            Scalar::U16 | Scalar::I16 => 2,
            Scalar::U32 | Scalar::I32 | Scalar::F32 | Scalar::Char => 4,
            Scalar::U64 | Scalar::I64 | Scalar::F64 => 8,
            Scalar::U128 | Scalar::I128 => 16,
        }
    }
}

/// What the bytes of a type mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub size: u64,
    pub align: u64,
    /// Every scalar, with its offset, in order; padding is what is not here.
    pub scalars: Vec<(u64, Scalar)>,
}

/// A key or value type of a map field, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeLayout {
    pub layout: Layout,
    /// The struct that defines it, when it is one: for labels.
    pub defined_at: Option<(FileId, Span)>,
    /// Its fields as written, with their offsets (`packets: u64 at 0`), or
    /// the type itself for a primitive or an array: for messages.
    pub summary: String,
}

/// Why a type has no layout to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutProblem {
    /// A struct without `#[repr(C)]` (or `transparent`): Rust may reorder
    /// its fields, so no other NF can know where they are.
    NotReprC { name: String, file: FileId, span: Span },
    /// The compiler cannot tell (not found, generic, a pointer, ...): the
    /// type is compared by name only.
    Unknown,
}

/// A type definition found in a crate.
#[derive(Debug, Clone)]
enum Definition {
    Struct(syn::ItemStruct),
    Alias(syn::ItemType),
}

#[derive(Debug, Clone)]
struct Found {
    definition: Definition,
    file: FileId,
    /// Added to syn's byte offsets to get the file's (a skipped `#!` line
    /// or byte-order mark).
    offset: usize,
}

/// The struct and type-alias definitions of one crate, by name. A name
/// defined twice (in two modules) is ambiguous and resolves to nothing.
#[derive(Debug, Default)]
pub struct TypeIndex {
    by_name: HashMap<String, Vec<Found>>,
}

impl TypeIndex {
    /// Indexes `lib` (the crate's parsed `src/lib.rs`, already in `files` as
    /// `lib_file`) and the module files it declares, read through `reader`.
    pub fn of_crate(
        crate_dir: &Path,
        lib: &syn::File,
        lib_file: FileId,
        offset: usize,
        reader: &dyn SourceReader,
        files: &mut SourceFiles,
    ) -> TypeIndex {
        let mut index = TypeIndex::default();
        let module = Module { dir: crate_dir.join("src"), file: lib_file, offset };
        index.add_items(&lib.items, &module, reader, files, 0);
        index
    }

    /// Indexes the crate in `crate_dir` from scratch (for nf-std); an
    /// unreadable crate gives an empty index.
    pub fn read_crate(crate_dir: &Path, reader: &dyn SourceReader, files: &mut SourceFiles) -> TypeIndex {
        let lib_path = crate_dir.join("src").join("lib.rs");
        let Some((ast, file, offset)) = parse_file(&lib_path, reader, files) else { return TypeIndex::default() };
        TypeIndex::of_crate(crate_dir, &ast, file, offset, reader, files)
    }

    fn add_items(
        &mut self,
        items: &[syn::Item],
        module: &Module,
        reader: &dyn SourceReader,
        files: &mut SourceFiles,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        for item in items {
            let (name, definition) = match item {
                syn::Item::Struct(item) => (item.ident.to_string(), Definition::Struct(item.clone())),
                syn::Item::Type(item) => (item.ident.to_string(), Definition::Alias(item.clone())),
                syn::Item::Mod(item) => {
                    let child_dir = module.dir.join(item.ident.to_string());
                    match &item.content {
                        Some((_, items)) => {
                            let inline = Module { dir: child_dir, ..module.clone() };
                            self.add_items(items, &inline, reader, files, depth + 1);
                        }
                        None => {
                            let name = item.ident.to_string();
                            let candidates =
                                [module.dir.join(format!("{name}.rs")), module.dir.join(&name).join("mod.rs")];
                            if let Some((ast, file, offset)) =
                                candidates.iter().find_map(|path| parse_file(path, reader, files))
                            {
                                let child = Module { dir: child_dir, file, offset };
                                self.add_items(&ast.items, &child, reader, files, depth + 1);
                            }
                        }
                    }
                    continue;
                }
                _ => continue,
            };
            self.by_name.entry(name).or_default().push(Found { definition, file: module.file, offset: module.offset });
        }
    }

    /// The one definition of `name`, if there is exactly one.
    fn get(&self, name: &str) -> Option<&Found> {
        match self.by_name.get(name).map(Vec::as_slice) {
            Some([one]) => Some(one),
            _ => None,
        }
    }
}

/// Where a module's items are, and where its child modules' files are.
#[derive(Debug, Clone)]
struct Module {
    dir: PathBuf,
    file: FileId,
    offset: usize,
}

/// Reads and parses one Rust file, adding it to `files`; `None` when it
/// cannot be read or parsed (building the crate reports that).
fn parse_file(path: &Path, reader: &dyn SourceReader, files: &mut SourceFiles) -> Option<(syn::File, FileId, usize)> {
    let text = reader.read(path).ok()?;
    let offset = crate::signature::ignored_prefix(&text);
    let ast = syn::parse_file(&text[offset..]).ok()?;
    let file = files.add_read(path, text);
    Some((ast, file, offset))
}

/// Resolves the types of one NF crate: its own definitions first, then
/// nf-std's.
pub struct Resolver<'a> {
    pub own: &'a TypeIndex,
    pub nf_std: &'a TypeIndex,
}

impl Resolver<'_> {
    /// The layout of `ty` as the NF crate means it.
    pub fn resolve(&self, ty: &syn::Type) -> Result<TypeLayout, LayoutProblem> {
        let layout = self.layout(ty, Scope::Own, 0)?;
        let summary = crate::signature::type_text(ty);
        match self.struct_of(ty, Scope::Own) {
            Some((found, item, scope)) => {
                let fields = field_summaries(item, self, scope);
                let span = span_of(found, item.ident.span());
                Ok(TypeLayout {
                    layout,
                    defined_at: Some((found.file, span)),
                    summary: format!("{summary} {{ {fields} }}"),
                })
            }
            None => Ok(TypeLayout { layout, defined_at: None, summary }),
        }
    }

    /// The definition a path names, and the scope its own fields resolve in.
    fn lookup(&self, path: &syn::Path, scope: Scope) -> Option<(&Found, Scope)> {
        let last = path.segments.last()?;
        if !matches!(last.arguments, syn::PathArguments::None) {
            return None;
        }
        let name = last.ident.to_string();
        let names_nf_std = path.segments.first().is_some_and(|first| first.ident == "nf_std");
        if scope == Scope::Own
            && !names_nf_std
            && let Some(found) = self.own.get(&name)
        {
            return Some((found, Scope::Own));
        }
        self.nf_std.get(&name).map(|found| (found, Scope::NfStd))
    }

    /// The struct `ty` names, following aliases, if it is one, and the scope
    /// its fields resolve in.
    fn struct_of(&self, ty: &syn::Type, scope: Scope) -> Option<(&Found, &syn::ItemStruct, Scope)> {
        let mut current = (ty, scope);
        for _ in 0..MAX_DEPTH {
            let syn::Type::Path(path) = strip(current.0) else { return None };
            let (found, scope) = self.lookup(&path.path, current.1)?;
            match &found.definition {
                Definition::Struct(item) => return Some((found, item, scope)),
                Definition::Alias(alias) => current = (&alias.ty, scope),
            }
        }
        None
    }

    fn layout(&self, ty: &syn::Type, scope: Scope, depth: usize) -> Result<Layout, LayoutProblem> {
        if depth > MAX_DEPTH {
            return Err(LayoutProblem::Unknown);
        }
        match strip(ty) {
            syn::Type::Array(array) => {
                let element = self.layout(&array.elem, scope, depth + 1)?;
                let count = literal_usize(&array.len).ok_or(LayoutProblem::Unknown)?;
                repeat(&element, count)
            }
            syn::Type::Path(path) if path.qself.is_none() => {
                if let Some(scalar) = path.path.get_ident().and_then(|ident| Scalar::from_name(&ident.to_string())) {
                    let size = scalar.size();
                    return Ok(Layout { size, align: size, scalars: vec![(0, scalar)] });
                }
                let (found, scope) = self.lookup(&path.path, scope).ok_or(LayoutProblem::Unknown)?;
                match &found.definition {
                    Definition::Alias(alias) if alias.generics.params.is_empty() => {
                        self.layout(&alias.ty, scope, depth + 1)
                    }
                    Definition::Alias(_) => Err(LayoutProblem::Unknown),
                    Definition::Struct(item) => self.struct_layout(found, item, scope, depth),
                }
            }
            _ => Err(LayoutProblem::Unknown),
        }
    }

    fn struct_layout(
        &self,
        found: &Found,
        item: &syn::ItemStruct,
        scope: Scope,
        depth: usize,
    ) -> Result<Layout, LayoutProblem> {
        if !item.generics.params.is_empty() {
            return Err(LayoutProblem::Unknown);
        }
        let repr = Repr::of(&item.attrs);
        if !(repr.c || repr.transparent) {
            let span = span_of(found, item.ident.span());
            return Err(LayoutProblem::NotReprC { name: item.ident.to_string(), file: found.file, span });
        }
        let mut layout = Layout { size: 0, align: 1, scalars: Vec::new() };
        for field in &item.fields {
            let field_layout = self.layout(&field.ty, scope, depth + 1)?;
            let align = if repr.packed.is_some() { 1 } else { field_layout.align };
            let offset = layout.size.next_multiple_of(align);
            layout.scalars.extend(field_layout.scalars.iter().map(|(at, scalar)| (offset + at, *scalar)));
            layout.size = offset + field_layout.size;
            layout.align = layout.align.max(align);
        }
        if let Some(packed) = repr.packed {
            layout.align = layout.align.min(packed);
        }
        if let Some(align) = repr.align {
            layout.align = layout.align.max(align);
        }
        layout.size = layout.size.next_multiple_of(layout.align);
        if layout.scalars.len() > MAX_SCALARS {
            return Err(LayoutProblem::Unknown);
        }
        Ok(layout)
    }
}

/// Which crate's definitions a name resolves in: a type from nf-std names
/// nf-std's types, never the NF's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Own,
    NfStd,
}

/// `packets: u64 at 0, bytes: u64 at 8` for a struct's fields.
fn field_summaries(item: &syn::ItemStruct, resolver: &Resolver<'_>, scope: Scope) -> String {
    let mut offset = 0u64;
    let packed = Repr::of(&item.attrs).packed.is_some();
    let mut parts = Vec::new();
    for (position, field) in item.fields.iter().enumerate() {
        let name = field.ident.as_ref().map_or_else(|| position.to_string(), ToString::to_string);
        let ty = crate::signature::type_text(&field.ty);
        match resolver.layout(&field.ty, scope, 1) {
            Ok(layout) => {
                offset = offset.next_multiple_of(if packed { 1 } else { layout.align });
                parts.push(format!("{name}: {ty} at {offset}"));
                offset += layout.size;
            }
            Err(_) => parts.push(format!("{name}: {ty}")),
        }
    }
    parts.join(", ")
}

/// `layout` repeated `count` times, as the elements of an array.
fn repeat(layout: &Layout, count: usize) -> Result<Layout, LayoutProblem> {
    let total = layout.scalars.len().checked_mul(count).filter(|total| *total <= MAX_SCALARS);
    let Some(total) = total else { return Err(LayoutProblem::Unknown) };
    let mut scalars = Vec::with_capacity(total);
    for index in 0..count as u64 {
        scalars.extend(layout.scalars.iter().map(|(at, scalar)| (index * layout.size + at, *scalar)));
    }
    Ok(Layout { size: layout.size * count as u64, align: layout.align, scalars })
}

fn strip(ty: &syn::Type) -> &syn::Type {
    match ty {
        syn::Type::Paren(inner) => strip(&inner.elem),
        syn::Type::Group(inner) => strip(&inner.elem),
        other => other,
    }
}

fn literal_usize(expr: &syn::Expr) -> Option<usize> {
    match expr {
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(int), .. }) => int.base10_parse().ok(),
        _ => None,
    }
}

fn span_of(found: &Found, span: proc_macro2::Span) -> Span {
    let range = span.byte_range();
    Span::new(range.start + found.offset, range.end + found.offset)
}

/// What a struct's `#[repr(...)]` attributes say.
#[derive(Debug, Default)]
struct Repr {
    c: bool,
    transparent: bool,
    packed: Option<u64>,
    align: Option<u64>,
}

impl Repr {
    fn of(attrs: &[syn::Attribute]) -> Repr {
        let mut repr = Repr::default();
        for attr in attrs.iter().filter(|attr| attr.path().is_ident("repr")) {
            // An unparseable repr is the Rust compiler's to report.
            let _ = attr.parse_nested_meta(|meta| {
                let argument = || -> syn::Result<u64> {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    content.parse::<syn::LitInt>()?.base10_parse()
                };
                if meta.path.is_ident("C") {
                    repr.c = true;
                } else if meta.path.is_ident("transparent") {
                    repr.transparent = true;
                } else if meta.path.is_ident("packed") {
                    repr.packed = Some(if meta.input.peek(syn::token::Paren) { argument().unwrap_or(1) } else { 1 });
                } else if meta.path.is_ident("align") {
                    repr.align = argument().ok();
                }
                Ok(())
            });
        }
        repr
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::InMemory;

    /// The layout of `ty` in a crate whose lib.rs is `lib`, with nf-std's
    /// lib.rs `nf_std`.
    fn resolve(lib: &str, nf_std: &str, ty: &str) -> Result<TypeLayout, LayoutProblem> {
        let reader = InMemory::default().with("nf/src/lib.rs", lib).with("nf-std/src/lib.rs", nf_std);
        let mut files = SourceFiles::default();
        let own = TypeIndex::read_crate(Path::new("nf"), &reader, &mut files);
        let nf_std = TypeIndex::read_crate(Path::new("nf-std"), &reader, &mut files);
        Resolver { own: &own, nf_std: &nf_std }.resolve(&syn::parse_str(ty).unwrap())
    }

    fn layout(lib: &str, ty: &str) -> Layout {
        resolve(lib, "", ty).unwrap().layout
    }

    #[test]
    fn primitives_and_arrays() {
        assert_eq!(layout("", "u64"), Layout { size: 8, align: 8, scalars: vec![(0, Scalar::U64)] });
        let bytes = layout("", "[u8; 3]");
        assert_eq!((bytes.size, bytes.align, bytes.scalars.len()), (3, 1, 3));
        assert_eq!(bytes.scalars[2], (2, Scalar::U8));
    }

    #[test]
    fn repr_c_structs_are_padded_as_c_does() {
        let lib = "#[repr(C)] pub struct S { a: u8, b: u32, c: u16 }";
        let s = layout(lib, "S");
        assert_eq!((s.size, s.align), (12, 4));
        assert_eq!(s.scalars, vec![(0, Scalar::U8), (4, Scalar::U32), (8, Scalar::U16)]);
        let packed = layout("#[repr(C, packed)] pub struct P { a: u8, b: u32 }", "P");
        assert_eq!((packed.size, packed.align), (5, 1));
        let aligned = layout("#[repr(C, align(16))] pub struct A { a: u8 }", "A");
        assert_eq!((aligned.size, aligned.align), (16, 16));
    }

    #[test]
    fn nested_types_aliases_and_modules_resolve() {
        let lib = "mod inner { #[repr(C)] pub struct Pair { a: u32, b: u32 } }\ntype Alias = inner::Pair;\n#[repr(C)] pub struct Outer { p: [Alias; 2], x: u64 }";
        let outer = resolve(lib, "", "Outer").unwrap();
        assert_eq!((outer.layout.size, outer.layout.scalars.len()), (24, 5));
        assert_eq!(outer.summary, "Outer { p: [Alias; 2] at 0, x: u64 at 16 }");
        assert!(outer.defined_at.is_some());
    }

    #[test]
    fn module_files_are_followed() {
        let reader = InMemory::default()
            .with("nf/src/lib.rs", "mod types;")
            .with("nf/src/types.rs", "mod deeper;")
            .with("nf/src/types/deeper.rs", "#[repr(C)] pub struct Deep { a: u16 }");
        let mut files = SourceFiles::default();
        let own = TypeIndex::read_crate(Path::new("nf"), &reader, &mut files);
        let none = TypeIndex::default();
        let deep = Resolver { own: &own, nf_std: &none }.resolve(&syn::parse_str("Deep").unwrap()).unwrap();
        assert_eq!(deep.layout.size, 2);
    }

    #[test]
    fn nf_std_types_are_found_and_own_types_win() {
        let nf_std = "#[repr(C)] pub struct Ipv4Prefix { len: u32, addr: [u8; 4] }";
        assert_eq!(resolve("", nf_std, "Ipv4Prefix").unwrap().layout.size, 8);
        assert_eq!(resolve("", nf_std, "nf_std::maps::Ipv4Prefix").unwrap().layout.size, 8);
        let own = "#[repr(C)] pub struct Ipv4Prefix { len: u8 }";
        assert_eq!(resolve(own, nf_std, "Ipv4Prefix").unwrap().layout.size, 1);
        assert_eq!(resolve(own, nf_std, "nf_std::Ipv4Prefix").unwrap().layout.size, 8);
    }

    #[test]
    fn what_cannot_be_compared_says_why() {
        assert!(matches!(
            resolve("pub struct S { a: u8 }", "", "S"),
            Err(LayoutProblem::NotReprC { name, .. }) if name == "S"
        ));
        assert!(matches!(
            resolve("#[repr(C)] pub struct S { inner: T }\npub struct T { a: u8 }", "", "S"),
            Err(LayoutProblem::NotReprC { name, .. }) if name == "T"
        ));
        assert_eq!(resolve("", "", "Missing"), Err(LayoutProblem::Unknown));
        assert_eq!(resolve("#[repr(C)] pub struct G<T> { a: T }", "", "G"), Err(LayoutProblem::Unknown));
        assert_eq!(resolve("", "", "&u8"), Err(LayoutProblem::Unknown));
        let twice = "mod a { #[repr(C)] pub struct S { x: u8 } }\nmod b { #[repr(C)] pub struct S { x: u64 } }";
        assert_eq!(resolve(twice, "", "S"), Err(LayoutProblem::Unknown));
        assert_eq!(resolve("type A = B;\ntype B = A;", "", "A"), Err(LayoutProblem::Unknown));
        assert_eq!(resolve("", "", "[u64; 100000]"), Err(LayoutProblem::Unknown));
    }

    #[test]
    fn the_same_fields_in_another_order_differ() {
        let a = layout("#[repr(C)] pub struct F { packets: u64, bytes: u32 }", "F");
        let b = layout("#[repr(C)] pub struct F { bytes: u32, packets: u64 }", "F");
        assert_eq!(a.size, b.size);
        assert_ne!(a, b);
    }
}
