//! The benchmark's testbed: a veth pair between a generator namespace and a
//! DUT namespace, the benchmark's eBPF object, and what every experiment
//! needs to offer traffic and measure what comes back.
//!
//! The generator and the device under test run on different CPUs
//! ([`separate_dut_cpus`]): on veth the DUT's XDP program would otherwise
//! run in the generator's softirq, on the generator's CPU, and a slow DUT
//! would lower the rate it is offered instead of losing frames.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aya::Ebpf;
use galette::shutdown::ShutdownFlag;
use galette_bench_report::{ClassMeasured, CoreCheck, Measured, SlowDut};
use galette_testbed::{VethPair, allowed_cpus, napi_instances, thread_receive_processing};

use crate::BenchError;
use crate::control_dir::ControlDir;
use crate::cpu::CpuReading;
use crate::dut::DutSide;
use crate::frame::{Endpoints, FCS, benchmark_frame};
use crate::traffic::Traffic;

/// How long frames take to drain after the generator stops, before the
/// sink is read.
pub const DRAIN: Duration = Duration::from_millis(200);

pub struct Testbed {
    /// Dropped last: deleting the namespaces takes every interface and
    /// attachment in them along.
    pub ebpf: Ebpf,
    pub traffic: Traffic,
    pub dut: DutSide,
    pub endpoints: Endpoints,
    /// Where chains, bundles and logs of this run go.
    pub work_dir: PathBuf,
    pub galette: PathBuf,
    pub stop: ShutdownFlag,
    /// How long each measured point lasts.
    pub point: Duration,
    /// The `--run-dir` of every `galette run` of the benchmark.
    pub control_dir: ControlDir,
    /// Where the generator and the DUT run.
    pub cpus: CpuSplit,
    _pair: VethPair,
}

/// The CPUs of the generator and of the device under test: the generator's
/// sending thread on one, the DUT's receive processing (the NAPI threads of
/// its veth) and its processes on the others.
#[derive(Debug, Clone)]
pub struct CpuSplit {
    pub generator: usize,
    pub dut: Vec<usize>,
    /// The DUT veth's NAPI threads: where its XDP programs run, whose CPU
    /// time counts as the DUT's.
    pub napi_threads: Vec<u32>,
}

impl CpuSplit {
    /// The split, with what showed it held, for the results.
    pub fn check(&self, dut_frames_per_cpu: Vec<u64>, slow_dut: Option<SlowDut>) -> CoreCheck {
        let cpu = |cpu: usize| u32::try_from(cpu).unwrap_or(u32::MAX);
        CoreCheck {
            generator_cpu: cpu(self.generator),
            dut_cpus: self.dut.iter().copied().map(cpu).collect(),
            dut_frames_per_cpu,
            slow_dut,
        }
    }
}

/// Puts the receive processing of the DUT's `interface` in `namespace` on
/// CPUs of its own: threaded NAPI, its threads pinned to every CPU this
/// process may use but the first, which is left to the generator. Needs two
/// CPUs and a kernel that can thread veth's NAPI and name its threads
/// (Linux 6.8 or later).
pub fn separate_dut_cpus(namespace: &str, interface: &str) -> Result<CpuSplit, BenchError> {
    let cpus = allowed_cpus().map_err(|err| BenchError::Setup(format!("cannot read this process's CPUs: {err}")))?;
    let [generator, dut @ ..] = cpus.as_slice() else {
        return Err(BenchError::Setup("this process may run on no CPU".into()));
    };
    if dut.is_empty() {
        return Err(BenchError::Setup(format!(
            "the testbed needs two CPUs, one for the generator and one for the device under test; \
             this process may only use CPU {generator}"
        )));
    }
    let napi_threads = thread_receive_processing(namespace, interface, dut).map_err(|err| {
        BenchError::Setup(format!("cannot give the device under test CPUs of its own (threaded NAPI): {err}"))
    })?;
    Ok(CpuSplit { generator: *generator, dut: dut.to_vec(), napi_threads })
}

impl Testbed {
    /// Creates the namespaces and veth pair, loads `object` and attaches the
    /// sink.
    pub fn create(
        object: &[u8],
        work_dir: &Path,
        galette: &Path,
        stop: ShutdownFlag,
        point: Duration,
    ) -> Result<Testbed, BenchError> {
        let control_dir = ControlDir::create()?;
        let pair =
            VethPair::create("bench").map_err(|err| BenchError::Setup(format!("cannot create the testbed: {err}")))?;
        let (dut, generator) = (pair.a(), pair.b());
        let cpus = separate_dut_cpus(dut.namespace(), dut.interface())?;
        let mut ebpf = Ebpf::load(object).map_err(|err| {
            BenchError::Setup(format!("cannot load the benchmark's eBPF object: {}", galette_bundle::error_chain(&err)))
        })?;
        let traffic = Traffic::attach(
            &mut ebpf,
            generator.namespace(),
            generator.interface(),
            generator.ifindex(),
            cpus.generator,
        )?;
        let endpoints =
            Endpoints { src_mac: generator.mac(), dst_mac: dut.mac(), src_ip: generator.ip(), dst_ip: dut.ip() };
        let dut_side = DutSide {
            namespace: dut.namespace().to_owned(),
            interface: dut.interface().to_owned(),
            cpus: cpus.dut.clone(),
        };
        Ok(Testbed {
            ebpf,
            traffic,
            dut: dut_side,
            endpoints,
            work_dir: work_dir.to_owned(),
            galette: galette.to_owned(),
            stop,
            point,
            control_dir,
            cpus,
            _pair: pair,
        })
    }

    /// A benchmark frame of `wire_bytes`.
    pub fn frame(&self, wire_bytes: u32) -> Vec<u8> {
        benchmark_frame(&self.endpoints, wire_bytes)
    }

    /// Offers frames of `wire_bytes` at `rate` (or full speed) for one
    /// point's time and measures what comes back. `dut_pid` is the DUT's
    /// process, whose CPU time counts as the DUT's, as do the softirqs and
    /// the NAPI threads of the DUT's veth.
    pub fn measure(
        &mut self,
        wire_bytes: u32,
        rate: Option<f64>,
        dut_pid: Option<u32>,
    ) -> Result<Measured, BenchError> {
        Ok(self.measure_classes(wire_bytes, rate, dut_pid)?.0)
    }

    /// [`Testbed::measure`], and the two classes of frames the sink told
    /// apart (0: unmarked, 1: marked; both empty unless
    /// [`Traffic::set_marked_ttl`] turned classes on).
    pub fn measure_classes(
        &mut self,
        wire_bytes: u32,
        rate: Option<f64>,
        dut_pid: Option<u32>,
    ) -> Result<(Measured, [ClassMeasured; 2]), BenchError> {
        self.check_stop()?;
        self.check_dut_cpus()?;
        let frame = self.frame(wire_bytes);
        self.traffic.reset_sink(&mut self.ebpf)?;
        let dut_threads: Vec<u32> = dut_pid.into_iter().chain(self.cpus.napi_threads.iter().copied()).collect();
        let before = CpuReading::now(&dut_threads);
        let sent = self.traffic.send(&mut self.ebpf, &frame, rate, self.point, &self.stop)?;
        let after = CpuReading::now(&dut_threads);
        std::thread::sleep(DRAIN);
        self.check_stop()?;
        let received = self.traffic.received(&self.ebpf)?;
        let seconds = sent.elapsed.as_secs_f64().max(1e-9);
        let pps = received.frames as f64 / seconds;
        let loss = if sent.frames == 0 { 0.0 } else { (1.0 - received.frames as f64 / sent.frames as f64).max(0.0) };
        let measured = Measured {
            offered_pps: sent.frames as f64 / seconds,
            pps,
            mbps: (received.bytes as f64 + received.frames as f64 * f64::from(FCS)) * 8.0 / seconds / 1e6,
            loss,
            latency: received.latency,
            dut_cpu: before.cores_until(&after),
            // At full speed with (almost) nothing lost, the generator is
            // what held the rate down, not the device.
            generator_bound: rate.is_none() && loss < 0.01,
        };
        let [unmarked, marked] = received.classes.map(|class| ClassMeasured {
            frames: class.frames,
            pps: class.frames as f64 / seconds,
            latency: class.latency,
        });
        Ok((measured, [unmarked, marked]))
    }

    /// Fails if the DUT veth's NAPI threads are no longer the ones pinned
    /// to the DUT's CPUs: a DUT that turned the veth's NAPI off and on again
    /// (GRO and XDP off at once) would leave new threads, pinned nowhere.
    pub fn check_dut_cpus(&self) -> Result<(), BenchError> {
        let instances = napi_instances(&self.dut.namespace, &self.dut.interface)
            .map_err(|err| BenchError::Run(format!("cannot check the DUT's NAPI threads: {err}")))?;
        let threads: Vec<Option<u32>> = instances.iter().map(|napi| napi.thread).collect();
        let pinned: Vec<Option<u32>> = self.cpus.napi_threads.iter().copied().map(Some).collect();
        if threads == pinned {
            Ok(())
        } else {
            Err(BenchError::Run(format!(
                "the DUT veth's NAPI threads are {threads:?}, not the {pinned:?} pinned to CPU {:?}",
                self.cpus.dut
            )))
        }
    }

    pub fn check_stop(&self) -> Result<(), BenchError> {
        if self.stop.requested() { Err(BenchError::Interrupted) } else { Ok(()) }
    }
}
