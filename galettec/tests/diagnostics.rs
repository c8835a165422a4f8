//! Every diagnostic, as a user sees it: one small `.gal` per case in
//! `tests/diagnostics/`, its rendering (colour off) stored with the source as
//! an insta snapshot in `tests/snapshots/`. Review changes with
//! `cargo insta review` (or `INSTA_UPDATE=always` and `git diff`).

use std::path::{Path, PathBuf};

use galettec::codes::CODES;
use galettec::render::render_diagnostics;
use galettec::{CompileOptions, check_chain};

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// The `.gal` cases, sorted, as paths relative to the project root.
fn cases() -> Vec<PathBuf> {
    let root = project_root();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join("tests/diagnostics"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "gal"))
        .map(|path| path.strip_prefix(&root).unwrap().to_owned())
        .collect();
    cases.sort();
    cases
}

fn snapshot_name(case: &Path) -> String {
    case.file_stem().unwrap().to_string_lossy().into_owned()
}

/// What `galettec check` reports, and `galettec build` before it builds:
/// the front end's diagnostics, then what this version cannot build.
fn render(case: &Path) -> String {
    let checked = check_chain(case, &CompileOptions::from_env()).unwrap();
    render_diagnostics(&checked.files, &checked.diagnostics)
}

#[test]
fn every_case_matches_its_snapshot() {
    // Paths in the output are shown relative to the current directory; the
    // project root keeps them the same on every machine. This is the only
    // test of this binary that depends on the current directory.
    std::env::set_current_dir(project_root()).unwrap();
    let cases = cases();
    assert!(cases.len() >= CODES.len(), "{} cases for {} codes", cases.len(), CODES.len());
    for case in cases {
        // Lossy: one case (E0007) is not UTF-8 on purpose.
        let source = String::from_utf8_lossy(&std::fs::read(&case).unwrap()).into_owned();
        let output = render(&case);
        assert!(!output.is_empty(), "{} produced no diagnostic", case.display());
        insta::with_settings!({
            snapshot_path => project_root().join("tests/snapshots"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(snapshot_name(&case), format!("--- {}\n{source}--- diagnostics\n{output}", case.display()));
        });
    }
}

/// Every code has a snapshot named after it that shows it: most come from
/// the cases above; those only a build can find (the verifier's) from
/// galettec/tests/verifier.rs.
#[test]
fn every_code_has_a_snapshot_that_shows_it() {
    let snapshots: Vec<(String, String)> = std::fs::read_dir(project_root().join("tests/snapshots"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&path).unwrap()))
        .collect();
    let missing: Vec<&str> = CODES
        .iter()
        .map(|(code, _)| *code)
        .filter(|code| {
            !snapshots.iter().any(|(name, text)| name.starts_with(code) && text.contains(&format!("[{code}]")))
        })
        .collect();
    assert!(missing.is_empty(), "codes without a snapshot showing them: {missing:?}");
}
