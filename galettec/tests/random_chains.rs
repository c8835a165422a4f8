//! Random chains through the whole front end (`check_with`: parse, read NF
//! signatures, check, place), generated deterministically with the seeded
//! SplitMix64 of `galette-test-support` (no `rand`).
//!
//! Three sources of inputs: mutations of `examples/*.gal`; generated chains
//! that are valid by construction (lines and fan-outs of NF instances,
//! interface roles, maps and bindings, placement attributes, upcalls); and
//! mutations of those. A last test mutates an NF crate's `src/lib.rs`
//! instead of the chain.
//!
//! Invariants: the front end never panics; every diagnostic has a code and a
//! message, and each of its labels points into a file of `checked.files`,
//! inside its text and on char boundaries. A valid chain gives no error, and
//! its instances are placed where the placement rules say. A failure is
//! shrunk to a minimal input before it is reported.
//!
//! The chain is served from memory, as if it were `examples/random.gal`; NF
//! crates are read from disk (`std.macswap`, `"nfs/ipv4_only"`), except a
//! few small crates under `examples/mem/` that exist only in memory, for
//! what the crates on disk do not have (maps, more ports, std).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use galette_bundle::Placement;
use galette_grammar::{Diagnostic, Severity, Span};
use galette_test_support::{Findings, Rng, cases, catch_quietly, seed};
use galettec::compile::{CompileOptions, check_with};
use galettec::render::{render_diagnostics, render_json};
use galettec::source::SourceReader;

// ---------------------------------------------------------------------------
// Reading sources: the chain and the memory crates from memory, the rest
// from disk.

fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("galettec lives in the project").to_owned()
}

fn chain_path() -> PathBuf {
    project().join("examples").join("random.gal")
}

const FILTER_LIB: &str = "#![no_std]
//! A filter with maps: `allow` decides, `hits` counts.
use nf_std::{Packet, maps::{Array, LpmTrie}, net::Ipv4Prefix};

#[nf_std::maps]
pub struct Maps {
    allow: LpmTrie<Ipv4Prefix, u8>,
    hits: Array<u64>,
}

pub enum Action { Allowed, Denied }

pub fn packet<P: Packet>(pkt: &mut P, maps: &mut Maps) -> Action {
    let _ = (pkt, maps);
    Action::Allowed
}
";

const ROUTER_LIB: &str = "#![no_std]
//! Routeur à trois sorties — « élégant » 🦀, to put wide chars before the ports.
use nf_std::Packet;

/// Où va la trame : 日本.
pub enum Action {
    /// Vers le réseau local.
    ToLan,
    ToWan,
    NotFound,
}

pub fn packet<P: Packet>(pkt: &mut P) -> Action {
    let _ = pkt;
    Action::NotFound
}
";

/// Not `#![no_std]`: it runs in userland.
const HOSTED_LIB: &str = "use nf_std::Packet;

pub enum Action { Out }

pub fn packet<P: Packet>(pkt: &mut P) -> Action {
    let _ = pkt;
    println!(\"hosted\");
    Action::Out
}
";

/// Crates in memory, by directory relative to `examples/`: `(dir, package, lib.rs)`.
const MEMORY_CRATES: &[(&str, &str, &str)] = &[
    ("mem/filter", "filter", FILTER_LIB),
    ("mem/router", "router", ROUTER_LIB),
    ("mem/hosted", "hosted", HOSTED_LIB),
    ("mem/broken", "broken", "//! é 日本\npub enum Action { Out"),
    ("mem/no_action", "no-action", "pub fn packet() {}\n"),
    ("mem/data_port", "data-port", "// ü\npub enum Action { Out(u8) }\n"),
    (
        "mem/bad_packet",
        "bad-packet",
        "#![no_std]\n// ééé\npub enum Action { Out }\npub fn packet(p: u8) -> Action { Action::Out }\n",
    ),
    ("mem/no_name", "", "pub enum Action { Out }\n"),
];

/// Serves the chain and the memory crates, and reads everything else from
/// disk (regular files only), through a cache shared by every case.
struct Reader<'a> {
    chain: &'a str,
    /// A `src/lib.rs` for `examples/mem/fuzzed`, if the case has one.
    fuzzed_lib: Option<&'a str>,
    disk: &'a Disk,
}

#[derive(Default)]
struct Disk {
    cache: RefCell<HashMap<PathBuf, Option<String>>>,
}

impl Disk {
    fn read(&self, path: &Path) -> io::Result<String> {
        let mut cache = self.cache.borrow_mut();
        let text = cache.entry(path.to_owned()).or_insert_with(|| {
            std::fs::metadata(path).ok().filter(|m| m.is_file()).and_then(|_| std::fs::read_to_string(path).ok())
        });
        text.clone().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }
}

impl SourceReader for Reader<'_> {
    fn read(&self, path: &Path) -> io::Result<String> {
        if path == chain_path() {
            return Ok(self.chain.to_owned());
        }
        let examples = project().join("examples");
        let crates = MEMORY_CRATES.iter().map(|&(dir, package, lib)| (dir, package, Some(lib)));
        let fuzzed = std::iter::once(("mem/fuzzed", "fuzzed", self.fuzzed_lib));
        for (dir, package, lib) in crates.chain(fuzzed) {
            let dir = examples.join(dir);
            if path == dir.join("Cargo.toml") {
                return Ok(if package.is_empty() {
                    "[package]\n".to_owned()
                } else {
                    format!("[package]\nname = \"{package}\"\n")
                });
            }
            if path == dir.join("src").join("lib.rs") {
                return lib.map(str::to_owned).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no lib.rs"));
            }
        }
        self.disk.read(path)
    }
}

// ---------------------------------------------------------------------------
// The invariants.

/// The outcome of checking one chain: the problem if an invariant broke,
/// else the diagnostics and placements.
struct Outcome {
    problem: Option<String>,
    diagnostics: Vec<Diagnostic>,
    /// `(instance, placement)` of the chain's IR, when it has one.
    placed: Option<Vec<(String, Placement)>>,
}

fn run(chain: &str, fuzzed_lib: Option<&str>, disk: &Disk, options: &CompileOptions) -> Outcome {
    let reader = Reader { chain, fuzzed_lib, disk };
    let result = catch_quietly(|| {
        let checked = check_with(&chain_path(), options, &reader).map_err(|error| error.to_string())?;
        // What the CLI does next with the diagnostics.
        render_diagnostics(&checked.files, &checked.diagnostics);
        render_json(&checked.files, &checked.diagnostics);
        Ok::<_, String>(checked)
    });
    let checked = match result {
        Err(panic) => {
            return Outcome { problem: Some(format!("panic {panic}")), diagnostics: Vec::new(), placed: None };
        }
        Ok(Err(error)) => {
            return Outcome {
                problem: Some(format!("check_with failed | {error}")),
                diagnostics: Vec::new(),
                placed: None,
            };
        }
        Ok(Ok(checked)) => checked,
    };
    let mut problem = checked.diagnostics.iter().find_map(|d| diagnostic_problem(&checked.files, d));
    if checked.files.get(checked.chain_file).is_none_or(|f| f.text != chain) {
        problem = problem.or(Some("the chain file is not the chain read".to_owned()));
    }
    let has_errors = checked.diagnostics.iter().any(Diagnostic::is_error);
    if has_errors == checked.chain.is_some() {
        problem =
            problem.or(Some(format!("errors and IR disagree | errors: {has_errors}, IR: {}", checked.chain.is_some())));
    }
    // One decision per instance holds by construction: `PlacedChain` pairs them.
    let placed =
        checked.chain.as_ref().map(|placed| placed.instances().map(|(i, d)| (i.name.clone(), d.placement)).collect());
    Outcome { problem, diagnostics: checked.diagnostics, placed }
}

fn diagnostic_problem(files: &galettec::source::SourceFiles, diagnostic: &Diagnostic) -> Option<String> {
    let code = diagnostic.code;
    if code.is_empty() || diagnostic.message.is_empty() {
        return Some(format!("diagnostic without a code or message | {diagnostic:?}"));
    }
    let labels = std::iter::once(&diagnostic.primary).chain(&diagnostic.secondary);
    labels.enumerate().find_map(|(index, label)| {
        let which = if index == 0 { "primary" } else { "secondary" };
        let Some(file) = files.get(label.file) else {
            return Some(format!("a label points into no file | {code} {which} label, file id {}", label.file));
        };
        // The kind of file, in the problem's kind; the rest in its details.
        let short_name =
            file.name.rsplit('/').take(3).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("/");
        let place = if file.name.ends_with(".gal") {
            "the chain"
        } else if file.name.ends_with(".rs") {
            "an NF source"
        } else {
            "another file"
        };
        let details = format!("{code} {which} label {:?} in {short_name}", label.message);
        if let Some(problem) = span_problem(&file.text, label.span) {
            return Some(format!("{problem} in {place} | {details}"));
        }
        // Labels that point at a Rust item cover its name.
        let expected = match label.message.as_str() {
            "ports declared here" => "Action",
            "this function" => "packet",
            _ => return None,
        };
        let text = &file.text[label.span.start..label.span.end];
        (text != expected).then(|| {
            format!("a label misses the item it names in {place} | {details} covers {text:?}, not `{expected}`")
        })
    })
}

/// What is wrong with `span` in `text`, if anything.
fn span_problem(text: &str, span: Span) -> Option<&'static str> {
    if span.start > span.end || span.end > text.len() {
        return Some("a span is out of bounds");
    }
    if !text.is_char_boundary(span.start) || !text.is_char_boundary(span.end) {
        return Some("a span is not on char boundaries");
    }
    None
}

// ---------------------------------------------------------------------------
// Mutations.

/// Tokens of the language, names the checker knows, and near misses.
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
    "swap",
    "ip",
    "n0",
    "n1",
    "n2",
    "lan",
    "wan",
    "out",
    "ipv4",
    "other",
    "allowed",
    "denied",
    "to_lan",
    "not_found",
    "allow",
    "hits",
    "m0",
    "m1",
    "hash",
    "lpm_trie",
    "array",
    "lru_hash",
    "hsah",
    "u32",
    "xdp",
    "userland",
    "xpd",
    "0",
    "1",
    "4294967296",
    "65_536",
    "\"nfs/ipv4_only\"",
    "\"mem/filter\"",
    "\"mem/router\"",
    "\"mem/hosted\"",
    "\"mem/broken\"",
    "\"mem/no_action\"",
    "\"mem/data_port\"",
    "\"mem/bad_packet\"",
    "\"mem/no_name\"",
    "\"..\"",
    "\"\"",
    "\"/\"",
    "\"nfs\"",
    "\"é\"",
    "\"../stdlib-nfs/macswap\"",
    "\"unclosed",
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
    "\n",
    " ",
    "// c\n",
    "/* c */",
    "/* unclosed",
    "é",
    "🦀",
    "$",
    "\u{feff}",
];

fn boundaries(s: &str) -> Vec<usize> {
    s.char_indices().map(|(i, _)| i).chain([s.len()]).collect()
}

fn range(rng: &mut Rng, s: &str) -> (usize, usize) {
    let b = boundaries(s);
    let start = rng.below(b.len());
    let len = if rng.chance(70) { rng.below(8) } else { rng.below(b.len()) };
    (b[start], b[(start + len).min(b.len() - 1)])
}

fn position(rng: &mut Rng, s: &str) -> usize {
    rng.pick(&boundaries(s))
}

/// Applies one random edit to `s`, with `tokens` to insert.
fn mutate(rng: &mut Rng, s: &str, tokens: &[&str]) -> String {
    match rng.below(8) {
        0 => {
            let (a, b) = range(rng, s);
            format!("{}{}", &s[..a], &s[b..])
        }
        1 => {
            let (a, b) = range(rng, s);
            format!("{}{}", &s[..b], &s[a..])
        }
        2 => {
            let (a, b) = range(rng, s);
            let (c, d) = range(rng, s);
            let ((a, b), (c, d)) = if a <= c { ((a, b), (c, d)) } else { ((c, d), (a, b)) };
            if b > c {
                return s.to_owned();
            }
            format!("{}{}{}{}{}", &s[..a], &s[c..d], &s[b..c], &s[a..b], &s[d..])
        }
        3 | 4 => {
            let at = if rng.chance(5) { 0 } else { position(rng, s) };
            format!("{}{}{}", &s[..at], rng.pick(tokens), &s[at..])
        }
        5 => s[..position(rng, s)].to_owned(),
        6 => {
            let mut bytes = s.as_bytes().to_vec();
            if !bytes.is_empty() {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next_u64() as u8;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => {
            let (a, b) = range(rng, s);
            format!("{}{}{}", &s[..a], rng.pick(tokens), &s[b..])
        }
    }
}

// ---------------------------------------------------------------------------
// Valid chains by construction.

/// A map's `(kind, key, value)` as a chain declares it.
type MapType = (&'static str, &'static str, &'static str);

/// The map types of the generated chains: each kind with key and value
/// types it takes (an array's key is its `u32` index, an LPM trie's a prefix).
const MAP_TYPES: &[MapType] = &[
    ("lpm_trie", "Ipv4Prefix", "u8"),
    ("array", "u32", "u64"),
    ("hash", "u32", "u64"),
    ("lru_hash", "FlowKey", "FlowStats"),
    ("percpu_array", "u32", "u64"),
    ("percpu_hash", "u32", "u32"),
    ("lpm_trie", "Ipv6Prefix", "u8"),
];

/// An NF the generator can instantiate.
struct Nf {
    source: &'static str,
    ports: &'static [&'static str],
    /// Its map fields, with the type of map each takes.
    maps: &'static [(&'static str, MapType)],
    needs_std: bool,
}

const NFS: &[Nf] = &[
    Nf { source: "std.macswap", ports: &["out"], maps: &[], needs_std: false },
    Nf { source: "\"nfs/ipv4_only\"", ports: &["ipv4", "other"], maps: &[], needs_std: false },
    Nf {
        source: "\"mem/filter\"",
        ports: &["allowed", "denied"],
        maps: &[("allow", ("lpm_trie", "Ipv4Prefix", "u8")), ("hits", ("array", "u32", "u64"))],
        needs_std: false,
    },
    Nf { source: "\"mem/router\"", ports: &["to_lan", "to_wan", "not_found"], maps: &[], needs_std: false },
    Nf { source: "\"mem/hosted\"", ports: &["out"], maps: &[], needs_std: true },
];

const ROLES: &[&str] = &["lan", "wan", "dmz"];

/// Where a port or `rx` leads.
#[derive(Clone, Copy)]
enum To {
    Instance(usize, bool),
    Exit(&'static str),
    Role(usize),
}

/// A valid chain, with what the checker should make of it.
struct Valid {
    text: String,
    /// `(name, placement)` of every instance reachable from `rx`.
    placed: Vec<(String, Placement)>,
    /// Instances never reached: one W0101 each.
    unreachable: usize,
    /// Maps no instance binds: one W0102 each.
    unused_maps: usize,
}

fn destination(rng: &mut Rng, from: Option<usize>, instances: usize, roles: usize) -> To {
    let first_later = from.map_or(0, |i| i + 1);
    if first_later < instances && rng.chance(65) {
        let target = first_later + rng.below((instances - first_later).min(3));
        return To::Instance(target, rng.chance(15));
    }
    if roles > 0 && rng.chance(15) {
        return To::Role(rng.below(roles));
    }
    To::Exit(rng.pick(&["tx", "pass", "drop", "abort"]))
}

fn write_destination(to: To, names: &[String]) -> String {
    match to {
        To::Instance(index, upcall) => format!("{}{}", if upcall { "!" } else { "" }, names[index]),
        To::Exit(exit) => exit.to_owned(),
        To::Role(role) => ROLES[role].to_owned(),
    }
}

fn comma_list(rng: &mut Rng, items: &[String]) -> String {
    let multiline = rng.chance(40);
    let (open, sep, close) = if multiline { ("{\n    ", ",\n    ", "\n}") } else { ("{ ", ", ", " }") };
    let trailing = if !items.is_empty() && rng.chance(40) { "," } else { "" };
    if items.is_empty() {
        return "{}".to_owned();
    }
    format!("{open}{}{trailing}{close}", items.join(sep))
}

fn valid_chain(rng: &mut Rng) -> Valid {
    let count = rng.below(9);
    let kinds: Vec<usize> = (0..count).map(|_| rng.below(NFS.len())).collect();
    let names: Vec<String> =
        (0..count).map(|i| if rng.chance(50) { format!("n{i}") } else { format!("nf_{i}_x") }).collect();
    let roles = if rng.chance(30) { 1 + rng.below(ROLES.len()) } else { 0 };
    let mut statements = Vec::new();
    for role in &ROLES[..roles] {
        statements.push(format!("iface {role}"));
    }

    // Links: forward only, so the chain has no loop.
    let mut links: Vec<Vec<To>> = Vec::new();
    for (index, &kind) in kinds.iter().enumerate() {
        links.push(NFS[kind].ports.iter().map(|_| destination(rng, Some(index), count, roles)).collect());
    }
    let entries: Vec<(Option<usize>, To)> = if roles == 0 || rng.chance(30) {
        vec![(None, destination(rng, None, count, roles))]
    } else {
        (0..roles).map(|role| (Some(role), destination(rng, None, count, roles))).collect()
    };

    // What the checker should find: reachability and placement.
    let mut reachable = vec![false; count];
    let mut forced = vec![false; count];
    for &(_, to) in &entries {
        if let To::Instance(target, upcall) = to {
            reachable[target] = true;
            forced[target] |= upcall;
        }
    }
    // Links go forward, so when an instance's turn comes, whether it is
    // reachable and forced into userland is known: `@xdp` only where allowed.
    let mut attributes: Vec<&str> = Vec::new();
    let mut userland = vec![false; count];
    for index in 0..count {
        let must = NFS[kinds[index]].needs_std || forced[index];
        let attribute = match rng.below(5) {
            0 => "@userland",
            1 if !(reachable[index] && must) => "@xdp",
            _ => "",
        };
        attributes.push(attribute);
        userland[index] = must || attribute == "@userland";
        if reachable[index] {
            for &to in &links[index] {
                if let To::Instance(target, upcall) = to {
                    reachable[target] = true;
                    forced[target] |= upcall || userland[index];
                }
            }
        }
    }

    // Maps: some shared between filters, some unused. Every map is declared
    // with a kind and types that fit the fields bound to it.
    let mut maps: Vec<(usize, bool)> = Vec::new(); // (index in MAP_TYPES, used)
    for _ in 0..rng.below(4) {
        maps.push((rng.below(MAP_TYPES.len()), false));
    }

    // Declarations.
    for index in 0..count {
        let nf = &NFS[kinds[index]];
        let mut text = format!("nf {} = {}", names[index], nf.source);
        let mut bindings: Vec<String> = Vec::new();
        for &(field, wanted) in nf.maps {
            let fitting: Vec<usize> = (0..maps.len()).filter(|&m| MAP_TYPES[maps[m].0] == wanted).collect();
            let map = if !fitting.is_empty() && rng.chance(70) {
                rng.pick(&fitting)
            } else {
                let kind = MAP_TYPES.iter().position(|t| *t == wanted).expect("a field's type is in MAP_TYPES");
                maps.push((kind, false));
                maps.len() - 1
            };
            maps[map].1 = true;
            bindings.push(format!("{field}: m{map}"));
        }
        rng.shuffle(&mut bindings);
        if !bindings.is_empty() || rng.chance(15) {
            text.push(' ');
            text.push_str(&comma_list(rng, &bindings));
        }
        if !attributes[index].is_empty() {
            text.push_str(if rng.chance(20) { "\n    " } else { " " });
            text.push_str(attributes[index]);
        }
        statements.push(text);
    }

    for (map, &(kind, _)) in maps.iter().enumerate() {
        let (kind, key, value) = MAP_TYPES[kind];
        let capacity = rng.pick(&["1", "1024", "65_536", "4_294_967_295", "0_1"]);
        let spacing = rng.pick(&[("", " "), (" ", "")]);
        // An array's key is its index: the chain may leave it out.
        let types = if kind.ends_with("array") && rng.chance(40) {
            value.to_owned()
        } else {
            format!("{key},{}{value}", spacing.1)
        };
        statements.push(format!("map m{map}{}: {kind}<{types}>[{capacity}]", spacing.0));
    }

    // Links, in many shapes.
    for (rx_role, to) in &entries {
        let from = rx_role.map_or("rx".to_owned(), |role| format!("rx.{}", ROLES[role]));
        statements.push(format!("{from} -> {}", write_destination(*to, &names)));
    }
    for index in 0..count {
        let ports = NFS[kinds[index]].ports;
        let name = &names[index];
        let mut fan_out = Vec::new();
        for (port, &to) in ports.iter().zip(&links[index]) {
            let destination = write_destination(to, &names);
            match rng.below(3) {
                0 => fan_out.push(format!("{port}: {destination}")),
                1 if ports.len() == 1 => statements.push(format!("{name} -> {destination}")),
                _ => statements
                    .push(format!("{name}.{port} ->{}{destination}", if rng.chance(20) { "\n    " } else { " " })),
            }
        }
        if !fan_out.is_empty() || rng.chance(10) {
            rng.shuffle(&mut fan_out);
            let list = comma_list(rng, &fan_out);
            statements.push(format!("{name} -> {list}"));
        }
    }

    rng.shuffle(&mut statements);
    let mut text = String::new();
    if rng.chance(30) {
        text.push_str("// A generated chain: é 日本 🦀\n");
    }
    text.push_str(&format!("chain random_{}\n", rng.below(1000)));
    for statement in statements {
        text.push_str(&statement);
        text.push_str(rng.pick(&["\n", "\n\n", " // note\n", "\r\n", "\n/* é */\n"]));
    }

    let placed = (0..count)
        .filter(|&i| reachable[i])
        .map(|i| (names[i].clone(), if userland[i] { Placement::Userland } else { Placement::Xdp }))
        .collect();
    let unreachable = reachable.iter().filter(|r| !**r).count();
    let unused_maps = maps.iter().filter(|(_, used)| !used).count();
    Valid { text, placed, unreachable, unused_maps }
}

// ---------------------------------------------------------------------------
// The tests.

fn examples() -> Vec<String> {
    let dir = project().join("examples");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .expect("examples/ is readable")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension()? != "gal" {
                return None;
            }
            std::fs::read_to_string(&path).ok()
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no examples/*.gal found in {}", dir.display());
    found
}

#[test]
fn the_examples_check_without_errors() {
    let (disk, options) = (Disk::default(), CompileOptions::from_env());
    for example in examples() {
        let outcome = run(&example, None, &disk, &options);
        assert_eq!(outcome.problem, None, "{example}");
        let errors: Vec<_> = outcome.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{example}\n{errors:#?}");
    }
}

#[test]
fn generated_valid_chains_check_without_errors() {
    let (disk, options) = (Disk::default(), CompileOptions::from_env());
    let mut rng = Rng::new(seed(0xc4a1_0001));
    for case in 0..cases(400) {
        let valid = valid_chain(&mut rng);
        let outcome = run(&valid.text, None, &disk, &options);
        let context = || format!("generated chain #{case}:\n{}\n{:#?}", valid.text, outcome.diagnostics);
        assert_eq!(outcome.problem, None, "{}", context());
        let errors = outcome.diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
        assert_eq!(errors, 0, "{}", context());
        let count = |code: &str| outcome.diagnostics.iter().filter(|d| d.code == code).count();
        assert_eq!(count("W0101"), valid.unreachable, "unreachable instances, {}", context());
        assert_eq!(count("W0102"), valid.unused_maps, "unused maps, {}", context());
        assert_eq!(outcome.diagnostics.len(), valid.unreachable + valid.unused_maps, "{}", context());
        // The IR keeps the instances in declaration order; compare by name.
        let mut placed = outcome.placed.clone().expect("a valid chain has an IR");
        placed.sort_by(|a, b| a.0.cmp(&b.0));
        let mut expected = valid.placed.clone();
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(placed, expected, "placements, {}", context());
    }
}

#[test]
fn mutated_examples_never_break_the_checker() {
    let (disk, options) = (Disk::default(), CompileOptions::from_env());
    let bases = examples();
    let mut rng = Rng::new(seed(0xc4a1_0002));
    let mut findings = Findings::default();
    for case in 0..cases(500) {
        let mut chain = bases[rng.below(bases.len())].clone();
        for _ in 0..1 + rng.below(3) {
            chain = mutate(&mut rng, &chain, TOKENS);
        }
        let problem = run(&chain, None, &disk, &options).problem;
        findings.record(|| format!("mutated example #{case}"), &chain, problem);
    }
    findings.assert_none(|chain| run(chain, None, &disk, &options).problem);
}

#[test]
fn mutated_generated_chains_never_break_the_checker() {
    let (disk, options) = (Disk::default(), CompileOptions::from_env());
    let mut rng = Rng::new(seed(0xc4a1_0003));
    let mut findings = Findings::default();
    for case in 0..cases(700) {
        let mut chain = valid_chain(&mut rng).text;
        for _ in 0..1 + rng.below(3) {
            chain = mutate(&mut rng, &chain, TOKENS);
        }
        let problem = run(&chain, None, &disk, &options).problem;
        findings.record(|| format!("mutated generated chain #{case}"), &chain, problem);
    }
    findings.assert_none(|chain| run(chain, None, &disk, &options).problem);
}

/// Text to insert into an NF's `src/lib.rs`.
const RUST_TOKENS: &[&str] = &[
    "pub",
    "enum",
    "Action",
    "{",
    "}",
    "(",
    ")",
    ",",
    ";",
    "fn",
    "packet",
    "<P: Packet>",
    "(pkt: &mut P)",
    "-> Action",
    "#[maps]",
    "struct",
    "Maps",
    "#![no_std]",
    "\n",
    " ",
    "\r\n",
    "// é\n",
    "/* 日本 */",
    "\"🦀\"",
    "'é'",
    "\u{feff}",
    "#!",
    "#!/bin/sh\n",
    "é",
    "r#\"",
    "Out",
    "NotFound",
    "u8",
    "async",
    "impl",
    "\r",
    "\\",
];

#[test]
fn mutated_nf_crates_never_break_the_checker() {
    let (disk, options) = (Disk::default(), CompileOptions::from_env());
    let chain = "chain c\nnf x = \"mem/fuzzed\" { allow: m, hits: m }\nmap m: hash<u32, u64>[8]\nrx -> x\nx -> tx\nx.out -> drop\nx -> { allowed: pass, not_found: drop }\n";
    let macswap = std::fs::read_to_string(project().join("stdlib-nfs/macswap/src/lib.rs")).expect("macswap's source");
    let bases = [macswap.as_str(), FILTER_LIB, ROUTER_LIB, HOSTED_LIB];
    let mut rng = Rng::new(seed(0xc4a1_0004));
    let mut findings = Findings::default();
    for case in 0..cases(300) {
        let mut lib = bases[rng.below(bases.len())].to_owned();
        for _ in 0..1 + rng.below(3) {
            lib = mutate(&mut rng, &lib, RUST_TOKENS);
        }
        if rng.chance(10) {
            // What may come before the first token of a Rust file.
            lib.insert_str(0, rng.pick(&["\u{feff}", "#!/usr/bin/env run-cargo-script\n", "#!\n", "\n", "// é\n"]));
        }
        let problem = run(chain, Some(&lib), &disk, &options).problem;
        findings.record(|| format!("mutated lib.rs #{case}"), &lib, problem);
    }
    findings.assert_none(|lib| run(chain, Some(lib), &disk, &options).problem);
}

// ---------------------------------------------------------------------------
// Bugs the random tests found, as plain tests with their minimal inputs.

/// Found by `mutated_nf_crates_never_break_the_checker`: `syn::parse_file`
/// skips a leading byte order mark or `#!` line before parsing, so the spans
/// it gives are offsets into the rest of the file, while the file table (and
/// so every label) holds the whole file: labels point a few bytes early,
/// possibly inside a character.
#[test]
fn labels_into_an_nf_source_with_a_bom_or_a_shebang_cover_what_they_name() {
    let (disk, options) = (Disk::default(), CompileOptions::from_env());
    let chain = "chain c\nnf x = \"mem/fuzzed\"\nrx -> x\nx -> tx\n";
    let cases = [
        ("\u{feff}pub enum Action {}", "E0205", "Action"),
        ("#!\npub enum Action {}", "E0205", "Action"),
        ("\u{feff}pub enum Action { é, Out(u8) }", "E0205", "Out(u8)"),
        ("\u{feff}/", "E0203", "/"),
    ];
    let mut wrong = Vec::new();
    for (lib, code, expected) in cases {
        let outcome = run(chain, Some(lib), &disk, &options);
        let reader = Reader { chain, fuzzed_lib: Some(lib), disk: &disk };
        let checked = check_with(&chain_path(), &options, &reader).expect("the chain is in memory");
        let diagnostic = checked
            .diagnostics
            .iter()
            .find(|d| d.code == code)
            .unwrap_or_else(|| panic!("{lib:?}: no {code} in {:#?}", checked.diagnostics));
        let span = diagnostic.primary.span;
        let covered = checked.files.get(diagnostic.primary.file).and_then(|f| f.text.get(span.start..span.end));
        if covered != Some(expected) || outcome.problem.is_some() {
            wrong.push(format!("{lib:?}: {code} at {}..{} covers {covered:?}, not {expected:?}", span.start, span.end));
        }
    }
    assert!(wrong.is_empty(), "labels into lib.rs are shifted:\n{}", wrong.join("\n"));
}

/// The number of instances in the line of
/// [`a_long_line_of_instances_does_not_overflow_the_stack`].
const LONG_LINE: usize = 25_000;

/// Found while sizing the generated chains: the cycle search used to recurse
/// once per instance along a path, so a long enough line of instances
/// overflowed the stack and aborted the process. Here a 1 MiB stack stands in
/// for a much longer chain on the CLI's 8 MiB one. Should it regress, the
/// abort ends this test binary, which fails the suite just as loudly.
#[test]
fn a_long_line_of_instances_does_not_overflow_the_stack() {
    let mut chain = String::from("chain long\nrx -> n0\n");
    for i in 0..LONG_LINE {
        chain.push_str(&format!("nf n{i} = std.macswap\n"));
    }
    for i in 1..LONG_LINE {
        chain.push_str(&format!("n{} -> n{i}\n", i - 1));
    }
    chain.push_str(&format!("n{} -> tx\n", LONG_LINE - 1));
    let worker = std::thread::Builder::new().stack_size(1 << 20).spawn(move || {
        let (disk, options) = (Disk::default(), CompileOptions::from_env());
        let reader = Reader { chain: &chain, fuzzed_lib: None, disk: &disk };
        let checked = check_with(&chain_path(), &options, &reader).expect("the chain is in memory");
        checked.diagnostics.iter().filter(|d| d.is_error()).count()
    });
    assert_eq!(worker.expect("a thread").join().expect("no panic"), 0);
}
