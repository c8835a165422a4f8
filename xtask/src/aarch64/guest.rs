//! Boots the arm64 guest under qemu (TCG) with a payload and one command,
//! and reports the command's exit status from the serial console.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::initramfs::{GUEST_MODULES_DIR, Tree};
use super::system::GuestSystem;

/// The line /init prints after the command: `GALETTE-GUEST-EXIT: <status>`.
pub const EXIT_MARKER: &str = "GALETTE-GUEST-EXIT: ";

/// How long qemu may take to power off after the marker.
const POWEROFF_GRACE: Duration = Duration::from_secs(10);

/// A host file copied into the guest.
#[derive(Debug, Clone)]
pub struct PayloadFile {
    /// Absolute path in the guest, e.g. `/payload/galette`.
    pub guest_path: String,
    pub host_path: PathBuf,
    /// Permission bits, e.g. 0o755.
    pub mode: u32,
}

/// What a guest run gave: the command's status, the whole console, and the
/// wall-clock time from starting qemu to its exit.
#[derive(Debug, Clone)]
pub struct GuestRun {
    pub exit_status: i32,
    pub console: String,
    pub elapsed: Duration,
}

/// Builds `work_dir/initramfs.cpio`, boots it, and waits (at most `timeout`)
/// for `command` (a shell command line run by busybox sh, as root, with
/// PATH=/usr/sbin:/usr/bin:/sbin:/bin) to finish and the guest to power off.
/// The console is also written to `work_dir/console.log`. An error means the
/// guest did not report a status (qemu failed, timed out, or the kernel
/// panicked); a failing command is `Ok` with its nonzero `exit_status`.
pub fn run_guest(
    system: &GuestSystem,
    payload: &[PayloadFile],
    command: &str,
    timeout: Duration,
    work_dir: &Path,
) -> Result<GuestRun, String> {
    super::files::create_dir_all(work_dir)?;
    let initramfs = work_dir.join("initramfs.cpio");
    build_initramfs(system, payload, command, &initramfs)?;
    boot(system, &initramfs, timeout, &work_dir.join("console.log"))
}

/// The initramfs alone (the caller may time it or inspect it). Returns its size.
pub fn build_initramfs(
    system: &GuestSystem,
    payload: &[PayloadFile],
    command: &str,
    out: &Path,
) -> Result<u64, String> {
    let mut tree = Tree::default();
    tree.add_host_tree(&system.userland_root)?;
    for dir in ["dev", "proc", "sys", "run", "tmp", "mnt", "root"] {
        tree.add_directory(dir)?;
    }
    // The kernel opens /dev/console for /init before devtmpfs is mounted.
    tree.add_char_device("dev/console", 5, 1)?;
    // iproute2 keeps named namespaces in /var/run/netns.
    tree.add_symlink("var/run", "../run")?;
    let mut module_names = Vec::new();
    for module in &system.modules {
        let name = module.file_name().and_then(|name| name.to_str()).ok_or("module without a file name")?;
        tree.add_file(&format!("{GUEST_MODULES_DIR}/{name}"), module, 0o644)?;
        module_names.push(name.to_owned());
    }
    for file in payload {
        tree.add_file(&file.guest_path, &file.host_path, file.mode)?;
    }
    let programs = debian_programs(&system.userland_root)?;
    tree.add_bytes("init", init_script(&module_names, &programs).into_bytes(), 0o755)?;
    tree.add_bytes("galette/command.sh", command_script(command, &programs).into_bytes(), 0o755)?;
    tree.write(out)
}

/// Programs of the userland that are not busybox links, as guest paths
/// (`/bin/ip`). Busybox sh runs its own applet for a name it knows before
/// looking at PATH (its "standalone shell"), so a plain `ip` in a script
/// would run busybox's `ip` (no netns, no veth): the scripts define a shell
/// function per program, which sh looks up before applets.
fn debian_programs(root: &Path) -> Result<Vec<String>, String> {
    let mut programs = Vec::new();
    for dir in ["usr/sbin", "usr/bin", "sbin", "bin"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        for entry in entries {
            let entry = entry.map_err(|err| format!("cannot list {dir}: {err}"))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_busybox = std::fs::read_link(entry.path()).is_ok_and(|target| target.ends_with("busybox"));
            let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            let taken = programs.iter().any(|program: &String| program.rsplit('/').next() == Some(name.as_str()));
            if valid && !is_busybox && name != "busybox" && !taken {
                programs.push(format!("/{dir}/{name}"));
            }
        }
    }
    programs.sort();
    Ok(programs)
}

/// `ip() { /bin/ip "$@"; }` for each program (see `debian_programs`).
fn program_functions(programs: &[String]) -> String {
    programs.iter().filter_map(|path| Some(format!("{}() {{ {path} \"$@\"; }}\n", path.rsplit('/').next()?))).collect()
}

/// /init: the mounts the kernel does not do (devtmpfs is not auto-mounted in
/// Debian's config), the modules, loopback, then the command and the marker.
fn init_script(module_names: &[String], programs: &[String]) -> String {
    let modules = module_names.join(" ");
    let functions = program_functions(programs);
    format!(
        r#"#!/bin/sh
# Generated by xtask (aarch64/guest.rs): set up, run /galette/command.sh, report, power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
{functions}mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t bpf bpf /sys/fs/bpf
mkdir -p /run/netns
for m in {modules}; do
  insmod /{GUEST_MODULES_DIR}/$m || echo "GALETTE-GUEST: insmod $m failed"
done
ip link set lo up
echo "GALETTE-GUEST: running the command at uptime $(cut -d' ' -f1 /proc/uptime)s"
/bin/sh /galette/command.sh </dev/null 2>&1
status=$?
echo
echo "{EXIT_MARKER}$status"
poweroff -f
"#
    )
}

/// The caller's command line, after the PATH and the program functions.
fn command_script(command: &str, programs: &[String]) -> String {
    let functions = program_functions(programs);
    format!("#!/bin/sh\nexport PATH=/usr/sbin:/usr/bin:/sbin:/bin\n{functions}{command}\n")
}

/// The status in a console line with the marker (anywhere in the line: a
/// kernel message may share it).
pub fn parse_exit_marker(line: &str) -> Option<i32> {
    let rest = &line[line.find(EXIT_MARKER)? + EXIT_MARKER.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// The console seen so far and the status, shared with the reader thread.
#[derive(Default)]
struct Console {
    text: String,
    exit_status: Option<i32>,
}

/// Kills qemu's process group unless it has been reaped.
struct QemuGuard {
    child: Child,
    reaped: bool,
}

impl QemuGuard {
    fn kill(&mut self) {
        if !self.reaped {
            // SAFETY: kill() has no memory preconditions; the group is the one
            // qemu leads (process_group(0) at spawn).
            unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
            let _ = self.child.wait();
            self.reaped = true;
        }
    }
}

impl Drop for QemuGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

fn boot(system: &GuestSystem, initramfs: &Path, timeout: Duration, log_path: &Path) -> Result<GuestRun, String> {
    let mut command = Command::new("nice");
    command.args(["-n", "10"]).arg(&system.qemu);
    command.args(["-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "1024", "-nographic", "-no-reboot"]);
    if let Some(data) = &system.qemu_data_dir {
        command.arg("-L").arg(data);
    }
    command.arg("-kernel").arg(&system.kernel).arg("-initrd").arg(initramfs);
    command.args(["-append", "console=ttyAMA0 panic=-1 quiet", "-device", "virtio-rng-pci", "-nic", "none"]);
    command.envs(system.qemu_env.iter().map(|(key, value)| (key, value)));
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let start = Instant::now();
    let child = command.spawn().map_err(|err| format!("cannot start {}: {err}", system.qemu.display()))?;
    let mut qemu = QemuGuard { child, reaped: false };
    let log = std::fs::File::create(log_path).map_err(|err| format!("cannot create {}: {err}", log_path.display()))?;
    let console = Arc::new(Mutex::new(Console::default()));
    let stdout = qemu.child.stdout.take().ok_or("qemu has no stdout")?;
    let reader = {
        let console = Arc::clone(&console);
        std::thread::spawn(move || read_console(stdout, log, &console))
    };
    let mut stderr = qemu.child.stderr.take().ok_or("qemu has no stderr")?;
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let mut marker_seen_at = None;
    let exit = loop {
        if let Some(status) = qemu.child.try_wait().map_err(|err| format!("cannot wait for qemu: {err}"))? {
            qemu.reaped = true;
            break Some(status);
        }
        let has_marker = console.lock().map(|console| console.exit_status.is_some()).unwrap_or(false);
        if has_marker && marker_seen_at.is_none() {
            marker_seen_at = Some(Instant::now());
        }
        if start.elapsed() > timeout || marker_seen_at.is_some_and(|at| at.elapsed() > POWEROFF_GRACE) {
            qemu.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = start.elapsed();
    let _ = reader.join();
    let stderr_text = stderr_reader.join().unwrap_or_default();
    let (text, exit_status) = match console.lock() {
        Ok(console) => (console.text.clone(), console.exit_status),
        Err(_) => return Err("the console reader panicked".to_owned()),
    };
    match (exit_status, exit) {
        (Some(exit_status), _) => Ok(GuestRun { exit_status, console: text, elapsed }),
        (None, None) => Err(format!(
            "the arm64 guest did not finish within {} s (killed); console ({}) ends with:\n{}{stderr_text}",
            timeout.as_secs(),
            log_path.display(),
            tail(&text, 40)
        )),
        (None, Some(status)) => Err(format!(
            "the arm64 guest stopped ({status}) without reporting the command's status; console ({}) ends with:\n{}{stderr_text}",
            log_path.display(),
            tail(&text, 40)
        )),
    }
}

/// Copies qemu's output to the log and the shared console, line by line,
/// noting the exit marker.
fn read_console(stdout: impl Read, mut log: std::fs::File, console: &Mutex<Console>) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).is_ok_and(|read| read > 0) {
        let _ = log.write_all(&line);
        let text = String::from_utf8_lossy(&line).replace('\r', "");
        if let Ok(mut console) = console.lock() {
            if console.exit_status.is_none() {
                console.exit_status = parse_exit_marker(&text);
            }
            console.text.push_str(&text);
        }
        line.clear();
    }
    let _ = log.flush();
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let mut tail = all[all.len().saturating_sub(lines)..].join("\n");
    tail.push('\n');
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_markers() {
        assert_eq!(parse_exit_marker("GALETTE-GUEST-EXIT: 0"), Some(0));
        assert_eq!(parse_exit_marker("GALETTE-GUEST-EXIT: 127\r"), Some(127));
        assert_eq!(parse_exit_marker("[    3.1] foo GALETTE-GUEST-EXIT: 3 "), Some(3));
        assert_eq!(parse_exit_marker("GALETTE-GUEST-EXIT: "), None);
        assert_eq!(parse_exit_marker("echo \"GALETTE-GUEST-EXIT: $status\""), None);
        assert_eq!(parse_exit_marker("hello"), None);
    }

    #[test]
    fn scripts_prefer_debian_programs() {
        let programs = vec!["/bin/ip".to_owned(), "/sbin/ethtool".to_owned()];
        let script = command_script("ip netns add a", &programs);
        assert!(script.contains("ip() { /bin/ip \"$@\"; }\n"));
        assert!(script.ends_with("ip netns add a\n"));
        let init = init_script(&["veth.ko".to_owned()], &programs);
        assert!(init.contains("insmod /lib/modules/galette/$m"));
        assert!(init.contains("for m in veth.ko; do"));
        assert!(init.contains("poweroff -f"));
    }

    #[test]
    fn tails() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail("a", 5), "a\n");
    }
}
