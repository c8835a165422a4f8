//! The documentation's `.gal` examples are real: every ```gal block in
//! README.md and docs/**/*.md passes the front end without errors, every
//! ```gal,syntax block parses, every chain in examples/ checks, and
//! docs/language.md lists every diagnostic code.
//!
//! A ```gal block is checked as if it were a file in examples/, so
//! `"nfs/ipv4_only"` is examples/nfs/ipv4_only and `std.NAME` is
//! stdlib-nfs/NAME.

use std::io;
use std::path::{Path, PathBuf};

use galettec::check_chain;
use galettec::codes::CODES;
use galettec::compile::{CompileOptions, check_with};
use galettec::render::render_diagnostics;
use galettec::source::{FileSystem, InMemory, SourceFiles, SourceReader};

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("galettec lives in the workspace").to_owned()
}

/// How a fenced block is tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// ```gal: a whole chain that checks without errors.
    Checked,
    /// ```gal,syntax: a whole chain that parses.
    Syntax,
}

/// One ```gal or ```gal,syntax block of a Markdown file.
struct Block {
    doc: PathBuf,
    /// 1-based, counting the gal blocks of both kinds in their file.
    number: usize,
    /// 1-based line of the opening fence.
    line: usize,
    kind: Kind,
    text: String,
}

impl Block {
    fn describe(&self) -> String {
        let kind = match self.kind {
            Kind::Checked => "```gal",
            Kind::Syntax => "```gal,syntax",
        };
        format!(
            "{} block {} ({kind}, line {})",
            self.doc.strip_prefix(root()).unwrap_or(&self.doc).display(),
            self.number,
            self.line
        )
    }
}

/// The gal blocks of one Markdown text, in order. A fence is three or more
/// backticks (or tildes); it closes at a line of at least as many of the same
/// character and nothing else.
fn gal_blocks(doc: &Path, markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim_start();
        let Some(fence_char) = trimmed.chars().next().filter(|c| *c == '`' || *c == '~') else { continue };
        let fence_len = trimmed.chars().take_while(|c| *c == fence_char).count();
        if fence_len < 3 {
            continue;
        }
        let info: String = trimmed[fence_len..].chars().filter(|c| !c.is_whitespace()).collect();
        let mut body = String::new();
        for (_, line) in lines.by_ref() {
            let closing = line.trim();
            if closing.len() >= fence_len && closing.chars().all(|c| c == fence_char) {
                break;
            }
            body.push_str(line);
            body.push('\n');
        }
        let kind = match info.as_str() {
            "gal" => Kind::Checked,
            "gal,syntax" => Kind::Syntax,
            _ => continue,
        };
        blocks.push(Block { doc: doc.to_owned(), number: blocks.len() + 1, line: index + 1, kind, text: body });
    }
    blocks
}

/// README.md and every .md file under docs/, sorted.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut dirs = vec![root().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn all_blocks() -> Vec<Block> {
    markdown_files()
        .iter()
        .flat_map(|doc| {
            let markdown =
                std::fs::read_to_string(doc).unwrap_or_else(|err| panic!("cannot read {}: {err}", doc.display()));
            gal_blocks(doc, &markdown)
        })
        .collect()
}

/// Serves the block from memory and every other file (the NF crates) from
/// the file system.
struct DocReader {
    memory: InMemory,
}

impl SourceReader for DocReader {
    fn read(&self, path: &Path) -> io::Result<String> {
        match self.memory.read(path) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => FileSystem.read(path),
            found => found,
        }
    }
}

/// What is wrong with a ```gal block, if anything.
fn check_block(block: &Block, options: &CompileOptions) -> Option<String> {
    let stem = block.doc.file_stem().map_or_else(|| "doc".into(), |s| s.to_string_lossy().into_owned());
    let path = root().join("examples").join(format!("{stem}-{}.gal", block.number));
    let reader = DocReader { memory: InMemory::default().with(&path, block.text.clone()) };
    let checked = match check_with(&path, options, &reader) {
        Ok(checked) => checked,
        Err(err) => return Some(format!("{}: {err}", block.describe())),
    };
    let errors = checked.diagnostics.iter().any(|d| d.is_error());
    if !errors && checked.chain.is_some() {
        return None;
    }
    let rendered = render_diagnostics(&checked.files, &checked.diagnostics);
    let why = if errors { "has errors" } else { "produced no chain" };
    Some(format!("{} {why}:\n{}\n{rendered}", block.describe(), block.text))
}

/// What is wrong with a ```gal,syntax block, if anything.
fn parse_block(block: &Block) -> Option<String> {
    let diagnostics = galette_grammar::parse(&block.text, 0).into_result().err()?;
    let mut files = SourceFiles::default();
    files.add(block.describe(), block.text.clone());
    Some(format!("{} does not parse:\n{}", block.describe(), render_diagnostics(&files, &diagnostics)))
}

#[test]
fn every_gal_block_in_the_docs_checks() {
    let blocks = all_blocks();
    let options = CompileOptions::from_env();
    let checked = blocks.iter().filter(|b| b.kind == Kind::Checked).count();
    assert!(checked >= 5, "found only {checked} ```gal blocks in README.md and docs/; is the extraction broken?");
    let failures: Vec<String> =
        blocks.iter().filter(|b| b.kind == Kind::Checked).filter_map(|block| check_block(block, &options)).collect();
    assert!(failures.is_empty(), "{} ```gal block(s) do not check:\n\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_gal_syntax_block_in_the_docs_parses() {
    let blocks = all_blocks();
    let failures: Vec<String> = blocks.iter().filter(|b| b.kind == Kind::Syntax).filter_map(parse_block).collect();
    assert!(failures.is_empty(), "{} ```gal,syntax block(s) do not parse:\n\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_example_chain_checks() {
    let options = CompileOptions::from_env();
    let mut chains: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .expect("examples/ exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "gal"))
        .collect();
    chains.sort();
    assert!(!chains.is_empty(), "no .gal files in examples/");
    let mut failures = Vec::new();
    for path in &chains {
        let checked = check_chain(path, &options).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        if checked.diagnostics.iter().any(|d| d.is_error()) || checked.chain.is_none() {
            failures.push(format!("{}:\n{}", path.display(), render_diagnostics(&checked.files, &checked.diagnostics)));
        }
    }
    assert!(failures.is_empty(), "example chains with errors:\n\n{}", failures.join("\n"));
}

#[test]
fn the_language_reference_lists_every_diagnostic_code_in_order() {
    let path = root().join("docs/language.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    let rows: Vec<&str> = text.lines().filter(|line| line.starts_with("| `")).collect();
    let mut last = 0;
    for (code, explanation) in CODES {
        let cell = format!("| `{code}` |");
        let Some(index) = rows.iter().position(|row| row.starts_with(&cell)) else {
            panic!("docs/language.md has no table row for {code}; add `{cell} {explanation} |` under ## Diagnostics");
        };
        assert!(rows[index].contains(explanation), "the row of {code} in docs/language.md does not say: {explanation}");
        assert!(index >= last, "{code} is out of order in docs/language.md; keep the order of galettec/src/codes.rs");
        last = index;
    }
}

#[test]
fn block_extraction_finds_both_kinds_and_skips_others() {
    let markdown = "text\n```gal\nchain a\n```\n```rust\nfn x() {}\n```\n````gal,syntax\nchain b\n```\nstill b\n````\n```text\nchain c\n```\n";
    let blocks = gal_blocks(Path::new("x.md"), markdown);
    let found: Vec<(Kind, &str, usize, usize)> =
        blocks.iter().map(|b| (b.kind, b.text.as_str(), b.number, b.line)).collect();
    assert_eq!(found, [(Kind::Checked, "chain a\n", 1, 2), (Kind::Syntax, "chain b\n```\nstill b\n", 2, 8)]);
}
