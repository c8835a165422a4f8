//! Reads the code blocks of a guide such as `docs/writing-nfs.md` and puts
//! together the NF crates and chains they show, so that a test can build the
//! crates against this checkout's `nf-std`, run their tests and check the
//! chains: then the guide cannot drift from the code.
//!
//! # How the guide marks its blocks
//!
//! The info string of a fenced block says what it is: a language, then
//! comma-separated attributes (as in ```` ```rust,nf=ttl_guard ````; a
//! renderer highlights by the language and ignores the rest). Every
//! ```` ```rust ```` block of a guide must say which NF crate it belongs to,
//! in one of these ways:
//!
//! | info string | the block is |
//! |---|---|
//! | `rust,nf=NAME` | the `src/lib.rs` of the NF crate `NAME`; further blocks with the same attribute continue it, in order |
//! | `rust,excerpt=NAME` | a piece of `NAME`'s `src/lib.rs` shown on its own (a partial function, say): its lines must appear there, together and in this order |
//! | `rust,nf=NAME,from=BASE` | items that make the crate `NAME` out of `BASE`: each replaces `BASE`'s item of the same name, or is added; a `use` replaces `BASE`'s `use`s of the same names. Several blocks add up |
//! | `rust,nf=NAME,patch=BASE` | lines to add to `BASE`, making `NAME`: the block's first line is a line of `BASE` (it must be there once), the others go after it |
//!
//! A block with the attribute `toml,manifest` is the `Cargo.toml` of every
//! crate, with `/path/to/galette/nf-std` for the checkout's `nf-std` and the
//! crate's package name in place of the one written. Each
//! ```` ```gal,syntax ```` block is a chain, `CHAIN.gal` beside the crates'
//! `nfs/` directory, so that `"nfs/NAME"` names the crate `NAME`.
//! Blocks of other languages (`text`, `sh`) are not assembled; the test of
//! `docs/writing-nfs.md` (`tests/writing_nfs.rs`) compares two kinds of
//! them with what the code does: a `text` block that starts with `$ cd
//! my-chains/nfs/NAME && cargo test` lists the tests that pass, and the rows
//! of a table whose first cell is a diagnostic code say what galettec's list
//! of codes says.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use syn::spanned::Spanned;

/// What the guide writes where the checkout's `nf-std` goes.
pub const NF_STD_PLACEHOLDER: &str = "/path/to/galette/nf-std";

/// One fenced code block of a Markdown text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// 1-based line of the opening fence.
    pub line: usize,
    /// The info string's first word: `rust`, `gal`, `text`, ...
    pub language: String,
    /// The rest of the info string, `key=value` or `key`, in order.
    pub attributes: Vec<(String, Option<String>)>,
    /// The block's lines, each ending in a newline, without the fence's own
    /// indentation (a block in a list item is indented with the item).
    pub text: String,
}

impl Fence {
    /// The value of attribute `key`, if it has one.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).and_then(|(_, value)| value.as_deref())
    }

    fn has_flag(&self, key: &str) -> bool {
        self.attributes.iter().any(|(k, value)| k == key && value.is_none())
    }
}

/// The fenced blocks of `markdown`, in order. A fence is three or more
/// backticks or tildes, indented at most three spaces; it closes at a line of
/// at least as many of the same character and nothing else (CommonMark).
pub fn fences(markdown: &str) -> Vec<Fence> {
    let mut found = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let opening = &line[indent..];
        let Some(fence_char) = opening.chars().next().filter(|c| *c == '`' || *c == '~') else { continue };
        let fence_len = opening.chars().take_while(|c| *c == fence_char).count();
        if fence_len < 3 || indent > 3 {
            continue;
        }
        let info = opening[fence_len..].trim();
        let mut words = info.split(',').map(str::trim).filter(|word| !word.is_empty());
        let language = words.next().unwrap_or("").to_owned();
        let attributes = words
            .map(|word| match word.split_once('=') {
                Some((key, value)) => (key.trim().to_owned(), Some(value.trim().to_owned())),
                None => (word.to_owned(), None),
            })
            .collect();
        let mut text = String::new();
        for (_, line) in lines.by_ref() {
            let closing = line.trim();
            if closing.len() >= fence_len && closing.chars().all(|c| c == fence_char) {
                break;
            }
            // CommonMark: up to the fence's indentation is removed from each line.
            let removable = line.len() - line.trim_start_matches(' ').len();
            text.push_str(&line[removable.min(indent)..]);
            text.push('\n');
        }
        found.push(Fence { line: index + 1, language, attributes, text });
    }
    found
}

/// An NF crate the guide shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfCrate {
    /// Its directory under `nfs/`, as a chain names it (`ttl_guard`).
    pub name: String,
    /// Its `src/lib.rs`.
    pub source: String,
    /// The crate it is made from (`from=` or `patch=`), if any.
    pub base: Option<String>,
    /// The line of its first block.
    pub line: usize,
}

impl NfCrate {
    /// The package name: the directory's name with `-` for `_`, as the
    /// guide's `ttl_guard` is the package `ttl-guard`.
    pub fn package(&self) -> String {
        self.name.replace('_', "-")
    }
}

/// A chain the guide shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The name after `chain`, which is also its file's name.
    pub name: String,
    pub text: String,
    pub line: usize,
}

/// What a guide's code blocks add up to.
#[derive(Debug, Clone, Default)]
pub struct Guide {
    /// The `toml,manifest` block.
    pub manifest: Option<String>,
    /// The crates, plain ones in the order they first appear, then the ones
    /// made from others.
    pub crates: Vec<NfCrate>,
    pub chains: Vec<Chain>,
    /// How many excerpts were found in their crates.
    pub excerpts_checked: usize,
}

/// How a `rust` block contributes to its crate.
enum Role<'a> {
    Source { name: &'a str },
    Excerpt { name: &'a str },
    From { name: &'a str, base: &'a str },
    Patch { name: &'a str, base: &'a str },
}

const RUST_ATTRIBUTES: [&str; 4] = ["nf", "excerpt", "from", "patch"];

/// The blocks that make one crate out of another, in order.
struct Derivation<'a> {
    name: &'a str,
    base: &'a str,
    /// `from=` (true) or `patch=` (false), as its first block says.
    from: bool,
    blocks: Vec<&'a Fence>,
}

impl Guide {
    /// Puts the crates and chains of `markdown` together, and checks every
    /// excerpt against its crate. Every problem found is an error naming the
    /// block's line.
    pub fn read(markdown: &str) -> Result<Guide, Vec<String>> {
        let mut guide = Guide::default();
        let mut errors = Vec::new();
        let mut derivations: Vec<Derivation<'_>> = Vec::new();
        let mut excerpts: Vec<(&str, &Fence)> = Vec::new();
        let all = fences(markdown);
        for fence in &all {
            match fence.language.as_str() {
                "rust" => match role(fence) {
                    Ok(Role::Source { name }) => guide.add_source(name, fence),
                    Ok(Role::Excerpt { name }) => excerpts.push((name, fence)),
                    Ok(Role::From { name, base }) => add_derivation(&mut derivations, name, base, true, fence),
                    Ok(Role::Patch { name, base }) => add_derivation(&mut derivations, name, base, false, fence),
                    Err(error) => errors.push(format!("line {}: {error}", fence.line)),
                },
                "toml" if fence.has_flag("manifest") && guide.manifest.is_some() => {
                    errors.push(format!("line {}: a second `toml,manifest` block", fence.line));
                }
                "toml" if fence.has_flag("manifest") => guide.manifest = Some(fence.text.clone()),
                "gal" if fence.has_flag("syntax") => match chain_name(&fence.text) {
                    Some(name) => guide.chains.push(Chain { name, text: fence.text.clone(), line: fence.line }),
                    None => errors.push(format!("line {}: a chain without `chain NAME`", fence.line)),
                },
                _ => {}
            }
        }
        // Crates made from others once every plain crate is complete, as a
        // guide shows a variant after the whole crate it varies.
        for derivation in &derivations {
            if let Err(error) = guide.derive(derivation) {
                errors.push(format!("line {}: {error}", derivation.blocks[0].line));
            }
        }
        for (name, fence) in excerpts {
            match guide.nf(name) {
                None => errors.push(format!("line {}: an excerpt of `{name}`, which no block defines", fence.line)),
                Some(nf) => match excerpt_problem(&fence.text, &nf.source) {
                    None => guide.excerpts_checked += 1,
                    Some(problem) => errors.push(format!("line {}: not an excerpt of `{name}`: {problem}", fence.line)),
                },
            }
        }
        if errors.is_empty() { Ok(guide) } else { Err(errors) }
    }

    fn add_source(&mut self, name: &str, fence: &Fence) {
        match self.crates.iter_mut().find(|c| c.name == name) {
            Some(nf) => nf.source.push_str(&fence.text),
            None => self.crates.push(NfCrate {
                name: name.to_owned(),
                source: fence.text.clone(),
                base: None,
                line: fence.line,
            }),
        }
    }

    /// Makes the crate of `derivation` out of its base.
    fn derive(&mut self, derivation: &Derivation<'_>) -> Result<(), String> {
        let Derivation { name, base, from, ref blocks } = *derivation;
        if let Some(block) = blocks.iter().find(|block| {
            block.attribute("from").unwrap_or_default() != base && block.attribute("patch").unwrap_or_default() != base
        }) {
            return Err(format!("`{name}` is made from `{base}` here, and otherwise at line {}", block.line));
        }
        if blocks.iter().any(|block| block.attribute("from").is_some() != from) {
            return Err(format!("`{name}` mixes `from=` and `patch=` blocks"));
        }
        if let Some(existing) = self.nf(name) {
            return Err(format!("`{name}` is already defined, at line {}", existing.line));
        }
        let base_source = self
            .nf(base)
            .ok_or_else(|| format!("`{name}` is made from `{base}`, which no block defines"))?
            .source
            .clone();
        let source = if from {
            let replacements: String = blocks.iter().map(|block| block.text.as_str()).collect();
            replace_items(&base_source, &replacements)?
        } else {
            blocks.iter().try_fold(base_source, |source, block| insert_after_anchor(&source, &block.text))?
        };
        self.crates.push(NfCrate { name: name.to_owned(), source, base: Some(base.to_owned()), line: blocks[0].line });
        Ok(())
    }
}

fn add_derivation<'a>(
    derivations: &mut Vec<Derivation<'a>>,
    name: &'a str,
    base: &'a str,
    from: bool,
    fence: &'a Fence,
) {
    match derivations.iter_mut().find(|derivation| derivation.name == name) {
        Some(derivation) => derivation.blocks.push(fence),
        None => derivations.push(Derivation { name, base, from, blocks: vec![fence] }),
    }
}

/// What a `rust` block's attributes say it is.
fn role(fence: &Fence) -> Result<Role<'_>, String> {
    if let Some((unknown, _)) = fence.attributes.iter().find(|(key, _)| !RUST_ATTRIBUTES.contains(&key.as_str())) {
        return Err(format!("unknown attribute `{unknown}` (a rust block takes {})", RUST_ATTRIBUTES.join(", ")));
    }
    let value = |key: &str| -> Result<Option<&str>, String> {
        match fence.attributes.iter().find(|(k, _)| k == key) {
            None => Ok(None),
            Some((_, Some(value))) if is_crate_name(value) => Ok(Some(value.as_str())),
            Some((_, value)) => Err(format!("`{key}=` needs a crate name, not {value:?}")),
        }
    };
    match (value("nf")?, value("excerpt")?, value("from")?, value("patch")?) {
        (Some(name), None, None, None) => Ok(Role::Source { name }),
        (None, Some(name), None, None) => Ok(Role::Excerpt { name }),
        (Some(name), None, Some(base), None) => Ok(Role::From { name, base }),
        (Some(name), None, None, Some(base)) => Ok(Role::Patch { name, base }),
        (None, None, None, None) => Err("a rust block must say which NF crate it belongs to: \
             `rust,nf=NAME`, `rust,excerpt=NAME`, `rust,nf=NAME,from=BASE` or `rust,nf=NAME,patch=BASE`"
            .to_owned()),
        _ => Err("`excerpt=` stands alone, and `from=` or `patch=` (one of them) come with `nf=`".to_owned()),
    }
}

fn is_crate_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The name after `chain` on the first line that is not a comment.
fn chain_name(text: &str) -> Option<String> {
    let line = text.lines().map(str::trim).find(|line| !line.is_empty() && !line.starts_with("//"))?;
    let name = line.strip_prefix("chain")?.trim();
    is_crate_name(name).then(|| name.to_owned())
}

/// Why `excerpt` is not a run of consecutive lines of `source` (trailing
/// spaces and the excerpt's leading and trailing blank lines aside), if it
/// is not.
fn excerpt_problem(excerpt: &str, source: &str) -> Option<String> {
    let wanted: Vec<&str> = excerpt.lines().map(str::trim_end).collect();
    let first = wanted.iter().position(|line| !line.is_empty())?;
    let last = wanted.iter().rposition(|line| !line.is_empty())?;
    let wanted = &wanted[first..=last];
    let lines: Vec<&str> = source.lines().map(str::trim_end).collect();
    if lines.windows(wanted.len()).any(|window| window == wanted) {
        return None;
    }
    // The longest run of the excerpt's first lines that is there, to say
    // which line differs.
    let matching =
        (1..wanted.len()).rev().find(|&n| lines.windows(n).any(|window| window == &wanted[..n])).unwrap_or(0);
    Some(format!("the crate has no line `{}` after the {matching} line(s) before it", wanted[matching].trim()))
}

/// The names an item declares, for replacing it: its identifier, or the
/// names a `use` brings in. Unnamed items (`impl`, `const _`) have none.
fn declared_names(item: &syn::Item) -> Vec<String> {
    let ident = match item {
        syn::Item::Const(item) => Some(&item.ident),
        syn::Item::Enum(item) => Some(&item.ident),
        syn::Item::Fn(item) => Some(&item.sig.ident),
        syn::Item::Macro(item) => item.ident.as_ref(),
        syn::Item::Mod(item) => Some(&item.ident),
        syn::Item::Static(item) => Some(&item.ident),
        syn::Item::Struct(item) => Some(&item.ident),
        syn::Item::Trait(item) => Some(&item.ident),
        syn::Item::TraitAlias(item) => Some(&item.ident),
        syn::Item::Type(item) => Some(&item.ident),
        syn::Item::Union(item) => Some(&item.ident),
        syn::Item::Use(item) => {
            let mut names = Vec::new();
            use_names(&item.tree, &mut names);
            return names;
        }
        _ => None,
    };
    ident.map(|ident| ident.to_string()).filter(|name| name != "_").into_iter().collect()
}

fn use_names(tree: &syn::UseTree, names: &mut Vec<String>) {
    match tree {
        syn::UseTree::Path(path) => use_names(&path.tree, names),
        syn::UseTree::Name(name) => names.push(name.ident.to_string()),
        syn::UseTree::Rename(rename) => names.push(rename.rename.to_string()),
        syn::UseTree::Glob(_) => names.push("*".to_owned()),
        syn::UseTree::Group(group) => group.items.iter().for_each(|tree| use_names(tree, names)),
    }
}

/// `base` with each item that `replacements` declares again cut out, and
/// `replacements` added at the end (the order of items does not matter in
/// Rust). Items are cut with their doc comments and attributes.
pub fn replace_items(base: &str, replacements: &str) -> Result<String, String> {
    let base_file = syn::parse_file(base).map_err(|error| format!("the base crate does not parse: {error}"))?;
    let new_file = syn::parse_file(replacements).map_err(|error| format!("the block does not parse: {error}"))?;
    let replaced: HashSet<String> = new_file.items.iter().flat_map(declared_names).collect();
    let mut cuts: Vec<std::ops::Range<usize>> = base_file
        .items
        .iter()
        .filter(|item| declared_names(item).iter().any(|name| replaced.contains(name)))
        .map(|item| {
            let range = item.span().byte_range();
            // The line break after the item goes with it.
            let end = if base[range.end..].starts_with('\n') { range.end + 1 } else { range.end };
            range.start..end
        })
        .collect();
    cuts.sort_by_key(|range| range.start);
    let mut made = String::with_capacity(base.len() + replacements.len());
    let mut kept_from = 0;
    for cut in cuts {
        made.push_str(&base[kept_from..cut.start]);
        kept_from = cut.end;
    }
    made.push_str(&base[kept_from..]);
    if !made.ends_with('\n') {
        made.push('\n');
    }
    made.push('\n');
    made.push_str(replacements);
    Ok(made)
}

/// `base` with `patch`'s lines after its first inserted after the one line
/// of `base` that reads like that first line (indentation aside).
pub fn insert_after_anchor(base: &str, patch: &str) -> Result<String, String> {
    let mut patch_lines = patch.lines().skip_while(|line| line.trim().is_empty());
    let anchor = patch_lines.next().ok_or("an empty patch")?.trim();
    let anchored: Vec<usize> =
        base.lines().enumerate().filter(|(_, line)| line.trim() == anchor).map(|(index, _)| index).collect();
    let [at] = anchored[..] else {
        return Err(format!(
            "the first line of a patch, `{anchor}`, must be in the base once, not {} times",
            anchored.len()
        ));
    };
    let mut made = String::with_capacity(base.len() + patch.len());
    for (index, line) in base.lines().enumerate() {
        made.push_str(line);
        made.push('\n');
        if index == at {
            for added in patch_lines.by_ref() {
                made.push_str(added);
                made.push('\n');
            }
        }
    }
    Ok(made)
}

impl Guide {
    /// `Cargo.toml` of `nf`: the guide's manifest, with the package's name
    /// and the `nf-std` at `nf_std`.
    pub fn manifest_of(&self, nf: &NfCrate, nf_std: &Path) -> Result<String, String> {
        let template = self.manifest.as_deref().ok_or("the guide has no `toml,manifest` block")?;
        if !template.contains(NF_STD_PLACEHOLDER) {
            return Err(format!("the manifest does not name nf-std as `{NF_STD_PLACEHOLDER}`"));
        }
        let mut named = false;
        let lines: Vec<String> = template
            .lines()
            .map(|line| {
                if !named && line.trim_start().starts_with("name") && line.contains('=') {
                    named = true;
                    format!("name = \"{}\"", nf.package())
                } else {
                    line.replace(NF_STD_PLACEHOLDER, &nf_std.display().to_string())
                }
            })
            .collect();
        if !named {
            return Err("the manifest has no `name = ...`".to_owned());
        }
        Ok(lines.join("\n") + "\n")
    }

    /// Writes the guide's layout under `dir`: `my-chains/nfs/NAME/` for
    /// every crate (`Cargo.toml`, `src/lib.rs`) and `my-chains/CHAIN.gal`
    /// for every chain. Returns `my-chains`. Files whose text is already
    /// right are left alone, so cargo rebuilds nothing that did not change.
    pub fn write(&self, dir: &Path, nf_std: &Path) -> io::Result<PathBuf> {
        let chains_dir = dir.join("my-chains");
        for nf in &self.crates {
            let crate_dir = chains_dir.join("nfs").join(&nf.name);
            let manifest = self.manifest_of(nf, nf_std).map_err(io::Error::other)?;
            write_if_changed(&crate_dir.join("Cargo.toml"), &manifest)?;
            write_if_changed(&crate_dir.join("src").join("lib.rs"), &nf.source)?;
        }
        for chain in &self.chains {
            write_if_changed(&chains_dir.join(format!("{}.gal", chain.name)), &chain.text)?;
        }
        Ok(chains_dir)
    }

    /// The crate called `name`.
    pub fn nf(&self, name: &str) -> Option<&NfCrate> {
        self.crates.iter().find(|nf| nf.name == name)
    }
}

fn write_if_changed(path: &Path, text: &str) -> io::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|existing| existing == text) {
        return Ok(());
    }
    std::fs::create_dir_all(path.parent().expect("a file in a directory"))?;
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_keep_their_info_and_lose_the_list_items_indentation() {
        let markdown = "text\n```rust,nf=a\nfn f() {}\n```\n- item:\n\n  ```rust , excerpt = a\n      f();\n  ```\n````gal,syntax\nchain c\n```\nstill c\n````\n";
        let found = fences(markdown);
        assert_eq!(found.len(), 3);
        assert_eq!((found[0].line, found[0].language.as_str(), found[0].attribute("nf")), (2, "rust", Some("a")));
        assert_eq!(found[0].text, "fn f() {}\n");
        assert_eq!(found[1].attribute("excerpt"), Some("a"));
        assert_eq!(found[1].text, "    f();\n", "the two spaces of the list item go, the code's own stay");
        assert_eq!((found[2].language.as_str(), found[2].text.as_str()), ("gal", "chain c\n```\nstill c\n"));
        assert!(found[2].has_flag("syntax"));
    }

    const BASE: &str = "//! A crate.\n#![no_std]\n\nuse nf_std::maps::Hash;\n\n/// The maps.\n#[nf_std::maps]\npub struct Maps {\n    drops: Hash<u32, u64>,\n}\n\npub enum Action {\n    Out,\n}\n\nfn count() -> u64 {\n    1\n}\n";

    #[test]
    fn replacing_items_cuts_them_with_their_docs_and_adds_the_new_ones() {
        let made = replace_items(BASE, "use nf_std::maps::{Hash, PlainData};\n\npub struct Stats;\n\n#[nf_std::maps]\npub struct Maps {\n    drops: Hash<u32, Stats>,\n}\n").unwrap();
        assert!(made.starts_with("//! A crate.\n#![no_std]\n"), "{made}");
        assert!(!made.contains("use nf_std::maps::Hash;"), "the old use goes: {made}");
        assert!(!made.contains("/// The maps.") && !made.contains("Hash<u32, u64>"), "{made}");
        assert!(made.contains("pub enum Action") && made.contains("fn count()"), "the others stay: {made}");
        assert!(made.ends_with("    drops: Hash<u32, Stats>,\n}\n"), "{made}");
        syn::parse_file(&made).unwrap();
        assert!(replace_items(BASE, "fn broken(").unwrap_err().contains("the block does not parse"));
    }

    #[test]
    fn a_patch_goes_after_its_anchor_line() {
        let made = insert_after_anchor(BASE, "fn count() -> u64 {\n    let _unused = 0;\n").unwrap();
        assert!(made.contains("fn count() -> u64 {\n    let _unused = 0;\n    1\n}\n"), "{made}");
        let missing = insert_after_anchor(BASE, "fn nowhere() {\n    x();\n").unwrap_err();
        assert!(missing.contains("must be in the base once, not 0 times"), "{missing}");
        let twice = insert_after_anchor(BASE, "}\n    x();\n").unwrap_err();
        assert!(twice.contains("not 3 times"), "{twice}");
    }

    #[test]
    fn an_excerpt_is_consecutive_lines_of_its_crate() {
        assert_eq!(excerpt_problem("\npub enum Action {\n    Out,\n}\n\n", BASE), None);
        let reordered = excerpt_problem("pub enum Action {\n}\n", BASE).unwrap();
        assert!(reordered.contains("no line `}` after the 1 line(s) before it"), "{reordered}");
        let changed = excerpt_problem("fn count() -> u32 {\n", BASE).unwrap();
        assert!(changed.contains("no line `fn count() -> u32 {` after the 0 line(s)"), "{changed}");
    }

    fn guide(markdown: &str) -> Result<Guide, Vec<String>> {
        Guide::read(markdown)
    }

    #[test]
    fn a_guide_adds_up_to_crates_and_chains() {
        let markdown = format!(
            "```toml,manifest\n[package]\nname = \"x\"\n\n[dependencies]\nnf-std = {{ path = \"{NF_STD_PLACEHOLDER}\" }}\n```\n\
             ```rust,excerpt=base_nf\npub enum Action {{\n```\n\
             ```rust,nf=base_nf\n{BASE}```\n\
             ```rust,nf=base_nf\n#[cfg(test)]\nmod tests {{}}\n```\n\
             ```rust,nf=variant,from=base_nf\nfn count() -> u64 {{\n    2\n}}\n```\n\
             ```rust,nf=variant,from=base_nf\npub struct Extra;\n```\n\
             ```rust,nf=patched,patch=base_nf\nfn count() -> u64 {{\n    let _ = 0;\n```\n\
             ```gal,syntax\n// a note\nchain uses_it\nnf n = \"nfs/base_nf\"\n```\n```text\nignored\n```\n"
        );
        let guide = guide(&markdown).unwrap();
        let names: Vec<(&str, Option<&str>)> =
            guide.crates.iter().map(|c| (c.name.as_str(), c.base.as_deref())).collect();
        assert_eq!(names, [("base_nf", None), ("variant", Some("base_nf")), ("patched", Some("base_nf"))]);
        assert!(guide.nf("base_nf").unwrap().source.ends_with("mod tests {}\n"), "blocks of one crate join");
        let variant = &guide.nf("variant").unwrap().source;
        assert!(variant.contains("    2\n") && !variant.contains("    1\n") && variant.contains("pub struct Extra;"));
        assert!(guide.nf("patched").unwrap().source.contains("    let _ = 0;\n    1\n"));
        assert_eq!(guide.excerpts_checked, 1);
        assert_eq!(guide.chains.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["uses_it"]);
        let manifest = guide.manifest_of(guide.nf("patched").unwrap(), Path::new("/checkout/nf-std")).unwrap();
        assert!(
            manifest.contains("name = \"patched\"\n") && manifest.contains("path = \"/checkout/nf-std\""),
            "{manifest}"
        );
    }

    #[test]
    fn unmarked_or_wrongly_marked_blocks_are_errors() {
        let errors = guide(
            "```rust\nfn f() {}\n```\n```rust,nf=a,excerpt=a\n```\n```rust,nf=a,inline\n```\n\
             ```rust,excerpt=nobody\nx\n```\n```rust,nf=v,from=nobody\nfn f() {}\n```\n```rust,nf=b\nfn g() {}\n```\n\
             ```rust,excerpt=b\nfn h() {}\n```\n",
        )
        .unwrap_err();
        let expected = [
            "line 1: a rust block must say which NF crate it belongs to",
            "line 4: `excerpt=` stands alone",
            "line 6: unknown attribute `inline`",
            "line 11: `v` is made from `nobody`, which no block defines",
            "line 8: an excerpt of `nobody`, which no block defines",
            "line 17: not an excerpt of `b`: the crate has no line `fn h() {}`",
        ];
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
        for (error, expected) in errors.iter().zip(expected) {
            assert!(error.starts_with(expected), "{error:?} should start with {expected:?}");
        }
    }
}
