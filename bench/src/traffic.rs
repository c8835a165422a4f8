//! The traffic generator and the sink, both on the generator's side of the
//! veth pair, both eBPF programs of the benchmark's object.
//!
//! The generator is `bench_gen` run by BPF_PROG_TEST_RUN in live-frames mode
//! (the kernel sends each frame the program redirects), so it goes as fast
//! as the kernel can push frames, without a userland copy per frame. The
//! sink is `bench_sink`, attached to the same interface: frames the device
//! under test sends back are counted there and their latency recorded.

use std::time::{Duration, Instant};

use aya::Ebpf;
use aya::maps::{Array, PerCpuArray, PerCpuValues};
use aya::programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp, XdpMode};
use aya::util::nr_cpus;
use galette::shutdown::ShutdownFlag;
use galette_bundle::error_chain;
use galette_testbed::{run_in_netns, set_thread_affinity};

use crate::BenchError;
use crate::histogram::{BUCKETS, percentiles};
use galette_bench_report::Latency;

/// Runs of the generator in the first BPF_PROG_TEST_RUN call of a point;
/// later calls are sized to last about [`CALL_TIME`]: each call costs tens of
/// milliseconds of setup, so calls must be long.
const FIRST_REPEAT: u32 = 100_000;
const CALL_TIME: Duration = Duration::from_millis(1000);
/// Frames the kernel sends per batch inside one call.
const LIVE_BATCH: u32 = 64;
/// The bytes of each frame the generator writes afresh (`HEADER_BYTES` in
/// `bench/ebpf/lib.rs`): whole words, in the smallest frame.
const HEADER_BYTES: usize = 48;
const _: () = assert!(HEADER_BYTES.is_multiple_of(8) && HEADER_BYTES <= crate::frame::MIN_FRAME);

/// What the generator did.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub frames: u64,
    pub elapsed: Duration,
}

/// What came back to the sink.
#[derive(Debug, Clone)]
pub struct Received {
    pub frames: u64,
    pub bytes: u64,
    pub latency: Latency,
    /// The frames of each class and their latency (0: unmarked, 1: marked
    /// with the TTL set by [`Traffic::set_marked_ttl`]); both empty while
    /// classes are off.
    pub classes: [ClassReceived; 2],
}

/// What came back of one class of frames.
#[derive(Debug, Clone, Default)]
pub struct ClassReceived {
    pub frames: u64,
    pub latency: Latency,
}

/// The generator and the sink on one interface of a namespace.
pub struct Traffic {
    namespace: String,
    ifindex: u32,
    /// The CPU the generator sends from: the DUT has its own.
    cpu: usize,
    /// What one BPF_PROG_TEST_RUN call costs besides its runs.
    call_overhead: Duration,
}

impl Traffic {
    /// Loads the generator and the sink from `ebpf` and attaches the sink to
    /// `interface` in `namespace`; the generator will send from `cpu`.
    pub fn attach(
        ebpf: &mut Ebpf,
        namespace: &str,
        interface: &str,
        ifindex: u32,
        cpu: usize,
    ) -> Result<Traffic, BenchError> {
        let mut config: Array<_, u32> =
            Array::try_from(ebpf.map_mut("GEN_CONFIG").ok_or_else(|| missing("GEN_CONFIG"))?).map_err(setup)?;
        config.set(0, ifindex, 0).map_err(setup)?;
        let generator: &mut Xdp =
            ebpf.program_mut("bench_gen").ok_or_else(|| missing("bench_gen"))?.try_into().map_err(setup)?;
        generator.load().map_err(setup)?;
        attach_program(ebpf, "bench_sink", namespace, interface)?;
        let mut traffic = Traffic { namespace: namespace.to_owned(), ifindex, cpu, call_overhead: Duration::ZERO };
        traffic.call_overhead = traffic.measure_call_overhead(ebpf)?;
        Ok(traffic)
    }

    /// Sends `frame` for `duration`, at `rate` frames per second or as fast
    /// as the generator goes (`None`). Stops early on Ctrl-C.
    pub fn send(
        &self,
        ebpf: &mut Ebpf,
        frame: &[u8],
        rate: Option<f64>,
        duration: Duration,
        stop: &ShutdownFlag,
    ) -> Result<Sent, BenchError> {
        self.send_while(ebpf, frame, rate, duration, || !stop.requested())
    }

    /// Sends `frame` like [`Traffic::send`] for at most `duration`, and only
    /// as long as `more` says so. `more` is asked between two test-run
    /// calls, so sending goes on for up to a call's time (about a second)
    /// after it turns false.
    pub fn send_while(
        &self,
        ebpf: &mut Ebpf,
        frame: &[u8],
        rate: Option<f64>,
        duration: Duration,
        more: impl Fn() -> bool + Sync,
    ) -> Result<Sent, BenchError> {
        set_header(ebpf, frame)?;
        let interval = rate.map_or(0, |rate| (1e9 / rate.max(1.0)) as u64);
        let mut pace: Array<_, u64> =
            Array::try_from(ebpf.map_mut("GEN_PACE").ok_or_else(|| missing("GEN_PACE"))?).map_err(setup)?;
        pace.set(0, interval, 0).map_err(setup)?;
        pace.set(1, 0, 0).map_err(setup)?;
        let sent_before = sent_frames(ebpf)?;
        let generator: &Xdp =
            ebpf.program("bench_gen").ok_or_else(|| missing("bench_gen"))?.try_into().map_err(setup)?;
        // The context of a live-frames run: the frame arrives on the
        // generator's interface (xdp_md: data, data_end, data_meta,
        // ingress_ifindex, rx_queue_index, egress_ifindex).
        let mut context = [0u8; 24];
        context[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        context[12..16].copy_from_slice(&self.ifindex.to_ne_bytes());
        // The run must happen in the generator's namespace: the kernel looks
        // the interface index up there.
        let elapsed = run_in_netns(&self.namespace, || -> Result<Duration, BenchError> {
            self.pin_this_thread()?;
            let start = Instant::now();
            let mut repeat = FIRST_REPEAT;
            while start.elapsed() < duration && more() {
                let call = Instant::now();
                let options = TestRunOptions {
                    data_in: Some(frame),
                    ctx_in: Some(&context),
                    repeat,
                    attrs: TestRunAttrs::new().xdp_live_frames(LIVE_BATCH),
                    ..TestRunOptions::new()
                };
                generator
                    .test_run(options)
                    .map_err(|err| BenchError::Run(format!("the generator failed: {}", error_chain(&err))))?;
                // Aim the next call at CALL_TIME, within what is left; each
                // call's fixed setup cost is not time spent running.
                let running = call.elapsed().saturating_sub(self.call_overhead).max(Duration::from_millis(1));
                let runs_per_second = f64::from(repeat) / running.as_secs_f64();
                let left = duration.saturating_sub(start.elapsed()).min(CALL_TIME).as_secs_f64();
                repeat = (runs_per_second * left).clamp(1000.0, f64::from(u32::MAX / 2)) as u32;
            }
            Ok(start.elapsed())
        })
        .map_err(|err| BenchError::Run(format!("cannot enter {}: {err}", self.namespace)))??;
        Ok(Sent { frames: sent_frames(ebpf)? - sent_before, elapsed })
    }

    /// The time of a call of a few runs (each dropping its frame, paced far
    /// apart): the fixed cost of a live-frames test run.
    fn measure_call_overhead(&self, ebpf: &mut Ebpf) -> Result<Duration, BenchError> {
        let mut pace: Array<_, u64> =
            Array::try_from(ebpf.map_mut("GEN_PACE").ok_or_else(|| missing("GEN_PACE"))?).map_err(setup)?;
        pace.set(0, u64::MAX / 4, 0).map_err(setup)?;
        pace.set(1, u64::MAX / 2, 0).map_err(setup)?;
        let generator: &Xdp =
            ebpf.program("bench_gen").ok_or_else(|| missing("bench_gen"))?.try_into().map_err(setup)?;
        let frame = [0u8; 64];
        let mut context = [0u8; 24];
        context[4..8].copy_from_slice(&64u32.to_ne_bytes());
        context[12..16].copy_from_slice(&self.ifindex.to_ne_bytes());
        run_in_netns(&self.namespace, || -> Result<Duration, BenchError> {
            self.pin_this_thread()?;
            let mut times = Vec::new();
            for _ in 0..3 {
                let start = Instant::now();
                let options = TestRunOptions {
                    data_in: Some(&frame),
                    ctx_in: Some(&context),
                    repeat: 10,
                    attrs: TestRunAttrs::new().xdp_live_frames(LIVE_BATCH),
                    ..TestRunOptions::new()
                };
                generator
                    .test_run(options)
                    .map_err(|err| BenchError::Run(format!("the generator failed: {}", error_chain(&err))))?;
                times.push(start.elapsed());
            }
            times.sort();
            Ok(times[1])
        })
        .map_err(|err| BenchError::Run(format!("cannot enter {}: {err}", self.namespace)))?
    }

    /// Keeps the calling thread, a fresh one that sends and ends, on the
    /// generator's CPU. The kernel sends each frame from the thread that
    /// runs the test run, so that is the generator's whole CPU time.
    fn pin_this_thread(&self) -> Result<(), BenchError> {
        set_thread_affinity(0, &[self.cpu])
            .map_err(|err| BenchError::Setup(format!("cannot keep the generator on CPU {}: {err}", self.cpu)))
    }

    /// Zeroes the sink's counters and histogram.
    pub fn reset_sink(&self, ebpf: &mut Ebpf) -> Result<(), BenchError> {
        let cpus = nr_cpus().map_err(|(_, err)| setup(err))?;
        let maps = [
            ("SINK_COUNTS", 2),
            ("SINK_LATENCY", BUCKETS as u32),
            ("SINK_CLASS_COUNTS", 2),
            ("SINK_CLASS_LATENCY", 2 * BUCKETS as u32),
        ];
        for (name, entries) in maps {
            let mut map: PerCpuArray<_, u64> =
                PerCpuArray::try_from(ebpf.map_mut(name).ok_or_else(|| missing(name))?).map_err(setup)?;
            for index in 0..entries {
                map.set(index, PerCpuValues::try_from(vec![0u64; cpus]).map_err(setup)?, 0).map_err(setup)?;
            }
        }
        Ok(())
    }

    /// What reached the sink since the last reset.
    pub fn received(&self, ebpf: &Ebpf) -> Result<Received, BenchError> {
        let sum = |name: &str, index: u32| -> Result<u64, BenchError> {
            let map: PerCpuArray<_, u64> =
                PerCpuArray::try_from(ebpf.map(name).ok_or_else(|| missing(name))?).map_err(setup)?;
            Ok(map.get(&index, 0).map_err(setup)?.iter().sum())
        };
        let histogram = |name: &str, first: u32| -> Result<Latency, BenchError> {
            let counts =
                (first..first + BUCKETS as u32).map(|index| sum(name, index)).collect::<Result<Vec<_>, _>>()?;
            Ok(percentiles(&counts))
        };
        let class = |class: u32| -> Result<ClassReceived, BenchError> {
            Ok(ClassReceived {
                frames: sum("SINK_CLASS_COUNTS", class)?,
                latency: histogram("SINK_CLASS_LATENCY", class * BUCKETS as u32)?,
            })
        };
        Ok(Received {
            frames: sum("SINK_COUNTS", 0)?,
            bytes: sum("SINK_COUNTS", 1)?,
            latency: histogram("SINK_LATENCY", 0)?,
            classes: [class(0)?, class(1)?],
        })
    }

    /// Makes the sink count and histogram the frames that arrive with IPv4
    /// TTL `ttl` apart from the rest (`None`: classes off). A chain marks a
    /// class of frames by sending them through `std.ttl`; only the sink can
    /// tell them apart, since which frames a chain picks may be random.
    pub fn set_marked_ttl(&self, ebpf: &mut Ebpf, ttl: Option<u8>) -> Result<(), BenchError> {
        let mut map: Array<_, u32> =
            Array::try_from(ebpf.map_mut("SINK_CLASS").ok_or_else(|| missing("SINK_CLASS"))?).map_err(setup)?;
        map.set(0, ttl.map_or(0, u32::from), 0).map_err(setup)
    }
}

/// The bytes of `frame` the generator writes into every frame it sends
/// (`GEN_HEADER` in `bench/ebpf/lib.rs`): its headers and the marker.
fn set_header(ebpf: &mut Ebpf, frame: &[u8]) -> Result<(), BenchError> {
    let mut words = [0u64; HEADER_BYTES / 8];
    let header = frame.get(..HEADER_BYTES).ok_or_else(|| {
        BenchError::Setup(format!("a frame of {} bytes is shorter than the generator's {HEADER_BYTES}", frame.len()))
    })?;
    for (word, bytes) in words.iter_mut().zip(header.chunks_exact(8)) {
        // The program stores the words as they are in memory.
        *word = u64::from_ne_bytes(bytes.try_into().unwrap_or_default());
    }
    let mut map: Array<_, [u64; HEADER_BYTES / 8]> =
        Array::try_from(ebpf.map_mut("GEN_HEADER").ok_or_else(|| missing("GEN_HEADER"))?).map_err(setup)?;
    map.set(0, words, 0).map_err(setup)
}

/// Frames the generator has sent so far.
fn sent_frames(ebpf: &Ebpf) -> Result<u64, BenchError> {
    let map: PerCpuArray<_, u64> =
        PerCpuArray::try_from(ebpf.map("GEN_SENT").ok_or_else(|| missing("GEN_SENT"))?).map_err(setup)?;
    Ok(map.get(&0, 0).map_err(setup)?.iter().sum())
}

/// Attaches program `name` of `ebpf` (loading it first if needed) to
/// `interface` in `namespace`; it stays attached as long as `ebpf` lives or
/// until [`detach_all`].
pub fn attach_program(ebpf: &mut Ebpf, name: &str, namespace: &str, interface: &str) -> Result<(), BenchError> {
    let program: &mut Xdp = ebpf.program_mut(name).ok_or_else(|| missing(name))?.try_into().map_err(setup)?;
    if program.fd().is_err() {
        program.load().map_err(setup)?;
    }
    run_in_netns(namespace, || program.attach(interface, XdpMode::default()).map(|_| ()))
        .map_err(|err| BenchError::Setup(format!("cannot enter {namespace}: {err}")))?
        .map_err(|err| BenchError::Setup(format!("cannot attach {name} to {interface}: {}", error_chain(&err))))
}

/// Detaches program `name` of `ebpf` from everywhere it was attached.
pub fn detach_program(ebpf: &mut Ebpf, name: &str) -> Result<(), BenchError> {
    let program: &mut Xdp = ebpf.program_mut(name).ok_or_else(|| missing(name))?.try_into().map_err(setup)?;
    // Unloading detaches every link and the program with them; it is
    // loaded again by the next attach.
    program.unload().map_err(setup)
}

/// The error for a map or program the benchmark's eBPF object lacks.
pub(crate) fn missing(name: &str) -> BenchError {
    BenchError::Setup(format!("the benchmark's eBPF object has no `{name}`"))
}

/// A setup error, with its causes.
pub(crate) fn setup(err: impl std::error::Error) -> BenchError {
    BenchError::Setup(error_chain(&err))
}

#[cfg(test)]
mod tests {
    use super::HEADER_BYTES;

    #[test]
    fn the_header_is_the_programs() {
        let programs = include_str!("../ebpf/lib.rs");
        assert!(programs.contains(&format!("const HEADER_BYTES: usize = {HEADER_BYTES};")));
    }
}
