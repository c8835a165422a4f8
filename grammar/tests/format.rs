//! `format`: the canonical layout of a `.gal` file.
//!
//! For every chain of the repository (examples/, tests/, the editors' test
//! files, the ```gal blocks of the docs) and for random chains with random
//! layouts and comments: the formatted text parses to the same tree (spans
//! aside), holds the same comments in the same order, and formats to
//! itself. Then small cases with the exact expected output.

use std::path::{Path, PathBuf};

use galette_grammar::ast::{ChainFile, Destination, Item, LinkTarget, NfSource};
use galette_grammar::{FormatError, format, parse};
use galette_test_support::Rng;

// ---------------------------------------------------------------------------
// The invariants.

/// A chain without spans: what it says, in a form two trees can be compared
/// by. Written independently of the formatter's own check.
fn meaning(chain: &ChainFile) -> Vec<String> {
    let destination = |d: &Destination| format!("{}{}", if d.upcall { "!" } else { "" }, d.name.name);
    let mut out = vec![format!("chain {}", chain.name.as_ref().map_or("", |name| name.name.as_str()))];
    for item in &chain.items {
        out.push(match item {
            Item::Iface(iface) => format!("iface {}", iface.name.name),
            Item::Map(map) => {
                // `None` for `array<V>`: the form written is part of the meaning.
                let key = map.key.as_ref().map(|key| key.name.as_str());
                format!("map {} {} {key:?} {} {:?}", map.name.name, map.kind.name, map.value.name, map.capacity.value)
            }
            Item::Nf(nf) => {
                let source = match &nf.source {
                    NfSource::Std { name, .. } => format!("std {}", name.name),
                    NfSource::Path { path, .. } => format!("path {path:?}"),
                };
                let bindings: Vec<String> =
                    nf.bindings.iter().map(|b| format!("{}={}", b.field.name, b.map.name)).collect();
                let attributes: Vec<&str> = nf.attributes.iter().map(|a| a.name.as_str()).collect();
                format!("nf {} {source} {bindings:?} {attributes:?}", nf.name.name)
            }
            Item::Broken(broken) => format!("broken {:?}", broken.shape),
            Item::Link(link) => {
                let port = link.from.port.as_ref().map(|p| p.name.as_str());
                let to = match &link.to {
                    LinkTarget::Single(d) => destination(d),
                    LinkTarget::FanOut(routes) => {
                        let routes: Vec<String> =
                            routes.iter().map(|r| format!("{}:{}", r.port.name, destination(&r.destination))).collect();
                        format!("{routes:?}")
                    }
                };
                format!("link {} {port:?} {to}", link.from.node.name)
            }
        });
    }
    out
}

/// The comments of a `.gal` text in order, each line without trailing
/// whitespace (the formatter's only change to a comment).
fn comments(text: &str) -> Vec<String> {
    scan_comments(text).0
}

/// The text with each comment replaced by `#`, to look at the layout.
fn without_comments(text: &str) -> String {
    scan_comments(text).1
}

/// A small scanner of its own: strings (no escapes, one line), `//` to the
/// end of the line, `/*` to the first `*/`. Returns the comments and the
/// text without them.
fn scan_comments(text: &str) -> (Vec<String>, String) {
    let mut found = Vec::new();
    let mut code = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(['"', '/']) {
        code.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (end, comment) = if let Some(string) = tail.strip_prefix('"') {
            (string.find(['"', '\n']).map_or(tail.len(), |i| i + 2), false)
        } else if tail.starts_with("//") {
            (tail.find('\n').unwrap_or(tail.len()), true)
        } else if let Some(block) = tail.strip_prefix("/*") {
            (block.find("*/").map_or(tail.len(), |i| i + 4), true)
        } else {
            (1, false)
        };
        if comment {
            found.push(tail[..end].split('\n').map(str::trim_end).collect::<Vec<_>>().join("\n"));
            code.push('#');
        } else {
            code.push_str(&tail[..end]);
        }
        rest = &tail[end..];
    }
    code.push_str(rest);
    (found, code)
}

/// What is wrong with formatting `source`, if anything: a panic is a
/// failure of the test itself.
fn problem(source: &str) -> Option<String> {
    let parsed = parse(source, 0).into_result();
    let formatted = format(source, 0);
    let (chain, formatted) = match (parsed, formatted) {
        (Err(diagnostics), Err(FormatError::Syntax(reported))) if diagnostics == reported => return None,
        (Err(_), other) => return Some(format!("a file that does not parse gave {other:?}")),
        (Ok(_), Err(error)) => return Some(format!("a file that parses was not formatted: {error:?}")),
        (Ok(chain), Ok(formatted)) => (chain, formatted),
    };
    let Ok(reparsed) = parse(&formatted, 0).into_result() else {
        return Some(format!("the result does not parse:\n{formatted}"));
    };
    if meaning(&reparsed) != meaning(&chain) {
        return Some(format!("the result means something else:\n{formatted}"));
    }
    if comments(&formatted) != comments(source) {
        return Some(format!(
            "the result lost or changed comments: {:?} became {:?}",
            comments(source),
            comments(&formatted)
        ));
    }
    match format(&formatted, 0) {
        Ok(again) if again == formatted => {}
        Ok(again) => return Some(format!("formatting twice changes the text:\n{formatted}---\n{again}")),
        Err(error) => return Some(format!("the result does not format: {error:?}")),
    }
    let layout_problem = formatted.lines().find(|line| line.ends_with([' ', '\t']) || line.contains('\r'));
    if let Some(line) = layout_problem {
        return Some(format!("a line with trailing whitespace or a carriage return: {line:?}"));
    }
    let layout = without_comments(&formatted);
    if !layout.ends_with('\n') || layout.ends_with("\n\n") || layout.contains("\n\n\n") || layout.starts_with('\n') {
        return Some(format!("blank lines at the ends or in a run, or no final newline:\n{formatted:?}"));
    }
    None
}

// ---------------------------------------------------------------------------
// The repository's chains.

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("grammar/ lives in the workspace").to_owned()
}

/// Every `.gal` file under `dir`, recursively.
fn gal_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for path in entries.filter_map(|entry| entry.ok().map(|entry| entry.path())) {
        if path.is_dir() {
            gal_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "gal") {
            found.push(path);
        }
    }
}

/// The ```gal and ```gal,syntax blocks of a Markdown text.
fn gal_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if matches!(line.trim(), "```gal" | "```gal,syntax") => current = Some(String::new()),
            None => {}
            Some(_) if line.trim() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    blocks
}

/// `(where, text)` for every chain of the repository.
fn corpus() -> Vec<(String, String)> {
    let root = root();
    let mut files = Vec::new();
    for dir in ["examples", "tests", "editors"] {
        gal_files(&root.join(dir), &mut files);
    }
    files.sort();
    let mut chains: Vec<(String, String)> = files
        .iter()
        // A file that is not UTF-8 (a diagnostics case) is not a chain to format.
        .filter_map(|path| Some((path.display().to_string(), std::fs::read_to_string(path).ok()?)))
        .collect();
    for doc in ["docs/language.md", "README.md", "editors/README.md"] {
        let markdown = std::fs::read_to_string(root.join(doc)).unwrap_or_default();
        for (index, block) in gal_blocks(&markdown).into_iter().enumerate() {
            chains.push((format!("{doc}, gal block {}", index + 1), block));
        }
    }
    chains
}

#[test]
fn formatting_the_repository_chains_keeps_their_meaning_and_comments() {
    let corpus = corpus();
    let parsing = corpus.iter().filter(|(_, text)| parse(text, 0).into_result().is_ok()).count();
    assert!(parsing >= 60, "only {parsing} chains of {} parse; is the corpus there?", corpus.len());
    assert!(corpus.iter().any(|(name, _)| name.starts_with("docs/language.md")), "no gal block in docs/language.md");
    let problems: Vec<String> =
        corpus.iter().filter_map(|(name, text)| problem(text).map(|problem| format!("{name}: {problem}"))).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn a_file_with_syntax_errors_gives_the_parse_diagnostics() {
    let corpus = corpus();
    let broken: Vec<&(String, String)> =
        corpus.iter().filter(|(_, text)| parse(text, 0).into_result().is_err()).collect();
    assert!(broken.len() >= 8, "the diagnostics fixtures should include syntax errors");
    for (name, text) in broken {
        let Err(FormatError::Syntax(diagnostics)) = format(text, 3) else {
            panic!("{name} formatted despite its errors")
        };
        assert_eq!(diagnostics, parse(text, 3).diagnostics, "{name}");
    }
}

/// The style was taken from these: they are written the canonical way.
#[test]
fn the_examples_are_already_canonical() {
    let examples =
        ["macswap", "ipv4_reflector", "counted_reflector", "filtered_router", "upcall_reflector", "bump_in_the_wire"];
    for name in examples {
        let path = root().join("examples").join(format!("{name}.gal"));
        let text = std::fs::read_to_string(&path).expect("the example exists");
        assert_eq!(format(&text, 0).as_deref(), Ok(text.as_str()), "{}", path.display());
    }
}

/// The example of "Formatting" in the language reference: its ```text
/// block formats to the ```gal block after it.
#[test]
fn the_reference_shows_what_fmt_does() {
    let reference = std::fs::read_to_string(root().join("docs/language.md")).expect("docs/language.md");
    let section = reference.split("\n## Formatting\n").nth(1).expect("a Formatting section");
    let block = |fence: &str| {
        let start = section.find(fence).unwrap_or_else(|| panic!("no {fence} block in Formatting")) + fence.len();
        let end = section[start..].find("\n```\n").expect("a closed block") + start + 1;
        section[start..end].to_owned()
    };
    assert_eq!(format(&block("```text\n"), 0), Ok(block("```gal\n")));
}

// ---------------------------------------------------------------------------
// Exact outputs.

/// `input` formats to `expected`, which is canonical itself.
#[track_caller]
fn check(input: &str, expected: &str) {
    let formatted = format(input, 0).unwrap_or_else(|error| panic!("{input:?} does not format: {error:?}"));
    assert_eq!(formatted, expected, "\n--- got:\n{formatted}--- expected:\n{expected}");
    assert_eq!(format(expected, 0).as_deref(), Ok(expected), "the expected output is not canonical");
    assert_eq!(problem(input), None);
}

#[test]
fn spaces_between_tokens_are_canonical() {
    check(
        "chain   c\nmap m :hash < u32 ,u64 > [ 1_024 ]\nnf a=std . x{f:m,}@ xdp\nrx->a\na . out->! b\n",
        "chain c\nmap m: hash<u32, u64>[1_024]\nnf a = std.x { f: m } @xdp\nrx -> a\na.out -> !b\n",
    );
}

#[test]
fn tabs_form_feeds_and_trailing_spaces_go() {
    check("chain c \t\n\x0c\trx\t->\tdrop   \n", "chain c\nrx -> drop\n");
}

#[test]
fn crlf_line_endings_become_lf() {
    check("chain c\r\n\r\n// note\r\nrx -> drop // end\r\n", "chain c\n\n// note\nrx -> drop // end\n");
}

#[test]
fn the_byte_order_mark_is_dropped() {
    check("\u{feff}chain c\nrx -> drop\n", "chain c\nrx -> drop\n");
}

#[test]
fn one_newline_ends_the_file() {
    check("chain c\nrx -> drop", "chain c\nrx -> drop\n");
    check("\n\n\nchain c\nrx -> drop\n\n\n\n", "chain c\nrx -> drop\n");
}

#[test]
fn runs_of_blank_lines_become_one() {
    check("chain c\n\n\n\niface a\n \n\t\n\nrx -> drop\n", "chain c\n\niface a\n\nrx -> drop\n");
}

#[test]
fn one_statement_per_line() {
    check("chain c nf a = std.x nf b = std.y\nrx -> a\n", "chain c\nnf a = std.x\nnf b = std.y\nrx -> a\n");
}

#[test]
fn statements_over_several_lines_are_joined() {
    check(
        "chain c\nnf ip =\n    \"nfs/ip\"\n    @xdp\nnf swap\n    = std.macswap\nrx\n    -> ip\nswap\n    .out -> tx\n",
        "chain c\nnf ip   = \"nfs/ip\" @xdp\nnf swap = std.macswap\nrx -> ip\nswap.out -> tx\n",
    );
}

#[test]
fn a_block_written_on_one_line_stays_on_one_line() {
    check("chain c\nip -> {ipv4:swap,other:pass,}\n", "chain c\nip -> { ipv4: swap, other: pass }\n");
    check("chain c\nip -> { ipv4: swap,\n    other: pass }\n", "chain c\nip -> { ipv4: swap, other: pass }\n");
}

#[test]
fn a_block_written_with_a_line_break_after_the_brace_has_one_entry_per_line() {
    check(
        "chain c\nip -> {\n  ipv4: swap, other: pass }\nnf n = std.x {\nf: m}\n",
        "chain c\nip -> {\n    ipv4: swap,\n    other: pass,\n}\nnf n = std.x {\n    f: m,\n}\n",
    );
}

#[test]
fn blank_lines_between_entries_stay() {
    check(
        "chain c\nip -> {\n\n    ipv4: swap,\n\n\n    other: pass,\n\n}\n",
        "chain c\nip -> {\n    ipv4: swap,\n\n    other: pass,\n}\n",
    );
}

#[test]
fn a_block_too_wide_for_one_line_has_one_entry_per_line() {
    let routes: Vec<String> = (0..8).map(|i| format!("port_number_{i}: drop")).collect();
    let input = format!("chain c\nnf_with_ports -> {{ {} }}\n", routes.join(", "));
    let expected = format!(
        "chain c\nnf_with_ports -> {{\n{}}}\n",
        routes.iter().map(|r| format!("    {r},\n")).collect::<String>()
    );
    check(&input, &expected);
    let fits = "chain c\nclassifier -> { benign: tx, suspicious: !dpi, malicious: drop, other: pass, more: drop }\n";
    check(fits, fits);
}

#[test]
fn an_empty_block_is_two_braces() {
    check("chain c\nnf a = std.x {  }\nrx -> {\n}\n", "chain c\nnf a = std.x {}\nrx -> {}\n");
}

#[test]
fn nf_declarations_on_consecutive_lines_line_up() {
    check(
        "chain c\nnf acl = std.acl { v4: a }\nnf ttl = std.ttl\nnf sample = std.sampler { config: s } @xdp\nnf ip = \"nfs/ip\" @userland\n\nnf x = std.x\n",
        "chain c\nnf acl    = std.acl     { v4: a }\nnf ttl    = std.ttl\nnf sample = std.sampler { config: s } @xdp\nnf ip     = \"nfs/ip\" @userland\n\nnf x = std.x\n",
    );
}

#[test]
fn map_kinds_on_consecutive_lines_line_up() {
    check(
        "chain c\nmap a: array<u32, u64>[1]\nmap long_name: hash<u32, u64>[2] // trailing\nmap b: hash<u32, u64>[3]\n// own line\nmap cc: hash<u32, u64>[4]\nmap d: hash<u32, u64>[5]\n",
        "chain c\nmap a:         array<u32, u64>[1]\nmap long_name: hash<u32, u64>[2] // trailing\nmap b:         hash<u32, u64>[3]\n// own line\nmap cc: hash<u32, u64>[4]\nmap d:  hash<u32, u64>[5]\n",
    );
}

#[test]
fn another_statement_or_a_multiline_declaration_ends_a_run() {
    check(
        "chain c\nnf a = std.x\nnf bbb = std.y {\n    f: m,\n}\nnf cc = std.z\niface i\nnf dddd = std.w\n",
        "chain c\nnf a = std.x\nnf bbb = std.y {\n    f: m,\n}\nnf cc = std.z\niface i\nnf dddd = std.w\n",
    );
}

#[test]
fn comments_on_their_own_lines_stay_there() {
    check(
        "// head\n\n  // more\nchain c\n    // before a\nrx -> a\n\n\n/* block */\n// last",
        "// head\n\n// more\nchain c\n// before a\nrx -> a\n\n/* block */\n// last\n",
    );
}

#[test]
fn comments_ending_consecutive_lines_line_up() {
    check(
        "chain c // the chain\nnf ip = \"nfs/ip\"  // a crate\nnf swap = std.macswap   // from the stdlib\n\nrx -> ip    // in\nip -> { ipv4: swap, other: pass }\nswap -> tx /* out */\n",
        "chain c               // the chain\nnf ip   = \"nfs/ip\"    // a crate\nnf swap = std.macswap // from the stdlib\n\nrx -> ip // in\nip -> { ipv4: swap, other: pass }\nswap -> tx /* out */\n",
    );
}

#[test]
fn comments_inside_a_block_keep_their_lines() {
    check(
        "chain c\nip -> { // routes\n  // IPv4\n  ipv4:  swap,   // go on\n  other: pass   /* the rest */\n  // nothing after\n}\n",
        "chain c\nip -> { // routes\n    // IPv4\n    ipv4: swap,  // go on\n    other: pass, /* the rest */\n    // nothing after\n}\n",
    );
}

#[test]
fn a_line_comment_in_a_block_breaks_it_into_lines() {
    check(
        "chain c\nnf n = std.x { a: m, // why\n b: m }\n",
        "chain c\nnf n = std.x {\n    a: m, // why\n    b: m,\n}\n",
    );
}

#[test]
fn an_inline_block_comment_keeps_a_block_on_one_line() {
    check(
        "chain c\nip -> {ipv4:/* fast */swap,other:pass/* slow */,}\n",
        "chain c\nip -> { ipv4: /* fast */ swap, other: pass /* slow */ }\n",
    );
}

#[test]
fn comments_inside_a_declaration_stay_between_the_same_tokens() {
    check(
        "chain c\nmap m: /* kind */ hash<u32, /* value */ u64>[1]\nnf a = // source next\n  std.x @xdp\nnf b = std.y\n// attribute next\n@userland\n",
        "chain c\nmap m: /* kind */ hash<u32, /* value */ u64>[1]\nnf a = // source next\n    std.x @xdp\nnf b = std.y\n    // attribute next\n    @userland\n",
    );
}

#[test]
fn a_comment_in_the_middle_of_an_entry_indents_the_rest() {
    check(
        "chain c\nip -> {\n    ipv4: // fast\n    swap,\n}\n",
        "chain c\nip -> {\n    ipv4: // fast\n        swap,\n}\n",
    );
}

#[test]
fn block_comments_over_several_lines_keep_their_later_lines() {
    check(
        "/* a\n   b   \n   c */ chain c\nrx -> /* in\n  between */ drop\n",
        "/* a\n   b\n   c */\nchain c\nrx -> /* in\n  between */ drop\n",
    );
}

#[test]
fn comments_in_the_header_stay() {
    check("chain /* name */ c // end\nrx -> drop\n", "chain /* name */ c // end\nrx -> drop\n");
}

#[test]
fn the_layout_example_of_the_reference_is_tidied() {
    let reference = "chain layout\n\nnf ip =                     // `=` asks for more\n    \"nfs/ipv4_only\"\n    @xdp                    // `@` cannot start a statement\nnf swap\n    = std.macswap           // neither can `=`\n\nrx\n    -> ip                   // nor `->`\nip -> {                     // `{` asks for more, and inside the braces\n    ipv4: swap,             // lines may start with names\n    other: drop\n}\nswap\n    .out -> tx              // `.` cannot start a statement\n";
    check(
        reference,
        "chain layout\n\nnf ip =                  // `=` asks for more\n    \"nfs/ipv4_only\" @xdp // `@` cannot start a statement\nnf swap = std.macswap    // neither can `=`\n\nrx -> ip        // nor `->`\nip -> {         // `{` asks for more, and inside the braces\n    ipv4: swap, // lines may start with names\n    other: drop,\n}\nswap.out -> tx // `.` cannot start a statement\n",
    );
}

#[test]
fn a_file_that_does_not_parse_is_not_formatted() {
    for broken in [
        "",
        "// only a comment\n",
        "chain c\nrx -> -> drop\n",
        "chain c\nnf a = \"x\nrx -> a\n",
        "chain c /* open",
        "chain c\n$",
    ] {
        let Err(FormatError::Syntax(diagnostics)) = format(broken, 5) else { panic!("{broken:?} formatted") };
        assert!(!diagnostics.is_empty() && diagnostics.iter().all(|d| d.primary.file == 5), "{broken:?}");
    }
}

// ---------------------------------------------------------------------------
// Random chains: valid ones with random layout and comments, and mangled
// ones, which must give an error or a good result, never a panic.

const NAMES: &[&str] =
    &["a", "bb", "swap", "acl_v4", "lan", "x_1", "std", "out", "Ipv4Prefix", "a_much_longer_name_than_usual"];
const SPACES: &[&str] = &[" ", "\t", "   ", "/* c */", " /**/ ", "/* é */", " /* ** */ "];
const BREAKS: &[&str] =
    &["\n", "\r\n", "\n\n\n  ", " // note é \n", "/* a\n   b */", "\n// x\n\t", "\n\r\n", "\u{feff}\n"];

/// Writes a chain token by token, choosing the text between tokens as the
/// statement splitter allows: a line break before a name outside braces
/// ends the statement unless the previous token asks for more.
struct ChainWriter<'r> {
    rng: &'r mut Rng,
    out: String,
    depth: usize,
    previous: &'static str,
}

impl ChainWriter<'_> {
    fn token(&mut self, text: &'static str) {
        self.put(text, false);
    }

    fn put(&mut self, text: &'static str, starts_statement: bool) {
        let is_word = text.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        let keyword = ["chain", "map", "nf", "iface"].contains(&text);
        let asks_for_more = ["->", "=", ":", ",", ".", "<", "[", "{", "!", "@"].contains(&self.previous);
        let may_break = !(is_word && (keyword || self.depth == 0) && !asks_for_more);
        let separator = if self.out.is_empty() {
            if self.rng.chance(20) { self.rng.pick(BREAKS) } else { "" }
        } else if starts_statement || (may_break && self.rng.chance(25)) {
            self.rng.pick(BREAKS)
        } else if self.rng.chance(30)
            && !(is_word && self.previous.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
        {
            ""
        } else {
            self.rng.pick(SPACES)
        };
        self.out.push_str(separator);
        self.out.push_str(text);
        match text {
            "{" | "[" => self.depth += 1,
            "}" | "]" => self.depth -= 1,
            _ => {}
        }
        self.previous = text;
    }

    fn name(&mut self) {
        let name = self.rng.pick(NAMES);
        self.token(name);
    }

    fn list(&mut self, mut entry: impl FnMut(&mut Self)) {
        self.token("{");
        let count = self.rng.below(5);
        for index in 0..count {
            entry(self);
            if index + 1 < count || self.rng.chance(50) {
                self.token(",");
            }
        }
        self.token("}");
    }
}

fn random_chain(rng: &mut Rng) -> String {
    let mut w = ChainWriter { rng, out: String::new(), depth: 0, previous: "" };
    w.put("chain", true);
    w.name();
    for _ in 0..w.rng.below(14) {
        match w.rng.below(4) {
            0 => {
                w.put("iface", true);
                w.name();
            }
            1 => {
                w.put("map", true);
                w.name();
                // Both forms of a map type: with a key, and an array's
                // value alone.
                let map_type: &[&'static str] = if w.rng.chance(25) {
                    &[":", "array", "<", "u64", ">", "["]
                } else {
                    &[":", "hash", "<", "u32", ",", "u64", ">", "["]
                };
                for &text in map_type {
                    w.token(text);
                }
                let capacity = w.rng.pick(&["1", "65_536", "99999999999999999999"]);
                w.token(capacity);
                w.token("]");
            }
            2 => {
                w.put("nf", true);
                w.name();
                w.token("=");
                if w.rng.chance(50) {
                    w.token("std");
                    w.token(".");
                    w.name();
                } else {
                    let path = w.rng.pick(&["\"nfs/x\"", "\"\"", "\"é/🦀\"", "\"a /* not */ b\"", "\"// not\""]);
                    w.token(path);
                }
                if w.rng.chance(50) {
                    w.list(|w| {
                        w.name();
                        w.token(":");
                        w.name();
                    });
                }
                for _ in 0..w.rng.below(3) {
                    w.token("@");
                    w.name();
                }
            }
            _ => {
                let first = w.rng.pick(NAMES);
                w.put(first, true);
                if w.rng.chance(40) {
                    w.token(".");
                    w.name();
                }
                w.token("->");
                let destination = |w: &mut ChainWriter<'_>| {
                    if w.rng.chance(30) {
                        w.token("!");
                    }
                    w.name();
                };
                if w.rng.chance(40) {
                    w.list(|w| {
                        w.name();
                        w.token(":");
                        destination(w);
                    });
                } else {
                    destination(&mut w);
                }
            }
        }
    }
    if w.rng.chance(40) {
        let tail = w.rng.pick(BREAKS);
        w.out.push_str(tail);
    }
    w.out
}

/// Deletes, duplicates or inserts a little text.
fn mangle(rng: &mut Rng, text: &str) -> String {
    let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    let a = rng.pick(&cuts);
    let b = rng.pick(&cuts);
    let (a, b) = (a.min(b), a.max(b));
    match rng.below(3) {
        0 => format!("{}{}", &text[..a], &text[b..]),
        1 => format!("{}{}", &text[..b], &text[a..]),
        _ => format!(
            "{}{}{}",
            &text[..a],
            rng.pick(&["{", "}", ",", "//", "/*", "*/", "\n", "->", "\"", "@", "é"]),
            &text[a..]
        ),
    }
}

#[test]
fn random_layouts_format_to_the_same_chain() {
    let mut rng = Rng::new(0x5EED_F0F0);
    let mut problems = Vec::new();
    let mut valid = 0;
    for case in 0..3000 {
        let source = random_chain(&mut rng);
        valid += usize::from(parse(&source, 0).into_result().is_ok());
        if let Some(problem) = problem(&source) {
            problems.push(format!("case {case}: {source:?}\n{problem}"));
        }
        let mangled = mangle(&mut rng, &source);
        if let Some(problem) = problem(&mangled) {
            problems.push(format!("case {case}, mangled: {mangled:?}\n{problem}"));
        }
        if problems.len() >= 5 {
            break;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert!(valid > 2500, "the generator should write valid chains: {valid} of 3000");
}
