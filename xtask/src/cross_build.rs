//! `cargo xtask build --target aarch64`: the runtime cross-built for another
//! platform, linked against the Debian 11 sysroot (glibc 2.31) that
//! `cargo xtask setup` installs, stripped, ready to copy to a device.

use std::path::{Path, PathBuf};
use std::process::Command;

use galette_bundle::Platform;
use galette_cross::CrossToolchain;

use crate::{cargo, run_command, step, target_dir};

/// The platform `--target` names: `aarch64`, its platform name
/// (`aarch64-linux`) or its Rust target (`aarch64-unknown-linux-gnu`).
pub fn parse_target(name: &str) -> Result<Platform, String> {
    Platform::ALL
        .into_iter()
        .find(|platform| {
            let arch = platform.name().trim_end_matches("-linux");
            [arch, platform.name(), platform.rust_target()].contains(&name)
        })
        .ok_or_else(|| format!("unknown target `{name}` (known: aarch64, x86_64)"))
}

/// Builds the release binaries of `packages` for `platform` and copies them,
/// stripped, to `target/dist/PLATFORM/`; returns their paths there.
pub fn build(root: &Path, platform: Platform, packages: &[&str]) -> Result<Vec<PathBuf>, String> {
    let cross = CrossToolchain::for_platform(platform).map_err(|err| err.to_string())?;
    step(&format!("Building {} for {platform} (release)", packages.join(", ")));
    let mut command = Command::new(cargo());
    command.args(["build", "--release", "--locked", "--target", platform.rust_target()]).current_dir(root);
    for package in packages {
        command.args(["-p", package]);
    }
    if let Some(cross) = &cross {
        command.envs(cross.cargo_env()).envs(cross.c_env());
    }
    run_command(&mut command)?;

    let target_dir = target_dir(root);
    let built = target_dir.join(platform.rust_target()).join("release");
    let dist = target_dir.join("dist").join(platform.name());
    std::fs::create_dir_all(&dist).map_err(|err| format!("cannot create {}: {err}", dist.display()))?;
    let strip = cross.as_ref().map_or_else(|| "strip".to_owned(), |cross| cross.tool("strip"));
    let mut outputs = Vec::new();
    // Each package named here builds one binary of its own name.
    for package in packages {
        let output = dist.join(package);
        run_command(Command::new(&strip).arg("-o").arg(&output).arg(built.join(package)))?;
        outputs.push(output);
    }
    Ok(outputs)
}
