//! `galettec fmt`: rewriting files in place, `--check`, standard input, and
//! files it must not touch (syntax errors, missing files). Every test works
//! on copies in a temporary directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

const MESSY: &str = "chain  c   // the chain\nnf swap=std.macswap\n\n\n\nrx->swap\nswap -> {out:tx,}";
const CANONICAL: &str = "chain c // the chain\nnf swap = std.macswap\n\nrx -> swap\nswap -> { out: tx }\n";

fn galettec(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_galettec")).args(args).current_dir(dir).output().unwrap()
}

fn galettec_with_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_galettec"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `contents` to `name` in `dir`, dated a day ago so that a rewrite
/// shows in its modification time.
fn file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    let a_day_ago = SystemTime::now() - Duration::from_secs(24 * 3600);
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(a_day_ago).unwrap();
    path
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn rewrites_a_file_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let messy = file(dir.path(), "messy.gal", MESSY);
    let output = galettec(dir.path(), &["fmt", "messy.gal"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(read(&messy), CANONICAL);
    assert_eq!(text(&output.stdout), "");
}

#[test]
fn leaves_a_formatted_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let canonical = file(dir.path(), "canonical.gal", CANONICAL);
    let before = modified(&canonical);
    let output = galettec(dir.path(), &["fmt", "canonical.gal"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(modified(&canonical), before, "the file was written again");
}

#[test]
fn check_names_the_files_that_would_change_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let messy = file(dir.path(), "messy.gal", MESSY);
    let canonical = file(dir.path(), "canonical.gal", CANONICAL);
    let (messy_before, canonical_before) = (modified(&messy), modified(&canonical));

    let output = galettec(dir.path(), &["fmt", "--check", "canonical.gal", "messy.gal"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "messy.gal\n");
    assert_eq!(read(&messy), MESSY);
    assert_eq!((modified(&messy), modified(&canonical)), (messy_before, canonical_before), "--check wrote a file");

    let output = galettec(dir.path(), &["fmt", "--check", "canonical.gal"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "");
}

#[test]
fn a_file_with_syntax_errors_is_reported_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let broken_text = "chain c\nnf  swap = std.macswap\nrx -> -> swap\n";
    let broken = file(dir.path(), "broken.gal", broken_text);
    let before = modified(&broken);
    for args in [&["fmt", "broken.gal"][..], &["fmt", "--check", "broken.gal"]] {
        let output = galettec(dir.path(), args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        // Rendered as `galettec check` renders it.
        assert!(stderr.contains("error[E0002]: unexpected `->`"), "{stderr}");
        assert!(stderr.contains("┌─ broken.gal:3:7"), "{stderr}");
        assert!(stderr.contains("could not format broken.gal: 1 error"), "{stderr}");
        assert_eq!(read(&broken), broken_text);
        assert_eq!(modified(&broken), before);
    }
}

#[test]
fn a_missing_file_is_one_clear_error_and_the_others_are_still_formatted() {
    let dir = tempfile::tempdir().unwrap();
    let messy = file(dir.path(), "messy.gal", MESSY);
    let output = galettec(dir.path(), &["fmt", "no/such/chain.gal", "messy.gal"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot read no/such/chain.gal"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(read(&messy), CANONICAL);
}

#[test]
fn standard_input_goes_to_standard_output() {
    for args in [&["fmt"][..], &["fmt", "-"]] {
        let output = galettec_with_stdin(args, MESSY);
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert_eq!(text(&output.stdout), CANONICAL);
    }
    let output = galettec_with_stdin(&["fmt", "--check", "-"], MESSY);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(text(&output.stdout), "<stdin>\n");
    let output = galettec_with_stdin(&["fmt", "--check"], CANONICAL);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(text(&output.stdout), "");
}

#[test]
fn standard_input_with_syntax_errors_prints_only_diagnostics() {
    let output = galettec_with_stdin(&["fmt"], "chain c\nrx -> -> tx\n");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(text(&output.stdout), "");
    assert!(stderr.contains("┌─ <stdin>:2:7"), "{stderr}");
}
