//! docs/writing-nfs.md against the code: its NF crates, put together from
//! its code blocks (see the marks in this crate's documentation), are
//! written out in the guide's own layout, `my-chains/nfs/NAME/`, with the
//! guide's `Cargo.toml` naming the `nf-std` galettec builds against. Then
//! cargo builds each crate as an NF author's would be built and runs its
//! host tests, and galettec checks the guide's chains against the crates and
//! builds them (for BPF, with the kernel verifier when run as root).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use galette_guide_tests::{Guide, NfCrate};
use galettec::check_chain;
use galettec::compile::CompileOptions;
use galettec::render::render_diagnostics;

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the workspace root")
}

fn guide() -> &'static Guide {
    static GUIDE: OnceLock<Guide> = OnceLock::new();
    GUIDE.get_or_init(|| {
        let path = root().join("docs/writing-nfs.md");
        let markdown = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        Guide::read(&markdown)
            .unwrap_or_else(|errors| panic!("docs/writing-nfs.md's code blocks:\n{}", errors.join("\n")))
    })
}

/// The `nf-std` a chain is built against: the guide tells NF authors to
/// name exactly this directory.
fn nf_std_dir() -> PathBuf {
    CompileOptions::from_env().nf_std_dir
}

/// The guide's `my-chains/` directory, written once per test run in cargo's
/// directory for test files (which lies inside this workspace: the guide's
/// empty `[workspace]` table is what keeps cargo from taking the crates for
/// members of it).
fn my_chains() -> &'static Path {
    static WRITTEN: OnceLock<PathBuf> = OnceLock::new();
    WRITTEN.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("writing-nfs");
        let my_chains = guide().write(&dir, &nf_std_dir()).expect("writing the guide's crates");
        // The workspace's versions of nf-std's dependencies, so the crates
        // build offline with what this checkout already uses.
        let lockfile = std::fs::read_to_string(root().join("Cargo.lock")).expect("the workspace's Cargo.lock");
        for nf in &guide().crates {
            let lock = crate_dir(&my_chains, nf).join("Cargo.lock");
            if std::fs::read_to_string(&lock).is_err() {
                std::fs::write(&lock, &lockfile).expect("writing a Cargo.lock");
            }
        }
        my_chains
    })
}

fn crate_dir(my_chains: &Path, nf: &NfCrate) -> PathBuf {
    my_chains.join("nfs").join(&nf.name)
}

/// `cargo SUBCOMMAND` on `nf`'s crate, in one target directory for all of
/// them (so nf-std is built once), without the settings of the cargo that
/// runs this test.
fn cargo(subcommand: &str, nf: &NfCrate) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .args([subcommand, "--offline", "--manifest-path"])
        .arg(crate_dir(my_chains(), nf).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("writing-nfs-target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .output()
        .expect("running cargo")
}

fn describe(nf: &NfCrate, output: &Output) -> String {
    format!(
        "`{}` (docs/writing-nfs.md line {}):\n{}\n{}",
        nf.name,
        nf.line,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn every_rust_block_belongs_to_a_crate_and_every_excerpt_is_in_its_crate() {
    let guide = guide();
    let crates: Vec<(&str, Option<&str>)> =
        guide.crates.iter().map(|nf| (nf.name.as_str(), nf.base.as_deref())).collect();
    for expected in
        [("ttl_guard", None), ("src_filter", None), ("naive", Some("ttl_guard")), ("ttl_stats", Some("ttl_guard"))]
    {
        assert!(crates.contains(&expected), "{expected:?} is not among the guide's crates: {crates:?}");
    }
    // Steps 1 to 4 show ttl_guard piece by piece.
    assert!(guide.excerpts_checked >= 5, "only {} excerpts found", guide.excerpts_checked);
    assert!(guide.chains.len() >= 4, "only {} chains found", guide.chains.len());
    let ttl_guard = guide.nf("ttl_guard").expect("the guide's main crate");
    assert!(shown_test_run(ttl_guard).is_some(), "the guide no longer shows ttl_guard's `cargo test`");
}

/// Each crate the guide writes out in full is built and tested as its
/// reader would (`cargo test` in the crate); each variant of it is built.
/// Where the guide shows a crate's `cargo test`, the same tests pass.
#[test]
fn the_guides_crates_build_against_nf_std_and_pass_their_tests() {
    let mut failures = Vec::new();
    for nf in &guide().crates {
        let subcommand = if nf.base.is_none() { "test" } else { "build" };
        let output = cargo(subcommand, nf);
        if !output.status.success() {
            failures.push(format!("cargo {subcommand} fails for {}", describe(nf, &output)));
            continue;
        }
        if let Some(shown) = shown_test_run(nf) {
            let mut passed = passed_tests(&String::from_utf8_lossy(&output.stdout));
            let mut shown = passed_tests(&shown);
            passed.sort();
            shown.sort();
            if passed != shown {
                failures.push(format!("the guide shows {shown:?} passing, cargo test passes {passed:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The guide's `text` block of `cargo test` in `nf`'s directory, if it
/// shows one.
fn shown_test_run(nf: &NfCrate) -> Option<String> {
    let markdown = std::fs::read_to_string(root().join("docs/writing-nfs.md")).expect("the guide");
    let command = format!("$ cd my-chains/nfs/{} && cargo test", nf.name);
    galette_guide_tests::fences(&markdown)
        .into_iter()
        .find(|fence| fence.language == "text" && fence.text.starts_with(&command))
        .map(|fence| fence.text)
}

/// The names in `test NAME ... ok` lines.
fn passed_tests(output: &str) -> Vec<String> {
    output.lines().filter_map(|line| Some(line.strip_prefix("test ")?.strip_suffix(" ... ok")?.to_owned())).collect()
}

/// Section 4 says the lines that index the header with the TTL "compile,
/// pass host tests whose TTLs are below 20": of ttl_guard's tests, only the
/// one with TTL 64 panics once they are in.
#[test]
fn the_panicking_lines_fail_only_the_test_with_a_ttl_of_20_or_more() {
    let naive = guide().nf("naive").expect("the guide's panicking variant");
    let output = cargo("test", naive);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let failed: Vec<&str> =
        stdout.lines().filter_map(|line| line.strip_prefix("test ")?.strip_suffix(" ... FAILED")).collect();
    assert_eq!(
        failed,
        ["tests::forwards_with_the_ttl_decremented_and_the_checksum_right"],
        "{}",
        describe(naive, &output)
    );
    assert!(stdout.contains("5 passed; 1 failed"), "{}", describe(naive, &output));
    assert!(stdout.contains("index out of bounds: the len is 20 but the index is 64"), "{}", describe(naive, &output));
}

/// The guide's chains check without errors against the guide's crates (and
/// the standard NFs), as `galettec check my-chains/CHAIN.gal` would.
#[test]
fn the_guides_chains_check_against_its_crates() {
    let options = CompileOptions::from_env();
    let mut failures = Vec::new();
    for chain in &guide().chains {
        let path = my_chains().join(format!("{}.gal", chain.name));
        let checked = check_chain(&path, &options).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        if checked.diagnostics.iter().any(|d| d.is_error()) || checked.chain.is_none() {
            failures.push(format!(
                "the chain at docs/writing-nfs.md line {}:\n{}",
                chain.line,
                render_diagnostics(&checked.files, &checked.diagnostics)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The guide's table of codes says what galettec's list says, and leaves
/// out none of the codes about NF crates (`E02xx`) and their maps (`E04xx`).
#[test]
fn the_table_of_codes_matches_galettecs_list() {
    let markdown = std::fs::read_to_string(root().join("docs/writing-nfs.md")).expect("the guide");
    let rows: Vec<(&str, &str)> = markdown
        .lines()
        .filter_map(|line| {
            let row = line.strip_prefix("| `")?;
            let (code, rest) = row.split_once("` | ")?;
            let is_code =
                code.len() == 5 && code.starts_with(['E', 'W']) && code[1..].bytes().all(|b| b.is_ascii_digit());
            Some((code, rest.strip_suffix(" |")?)).filter(|_| is_code)
        })
        .collect();
    assert!(!rows.is_empty(), "no table of codes in docs/writing-nfs.md");
    for (code, meaning) in &rows {
        let listed = galettec::codes::explain(code)
            .unwrap_or_else(|| panic!("the guide lists {code}, galettec has no such code"));
        assert_eq!(*meaning, listed, "the guide's row of {code}");
    }
    for (code, _) in
        galettec::codes::CODES.iter().filter(|(code, _)| code.starts_with("E02") || code.starts_with("E04"))
    {
        assert!(rows.iter().any(|(listed, _)| listed == code), "the guide's table of codes leaves out {code}");
    }
}

/// The guide's chains build into bundles, their NFs compiled for BPF as in
/// section 5; run as root, the kernel verifier accepts every XDP instance
/// (none moves to userland), as the guide's build outputs show.
#[test]
fn the_guides_chains_build_and_the_verifier_moves_nothing() {
    let options = CompileOptions::from_env();
    let bundles = Path::new(env!("CARGO_TARGET_TMPDIR")).join("writing-nfs-bundles");
    let mut failures = Vec::new();
    for chain in &guide().chains {
        let path = my_chains().join(format!("{}.gal", chain.name));
        let bundle = bundles.join(format!("{}.bundle", chain.name));
        match galettec::compile_chain(&path, &bundle, &options) {
            Err(error) => failures.push(format!("the chain at docs/writing-nfs.md line {}: {error}", chain.line)),
            Ok(compiled) => {
                let moved: Vec<&String> =
                    compiled.notes.iter().filter(|note| note.contains("verifier rejected")).collect();
                if !moved.is_empty() {
                    failures.push(format!("the chain at docs/writing-nfs.md line {}: {moved:?}", chain.line));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
