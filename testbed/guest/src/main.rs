//! Runs inside the aarch64 guest of `cargo xtask test-aarch64`, as
//! `galette-guest-test GALETTE BUNDLE`: the bundle of
//! `examples/upcall_reflector.gal` (an XDP NF that sends IPv4 frames up to
//! a userland MAC swap), compiled on the build machine for aarch64-linux,
//! run by the cross-built runtime on one end of a veth pair. It sends real
//! frames from the other end and checks that each comes back swapped, that
//! the counters saw exactly those frames, and that SIGTERM detaches
//! everything. Prints `PASS` last and exits 0, or says what failed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use galette_testbed::{VethPair, attach_xdp_pass, probe_reflector, xdp_program_attached};

const FRAMES: u32 = 200;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [galette, bundle] = &args[..] else {
        eprintln!("usage: galette-guest-test GALETTE BUNDLE");
        return ExitCode::FAILURE;
    };
    match run(galette, bundle) {
        Ok(()) => {
            println!("PASS");
            ExitCode::SUCCESS
        }
        Err(message) => {
            println!("FAIL: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(galette: &str, bundle: &str) -> Result<(), String> {
    report_kernel();
    check_kernel(galette)?;
    let pair = VethPair::create("a64").map_err(|err| format!("cannot create the veth pair: {err}"))?;
    let result = run_on(&pair, galette, bundle);
    pair.cleanup().map_err(|err| format!("cannot remove the test network: {err}"))?;
    result
}

/// What the guest's kernel is, for the log.
fn report_kernel() {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default().trim().to_owned();
    println!("guest: {}", read("/proc/version"));
    println!("guest: bpf_jit_enable={}", read("/proc/sys/net/core/bpf_jit_enable"));
}

/// `galette check` on the guest's kernel: it must find everything, the JIT
/// included (Debian's arm64 kernel has it).
fn check_kernel(galette: &str) -> Result<(), String> {
    let output = Command::new(galette).arg("check").output().map_err(|err| format!("cannot run {galette}: {err}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines() {
        println!("guest: galette check: {}", line.trim());
    }
    if !output.status.success() {
        return Err(format!("`galette check` failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    if stdout.lines().count() != 4 || !stdout.lines().all(|line| line.trim_start().starts_with("ok ")) {
        return Err("`galette check` found a kernel feature missing".to_owned());
    }
    Ok(())
}

fn run_on(pair: &VethPair, galette: &str, bundle: &str) -> Result<(), String> {
    let (gateway, client) = (pair.a(), pair.b());
    // Frames a chain sends back out of a veth only reach a peer with an XDP
    // program of its own (see TOOLCHAIN.md); a pass-through one is enough.
    let _client_program = attach_xdp_pass(client.namespace(), client.interface())
        .map_err(|err| format!("cannot attach the client's pass program: {err}"))?;
    let child = Command::new("ip")
        .args(["netns", "exec", gateway.namespace(), galette, "run", bundle, "--iface", gateway.interface()])
        .arg("--stats-json")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot start {galette}: {err}"))?;
    let mut galette = Runtime::new(child);
    galette.wait_attached(gateway.namespace(), gateway.interface())?;
    print_attached_program(gateway.namespace(), gateway.interface());

    let reflected = probe_reflector(client, gateway, FRAMES, Duration::from_secs(2))
        .map_err(|err| format!("cannot send frames: {err}"))?;
    println!(
        "guest: sent {}, came back swapped {}, not swapped {}, lost {}",
        reflected.sent, reflected.swapped, reflected.not_swapped, reflected.lost
    );

    let (status, last) = galette.terminate()?;
    if !status.success() {
        return Err(format!("galette exited with {status} after SIGTERM"));
    }
    if xdp_program_attached(gateway.namespace(), gateway.interface()).map_err(|err| err.to_string())? {
        return Err(format!("an XDP program is still attached to {} after galette stopped", gateway.interface()));
    }
    println!("guest: galette exited 0 and left no XDP program on {}", gateway.interface());
    if reflected.swapped != FRAMES {
        return Err(format!("{} of {FRAMES} frames came back with their MAC addresses swapped", reflected.swapped));
    }
    check_counters(&last)
}

/// The counters of the final reading: every probe went up to userland
/// (`ip` → `ipv4`) and out of the MAC swap (`swap` → `out`), and the chain
/// dropped none for want of a socket or worker.
fn check_counters(line: &str) -> Result<(), String> {
    let report: serde_json::Value =
        serde_json::from_str(line).map_err(|err| format!("the last counters line is not JSON ({err}): {line}"))?;
    println!("guest: final counters {line}");
    if report["final"] != true {
        return Err("galette printed no final counters".to_owned());
    }
    let port = |instance: &str, port: &str| {
        report["instances"].as_array().into_iter().flatten().find(|entry| entry["name"] == instance).and_then(|entry| {
            entry["ports"].as_array()?.iter().find(|entry| entry["name"] == port)?["packets"].as_u64()
        })
    };
    let expected = Some(u64::from(FRAMES));
    for (instance, name) in [("ip", "ipv4"), ("swap", "out")] {
        if port(instance, name) != expected {
            return Err(format!(
                "`{instance}` counted {:?} packets out of `{name}`, not {FRAMES}",
                port(instance, name)
            ));
        }
    }
    let dropped: u64 =
        report["drops"].as_array().into_iter().flatten().filter_map(|drop| drop["packets"].as_u64()).sum();
    if dropped != 0 {
        return Err(format!("the chain dropped {dropped} packets it could not deliver: {}", report["drops"]));
    }
    Ok(())
}

/// `ip -d link show` of the gateway's interface: the program, and whether
/// the kernel JIT-compiled it.
fn print_attached_program(namespace: &str, interface: &str) {
    if let Ok(output) = Command::new("ip").args(["-n", namespace, "-d", "link", "show", "dev", interface]).output() {
        for line in String::from_utf8_lossy(&output.stdout).lines().filter(|line| line.contains("prog/xdp")) {
            println!("guest: attached: {}", line.trim());
        }
    }
}

/// The running `galette`, its counters lines read as they come; killed if
/// the test fails half-way.
struct Runtime {
    child: Option<Child>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Runtime {
    fn new(mut child: Child) -> Runtime {
        let stdout = child.stdout.take().expect("piped");
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        Runtime { child: Some(child), lines }
    }

    fn wait_attached(&mut self, namespace: &str, interface: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !xdp_program_attached(namespace, interface).map_err(|err| err.to_string())? {
            if let Some(status) = self.child.as_mut().expect("running").try_wait().map_err(|err| err.to_string())? {
                return Err(format!("galette exited with {status} before attaching"));
            }
            if Instant::now() > deadline {
                return Err("galette did not attach within 60 seconds".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Sends SIGTERM and waits: the exit status and the last counters line
    /// printed (galette's messages go to the same output).
    fn terminate(&mut self) -> Result<(std::process::ExitStatus, String), String> {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill(2) on our own child's pid. `ip netns exec` execs
        // galette, so the pid is galette's.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().map_err(|err| err.to_string())?;
        let last = self.lines.iter().filter(|line| line.starts_with('{')).last().unwrap_or_default();
        Ok((status, last))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
