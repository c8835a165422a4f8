//! The main job, end to end: compile `examples/macswap.gal`, run it with
//! `galette` on one end of a test network, send real frames from the other
//! end, show the counters, stop, and check nothing is left behind.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use galette_testbed::{VethPair, attach_xdp_pass, probe_reflector, xdp_program_attached};

use crate::{cargo, run_command, step, target_dir};

const ROUNDS: u32 = 5;
const FRAMES_PER_ROUND: u32 = 200;

/// Set by SIGINT or SIGTERM: the demo stops early but still cleans up.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed)
}

pub fn run() -> Result<(), String> {
    // Ctrl-C reaches galette too (same process group), which detaches; the
    // demo notices, stops sending and removes the test network.
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe { libc::signal(signal, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    }
    let root = crate::project_root();
    let bin = target_dir(&root).join("debug");

    step("Building galettec and galette");
    run_command(
        Command::new(cargo()).args(["build", "--locked", "-p", "galettec", "-p", "galette"]).current_dir(&root),
    )?;

    step("Compiling examples/macswap.gal into a bundle");
    let bundle = target_dir(&root).join("demo/macswap.bundle");
    run_command(
        Command::new(bin.join("galettec")).arg("examples/macswap.gal").arg("-o").arg(&bundle).current_dir(&root),
    )?;

    step("Creating a test network: two namespaces joined by a veth pair");
    let pair = VethPair::create("demo").map_err(|err| format!("cannot create the test network: {err}"))?;
    let (gateway, client) = (pair.a(), pair.b());
    println!("    gateway: namespace {}, {} {}", gateway.namespace(), gateway.interface(), gateway.ip());
    println!("    client:  namespace {}, {} {}", client.namespace(), client.interface(), client.ip());
    // On veth, frames sent back with XDP_TX only arrive at a peer that has an
    // XDP program of its own; a pass-through one is enough.
    let _client_program = attach_xdp_pass(client.namespace(), client.interface())
        .map_err(|err| format!("cannot attach the client's pass program: {err}"))?;

    step(&format!("Running the chain on the gateway's {} (counters every second)", gateway.interface()));
    let mut galette = ChildGuard(Some(
        Command::new("ip")
            .args(["netns", "exec", gateway.namespace()])
            .arg(bin.join("galette"))
            .arg("run")
            .arg(&bundle)
            .args(["--iface", gateway.interface()])
            .spawn()
            .map_err(|err| format!("cannot start galette: {err}"))?,
    ));
    galette.wait_attached(gateway.namespace(), gateway.interface())?;

    step(&format!("Sending {} UDP frames from the client, {FRAMES_PER_ROUND} a second", ROUNDS * FRAMES_PER_ROUND));
    let mut swapped = 0;
    for round in 1..=ROUNDS {
        if interrupted() {
            break;
        }
        let report = probe_reflector(client, gateway, FRAMES_PER_ROUND, Duration::from_secs(1))
            .map_err(|err| format!("cannot send frames: {err}"))?;
        swapped += report.swapped;
        println!("    round {round}: sent {}, came back swapped {}, lost {}", report.sent, report.swapped, report.lost);
        std::thread::sleep(Duration::from_secs(1));
    }

    step("Stopping galette with SIGINT");
    let status = galette.interrupt()?;
    if !status.success() {
        return Err(format!("galette exited with {status}"));
    }
    let left_attached =
        xdp_program_attached(gateway.namespace(), gateway.interface()).map_err(|err| err.to_string())?;
    if left_attached {
        return Err(format!("an XDP program is still attached to {}", gateway.interface()));
    }
    println!("    no XDP program is left on {}", gateway.interface());
    pair.cleanup().map_err(|err| format!("cannot remove the test network: {err}"))?;
    println!("    removed the test network");

    if interrupted() {
        return Err("interrupted; the test network was removed".into());
    }
    let sent = ROUNDS * FRAMES_PER_ROUND;
    if swapped != sent {
        return Err(format!("only {swapped} of {sent} frames came back with their MAC addresses swapped"));
    }
    step(&format!("Done: all {sent} frames came back with their MAC addresses swapped by the XDP chain"));
    Ok(())
}

/// The running `galette`; killed if the demo fails half-way.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn wait_attached(&mut self, namespace: &str, interface: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !xdp_program_attached(namespace, interface).map_err(|err| err.to_string())? {
            if let Some(status) = self.0.as_mut().expect("running").try_wait().map_err(|err| err.to_string())? {
                return Err(format!("galette exited with {status} before attaching"));
            }
            if Instant::now() > deadline {
                return Err("galette did not attach within 30 seconds".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn interrupt(&mut self) -> Result<std::process::ExitStatus, String> {
        let mut child = self.0.take().expect("running");
        if let Ok(Some(status)) = child.try_wait() {
            return Ok(status); // Already stopped by the user's Ctrl-C.
        }
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        child.wait().map_err(|err| err.to_string())
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
