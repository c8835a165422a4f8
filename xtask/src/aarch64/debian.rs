//! A private apt: Debian package indexes, dependency closures and downloads
//! for any suite and architecture, with all of apt's state in a directory of
//! ours. The host's sources, lists, caches and dpkg database are never
//! written (no `dpkg --add-architecture`, no system `apt-get update`), so
//! fetching arm64 or Debian 11 packages cannot change what the machine has
//! installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// How old the package lists may be before `update` fetches them again.
const LISTS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// One `deb` line: a mirror, a suite and its components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
}

impl Suite {
    pub fn new(uri: &str, suite: &str) -> Self {
        Suite { uri: uri.to_owned(), suite: suite.to_owned(), components: vec!["main".to_owned()] }
    }
}

/// Debian 12 with its updates and security suites.
pub fn bookworm() -> Vec<Suite> {
    vec![
        Suite::new("http://deb.debian.org/debian", "bookworm"),
        Suite::new("http://deb.debian.org/debian", "bookworm-updates"),
        Suite::new("http://security.debian.org/debian-security", "bookworm-security"),
    ]
}

/// Debian 11 (Raspberry Pi OS 11's base, glibc 2.31) from the main mirror.
pub fn bullseye() -> Vec<Suite> {
    vec![Suite::new("http://deb.debian.org/debian", "bullseye")]
}

/// Debian 11 from archive.debian.org, for when it has left the main mirror.
pub fn bullseye_archive() -> Vec<Suite> {
    vec![Suite::new("http://archive.debian.org/debian", "bullseye")]
}

/// Which dpkg database apt plans against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Nothing installed: `closure` lists every package needed.
    Empty,
    /// The host's /var/lib/dpkg/status (read only): `closure` lists only what
    /// the host lacks. For host-architecture packages only.
    Host,
}

/// A package apt would install: name and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageVersion {
    pub name: String,
    pub version: String,
}

pub struct PrivateApt {
    state_dir: PathBuf,
    arch: String,
    status: Status,
}

impl PrivateApt {
    /// Prepares `state_dir` (sources.list, lists/, cache/) for `sources` and
    /// architecture `arch` (e.g. `arm64`). Nothing is fetched yet.
    pub fn new(state_dir: &Path, sources: &[Suite], arch: &str, status: Status) -> Result<Self, String> {
        for dir in ["lists/partial", "cache/archives/partial"] {
            let dir = state_dir.join(dir);
            std::fs::create_dir_all(&dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        }
        let list: String = sources
            .iter()
            .map(|suite| {
                format!(
                    "deb [arch={arch} signed-by={KEYRING}] {} {} {}\n",
                    suite.uri,
                    suite.suite,
                    suite.components.join(" ")
                )
            })
            .collect();
        let list_path = state_dir.join("sources.list");
        // A changed mirror (e.g. the bullseye fallback) invalidates the lists.
        if std::fs::read_to_string(&list_path).ok().as_deref() != Some(list.as_str()) {
            std::fs::write(&list_path, &list).map_err(|err| format!("cannot write {}: {err}", list_path.display()))?;
            let _ = std::fs::remove_file(state_dir.join("updated"));
        }
        Ok(PrivateApt { state_dir: state_dir.to_owned(), arch: arch.to_owned(), status })
    }

    /// A command (`apt-get` or `apt-cache`) with every piece of apt state
    /// pointed into `state_dir`. The host's apt.conf.d still applies (proxies).
    fn command(&self, program: &str) -> Command {
        let state = self.state_dir.display();
        let status = match self.status {
            Status::Empty => "/dev/null",
            Status::Host => "/var/lib/dpkg/status",
        };
        let mut command = Command::new(program);
        for option in [
            format!("Dir::Etc::SourceList={state}/sources.list"),
            "Dir::Etc::SourceParts=/dev/null".to_owned(),
            "Dir::Etc::Preferences=/dev/null".to_owned(),
            "Dir::Etc::PreferencesParts=/dev/null".to_owned(),
            format!("Dir::State::Lists={state}/lists"),
            format!("Dir::Cache={state}/cache"),
            format!("Dir::State::status={status}"),
            format!("APT::Architecture={}", self.arch),
            format!("APT::Architectures={}", self.arch),
            "APT::Get::List-Cleanup=false".to_owned(),
        ] {
            command.arg("-o").arg(option);
        }
        command.env("DEBIAN_FRONTEND", "noninteractive").env("LC_ALL", "C");
        command
    }

    /// Runs an apt command built by `command`; an error names it by its
    /// arguments after the `-o` options, and the state directory.
    fn run(&self, command: &mut Command) -> Result<String, String> {
        let mut shown = Vec::new();
        let mut args = command.get_args();
        while let Some(arg) = args.next() {
            if arg == "-o" {
                args.next();
            } else {
                shown.push(arg.to_string_lossy().into_owned());
            }
        }
        let program = command.get_program().to_string_lossy().into_owned();
        let name = format!("`{program} {}` (apt state {})", shown.join(" "), self.state_dir.display());
        output_named(command, &name)
    }

    /// Fetches the package lists, unless they were fetched in the last day.
    /// When fetching fails but older lists are there (offline, mirror down),
    /// says so and keeps them: a cached system built from them still works.
    pub fn update(&self) -> Result<(), String> {
        let stamp = self.state_dir.join("updated");
        let age = std::fs::metadata(&stamp)
            .and_then(|meta| meta.modified())
            .ok()
            .map(|time| SystemTime::now().duration_since(time).unwrap_or_default());
        if age.is_some_and(|age| age < LISTS_MAX_AGE) {
            return Ok(());
        }
        let mut command = self.command("apt-get");
        command.args(["-q", "update", "--error-on=any"]);
        match self.run(&mut command) {
            Ok(_) => std::fs::write(&stamp, b"").map_err(|err| format!("cannot write {}: {err}", stamp.display())),
            Err(err) if age.is_some() => {
                eprintln!("xtask: warning: keeping the package lists in {}: {err}", self.state_dir.display());
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    /// Every package (with its version) that installing `packages` would
    /// install, without recommends: the `Inst` lines of a simulated install.
    pub fn closure_versions(&self, packages: &[&str]) -> Result<Vec<PackageVersion>, String> {
        let mut command = self.command("apt-get");
        command.args(["install", "-s", "--no-install-recommends", "-q"]).args(packages);
        Ok(parse_inst_lines(&self.run(&mut command)?))
    }

    /// The names of [`PrivateApt::closure_versions`].
    #[allow(dead_code, reason = "public API for the aarch64 build (the guest system needs versions too)")]
    pub fn closure(&self, packages: &[&str]) -> Result<Vec<String>, String> {
        Ok(self.closure_versions(packages)?.into_iter().map(|package| package.name).collect())
    }

    /// Downloads the candidate .deb of each package into `dir`; returns their paths.
    pub fn download(&self, packages: &[String], dir: &Path) -> Result<Vec<PathBuf>, String> {
        std::fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        let mut command = self.command("apt-get");
        command.args(["download", "-q"]).args(packages).current_dir(dir);
        self.run(&mut command)?;
        let mut debs = Vec::new();
        for package in packages {
            let prefix = format!("{package}_");
            let found = std::fs::read_dir(dir)
                .map_err(|err| format!("cannot list {}: {err}", dir.display()))?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .find(|path| {
                    path.file_name()
                        .and_then(|name| name.to_str())
                        .is_some_and(|name| name.starts_with(&prefix) && name.ends_with(".deb"))
                })
                .ok_or_else(|| format!("apt-get download left no {prefix}*.deb in {}", dir.display()))?;
            debs.push(found);
        }
        Ok(debs)
    }

    /// The packages a (meta) package depends on, e.g. `linux-image-arm64` →
    /// `linux-image-6.1.0-57-arm64`.
    pub fn depends_of(&self, meta: &str) -> Result<Vec<String>, String> {
        let mut command = self.command("apt-cache");
        command.args(["depends", meta]);
        Ok(parse_depends(&self.run(&mut command)?))
    }

    /// The version apt would install of `package`.
    pub fn candidate_version(&self, package: &str) -> Result<String, String> {
        let mut command = self.command("apt-cache");
        command.args(["policy", package]);
        let output = self.run(&mut command)?;
        output
            .lines()
            .find_map(|line| line.trim().strip_prefix("Candidate: "))
            .filter(|version| *version != "(none)")
            .map(str::to_owned)
            .ok_or_else(|| format!("no candidate version of {package} ({} lists)", self.arch))
    }
}

/// Unpacks a .deb's files into `dir` (no maintainer scripts run).
pub fn extract(deb: &Path, dir: &Path) -> Result<(), String> {
    output_of(Command::new("dpkg-deb").arg("-x").arg(deb).arg(dir)).map(drop)
}

/// `Inst libc6 (2.31-13+deb11u11 Debian:11.11/oldoldstable [arm64])` →
/// (libc6, 2.31-13+deb11u11). An upgrade line has `[old] (new ...)`.
fn parse_inst_lines(output: &str) -> Vec<PackageVersion> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("Inst "))
        .filter_map(|rest| {
            let name = rest.split_whitespace().next()?;
            let version = rest.split('(').nth(1)?.split_whitespace().next()?;
            Some(PackageVersion { name: name.to_owned(), version: version.to_owned() })
        })
        .collect()
}

/// The `Depends:` of `apt-cache depends` (alternatives marked `|` included).
fn parse_depends(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| line.trim().trim_start_matches('|').strip_prefix("Depends: "))
        .map(|name| name.trim_matches(|c| c == '<' || c == '>').to_owned())
        .collect()
}

/// Runs a command, capturing its output; an error names it and carries its stderr.
pub fn output_of(command: &mut Command) -> Result<String, String> {
    let name = format!("{command:?}");
    output_named(command, &name)
}

/// [`output_of`] with a short name for errors (apt's `-o` options are long).
fn output_named(command: &mut Command, name: &str) -> Result<String, String> {
    let output = command.output().map_err(|err| format!("cannot run {name}: {err}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{name} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout).trim_end(),
            String::from_utf8_lossy(&output.stderr).trim_end()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inst_lines() {
        let output = "NOTE: This is only a simulation!\n\
            Inst gcc-10-base (10.2.1-6 Debian:11.11/oldoldstable [arm64])\n\
            Inst libc6 (2.31-13+deb11u11 Debian:11.11/oldoldstable [arm64])\n\
            Inst libfoo [1.0-1] (1.0-2 Debian:12.12/stable [amd64])\n\
            Conf libc6 (2.31-13+deb11u11 Debian:11.11/oldoldstable [arm64])\n";
        let packages = parse_inst_lines(output);
        assert_eq!(packages.len(), 3);
        assert_eq!(packages[1], PackageVersion { name: "libc6".into(), version: "2.31-13+deb11u11".into() });
        assert_eq!(packages[2].version, "1.0-2");
    }

    #[test]
    fn depends_lines() {
        let output =
            "linux-image-arm64\n  Depends: linux-image-6.1.0-57-arm64\n  Recommends: apparmor\n |Depends: <foo>\n";
        assert_eq!(parse_depends(output), ["linux-image-6.1.0-57-arm64", "foo"]);
    }
}
