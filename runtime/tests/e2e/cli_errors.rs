//! Operational errors of `galette run`: one clear message, exit status 1, no
//! panic and no backtrace.

use std::process::Output;

use galette_testbed::{TestBpffs, VethPair, xdp_program_attached};

use crate::support::{example_bundle, galette};

fn assert_clear_failure(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_missing_interface_is_named() {
    let output = galette().arg("run").arg(example_bundle("macswap")).args(["--iface", "nosuchif0"]).output().unwrap();
    assert_clear_failure(&output, "no network interface named `nosuchif0`");
}

#[test]
fn a_bad_bundle_path_is_explained() {
    let output = galette().args(["run", "/nonexistent/bundle", "--iface", "lo"]).output().unwrap();
    assert_clear_failure(&output, "/nonexistent/bundle is not a directory");
}

#[test]
fn a_tampered_bundle_is_refused() {
    let copy = tempfile::tempdir().unwrap();
    let bundle = copy.path().join("b");
    std::fs::create_dir_all(bundle.join("xdp")).unwrap();
    for file in ["manifest.json", "xdp/chain.o"] {
        std::fs::copy(example_bundle("macswap").join(file), bundle.join(file)).unwrap();
    }
    let mut object = std::fs::read(bundle.join("xdp/chain.o")).unwrap();
    let last = object.len() - 1;
    object[last] ^= 0xff;
    std::fs::write(bundle.join("xdp/chain.o"), object).unwrap();
    let output = galette().arg("run").arg(&bundle).args(["--iface", "lo"]).output().unwrap();
    assert_clear_failure(&output, "artifact xdp/chain.o does not match its sha256");
}

/// A copy of the runtime that `nobody` can run, wherever the checkout is (a
/// private temporary directory, say), in a directory it can read.
fn galette_for_nobody() -> (tempfile::TempDir, std::path::PathBuf) {
    let readable = tempfile::Builder::new().prefix("galette-nobody-").tempdir_in("/tmp").unwrap();
    open_to_all(readable.path(), 0o755);
    let binary = readable.path().join("galette");
    std::fs::copy(env!("CARGO_BIN_EXE_galette"), &binary).unwrap();
    open_to_all(&binary, 0o755);
    (readable, binary)
}

fn open_to_all(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A command running `binary` as `nobody`, with no capabilities at all.
fn as_nobody(binary: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new("setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
        .arg(binary);
    command
}

#[test]
fn missing_privileges_are_explained() {
    // `nobody` must reach the bundle too: a copy next to the binary.
    let (readable, binary) = galette_for_nobody();
    let open = open_to_all;
    let bundle = readable.path().join("bundle");
    std::fs::create_dir_all(bundle.join("xdp")).unwrap();
    for file in ["manifest.json", "xdp/chain.o"] {
        std::fs::copy(example_bundle("macswap").join(file), bundle.join(file)).unwrap();
        open(&bundle.join(file), 0o644);
    }
    open(&bundle, 0o755);
    open(&bundle.join("xdp"), 0o755);
    let output = as_nobody(&binary).arg("run").arg(&bundle).args(["--iface", "lo"]).output().unwrap();
    assert_clear_failure(&output, "galette needs root privileges (CAP_BPF and CAP_NET_ADMIN missing)");
}

#[test]
fn a_missing_map_file_is_named_before_anything_is_attached() {
    let output = galette()
        .arg("run")
        .arg(example_bundle("filtered_router"))
        .args(["--iface", "lo", "--load", "acl_v4=/nonexistent/prefixes.txt"])
        .output()
        .unwrap();
    assert_clear_failure(&output, "cannot read /nonexistent/prefixes.txt for `acl_v4`");
}

/// A map file with a bad line stops the start: the line is named, and the
/// chain, loaded but not yet attached, is gone.
#[test]
fn a_bad_map_file_line_is_named_and_nothing_stays_attached() {
    let bpffs = TestBpffs::mount("bad-load").unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "198.18.0.0/15 1\n198.18.0.0/40 1\n").unwrap();
    let pair = VethPair::create("e2e-badload").unwrap();
    let gateway = pair.a();
    let load = format!("acl_v4={}", file.path().display());
    let output = std::process::Command::new("ip")
        .args(["netns", "exec", gateway.namespace()])
        .arg(env!("CARGO_BIN_EXE_galette"))
        .arg("run")
        .arg(example_bundle("filtered_router"))
        .args(["--iface", gateway.interface(), "--bpffs", bpffs.path.to_str().unwrap(), "--load", &load])
        .output()
        .unwrap();
    assert_clear_failure(
        &output,
        "loading `acl_v4`: line 2: key \"198.18.0.0/40\": a prefix of 40 bits is longer than the address",
    );
    assert!(!xdp_program_attached(gateway.namespace(), gateway.interface()).unwrap());
    assert!(!bpffs.path.join("galette/filtered_router").join("acl_v4").exists(), "the maps are unpinned");
    assert!(!bpffs.path.join("galette").exists(), "the directories galette made for the pins are gone");
    assert!(bpffs.path.is_dir(), "the mount it did not make stays");
}

#[test]
fn a_bundle_for_another_platform_is_refused_naming_the_platforms_it_has() {
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("aarch64-only");
    let options = galettec::CompileOptions {
        platforms: vec![galette_bundle::Platform::Aarch64Linux],
        ..galettec::CompileOptions::from_env()
    };
    galettec::compile_chain(&crate::support::project_root().join("examples/upcall_reflector.gal"), &bundle, &options)
        .unwrap();
    let output = galette().arg("run").arg(&bundle).args(["--iface", "lo"]).output().unwrap();
    assert_clear_failure(
        &output,
        "bundle `upcall_reflector` was built for aarch64-linux, not for x86_64-linux; recompile the chain with `galettec --platform x86_64-linux` (several at once: `--platform x86_64-linux,aarch64-linux`)",
    );
}

#[test]
fn check_finds_everything_here_and_cannot_tell_without_privileges() {
    let output = galette().arg("check").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout.lines().filter(|line| line.trim_start().starts_with("ok ")).count(), 4, "{stdout}");
    let (_readable, binary) = galette_for_nobody();
    let output = as_nobody(&binary).arg("check").output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("unknown  eBPF (the bpf system call)"));
    assert_clear_failure(&output, "could not tell whether this machine's kernel has everything chains need");
}
