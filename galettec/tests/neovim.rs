//! `galettec lsp` against a client nobody here wrote: headless Neovim (the
//! built-in LSP client of Debian's `neovim`, 0.7.2) opens examples/security.gal
//! with a typo in a port name, and must show the diagnostic with its code and
//! jump, with its own definition handler, from an NF source into its crate.
//!
//! The Neovim side is tests/neovim/lsp_client.lua; it writes what Neovim saw as
//! JSON, and this file checks it.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Long enough for a cold start on a loaded machine; the Lua script gives up
/// on each step after 20 s, so this only catches a Neovim that hangs.
const NVIM_TIMEOUT: Duration = Duration::from_secs(60);

const PORT: &str = "suspicious:";
const TYPO: &str = "suspicous:";
/// The compiler's code for a port the NF does not have.
const UNKNOWN_PORT: &str = "E0301";

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("galettec lives in the project").to_owned()
}

/// examples/security.gal with the classifier's port `suspicious` misspelled in
/// the fan-out. Only `std.*` NFs, which galettec finds by itself, so the copy
/// works from any directory.
fn chain_with_typo() -> String {
    let text = fs::read_to_string(project_root().join("examples/security.gal")).expect("examples/security.gal");
    let link = "classifier -> { benign: wan, suspicious: !dpi, malicious: drop }";
    assert!(text.contains(link), "examples/security.gal no longer has the link `{link}`");
    let with_typo = text.replace(link, &link.replace(PORT, TYPO));
    assert_ne!(with_typo, text, "the typo was not put in");
    with_typo
}

/// 0-based index of the first line containing `needle`, as LSP counts lines.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|line| line.contains(needle)).unwrap_or_else(|| panic!("no line contains {needle:?}"))
}

fn nvim_command(script: &Path, chain: &Path, out: &Path) -> Command {
    let mut nvim = Command::new("nvim");
    // No user config, no shada, no swap file, no plugins: only Neovim's own
    // runtime, so the client under test is the built-in one.
    nvim.args(["--headless", "-u", "NONE", "-i", "NONE", "-n", "--noplugin"])
        .arg("-c")
        .arg(format!("luafile {}", script.display()))
        .env("GALETTE_NVIM_GALETTEC", env!("CARGO_BIN_EXE_galettec"))
        .env("GALETTE_NVIM_CHAIN", chain)
        .env("GALETTE_NVIM_OUT", out)
        // The definition must land in this checkout's stdlib-nfs, the default.
        .env_remove("GALETTE_STDLIB")
        .env_remove("GALETTE_NF_STD")
        .current_dir(chain.parent().unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    nvim
}

fn spawn_nvim(mut command: Command) -> Child {
    match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "nvim is not installed: this test needs Debian's `neovim` (0.7.2 or later); \
             install it with `cargo xtask setup` (or `apt-get install neovim`)"
        ),
        Err(e) => panic!("cannot start nvim: {e}"),
    }
}

/// Neovim's stdout and stderr, for failure messages. Read after it exited, so
/// the pipes are small enough not to have blocked it.
fn output_of(child: &mut Child) -> String {
    fn read(pipe: Option<impl Read>) -> String {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    }
    let stdout = read(child.stdout.take());
    let stderr = read(child.stderr.take());
    format!("nvim stdout:\n{stdout}\nnvim stderr:\n{stderr}")
}

/// Waits for Neovim to quit, killing it after `NVIM_TIMEOUT` so that a hung
/// editor fails the test instead of hanging it. Returns its output on success.
fn wait_or_kill(mut child: Child) -> String {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for nvim") {
            let output = output_of(&mut child);
            assert!(status.success(), "nvim exited with {status}\n{output}");
            return output;
        }
        if start.elapsed() > NVIM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("nvim still running after {NVIM_TIMEOUT:?}, killed\n{}", output_of(&mut child));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the Lua client on `chain` and returns its JSON report and Neovim's output.
fn run_neovim(chain: &Path, out: &Path) -> (Value, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/neovim/lsp_client.lua");
    let output = wait_or_kill(spawn_nvim(nvim_command(&script, chain, out)));
    let json = fs::read_to_string(out).unwrap_or_else(|e| panic!("no report from nvim ({e})\n{output}"));
    let report = serde_json::from_str(&json).unwrap_or_else(|e| panic!("bad report {json:?}: {e}\n{output}"));
    (report, output)
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check_diagnostic(report: &Value, typo_line: usize, context: &str) {
    let diagnostics = report["diagnostics"].as_array().map(Vec::as_slice).unwrap_or_default();
    let diagnostic = diagnostics
        .iter()
        .find(|d| d["code"] == UNKNOWN_PORT)
        .unwrap_or_else(|| panic!("no diagnostic with code {UNKNOWN_PORT} in Neovim\n{context}"));
    assert_eq!(diagnostic["lnum"], typo_line, "{UNKNOWN_PORT} on the wrong line\n{context}");
    let message = diagnostic["message"].as_str().unwrap_or_default();
    assert!(message.contains("suspicous"), "the message does not name the typo: {message:?}\n{context}");
    // The server folds the help into the message ("message\nlabel\nhelp: ...").
    if message.contains("help:") {
        assert!(message.contains("did you mean `suspicious`?"), "unexpected help in {message:?}\n{context}");
    }
}

fn check_definition(report: &Value, context: &str) {
    let crate_source = project_root().join("stdlib-nfs/acl/src/lib.rs");
    let text = fs::read_to_string(&crate_source).expect("stdlib-nfs/acl/src/lib.rs");
    let definition = &report["definition"];
    let buffer = definition["buffer"].as_str().unwrap_or_else(|| panic!("Neovim did not jump\n{context}"));
    assert_eq!(canonical(Path::new(buffer)), canonical(&crate_source), "jumped to the wrong file\n{context}");
    assert_eq!(definition["line"], line_of(&text, "pub enum Action"), "cursor not on `pub enum Action`\n{context}");
}

#[test]
fn neovim_shows_the_code_and_jumps_into_the_crate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = chain_with_typo();
    let chain = dir.path().join("security.gal");
    fs::write(&chain, &text).expect("writing the chain");
    let started = Instant::now();
    let (report, output) = run_neovim(&chain, &dir.path().join("report.json"));
    let context = format!("report: {report:#}\n{output}");
    assert!(report.get("error").is_none(), "the Lua client failed\n{context}");
    check_diagnostic(&report, line_of(&text, "suspicous"), &context);
    check_definition(&report, &context);
    eprintln!("nvim took {:?}", started.elapsed());
}
