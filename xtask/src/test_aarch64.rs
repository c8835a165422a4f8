//! `cargo xtask test-aarch64`: the chain of `examples/upcall_reflector.gal`
//! (an XDP NF and an upcalled userland NF), compiled here for aarch64-linux,
//! run by the cross-built runtime inside a real aarch64 Linux: Debian's
//! arm64 kernel under qemu-system-aarch64 (TCG), with Debian 11's userland
//! (glibc 2.31, that of Raspberry Pi OS 11). The guest's own test
//! (`testbed/guest`) makes the network, sends the frames and checks the
//! replies, the counters and the detach; its console comes back here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use galette_bundle::{Bundle, Platform};
use galette_cross::OLDEST_GLIBC;

use crate::aarch64::{PayloadFile, highest_glibc_version, prepare_guest_system, run_guest};
use crate::{cargo, cross_build, project_root, run_command, step, target_dir};

/// The chain the guest runs.
const CHAIN: &str = "examples/upcall_reflector.gal";

/// Far more than a run takes (under 5 s of guest time under TCG on two
/// cores, boot included), so only a hung guest hits it.
const GUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// What the guest's test prints last when everything held.
const PASS_LINE: &str = "PASS";

pub fn run() -> Result<(), String> {
    let started = Instant::now();
    let root = project_root();
    let platform = Platform::Aarch64Linux;

    step("Building galettec");
    run_command(Command::new(cargo()).args(["build", "--locked", "-p", "galettec"]).current_dir(&root))?;
    let bundle = target_dir(&root).join("aarch64-test/upcall_reflector.bundle");
    step(&format!("Compiling {CHAIN} for {platform}"));
    run_command(
        Command::new(target_dir(&root).join("debug/galettec"))
            .arg(CHAIN)
            .arg("-o")
            .arg(&bundle)
            .args(["--platform", platform.name()])
            .current_dir(&root),
    )?;
    let binaries = cross_build::build(&root, platform, &["galette", "galette-guest-test"])?;
    let [galette, guest_test] = &binaries[..] else { unreachable!("two packages, two binaries") };

    step(&format!("Checking that the aarch64 artifacts need at most glibc {}.{}", OLDEST_GLIBC.0, OLDEST_GLIBC.1));
    let opened = Bundle::open_for(&bundle, platform).map_err(|err| format!("{}: {err}", bundle.display()))?;
    let libraries: Vec<PathBuf> = opened
        .manifest
        .instances
        .iter()
        .filter_map(|instance| opened.library_path(instance))
        .map(|path| bundle.join(path))
        .collect();
    if libraries.is_empty() {
        return Err(format!("{CHAIN} has no userland NF; the test needs one"));
    }
    for artifact in binaries.iter().chain(&libraries) {
        check_glibc(artifact)?;
    }

    step("Preparing the aarch64 guest (Debian's arm64 kernel, Debian 11 userland; cached after the first run)");
    let system = prepare_guest_system(&crate::aarch64::default_cache_root())?;
    let mut payload = vec![
        PayloadFile { guest_path: "/payload/galette".into(), host_path: galette.clone(), mode: 0o755 },
        PayloadFile { guest_path: "/payload/galette-guest-test".into(), host_path: guest_test.clone(), mode: 0o755 },
    ];
    payload.extend(bundle_files(&bundle)?);

    step(&format!("Booting it under qemu-system-aarch64 ({}) and running the test inside", system.kernel_version));
    let work_dir = target_dir(&root).join("aarch64-test/guest");
    let run = run_guest(
        &system,
        &payload,
        "/payload/galette-guest-test /payload/galette /payload/bundle",
        GUEST_TIMEOUT,
        &work_dir,
    )?;
    let passed = run.exit_status == 0 && run.console.lines().any(|line| line.trim() == PASS_LINE);
    if !passed {
        return Err(format!(
            "the test failed inside the aarch64 guest (exit status {}); its console:\n{}",
            run.exit_status, run.console
        ));
    }
    for line in run.console.lines().filter(|line| line.starts_with("guest: ")) {
        println!("    {line}");
    }
    step(&format!(
        "Passed on aarch64: guest {:.1} s, all of test-aarch64 {:.0} s",
        run.elapsed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Fails unless `path` needs at most the glibc of Raspberry Pi OS 11.
fn check_glibc(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let needed = highest_glibc_version(&bytes).map_err(|err| format!("{}: {err}", path.display()))?;
    match needed {
        Some(version) if version > OLDEST_GLIBC => Err(format!(
            "{} needs GLIBC_{}.{}, newer than the {}.{} of Raspberry Pi OS 11: was it linked against the build machine's libc?",
            path.display(),
            version.0,
            version.1,
            OLDEST_GLIBC.0,
            OLDEST_GLIBC.1
        )),
        _ => {
            let shown = needed.map_or("no glibc symbol".to_owned(), |(major, minor)| format!("GLIBC_{major}.{minor}"));
            println!("    {}: at most {shown}", path.display());
            Ok(())
        }
    }
}

/// Every file of the bundle in `dir`, under `/payload/bundle/`.
fn bundle_files(dir: &Path) -> Result<Vec<PayloadFile>, String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|err| format!("cannot list {}: {err}", current.display()))?;
        for entry in entries {
            let path = entry.map_err(|err| err.to_string())?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(dir).expect("under the bundle").display().to_string();
            files.push(PayloadFile { guest_path: format!("/payload/bundle/{relative}"), host_path: path, mode: 0o644 });
        }
    }
    Ok(files)
}
