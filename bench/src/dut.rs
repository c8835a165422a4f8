//! The devices under test, started on the DUT's side of the veth pair and
//! stopped again: Galette (a `galette run` process), the hand-written aya
//! XDP macswap, and the AF_PACKET forwarder (this binary, as a process).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aya::Ebpf;
use galette_bench_report::Dut;
use galette_testbed::xdp_program_attached;

use crate::BenchError;
use crate::traffic::{attach_program, detach_program};

/// Where the DUT runs.
#[derive(Debug, Clone)]
pub struct DutSide {
    pub namespace: String,
    pub interface: String,
    /// The CPUs of the DUT, which the generator does not use.
    pub cpus: Vec<usize>,
}

impl DutSide {
    /// A command that runs `program` in the DUT's namespace on the DUT's
    /// CPUs: `taskset` pins it (and every thread it starts) and `ip netns
    /// exec` enters the namespace; both exec what follows in place, so the
    /// child's pid is the program's.
    fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let cpus: Vec<String> = self.cpus.iter().map(usize::to_string).collect();
        let mut command = Command::new("taskset");
        command.args(["--cpu-list", &cpus.join(","), "ip", "netns", "exec", &self.namespace]).arg(program);
        command
    }
}

/// A started device under test; stopped (and everything it attached gone)
/// by [`StartedDut::stop`] or on drop.
pub struct StartedDut {
    child: Option<Child>,
    /// The program of the benchmark's object attached to the DUT's
    /// interface, if any.
    program: Option<&'static str>,
}

/// How to start one Galette run.
pub struct GaletteRun<'a> {
    pub galette: &'a Path,
    pub bundle: &'a Path,
    pub workers: u32,
    pub poll: bool,
    /// `--load MAP=FILE` arguments.
    pub loads: Vec<String>,
    /// Its `--run-dir`, where its control socket goes.
    pub run_dir: &'a Path,
    /// Where galette's output goes, for when it fails.
    pub log: PathBuf,
}

impl StartedDut {
    /// `galette run` on the DUT's interface; returns once it is attached.
    pub fn galette(side: &DutSide, run: &GaletteRun) -> Result<StartedDut, BenchError> {
        let log = std::fs::File::create(&run.log)
            .map_err(|err| BenchError::Setup(format!("cannot create {}: {err}", run.log.display())))?;
        let mut command = side.command(run.galette);
        command
            .arg("run")
            .arg(run.bundle)
            .args([
                "--iface",
                &side.interface,
                "--workers",
                &run.workers.to_string(),
                "--mode",
                if run.poll { "poll" } else { "irq" },
            ])
            .arg("--run-dir")
            .arg(run.run_dir)
            // Counters are read at the end, not printed as it runs.
            .args(["--stats-interval", "100000"]);
        for load in &run.loads {
            command.args(["--load", load]);
        }
        // Its output too: the last counters and a line per reload say where
        // frames went.
        let stdout =
            log.try_clone().map_err(|err| BenchError::Setup(format!("cannot share {}: {err}", run.log.display())))?;
        let child = command
            .stdout(stdout)
            .stderr(log)
            .spawn()
            .map_err(|err| BenchError::Setup(format!("cannot start {}: {err}", run.galette.display())))?;
        let mut started = StartedDut { child: Some(child), program: None };
        started.wait_attached(side, &run.log)?;
        Ok(started)
    }

    /// Attaches program `name` of the benchmark's object (`bench_macswap`,
    /// `bench_drop`) to the DUT's interface.
    pub fn program(ebpf: &mut Ebpf, side: &DutSide, name: &'static str) -> Result<StartedDut, BenchError> {
        attach_program(ebpf, name, &side.namespace, &side.interface)?;
        Ok(StartedDut { child: None, program: Some(name) })
    }

    /// The AF_PACKET forwarder: this binary's `af-packet-forward`, with
    /// `bench_pass` attached so that redirected frames reach the interface.
    pub fn af_packet(ebpf: &mut Ebpf, side: &DutSide, log: &Path) -> Result<StartedDut, BenchError> {
        attach_program(ebpf, "bench_pass", &side.namespace, &side.interface)?;
        let mut started = StartedDut { child: None, program: Some("bench_pass") };
        let this =
            std::env::current_exe().map_err(|err| BenchError::Setup(format!("cannot find this program: {err}")))?;
        let log_file = std::fs::File::create(log)
            .map_err(|err| BenchError::Setup(format!("cannot create {}: {err}", log.display())))?;
        let child = side
            .command(this)
            .args(["af-packet-forward", &side.interface])
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|err| BenchError::Setup(format!("cannot start the AF_PACKET forwarder: {err}")))?;
        started.child = Some(child);
        // The forwarder has no handshake; give it time to bind its socket.
        std::thread::sleep(Duration::from_millis(300));
        if let Some(status) = started.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
            return Err(BenchError::Setup(format!("the AF_PACKET forwarder exited ({status}): {}", read_log(log))));
        }
        Ok(started)
    }

    /// The program of the benchmark's object this DUT is, if it is one.
    pub fn own_program(&self) -> Option<&'static str> {
        self.program
    }

    /// The process whose CPU time counts as the DUT's, if it has one.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn wait_attached(&mut self, side: &DutSide, log: &Path) -> Result<(), BenchError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if xdp_program_attached(&side.namespace, &side.interface).unwrap_or(false) {
                // Attached comes last in `galette run`'s start, but give the
                // workers a moment to settle.
                std::thread::sleep(Duration::from_millis(200));
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                self.child = None;
                return Err(BenchError::Setup(format!(
                    "galette exited ({status}) before attaching: {}",
                    read_log(log)
                )));
            }
            if Instant::now() > deadline {
                return Err(BenchError::Setup(format!("galette did not attach within 60 s: {}", read_log(log))));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the DUT: SIGINT for a process (galette detaches and exits),
    /// then waits; detaches a program of the benchmark's object.
    pub fn stop(mut self, ebpf: &mut Ebpf) -> Result<(), BenchError> {
        self.stop_child();
        if let Some(name) = self.program.take() {
            detach_program(ebpf, name)?;
        }
        Ok(())
    }

    fn stop_child(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for StartedDut {
    fn drop(&mut self) {
        // A program of the benchmark's object goes with the object; a child
        // must not outlive the benchmark.
        self.stop_child();
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default().trim().to_owned()
}

/// What each reflecting DUT is, for the forwarding experiment.
pub fn forwarding_duts(quick: bool) -> Vec<Dut> {
    let mut duts = vec![Dut::GaletteXdp, Dut::AyaXdp];
    let worker_counts: &[u32] = if quick { &[1] } else { &[1, 2] };
    for &workers in worker_counts {
        for poll in [false, true] {
            duts.push(Dut::GaletteAfXdp { workers, poll });
        }
    }
    duts.push(Dut::AfPacket);
    duts
}
