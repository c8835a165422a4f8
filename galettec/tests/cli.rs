//! The `galettec` command line: exit codes, output formats, and building
//! every example for real.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn galettec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_galettec")).args(args).current_dir(project_root()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_accepts_a_valid_chain() {
    let output = galettec(&["check", "examples/macswap.gal"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("examples/macswap.gal: ok"));
}

#[test]
fn check_prints_every_error_and_fails() {
    let output = galettec(&["check", "tests/diagnostics/E0002-every-broken-statement.gal"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("error[E0002]").count(), 4, "{stderr}");
    assert!(stderr.contains("could not compile the chain: 4 errors"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn json_output_is_one_object_per_diagnostic() {
    let output = galettec(&["check", "--message-format", "json", "tests/diagnostics/E0102-unknown-name.gal"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let value: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(value["code"], "E0102");
    assert_eq!(value["severity"], "error");
    assert_eq!(value["file"], "tests/diagnostics/E0102-unknown-name.gal");
    assert_eq!(value["labels"][0]["line"], 3);
    assert_eq!(value["labels"][0]["column"], 7);
    assert_eq!(value["help"], "did you mean `swap`?");
}

#[test]
fn a_missing_file_is_one_clear_error() {
    let output = galettec(&["check", "no/such/chain.gal"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("cannot read no/such/chain.gal"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn every_example_chain_builds_into_a_verified_bundle() {
    let out = tempfile::tempdir().unwrap();
    let mut examples: Vec<PathBuf> = std::fs::read_dir(project_root().join("examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "gal"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 2);
    for example in examples {
        let bundle = out.path().join(example.file_stem().unwrap());
        let output = galettec(&[example.to_str().unwrap(), "-o", bundle.to_str().unwrap()]);
        assert!(output.status.success(), "{}: {}", example.display(), text(&output.stderr));
        let opened = galette_bundle::Bundle::open(&bundle).unwrap();
        assert_eq!(opened.manifest.xdp.as_ref().unwrap().entry_program, "galette_rx");
        for instance in &opened.manifest.instances {
            match instance.placement {
                // Fused into the entry's program: no program of its own.
                galette_bundle::Placement::Xdp => assert_eq!(instance.program, None, "{}", instance.name),
                galette_bundle::Placement::Userland => {
                    let library = opened.library_path(instance);
                    assert!(opened.manifest.artifacts.iter().any(|a| Some(&a.path) == library.as_ref()))
                }
            }
        }
    }
}

#[test]
fn explain_prints_the_placement_table_and_the_graph() {
    let output = galettec(&["explain", "examples/ipv4_reflector.gal"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let table = text(&output.stdout);
    assert!(table.starts_with("instance  runs in   reason\n"), "{table}");
    assert!(table.contains("swap      XDP       nothing requires userland"), "{table}");
    assert!(table.contains("\ngalette_rx  rx         ip, swap\n"), "one program fuses both NFs: {table}");

    let output = galettec(&["explain", "--emit", "dot", "examples/ipv4_reflector.gal"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let dot = text(&output.stdout);
    assert!(dot.contains("subgraph cluster_xdp"), "{dot}");
    assert!(dot.contains("\"nf ip\" -> \"pass\" [label=\"other\"];"), "{dot}");
}

#[test]
fn explain_draws_an_svg_file_with_graphviz_or_says_how_to_get_it() {
    let out = tempfile::tempdir().unwrap();
    let svg = out.path().join("chain.svg");
    let output = galettec(&["explain", "examples/ipv4_reflector.gal", "-o", svg.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.contains("<svg") && drawn.contains("nf ip"), "an SVG of the graph, not the table: {drawn}");

    let table_as_svg =
        galettec(&["explain", "--emit", "table", "examples/ipv4_reflector.gal", "-o", svg.to_str().unwrap()]);
    assert_eq!(table_as_svg.status.code(), Some(1));
    assert!(text(&table_as_svg.stderr).contains("cannot be drawn as SVG"), "{}", text(&table_as_svg.stderr));

    // Without `dot` on the PATH, the error says what to install.
    let without_dot = Command::new(env!("CARGO_BIN_EXE_galettec"))
        .args(["explain", "examples/ipv4_reflector.gal", "-o", svg.to_str().unwrap()])
        .current_dir(project_root())
        .env("PATH", out.path())
        .output()
        .unwrap();
    let stderr = text(&without_dot.stderr);
    assert_eq!(without_dot.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot write") && stderr.contains("apt-get install graphviz"), "{stderr}");
    assert!(!stderr.contains("bundle"), "{stderr}");
}

#[test]
fn an_unchanged_chain_is_rebuilt_from_the_cache() {
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("b");
    let build = || galettec(&["examples/ipv4_reflector.gal", "-o", bundle.to_str().unwrap()]);
    let first = build();
    assert!(first.status.success(), "{}", text(&first.stderr));
    let second = build();
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(text(&second.stderr).contains("Fresh eBPF object from the build cache"), "{}", text(&second.stderr));
    assert!(galette_bundle::Bundle::open(&bundle).is_ok());
}

#[test]
fn an_nf_that_does_not_compile_is_reported_as_that_nfs_error() {
    let out = tempfile::tempdir().unwrap();
    let output = galettec(&["tests/build/broken_nf.gal", "-o", out.path().join("b").to_str().unwrap()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the NF \"nfs/broken\" (used by `fixer`) does not compile for XDP"), "{stderr}");
    assert!(stderr.contains("cannot find function `swap_addresses`"), "rustc's own message: {stderr}");
    assert!(!stderr.contains("Compiling core"), "no cargo progress noise: {stderr}");
    assert!(!out.path().join("b").exists());
}

/// The `e_machine` of an ELF file.
fn elf_machine(path: &Path) -> u16 {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with(b"\x7fELF"), "{} is not ELF", path.display());
    u16::from_le_bytes([bytes[18], bytes[19]])
}

#[test]
fn one_bundle_serves_several_platforms_with_one_ebpf_object() {
    use galette_bundle::{Bundle, Platform};
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("both");
    let output = galettec(&[
        "examples/upcall_reflector.gal",
        "-o",
        bundle.to_str().unwrap(),
        "--platform",
        "x86_64-linux,aarch64-linux",
    ]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    for platform in Platform::ALL {
        // The size a device of each platform fetches.
        assert!(stderr.contains(&format!("{platform}: ")), "{stderr}");
        let opened = Bundle::open_for(&bundle, platform).unwrap();
        assert_eq!(opened.manifest.platforms, Platform::ALL);
        let swap = opened.manifest.instances.iter().find(|instance| instance.name == "swap").unwrap();
        let library = bundle.join(opened.library_path(swap).unwrap());
        assert_eq!(library, bundle.join(format!("user/{platform}/swap.so")));
        assert_eq!(elf_machine(&library), platform.elf_machine(), "{}", library.display());
    }
    let manifest = Bundle::open(&bundle).unwrap().manifest;
    let objects: Vec<_> = manifest.artifacts.iter().filter(|artifact| artifact.platform.is_none()).collect();
    assert_eq!(objects.len(), 1, "one shared eBPF object: {objects:?}");
    assert_eq!(objects[0].path, "xdp/chain.o");
}

#[test]
fn an_unknown_platform_is_refused_naming_the_known_ones() {
    let output = galettec(&["examples/macswap.gal", "-o", "/nonexistent/x", "--platform", "riscv64-linux"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown platform (known: x86_64-linux, aarch64-linux)"), "{stderr}");
}

#[test]
fn the_security_chains_bundle_stays_small_on_every_platform() {
    // Devices on slow links fetch it: under 300 KB for each platform.
    use galette_bundle::{Bundle, Platform};
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("security");
    let output = galettec(&[
        "examples/security.gal",
        "-o",
        bundle.to_str().unwrap(),
        "--platform",
        "x86_64-linux,aarch64-linux",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let manifest = Bundle::open(&bundle).unwrap().manifest;
    let size = |path: &str| std::fs::metadata(bundle.join(path)).unwrap().len();
    for platform in Platform::ALL {
        let artifacts: u64 = manifest
            .artifacts
            .iter()
            .filter(|artifact| artifact.is_for(platform))
            .map(|artifact| size(&artifact.path))
            .sum();
        let total = artifacts + size("manifest.json");
        assert!(total < 300_000, "{platform}: {total} bytes");
        let shown = format!("{platform}: {:.1} KB", total as f64 / 1e3);
        assert!(text(&output.stderr).contains(&shown), "galettec shows {shown}:\n{}", text(&output.stderr));
    }
}
