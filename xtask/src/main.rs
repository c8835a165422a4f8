//! Project automation, run as `cargo xtask COMMAND`:
//!
//! - `setup`: installs everything a new machine needs (idempotent, seconds
//!   when all is there);
//! - `demo`: setup, then compiles `examples/macswap.gal` and runs it on a
//!   test network it creates, with traffic and counters;
//! - `demo-fleet`: setup, then a broker, a registry and two agents on a test
//!   network, with a publish, an update and ACL changes live;
//! - `test`: setup, then the whole test suite, `test-aarch64` included;
//! - `test-aarch64`: setup, then the end-to-end test on a real aarch64
//!   kernel under qemu-system-aarch64 (see `test_aarch64`);
//! - `bench [--quick] [--publish] [...]`: setup, then the evaluation
//!   (`galette-bench`, built in release mode; see docs/benchmarks.md);
//! - `build --target aarch64`: setup, then the runtime cross-built for a
//!   Raspberry Pi class device, in `target/dist/aarch64-linux/`.

mod aarch64;
mod cross_build;
mod demo;
mod demo_fleet;
mod setup;
mod test_aarch64;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <setup | demo | demo-fleet | test [cargo test args...] | test-aarch64 | bench [--quick] [--publish] [galette-bench args...] | build --target aarch64>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup::run(),
        Some("demo") => setup::run().and_then(|()| demo::run()),
        Some("demo-fleet") => setup::run().and_then(|()| demo_fleet::run()),
        Some("test") => setup::run().and_then(|()| test(&args[1..])),
        Some("bench") => setup::run().and_then(|()| bench(&args[1..])),
        Some("build") => setup::run().and_then(|()| build(&args[1..])),
        Some("test-aarch64") => setup::run().and_then(|()| test_aarch64::run()),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The whole test suite: the layout (rustfmt) and the lints (clippy, every
/// warning an error), unit tests, diagnostics snapshots, end-to-end tests on
/// real namespaces (they need root), the end-to-end test on a real aarch64
/// kernel, then the VS Code extension's tests (its grammar's and its unit
/// tests, `npm test`).
fn test(extra_args: &[String]) -> Result<(), String> {
    step("Checking the layout (cargo fmt --check)");
    run_command(Command::new(cargo()).args(["fmt", "--all", "--check"]))?;
    step("Linting (cargo clippy, warnings are errors)");
    run_command(Command::new(cargo()).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    step("Running the test suite");
    run_command(Command::new(cargo()).args(["test", "--workspace", "--locked"]).args(extra_args))?;
    step("Running the end-to-end test on aarch64 (cargo xtask test-aarch64)");
    test_aarch64::run()?;
    step("Running the VS Code extension's tests (editors/vscode: the grammar's, then the unit tests)");
    let vscode = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../editors/vscode");
    run_command(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&vscode))?;
    run_command(Command::new("npm").arg("test").current_dir(&vscode))
}

/// `build --target T`: the runtime for another platform (see
/// `cross_build`).
fn build(args: &[String]) -> Result<(), String> {
    let [flag, target] = args else { return Err(USAGE.to_owned()) };
    if flag != "--target" {
        return Err(USAGE.to_owned());
    }
    let platform = cross_build::parse_target(target)?;
    let root = project_root();
    let built = cross_build::build(&root, platform, &["galette"])?;
    for binary in built {
        step(&format!(
            "Built {} for {platform}: copy it to the device (see \"On a Raspberry Pi\" in README.md)",
            binary.display()
        ));
    }
    Ok(())
}

/// The benchmarks: the runtime and the benchmark built in release mode (the
/// numbers are for what users run), then run with `args`.
fn bench(args: &[String]) -> Result<(), String> {
    step("Building galette and galette-bench (release)");
    run_command(Command::new(cargo()).args([
        "build",
        "--release",
        "--locked",
        "-p",
        "galette",
        "-p",
        "galette-bench",
    ]))?;
    let root = project_root();
    let target = target_dir(&root);
    step("Running the benchmarks");
    run_command(Command::new(target.join("release/galette-bench")).args(args).current_dir(&root))
}

/// The project's root directory.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the project").to_owned()
}

/// The workspace's target directory.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}

/// The cargo that runs this xtask.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs a command with inherited output; an error names it.
pub fn run_command(command: &mut Command) -> Result<(), String> {
    let status = command.status().map_err(|err| format!("cannot run {command:?}: {err}"))?;
    if status.success() { Ok(()) } else { Err(format!("{command:?} failed ({status})")) }
}

/// Prints a step heading.
pub fn step(text: &str) {
    println!("\n==> {text}");
}
