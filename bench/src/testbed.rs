//! The benchmark's testbed: a veth pair between a generator namespace and a
//! DUT namespace, the benchmark's eBPF object, and what every experiment
//! needs to offer traffic and measure what comes back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aya::Ebpf;
use galette::shutdown::ShutdownFlag;
use galette_bench_report::{ClassMeasured, Measured};
use galette_testbed::VethPair;

use crate::BenchError;
use crate::control_dir::ControlDir;
use crate::cpu::CpuReading;
use crate::dut::DutSide;
use crate::frame::{Endpoints, FCS, benchmark_frame};
use crate::traffic::Traffic;

/// How long frames take to drain after the generator stops, before the
/// sink is read.
const DRAIN: Duration = Duration::from_millis(200);

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
    _pair: VethPair,
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
        let mut ebpf = Ebpf::load(object).map_err(|err| {
            BenchError::Setup(format!("cannot load the benchmark's eBPF object: {}", galette_bundle::error_chain(&err)))
        })?;
        let traffic = Traffic::attach(&mut ebpf, generator.namespace(), generator.interface(), generator.ifindex())?;
        let endpoints =
            Endpoints { src_mac: generator.mac(), dst_mac: dut.mac(), src_ip: generator.ip(), dst_ip: dut.ip() };
        let dut_side = DutSide { namespace: dut.namespace().to_owned(), interface: dut.interface().to_owned() };
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
            _pair: pair,
        })
    }

    /// A benchmark frame of `wire_bytes`.
    pub fn frame(&self, wire_bytes: u32) -> Vec<u8> {
        benchmark_frame(&self.endpoints, wire_bytes)
    }

    /// Offers frames of `wire_bytes` at `rate` (or full speed) for one
    /// point's time and measures what comes back. `dut_pid` is the DUT's
    /// process, whose CPU time counts as the DUT's.
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
        let frame = self.frame(wire_bytes);
        self.traffic.reset_sink(&mut self.ebpf)?;
        let before = CpuReading::now(dut_pid);
        let sent = self.traffic.send(&mut self.ebpf, &frame, rate, self.point, &self.stop)?;
        let after = CpuReading::now(dut_pid);
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

    pub fn check_stop(&self) -> Result<(), BenchError> {
        if self.stop.requested() { Err(BenchError::Interrupted) } else { Ok(()) }
    }
}
