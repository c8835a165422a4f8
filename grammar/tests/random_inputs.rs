//! Random inputs for the parser, generated deterministically (the seeded
//! SplitMix64 of `galette-test-support`, no `rand`): token soups, mutations
//! of the example chains, and syntactically valid chains with random layout.
//!
//! The front end's promise is that `parse` never panics, and that every
//! diagnostic it returns points at text of the file it was given: spans
//! inside the source and on char boundaries. A failure is shrunk to a
//! minimal input before it is reported.

use std::path::Path;

use galette_grammar::ast::{ChainFile, Destination, Ident, Item, LinkTarget, NfSource};
use galette_grammar::{Diagnostic, Label, Span, parse};
use galette_test_support::{Findings, Rng, cases, catch_quietly, seed};

/// The file id handed to `parse`; not 0, so a diagnostic that forgets it shows.
const FILE: usize = 7;

// ---------------------------------------------------------------------------
// The invariants.

/// What is wrong with `parse(source)`, if anything.
fn problem(source: &str) -> Option<String> {
    let parsed = match catch_quietly(|| parse(source, FILE)) {
        Err(panic) => return Some(format!("panic {panic}")),
        Ok(parsed) => parsed,
    };
    if !parsed.chain.is_complete() && parsed.diagnostics.is_empty() {
        return Some("an incomplete tree and no diagnostics".to_owned());
    }
    tree_problem(source, &parsed.chain)
        .or_else(|| parsed.diagnostics.iter().find_map(|d| diagnostic_problem(source, d)))
}

fn span_problem(source: &str, span: Span, what: &str) -> Option<String> {
    if span.start > span.end || span.end > source.len() {
        return Some(format!("span out of bounds: {what} | at {}..{} in {} bytes", span.start, span.end, source.len()));
    }
    if !source.is_char_boundary(span.start) || !source.is_char_boundary(span.end) {
        return Some(format!("span not on a char boundary: {what} | at {}..{}", span.start, span.end));
    }
    None
}

fn diagnostic_problem(source: &str, diagnostic: &Diagnostic) -> Option<String> {
    let code = diagnostic.code;
    if code.is_empty() || diagnostic.message.is_empty() {
        return Some(format!("diagnostic without a code or message | {diagnostic:?}"));
    }
    let labels = std::iter::once(&diagnostic.primary).chain(&diagnostic.secondary);
    labels.enumerate().find_map(|(index, label): (usize, &Label)| {
        let what = if index == 0 { format!("{code} primary label") } else { format!("{code} secondary label") };
        if label.file != FILE {
            return Some(format!("{what} points into the wrong file | file {} instead of {FILE}", label.file));
        }
        span_problem(source, label.span, &what)
    })
}

/// Every node's span lies in the source, and every name's span is its text.
fn tree_problem(source: &str, tree: &ChainFile) -> Option<String> {
    let mut spans: Vec<(Span, &str)> = Vec::new();
    let mut idents: Vec<&Ident> = tree.name.iter().collect();
    for item in &tree.items {
        match item {
            Item::Iface(iface) => {
                spans.push((iface.span, "iface"));
                idents.push(&iface.name);
            }
            Item::Map(map) => {
                spans.push((map.span, "map"));
                spans.push((map.capacity.span, "capacity"));
                // `array<V>` has no key written.
                idents.extend([&map.name, &map.kind, &map.value].into_iter().chain(&map.key));
            }
            Item::Nf(nf) => {
                spans.push((nf.span, "nf"));
                spans.push((nf.source.span(), "nf source"));
                idents.push(&nf.name);
                if let NfSource::Std { name, .. } = &nf.source {
                    idents.push(name);
                }
                for binding in &nf.bindings {
                    idents.extend([&binding.field, &binding.map]);
                }
                idents.extend(&nf.attributes);
            }
            Item::Broken(broken) => {
                spans.push((broken.span, "broken statement"));
                idents.extend(&broken.names);
            }
            Item::Link(link) => {
                spans.push((link.span, "link"));
                spans.push((link.from.span, "endpoint"));
                idents.push(&link.from.node);
                idents.extend(&link.from.port);
                let destinations: Vec<&Destination> = match &link.to {
                    LinkTarget::Single(d) => vec![d],
                    LinkTarget::FanOut(routes) => {
                        idents.extend(routes.iter().map(|r| &r.port));
                        routes.iter().map(|r| &r.destination).collect()
                    }
                };
                for d in destinations {
                    spans.push((d.span, "destination"));
                    idents.push(&d.name);
                }
            }
        }
    }
    for ident in &idents {
        if let Some(problem) = span_problem(source, ident.span, "name") {
            return Some(problem);
        }
        if source[ident.span.start..ident.span.end] != ident.name {
            return Some(format!(
                "a name's span is not its text | `{}` covers {:?}",
                ident.name,
                &source[ident.span.start..ident.span.end]
            ));
        }
    }
    spans.into_iter().find_map(|(span, what)| span_problem(source, span, what))
}

// ---------------------------------------------------------------------------
// Inputs.

/// The example chains, `(file name, text)`.
fn examples() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut found: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("examples/ is readable")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension()? != "gal" {
                return None;
            }
            Some((path.file_name()?.to_string_lossy().into_owned(), std::fs::read_to_string(&path).ok()?))
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no examples/*.gal found in {}", dir.display());
    found
}

/// Valid chains besides the examples: every construct of the language.
const VALID: &[&str] = &[
    "chain macswap\nnf swap = std.macswap\nrx -> swap\nswap -> tx\n",
    r#"chain s
        iface lan
        map allow: lpm_trie<Ipv4Prefix, u8>[65_536]
        nf acl = std.acl { allow: allow, } @xdp
        nf dpi = "nfs/dpi"
            @userland
        rx.lan -> acl
        acl -> {
            allowed: !dpi,
            denied: drop,
        }
        dpi.clean
            -> lan
    "#,
    "/* é 日本 🦀 */ chain e_free // comment é\nnf a = \"nfs/é日本🦀\" {}\nrx -> { } \n",
];

/// Every kind of token the lexer knows, and near misses.
const TOKENS: &[&str] = &[
    "chain",
    "map",
    "nf",
    "iface",
    "rx",
    "tx",
    "pass",
    "drop",
    "abort",
    "std",
    "macswap",
    "a",
    "b",
    "swap",
    "lan",
    "_x",
    "x1",
    "chains",
    "u32",
    "hash",
    "lpm_trie",
    "xdp",
    "userland",
    "0",
    "1",
    "65_536",
    "18446744073709551616",
    "0_",
    "\"nfs/x\"",
    "\"\"",
    "\"unclosed",
    "\"",
    "\"é",
    "->",
    "=",
    ":",
    ",",
    ".",
    "{",
    "}",
    "<",
    ">",
    "[",
    "]",
    "@",
    "!",
    "-",
    "/",
    "*",
    "// comment\n",
    "// é",
    "//",
    "/* block */",
    "/* unclosed",
    "/* é",
    "/**/",
    "/*/",
    "/* a\n b */",
    "/** x **/",
    "*/",
];

const SPACES: &[&str] = &[" ", "\n", "\t", "\r\n", "  ", "\x0c", "", "\n\n", "\r"];

/// Characters that are not part of the language.
const GARBAGE: &[&str] = &[
    "é",
    "日本",
    "🦀",
    "\0",
    "\u{feff}",
    "$",
    "#",
    "\\",
    "'",
    "`",
    "\u{301}",
    "\u{2028}",
    "\u{a0}",
    "ÿ",
    "\u{10ffff}",
    "?",
    "%",
    "\u{fffd}",
    "\u{7f}",
    "\u{1b}",
    "ｃｈａｉｎ",
];

fn piece(rng: &mut Rng) -> &'static str {
    match rng.below(10) {
        0..=6 => rng.pick(TOKENS),
        7 | 8 => rng.pick(SPACES),
        _ => rng.pick(GARBAGE),
    }
}

fn token_soup(rng: &mut Rng) -> String {
    let mut out = String::new();
    if rng.chance(50) {
        out.push_str("chain c\n");
    }
    for _ in 0..rng.below(60) {
        out.push_str(piece(rng));
        if rng.chance(60) {
            out.push_str(rng.pick(SPACES));
        }
    }
    out
}

/// The char boundaries of `s`, `0` and `s.len()` included.
fn boundaries(s: &str) -> Vec<usize> {
    s.char_indices().map(|(i, _)| i).chain([s.len()]).collect()
}

/// A random range `a..b` of `s` on char boundaries.
fn range(rng: &mut Rng, s: &str) -> (usize, usize) {
    let b = boundaries(s);
    let start = rng.below(b.len());
    let len = if rng.chance(70) { rng.below(8) } else { rng.below(b.len()) };
    (b[start], b[(start + len).min(b.len() - 1)])
}

fn position(rng: &mut Rng, s: &str) -> usize {
    rng.pick(&boundaries(s))
}

/// Applies one random edit to `s`; `others` are sources to borrow text from.
fn mutate(rng: &mut Rng, s: &str, others: &[String]) -> String {
    match rng.below(9) {
        0 => {
            let (a, b) = range(rng, s);
            format!("{}{}", &s[..a], &s[b..])
        }
        1 => {
            let (a, b) = range(rng, s);
            format!("{}{}", &s[..b], &s[a..])
        }
        2 => {
            // Swaps two ranges.
            let (a, b) = range(rng, s);
            let (c, d) = range(rng, s);
            let ((a, b), (c, d)) = if a <= c { ((a, b), (c, d)) } else { ((c, d), (a, b)) };
            if b > c {
                return s.to_owned();
            }
            format!("{}{}{}{}{}", &s[..a], &s[c..d], &s[b..c], &s[a..b], &s[d..])
        }
        3 | 4 => {
            let at = position(rng, s);
            format!("{}{}{}", &s[..at], piece(rng), &s[at..])
        }
        5 => {
            let other = &others[rng.below(others.len())];
            let (a, b) = range(rng, other);
            let at = position(rng, s);
            format!("{}{}{}", &s[..at], &other[a..b], &s[at..])
        }
        6 => s[..position(rng, s)].to_owned(),
        7 => {
            // A random byte, read back lossily.
            let mut bytes = s.as_bytes().to_vec();
            if !bytes.is_empty() {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next_u64() as u8;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => {
            // Replaces a range with a token.
            let (a, b) = range(rng, s);
            format!("{}{}{}", &s[..a], rng.pick(TOKENS), &s[b..])
        }
    }
}

// ---------------------------------------------------------------------------
// Syntactically valid chains with a random layout.

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Keyword,
    Name,
    Other,
}

/// Builds a chain token by token, choosing the space between tokens the way
/// the statement splitter allows: a newline before a name at depth 0 ends
/// the statement unless the previous token asks for more.
struct Writer<'r> {
    rng: &'r mut Rng,
    out: String,
    depth: usize,
    previous: Option<&'static str>,
}

const NAMES: &[&str] =
    &["a", "b", "c", "swap", "acl", "lan", "wan", "x_1", "_", "Ipv4Prefix", "u8", "std", "out", "ip", "zzz"];
const SEPARATORS: &[&str] = &[" ", "\t", "  ", "/* c */", "/**/", "/* é */", " /* ** */ "];
const LINE_BREAKS: &[&str] = &["\n", "\r\n", "\n\n  ", " // note é\n", "/* a\nb */", "\n// x\n\t"];

impl Writer<'_> {
    fn token(&mut self, text: &str, kind: Kind) {
        self.token_at(text, kind, false);
    }

    fn statement_start(&mut self, text: &str) {
        self.token_at(
            text,
            if text == "chain" || text == "map" || text == "nf" || text == "iface" {
                Kind::Keyword
            } else {
                Kind::Name
            },
            true,
        );
    }

    fn token_at(&mut self, text: &str, kind: Kind, starts_statement: bool) {
        if let Some(previous) = self.previous {
            let asks_for_more = ["->", "=", ":", ",", ".", "<", "[", "{", "!", "@"].contains(&previous);
            let newline_splits = kind != Kind::Other && (kind == Kind::Keyword || self.depth == 0) && !asks_for_more;
            let words_touch = previous.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && text.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
            let separator = if starts_statement || (!newline_splits && self.rng.chance(20)) {
                self.rng.pick(LINE_BREAKS)
            } else if !words_touch && self.rng.chance(30) {
                ""
            } else {
                self.rng.pick(SEPARATORS)
            };
            self.out.push_str(separator);
        } else if self.rng.chance(20) {
            self.out.push_str(self.rng.pick(LINE_BREAKS));
        }
        self.out.push_str(text);
        match text {
            "{" | "[" => self.depth += 1,
            "}" | "]" => self.depth -= 1,
            _ => {}
        }
        self.previous = Some(match text {
            "->" => "->",
            "=" => "=",
            ":" => ":",
            "," => ",",
            "." => ".",
            "<" => "<",
            "[" => "[",
            "{" => "{",
            "!" => "!",
            "@" => "@",
            _ => "word",
        });
    }

    fn name(&mut self) {
        let name = self.rng.pick(NAMES);
        self.token(name, Kind::Name);
    }

    fn destination(&mut self) {
        if self.rng.chance(30) {
            self.token("!", Kind::Other);
        }
        self.name();
    }

    /// `{ a, b, }` with `item` for each element.
    fn list(&mut self, mut item: impl FnMut(&mut Self)) {
        self.token("{", Kind::Other);
        let count = self.rng.below(4);
        for index in 0..count {
            item(self);
            if index + 1 < count || self.rng.chance(50) {
                self.token(",", Kind::Other);
            }
        }
        self.token("}", Kind::Other);
    }
}

/// A random chain the grammar accepts, and the kinds of its items.
fn valid_chain(rng: &mut Rng) -> (String, Vec<&'static str>) {
    let mut w = Writer { rng, out: String::new(), depth: 0, previous: None };
    w.statement_start("chain");
    w.name();
    let mut kinds = Vec::new();
    for _ in 0..w.rng.below(10) {
        match w.rng.below(4) {
            0 => {
                kinds.push("iface");
                w.statement_start("iface");
                w.name();
            }
            1 => {
                kinds.push("map");
                w.statement_start("map");
                w.name();
                w.token(":", Kind::Other);
                w.name();
                w.token("<", Kind::Other);
                // The key may be left out, as arrays allow (`array<u64>`);
                // the grammar takes either form for any kind.
                if w.rng.chance(75) {
                    w.name();
                    w.token(",", Kind::Other);
                }
                w.name();
                w.token(">", Kind::Other);
                w.token("[", Kind::Other);
                let digits = w.rng.pick(&["0", "1", "65_536", "4294967295", "99999999999999999999999", "1__2_"]);
                w.token(digits, Kind::Other);
                w.token("]", Kind::Other);
            }
            2 => {
                kinds.push("nf");
                w.statement_start("nf");
                w.name();
                w.token("=", Kind::Other);
                if w.rng.chance(50) {
                    w.token("std", Kind::Name);
                    w.token(".", Kind::Other);
                    w.name();
                } else {
                    let path =
                        w.rng.pick(&["\"nfs/x\"", "\"\"", "\"é/日本/🦀\"", "\"a b/* c */\"", "\"// not a comment\""]);
                    w.token(path, Kind::Other);
                }
                if w.rng.chance(50) {
                    w.list(|w| {
                        w.name();
                        w.token(":", Kind::Other);
                        w.name();
                    });
                }
                for _ in 0..w.rng.below(3) {
                    w.token("@", Kind::Other);
                    w.name();
                }
            }
            _ => {
                kinds.push("link");
                let first = w.rng.pick(NAMES);
                w.statement_start(first);
                if w.rng.chance(40) {
                    w.token(".", Kind::Other);
                    w.name();
                }
                w.token("->", Kind::Other);
                if w.rng.chance(30) {
                    w.list(|w| {
                        w.name();
                        w.token(":", Kind::Other);
                        w.destination();
                    });
                } else {
                    w.destination();
                }
            }
        }
    }
    if w.rng.chance(30) {
        let tail = w.rng.pick(LINE_BREAKS);
        w.out.push_str(tail);
    }
    (w.out, kinds)
}

fn kinds_of(tree: &ChainFile) -> Vec<&'static str> {
    tree.items
        .iter()
        .map(|item| match item {
            Item::Iface(_) => "iface",
            Item::Map(_) => "map",
            Item::Nf(_) => "nf",
            Item::Link(_) => "link",
            Item::Broken(_) => "broken",
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn the_examples_and_valid_chains_parse_without_errors() {
    for (name, text) in
        examples().iter().map(|(n, t)| (n.as_str(), t.as_str())).chain(VALID.iter().map(|t| ("VALID", *t)))
    {
        match parse(text, FILE).into_result() {
            Ok(tree) => assert_eq!(tree_problem(text, &tree), None, "{name}"),
            Err(errors) => panic!("{name} does not parse: {errors:#?}"),
        }
    }
}

#[test]
fn token_soups_never_break_the_parser() {
    let mut rng = Rng::new(seed(0x5eed_0001));
    let mut findings = Findings::new();
    for case in 0..cases(3000) {
        let source = token_soup(&mut rng);
        findings.record(|| format!("token soup #{case}"), &source, problem(&source));
    }
    findings.assert_none(problem);
}

#[test]
fn mutated_chains_never_break_the_parser() {
    let mut rng = Rng::new(seed(0x5eed_0002));
    let bases: Vec<String> =
        examples().into_iter().map(|(_, t)| t).chain(VALID.iter().map(|t| (*t).to_owned())).collect();
    let mut findings = Findings::new();
    for case in 0..cases(3000) {
        let base = &bases[rng.below(bases.len())];
        let mut source = base.clone();
        for _ in 0..1 + rng.below(4) {
            source = mutate(&mut rng, &source, &bases);
        }
        findings.record(|| format!("mutation #{case}"), &source, problem(&source));
    }
    // Every prefix and every one-character deletion of each example.
    for base in &bases {
        for end in boundaries(base) {
            findings.record(|| "a prefix".to_owned(), &base[..end], problem(&base[..end]));
        }
        let b = boundaries(base);
        for pair in b.windows(2) {
            let deleted = format!("{}{}", &base[..pair[0]], &base[pair[1]..]);
            findings.record(|| "a one-character deletion".to_owned(), &deleted, problem(&deleted));
        }
    }
    findings.assert_none(problem);
}

#[test]
fn generated_valid_chains_parse_to_the_items_written() {
    let mut rng = Rng::new(seed(0x5eed_0003));
    for case in 0..cases(1000) {
        let (source, kinds) = valid_chain(&mut rng);
        let tree = match parse(&source, FILE).into_result() {
            Ok(tree) => tree,
            Err(errors) => panic!("generated chain #{case} does not parse:\n{source}\n{errors:#?}"),
        };
        assert_eq!(tree_problem(&source, &tree), None, "generated chain #{case}:\n{source}");
        assert_eq!(kinds_of(&tree), kinds, "generated chain #{case}:\n{source}");
    }
}

#[test]
fn mutated_generated_chains_never_break_the_parser() {
    let mut rng = Rng::new(seed(0x5eed_0004));
    let mut findings = Findings::new();
    let mut others = Vec::new();
    for case in 0..cases(1500) {
        let (source, _) = valid_chain(&mut rng);
        others.push(source.clone());
        if others.len() > 8 {
            others.remove(0);
        }
        let mut mutated = source;
        for _ in 0..1 + rng.below(3) {
            mutated = mutate(&mut rng, &mutated, &others);
        }
        findings.record(|| format!("mutated generated chain #{case}"), &mutated, problem(&mutated));
    }
    findings.assert_none(problem);
}
