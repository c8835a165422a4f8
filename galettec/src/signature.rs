//! Reading an NF crate's signature with syn: its ports, whether it needs std,
//! and that its `packet` function has the shape the generated code calls.
//!
//! An NF crate looks like this (see `stdlib-nfs/macswap`):
//!
//! ```text
//! #![no_std]
//! pub enum Action { Allowed, Denied }            // ports `allowed`, `denied`
//! pub fn packet<P: Packet>(pkt: &mut P) -> Action { ... }
//! ```

use std::path::{Path, PathBuf};

use galette_grammar::{Diagnostic, FileId, Span};
use syn::spanned::Spanned;

use crate::ir::MapKind;
use crate::layout::{LayoutProblem, Resolver, TypeIndex, TypeLayout};
use crate::source::{SourceFiles, SourceReader, display_path};

/// What the compiler knows about one NF crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfSignature {
    /// The package name from `Cargo.toml` (`my-nf`).
    pub package: String,
    /// The name Rust code uses for the crate (`my_nf`).
    pub lib_name: String,
    pub crate_dir: PathBuf,
    /// The variants of `Action`, in declaration order.
    pub ports: Vec<PortSignature>,
    /// True unless the crate says `#![no_std]`; such an NF cannot run in XDP.
    pub needs_std: bool,
    /// A `#![cfg_attr(..., no_std)]` line, if the crate has one: it reads as
    /// needing std (the condition is not evaluated), which is worth saying.
    pub conditional_no_std: Option<Span>,
    /// `src/lib.rs` in the file table.
    pub lib_file: FileId,
    /// Span of `enum Action`'s name in `src/lib.rs`.
    pub action_span: Span,
    /// The fields of the NF's `#[maps]` struct: the maps a chain binds.
    pub maps: Vec<MapSlot>,
    /// Span of the `#[maps]` struct's name, if it has one.
    pub maps_span: Option<Span>,
    /// The `#[maps]` struct's name (`Maps` by convention, but any name
    /// works): the generated code builds it by this name.
    pub maps_struct: Option<String>,
}

/// A map field of an NF: `name: Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSlot {
    pub name: String,
    /// The field's type as written (`LpmTrie<Ipv4Prefix, u8>`).
    pub ty: String,
    /// The nf-std map kind of the type, when it is one (`LpmTrie`).
    pub kind: Option<MapKind>,
    /// The type's generic arguments as written (`Ipv4Prefix`, `u8`): key and
    /// value, or only the value for arrays.
    pub type_args: Vec<String>,
    /// The layout of each of `type_args`, as this crate defines it.
    pub type_layouts: Vec<Result<TypeLayout, LayoutProblem>>,
    /// Span of the field's type.
    pub type_span: Span,
    pub span: Span,
    /// The field's doc comment, without the `///`.
    pub doc: String,
}

/// One port: an `Action` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSignature {
    /// As written in `.gal` (`not_found`).
    pub name: String,
    /// As written in Rust (`NotFound`).
    pub variant: String,
    pub span: Span,
    /// The variant's doc comment, without the `///`: what the port means.
    pub doc: String,
}

/// Where in the `.gal` file the crate was named, for diagnostics about a
/// crate that cannot be read at all.
#[derive(Debug, Clone, Copy)]
pub struct UseSite {
    pub file: FileId,
    pub span: Span,
}

/// Reads the NF crate in `crate_dir`. Files read are added to `files` so
/// diagnostics can point into them. `nf_std` holds nf-std's types, for the
/// layouts of map types the crate imports from it.
pub fn read_signature(
    crate_dir: &Path,
    reader: &dyn SourceReader,
    files: &mut SourceFiles,
    used_at: UseSite,
    nf_std: &TypeIndex,
) -> Result<NfSignature, Diagnostic> {
    let manifest_path = crate_dir.join("Cargo.toml");
    let manifest = reader.read(&manifest_path).map_err(|err| {
        Diagnostic::error(
            "E0201",
            format!("cannot read the NF crate at {}", display_path(crate_dir)),
            used_at.file,
            used_at.span,
            format!("{}: {err}", display_path(&manifest_path)),
        )
        .with_help("an NF source is `std.NAME` or the path of a crate directory, relative to the .gal file")
    })?;
    let package = package_name(&manifest).ok_or_else(|| {
        let file = files.add_read(&manifest_path, manifest.clone());
        Diagnostic::error("E0202", "the NF crate's Cargo.toml has no package name", file, Span::default(), "here")
            .with_label(used_at.file, used_at.span, "NF crate used here")
            .with_help("a crate needs `[package]` with `name = \"...\"`")
    })?;

    let lib_path = crate_dir.join("src").join("lib.rs");
    let lib_text = reader.read(&lib_path).map_err(|err| {
        Diagnostic::error(
            "E0201",
            format!("cannot read {}", display_path(&lib_path)),
            used_at.file,
            used_at.span,
            err.to_string(),
        )
        .with_help("an NF crate is a library crate with its code in src/lib.rs")
    })?;
    let lib_file = files.add_read(&lib_path, lib_text.clone());
    // syn would skip a byte-order mark or a `#!` line itself and count its
    // spans from after it; skipping it here keeps the count in our hands.
    let prefix = ignored_prefix(&lib_text);
    let spans = SpanMap { offset: prefix };
    let ast = syn::parse_file(&lib_text[prefix..]).map_err(|err| {
        Diagnostic::error(
            "E0203",
            format!("the NF's source does not parse: {err}"),
            lib_file,
            spans.of(err.span()),
            "here",
        )
        .with_label(used_at.file, used_at.span, "NF crate used here")
    })?;

    let (action_span, ports) = read_ports(&ast, lib_file, used_at, spans)?;
    let maps_item = maps_struct(&ast);
    // Only an NF with maps needs its types indexed (which reads its modules).
    let own_types = if maps_item.is_some() {
        TypeIndex::of_crate(crate_dir, &ast, lib_file, prefix, reader, files)
    } else {
        TypeIndex::default()
    };
    let resolver = Resolver { own: &own_types, nf_std };
    let maps = maps_item.map_or_else(Vec::new, |item| read_map_slots(item, spans, &resolver));
    let maps_span = maps_item.map(|item| spans.of(item.ident.span()));
    if let Some(item) = maps_item {
        check_maps_struct_is_pub(item, lib_file, used_at, spans)?;
    }
    let maps_name = maps_item.map(|item| item.ident.to_string());
    check_packet_fn(&ast, lib_file, used_at, action_span, maps_name.as_deref(), spans)?;
    Ok(NfSignature {
        lib_name: package.replace('-', "_"),
        package,
        crate_dir: crate_dir.to_owned(),
        ports,
        needs_std: !is_no_std(&ast),
        conditional_no_std: conditional_no_std(&ast, spans),
        lib_file,
        action_span,
        maps,
        maps_span,
        maps_struct: maps_name,
    })
}

/// The generated code builds the `#[maps]` struct, so it must be public.
fn check_maps_struct_is_pub(
    item: &syn::ItemStruct,
    lib_file: FileId,
    used_at: UseSite,
    spans: SpanMap,
) -> Result<(), Diagnostic> {
    match item.vis {
        syn::Visibility::Public(_) => Ok(()),
        _ => Err(Diagnostic::error(
            "E0207",
            "the NF's `#[maps]` struct is not `pub`",
            lib_file,
            spans.of(item.ident.span()),
            "private",
        )
        .with_label(used_at.file, used_at.span, "NF crate used here")
        .with_help(format!("write `pub struct {}`: the generated code builds it", item.ident))),
    }
}

/// The struct marked `#[maps]` (or `#[nf_std::maps]`), if the crate has one.
fn maps_struct(ast: &syn::File) -> Option<&syn::ItemStruct> {
    let is_maps_attr = |attr: &syn::Attribute| attr.path().segments.last().is_some_and(|s| s.ident == "maps");
    ast.items.iter().find_map(|item| match item {
        syn::Item::Struct(item) if item.attrs.iter().any(is_maps_attr) => Some(item),
        _ => None,
    })
}

/// The named fields of the `#[maps]` struct `maps`.
fn read_map_slots(maps: &syn::ItemStruct, spans: SpanMap, resolver: &Resolver<'_>) -> Vec<MapSlot> {
    maps.fields
        .iter()
        .filter_map(|field| {
            let name = field.ident.as_ref()?;
            let (kind, type_args) = map_type(&field.ty);
            Some(MapSlot {
                name: name.to_string(),
                ty: type_text(&field.ty),
                kind,
                type_args: type_args.iter().map(|ty| type_text(ty)).collect(),
                type_layouts: type_args.iter().map(|ty| resolver.resolve(ty)).collect(),
                type_span: spans.of(field.ty.span()),
                span: spans.of(name.span()),
                doc: doc_comment(&field.attrs),
            })
        })
        .collect()
}

/// The text of `#[doc = "..."]` attributes (what `///` lines become), one
/// line each, without the space after `///`.
fn doc_comment(attrs: &[syn::Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value: syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(text), .. }),
                ..
            }) => Some(text.value()),
            _ => None,
        })
        .map(|line| line.strip_prefix(' ').map(str::to_owned).unwrap_or(line))
        .collect();
    lines.join("\n").trim().to_owned()
}

fn package_name(manifest: &str) -> Option<String> {
    let value: toml::Table = manifest.parse().ok()?;
    Some(value.get("package")?.get("name")?.as_str()?.to_owned())
}

fn is_no_std(ast: &syn::File) -> bool {
    ast.attrs.iter().any(|attr| matches!(attr.style, syn::AttrStyle::Inner(_)) && attr.path().is_ident("no_std"))
}

/// The span of an inner `#![cfg_attr(COND, no_std)]`, if there is one.
fn conditional_no_std(ast: &syn::File, spans: SpanMap) -> Option<Span> {
    ast.attrs.iter().find_map(|attr| {
        let inner = matches!(attr.style, syn::AttrStyle::Inner(_));
        let mentions_no_std = attr.path().is_ident("cfg_attr")
            && attr
                .meta
                .require_list()
                .is_ok_and(|list| list.tokens.clone().into_iter().any(|token| token.to_string() == "no_std"));
        (inner && mentions_no_std).then(|| spans.of(attr.span()))
    })
}

fn read_ports(
    ast: &syn::File,
    lib_file: FileId,
    used_at: UseSite,
    spans: SpanMap,
) -> Result<(Span, Vec<PortSignature>), Diagnostic> {
    let action = ast.items.iter().find_map(|item| match item {
        syn::Item::Enum(item) if item.ident == "Action" => Some(item),
        _ => None,
    });
    let Some(action) = action else {
        return Err(Diagnostic::error(
            "E0204",
            "the NF crate has no `Action` enum",
            lib_file,
            Span::default(),
            "expected `pub enum Action` in this file",
        )
        .with_label(used_at.file, used_at.span, "NF crate used here")
        .with_help("declare the NF's ports as `pub enum Action { Out }`; each variant is a port"));
    };
    let action_span = spans.of(action.ident.span());
    if !matches!(action.vis, syn::Visibility::Public(_)) {
        return Err(shape_error(lib_file, action_span, used_at, "`Action` must be `pub`"));
    }
    if action.variants.is_empty() {
        return Err(shape_error(lib_file, action_span, used_at, "`Action` has no variants, so the NF has no ports"));
    }
    let mut ports = Vec::new();
    for variant in &action.variants {
        if !matches!(variant.fields, syn::Fields::Unit) {
            return Err(shape_error(
                lib_file,
                spans.of(variant.span()),
                used_at,
                "a variant of `Action` is a port and cannot carry data",
            ));
        }
        ports.push(PortSignature {
            name: snake_case(&variant.ident.to_string()),
            variant: variant.ident.to_string(),
            span: spans.of(variant.ident.span()),
            doc: doc_comment(&variant.attrs),
        });
    }
    Ok((action_span, ports))
}

/// A type as text, the way a person writes it (`LpmTrie<Ipv4Prefix, u8>`).
pub(crate) fn type_text(ty: &syn::Type) -> String {
    quote::ToTokens::to_token_stream(ty)
        .to_string()
        .replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace(" :: ", "::")
        .replace(" ; ", "; ")
}

/// The nf-std map kind of a field type (by its last path segment, so
/// `nf_std::maps::Hash<K, V>` and `Hash<K, V>` both count) and its generic
/// arguments.
fn map_type(ty: &syn::Type) -> (Option<MapKind>, Vec<&syn::Type>) {
    let syn::Type::Path(path) = ty else { return (None, Vec::new()) };
    let Some(last) = path.path.segments.last() else { return (None, Vec::new()) };
    let args = match &last.arguments {
        syn::PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter_map(|arg| match arg {
                syn::GenericArgument::Type(ty) => Some(ty),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    (MapKind::from_rust_type(&last.ident.to_string()), args)
}

/// Checks that `packet` is `pub fn packet<P: Packet>(pkt: &mut P) -> Action`,
/// with a second argument `maps: &mut Maps` when the NF has a `#[maps]` struct.
fn check_packet_fn(
    ast: &syn::File,
    lib_file: FileId,
    used_at: UseSite,
    action_span: Span,
    maps_struct: Option<&str>,
    spans: SpanMap,
) -> Result<(), Diagnostic> {
    let has_maps = maps_struct.is_some();
    let expected = match maps_struct {
        None => "expected `pub fn packet<P: Packet>(pkt: &mut P) -> Action`".to_owned(),
        Some(name) => format!(
            "expected `pub fn packet<P: Packet>(pkt: &mut P, maps: &mut {name}) -> Action`, where `{name}` is the `#[maps]` struct"
        ),
    };
    let packet = ast.items.iter().find_map(|item| match item {
        syn::Item::Fn(item) if item.sig.ident == "packet" => Some(item),
        _ => None,
    });
    let Some(packet) = packet else {
        return Err(Diagnostic::error(
            "E0206",
            "the NF crate has no `packet` function",
            lib_file,
            action_span,
            "the ports are here, but no function returns them",
        )
        .with_label(used_at.file, used_at.span, "NF crate used here")
        .with_help(expected));
    };
    let sig = &packet.sig;
    let is_pub = matches!(packet.vis, syn::Visibility::Public(_));
    let one_type_param = sig.generics.type_params().count() == 1;
    let arguments = 1 + usize::from(has_maps);
    let mut_references = sig.inputs.len() == arguments
        && sig.inputs.iter().all(|input| matches!(input, syn::FnArg::Typed(arg) if matches!(&*arg.ty, syn::Type::Reference(r) if r.mutability.is_some())));
    let returns_action = matches!(&sig.output, syn::ReturnType::Type(_, ty)
        if matches!(&**ty, syn::Type::Path(path) if path.path.segments.last().is_some_and(|s| s.ident == "Action")));
    if is_pub && one_type_param && mut_references && returns_action && sig.asyncness.is_none() {
        return Ok(());
    }
    Err(Diagnostic::error(
        "E0206",
        "the NF's `packet` function has the wrong shape",
        lib_file,
        spans.of(sig.ident.span()),
        "this function",
    )
    .with_label(used_at.file, used_at.span, "NF crate used here")
    .with_help(expected))
}

fn shape_error(lib_file: FileId, span: Span, used_at: UseSite, message: &str) -> Diagnostic {
    Diagnostic::error("E0205", message, lib_file, span, "here")
        .with_label(used_at.file, used_at.span, "NF crate used here")
        .with_help("declare the ports as `pub enum Action { PortA, PortB }` with plain variants")
}

/// Turns syn's spans (counted from after the skipped prefix) into spans of
/// the whole file.
#[derive(Debug, Clone, Copy)]
struct SpanMap {
    offset: usize,
}

impl SpanMap {
    fn of(self, span: proc_macro2::Span) -> Span {
        let range = span.byte_range();
        Span::new(range.start + self.offset, range.end + self.offset)
    }
}

/// The length of a leading byte-order mark and `#!` line (but not an inner
/// attribute `#![...]`), which are not Rust tokens.
pub(crate) fn ignored_prefix(text: &str) -> usize {
    let bom = if text.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
    let rest = &text[bom..];
    let shebang = if rest.starts_with("#!") && !rest[2..].trim_start().starts_with('[') {
        rest.find('\n').unwrap_or(rest.len())
    } else {
        0
    };
    bom + shebang
}

/// `NotFound` → `not_found`, `TcpSyn` and `TCPSyn` → `tcp_syn`: Rust
/// variant names to `.gal` port names. A word starts at an uppercase letter
/// after a lowercase letter or digit, or at the last capital of an acronym.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &ch) in chars.iter().enumerate() {
        if ch.is_uppercase() && i > 0 {
            let previous = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|c| c.is_lowercase());
            if previous.is_lowercase() || previous.is_ascii_digit() || (previous.is_uppercase() && next_is_lower) {
                out.push('_');
            }
        }
        out.extend(ch.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::InMemory;

    const CARGO: &str = "[package]\nname = \"my-nf\"\n";
    const SITE: UseSite = UseSite { file: 0, span: Span { start: 0, end: 1 } };

    fn read(lib: &str) -> Result<NfSignature, Diagnostic> {
        let reader = InMemory::default().with("nf/Cargo.toml", CARGO).with("nf/src/lib.rs", lib);
        let mut files = SourceFiles::default();
        files.add("chain.gal", "x");
        read_signature(Path::new("nf"), &reader, &mut files, SITE, &TypeIndex::default())
    }

    #[test]
    fn reads_ports_name_and_no_std() {
        let sig = read(
            "#![no_std]\npub enum Action { Allowed, NotFound }\npub fn packet<P: Packet>(p: &mut P) -> Action { Action::Allowed }",
        )
        .unwrap();
        assert_eq!(sig.package, "my-nf");
        assert_eq!(sig.lib_name, "my_nf");
        assert!(!sig.needs_std);
        let names: Vec<_> = sig.ports.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["allowed", "not_found"]);
        assert_eq!(sig.ports[1].variant, "NotFound");
    }

    #[test]
    fn reads_map_slots_and_expects_them_in_packet() {
        let sig = read(
            "#![no_std]\n#[maps]\npub struct Maps { allow: LpmTrie<Ipv4Prefix, u8>, hits: Array<u64> }\npub enum Action { Out }\npub fn packet<P: Packet>(p: &mut P, m: &mut Maps) -> Action { Action::Out }",
        )
        .unwrap();
        let slots: Vec<_> = sig.maps.iter().map(|m| (m.name.as_str(), m.ty.as_str())).collect();
        assert_eq!(slots, [("allow", "LpmTrie<Ipv4Prefix, u8>"), ("hits", "Array<u64>")]);
        assert_eq!(sig.maps[0].kind, Some(MapKind::LpmTrie));
        assert_eq!(sig.maps[0].type_args, ["Ipv4Prefix", "u8"]);
        assert_eq!(sig.maps[1].kind, Some(MapKind::Array));
        assert_eq!(sig.maps[1].type_args, ["u64"]);
        let without_argument = read(
            "#[maps]\npub struct Maps { a: Array<u64> }\npub enum Action { Out }\npub fn packet<P: Packet>(p: &mut P) -> Action { Action::Out }",
        );
        assert_eq!(without_argument.unwrap_err().code, "E0206");
    }

    #[test]
    fn a_crate_without_no_std_needs_std() {
        let sig =
            read("pub enum Action { Out }\npub fn packet<P: Packet>(p: &mut P) -> Action { Action::Out }").unwrap();
        assert!(sig.needs_std);
    }

    #[test]
    fn shapes_that_do_not_fit_are_explained() {
        let code = |lib: &str| read(lib).unwrap_err().code;
        assert_eq!(code("pub fn packet() {}"), "E0204");
        assert_eq!(code("pub enum Action { Out(u8) }"), "E0205");
        assert_eq!(code("pub enum Action {}"), "E0205");
        assert_eq!(code("pub enum Action { Out }"), "E0206");
        assert_eq!(code("pub enum Action { Out }\npub fn packet(p: u8) -> Action { Action::Out }"), "E0206");
        assert_eq!(code("pub enum Action { Out"), "E0203");
        assert_eq!(
            code(
                "#[maps]\nstruct Maps { a: Array<u64> }\npub enum Action { Out }\npub fn packet<P: Packet>(p: &mut P, m: &mut Maps) -> Action { Action::Out }"
            ),
            "E0207"
        );
    }

    #[test]
    fn a_missing_crate_points_at_its_use() {
        let reader = InMemory::default();
        let err = read_signature(Path::new("nope"), &reader, &mut SourceFiles::default(), SITE, &TypeIndex::default())
            .unwrap_err();
        assert_eq!(err.code, "E0201");
        assert_eq!(err.primary.span, SITE.span);
    }

    #[test]
    fn snake_cases_variant_names() {
        assert_eq!(snake_case("Out"), "out");
        assert_eq!(snake_case("NotFound"), "not_found");
        assert_eq!(snake_case("TCPSyn"), "tcp_syn");
        assert_eq!(snake_case("Ipv4"), "ipv4");
        assert_eq!(snake_case("Http2Request"), "http2_request");
    }
}
