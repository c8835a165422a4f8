//! What one benchmark run measured. Everything the report shows comes from
//! here, and the JSON file is this, serialized; every `f64` goes through
//! `json_number`, so a value that is not finite reads back as it was.

use serde::{Deserialize, Serialize};

/// One whole run of `cargo xtask bench`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    pub machine: Machine,
    /// `--quick`: fewer sizes, rates and repetitions.
    pub quick: bool,
    /// RFC 3339 UTC time the run started.
    pub started: String,
    /// The traffic generator measured alone, against a device that drops
    /// every frame at once: no result above it can be trusted.
    pub generator_ceiling: Vec<GeneratorCeiling>,
    /// End-to-end forwarding of a macswap reflector.
    pub forwarding: Vec<ForwardingPoint>,
    /// The paper's expensive-NF experiment.
    pub expensive: Vec<ExpensivePoint>,
    /// Per-packet cost of chains under BPF_PROG_TEST_RUN.
    pub chain_cost: Vec<ChainCost>,
    /// How fast galettec works.
    pub compiler: Vec<CompilerTiming>,
    /// Live reload under traffic. Absent from files written before the
    /// experiment existed, which read back with none.
    #[serde(default)]
    pub reload: Vec<ReloadRun>,
    /// One publish to a fleet of agents on this machine. Absent from files
    /// written before the experiment existed.
    #[serde(default)]
    pub fleet: Vec<FleetScale>,
    /// The CPU time the XDP devices under test spent per forwarded packet,
    /// at one fixed offered rate. Absent from files written before it was
    /// measured, which read back with none.
    #[serde(default)]
    pub dut_cost: Vec<DutCost>,
    /// Which CPUs the generator and the device under test ran on, and the
    /// checks that they stayed apart. Absent from files written before the
    /// testbed separated them, which read back with none.
    #[serde(default)]
    pub cores: Option<CoreCheck>,
    /// The stateful firewall (`std.conntrack_out` and `std.conntrack_in`)
    /// as a gateway against a Linux bridge with nftables, and the NFs' cost
    /// per packet. Absent from files written before the experiment existed.
    #[serde(default)]
    pub conntrack: Option<Conntrack>,
}

/// The conntrack experiment: TCP throughput through each gateway, taking
/// turns in one run, and the conntrack NFs' cost under BPF_PROG_TEST_RUN.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Conntrack {
    /// How the gateways and endpoints were set up (offloads, CPUs, how long
    /// each run lasted), in words, for the report.
    pub setup: String,
    pub gateways: Vec<GatewayThroughput>,
    pub costs: Vec<ConntrackCost>,
}

/// What stands between the client and the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Gateway {
    /// `galette run` of the two-port chain `track` (LAN) / `replies` (WAN),
    /// in XDP.
    GaletteConntrack,
    /// The same two interfaces in a Linux bridge, with an nftables ruleset
    /// letting in from the WAN port only `ct state established,related`.
    NftablesBridge,
    /// The bridge without rules: the reference.
    LinuxBridge,
}

impl Gateway {
    pub fn label(&self) -> &'static str {
        match self {
            Gateway::GaletteConntrack => "galette-conntrack",
            Gateway::NftablesBridge => "nftables-bridge",
            Gateway::LinuxBridge => "linux-bridge",
        }
    }
}

/// One gateway's iperf3 runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GatewayThroughput {
    pub gateway: Gateway,
    /// In the order they ran (the gateways took turns).
    pub runs: Vec<IperfRun>,
    /// The median of `runs` (NaN with none).
    #[serde(with = "crate::json_number")]
    pub median_mbps: f64,
    /// Whether a TCP connection the server tried to open to the client got
    /// nowhere (checked once, before the runs); `None` where it was not
    /// checked.
    pub unsolicited_syn_dropped: Option<bool>,
}

/// One bounded iperf3 TCP run, client (LAN) to server (WAN).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IperfRun {
    /// What the server received, in Mbit/s.
    #[serde(with = "crate::json_number")]
    pub mbps: f64,
    /// TCP retransmissions the sender counted.
    pub retransmits: u64,
}

/// A conntrack NF's cost per packet under BPF_PROG_TEST_RUN, against a
/// chain of the same shape with `std.nop` in its place on the same frame.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConntrackCost {
    /// What was measured, e.g. `conntrack_in, hit (reply of an established
    /// connection)`.
    pub case: String,
    #[serde(with = "crate::json_number")]
    pub ns: f64,
    /// The `std.nop` chain on the same frame.
    #[serde(with = "crate::json_number")]
    pub nop_ns: f64,
}

/// How the testbed kept the device under test off the generator's CPU: the
/// generator's thread on one CPU; the DUT's receive processing (threaded
/// NAPI on its veth) and its processes on the others.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CoreCheck {
    pub generator_cpu: u32,
    pub dut_cpus: Vec<u32>,
    /// Frames the DUT's XDP program handled on each CPU (index: CPU) while
    /// the generator's ceiling was measured; empty if it was not.
    pub dut_frames_per_cpu: Vec<u64>,
    /// The generator against a deliberately slow DUT, if measured.
    pub slow_dut: Option<SlowDut>,
}

impl CoreCheck {
    /// Share of the DUT's frames it handled on its own CPUs, 0 to 1 (NaN
    /// when it handled none).
    pub fn dut_share_on_own_cpus(&self) -> f64 {
        let total: u64 = self.dut_frames_per_cpu.iter().sum();
        let own: u64 = self
            .dut_frames_per_cpu
            .iter()
            .enumerate()
            .filter(|(cpu, _)| u32::try_from(*cpu).is_ok_and(|cpu| self.dut_cpus.contains(&cpu)))
            .map(|(_, frames)| frames)
            .sum();
        own as f64 / total as f64
    }
}

/// The generator at full speed against a DUT that spends a fixed time on
/// every frame and drops it: with the DUT on its own CPU, the generator
/// keeps its ceiling and the DUT loses what it cannot handle.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SlowDut {
    pub frame_bytes: u32,
    /// Frames per second the generator sent.
    #[serde(with = "crate::json_number")]
    pub offered_pps: f64,
    /// Frames per second the slow DUT handled.
    #[serde(with = "crate::json_number")]
    pub handled_pps: f64,
    /// The generator's ceiling at this size (against `bench_drop`).
    #[serde(with = "crate::json_number")]
    pub ceiling_pps: f64,
}

/// The machine the run happened on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    /// `/proc/cpuinfo`'s model name.
    pub cpu: String,
    pub cores: u32,
    #[serde(with = "crate::json_number")]
    pub memory_gib: f64,
    /// `uname -r`.
    pub kernel: String,
    /// galette's version and git commit.
    pub galette: String,
}

/// How many frames per second the generator sends, of one size, when the
/// device under test drops them at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GeneratorCeiling {
    pub frame_bytes: u32,
    #[serde(with = "crate::json_number")]
    pub pps: f64,
}

/// A device under test that reflects frames (swaps MACs, sends back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dut {
    /// Galette, the chain in XDP.
    GaletteXdp,
    /// Galette, the macswap NF in userland through AF_XDP.
    GaletteAfXdp { workers: u32, poll: bool },
    /// The baseline: a hand-written aya XDP program (XDP_TX).
    AyaXdp,
    /// The baseline: a userland forwarder on an AF_PACKET socket.
    AfPacket,
}

impl Dut {
    /// A short label for tables and plots: `galette-xdp`,
    /// `galette-afxdp-2w-poll`, `aya-xdp`, `af-packet`.
    pub fn label(&self) -> String {
        match self {
            Dut::GaletteXdp => "galette-xdp".into(),
            Dut::GaletteAfXdp { workers, poll } => {
                format!("galette-afxdp-{workers}w-{}", if *poll { "poll" } else { "irq" })
            }
            Dut::AyaXdp => "aya-xdp".into(),
            Dut::AfPacket => "af-packet".into(),
        }
    }
}

/// Latency percentiles, in microseconds, from the timestamps the generator
/// writes into each frame and the sink reads when it comes back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    #[serde(with = "crate::json_number")]
    pub p1: f64,
    #[serde(with = "crate::json_number")]
    pub p25: f64,
    #[serde(with = "crate::json_number")]
    pub p50: f64,
    #[serde(with = "crate::json_number")]
    pub p75: f64,
    #[serde(with = "crate::json_number")]
    pub p99: f64,
    /// How many frames the percentiles are computed from.
    pub samples: u64,
}

/// What came back when frames were offered at one rate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Measured {
    /// Frames per second the generator sent.
    #[serde(with = "crate::json_number")]
    pub offered_pps: f64,
    /// Frames per second that came back.
    #[serde(with = "crate::json_number")]
    pub pps: f64,
    /// Megabits per second that came back (frame bytes, without FCS).
    #[serde(with = "crate::json_number")]
    pub mbps: f64,
    /// Share of the sent frames that did not come back, 0 to 1.
    #[serde(with = "crate::json_number")]
    pub loss: f64,
    pub latency: Latency,
    /// CPU time the device under test used per second, in cores (1.0 = one
    /// core busy): softirq time for XDP, plus the process's time for
    /// userland forwarders.
    #[serde(with = "crate::json_number")]
    pub dut_cpu: f64,
    /// Whether the generator, not the device, set the limit: the offered
    /// rate was at the generator's ceiling and almost all came back.
    pub generator_bound: bool,
}

/// One device, one frame size, one offered rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardingPoint {
    pub dut: Dut,
    /// Frame size on the wire, FCS included (64 to 1518).
    pub frame_bytes: u32,
    /// The rate asked for, or `None` for "as fast as the generator goes".
    #[serde(with = "crate::json_number::optional")]
    pub target_pps: Option<f64>,
    pub measured: Measured,
}

/// What one device under test cost per packet at a fixed offered rate, in
/// the kernel's own accounting: each of its eBPF programs' run time and run
/// count (BPF_ENABLE_STATS), the machine's softirq time and the run time of
/// the DUT's NAPI threads (where its XDP programs run), over one point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DutCost {
    pub dut: Dut,
    pub frame_bytes: u32,
    /// The rate the generator was asked for, the same for every device.
    #[serde(with = "crate::json_number")]
    pub target_pps: f64,
    /// Frames the generator sent and frames that came back.
    pub sent: u64,
    pub received: u64,
    /// How long the generator sent, in nanoseconds.
    pub sending_ns: u64,
    /// Every eBPF program of the device, with what the kernel counted while
    /// the point ran.
    pub programs: Vec<ProgramRuns>,
    /// The machine's softirq time over the point, in nanoseconds (the kernel
    /// reports it in ticks of 10 ms per CPU).
    pub softirq_ns: u64,
    /// The run time of the DUT's NAPI threads over the point, in
    /// nanoseconds: its receive processing, XDP programs included, which
    /// the kernel counts as the threads' time, not as softirq. Absent (0)
    /// from files written before the receive processing was threaded.
    #[serde(default)]
    pub napi_thread_ns: u64,
}

/// One eBPF program's run time and run count over a point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramRuns {
    /// The name the kernel has for it (at most 15 bytes).
    pub name: String,
    pub id: u32,
    /// Nanoseconds the kernel counted it running, and how many times it ran.
    pub run_ns: u64,
    pub runs: u64,
}

impl DutCost {
    /// Frames per second the generator sent.
    pub fn offered_pps(&self) -> f64 {
        self.sent as f64 / (self.sending_ns as f64 / 1e9)
    }

    /// Frames per second that came back.
    pub fn delivered_pps(&self) -> f64 {
        self.received as f64 / (self.sending_ns as f64 / 1e9)
    }

    /// Share of the sent frames that did not come back, 0 to 1 (NaN when
    /// nothing was sent).
    pub fn loss(&self) -> f64 {
        if self.sent == 0 { f64::NAN } else { self.sent.saturating_sub(self.received) as f64 / self.sent as f64 }
    }

    /// The device's eBPF time per packet: all its programs' run time over
    /// the runs of the one run most, the one attached, which every frame
    /// enters. (A program entered by a tail call has no runs of its own:
    /// the kernel times the attached program's run, tail calls included.)
    pub fn xdp_ns_per_packet(&self) -> f64 {
        let runs = self.programs.iter().map(|program| program.runs).max().unwrap_or(0);
        let run_ns: u64 = self.programs.iter().map(|program| program.run_ns).sum();
        run_ns as f64 / runs as f64
    }

    /// The kernel's receive processing per frame that came back: the
    /// machine's softirq time and the DUT's NAPI threads' run time.
    pub fn kernel_ns_per_packet(&self) -> f64 {
        (self.softirq_ns + self.napi_thread_ns) as f64 / self.received as f64
    }
}

/// Where the expensive NF ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpensivePlacement {
    Xdp,
    Userland,
}

/// The expensive-NF experiment at one share of expensive packets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExpensivePoint {
    pub placement: ExpensivePlacement,
    /// Userland workers (1 when the NF runs in XDP).
    pub workers: u32,
    /// The share P of packets that need the expensive NF, 0 to 1.
    #[serde(with = "crate::json_number")]
    pub share: f64,
    /// Operations the expensive NF does per packet (the paper: 100,000).
    pub operations: u32,
    pub frame_bytes: u32,
    /// All traffic, cheap and expensive.
    pub measured: Measured,
    /// The normal and the expensive traffic apart, as the sink told them by
    /// the mark the chain leaves on expensive frames. Absent from files
    /// written before the classes were measured, which read back with none.
    #[serde(default)]
    pub classes: Option<ExpensiveClasses>,
}

/// The expensive-NF experiment's two classes of frames at one point.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExpensiveClasses {
    /// The frames that took only the macswap.
    pub normal: ClassMeasured,
    /// The frames that went through the expensive NF.
    pub expensive: ClassMeasured,
}

/// What came back of one class of frames. Its offered rate is unknown: the
/// chain picks the class at random, frame by frame, so only about P of the
/// offered rate is expensive.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClassMeasured {
    /// Frames of the class that came back.
    pub frames: u64,
    /// Frames of the class per second that came back.
    #[serde(with = "crate::json_number")]
    pub pps: f64,
    /// Their latency (all zero when none came back).
    pub latency: Latency,
}

/// The per-packet cost of one chain under BPF_PROG_TEST_RUN.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainCost {
    /// NF instances in the chain.
    pub nfs: u32,
    /// Nanoseconds per packet of Galette's generated chain: one fused
    /// program, every NF inlined (galettec's default).
    #[serde(with = "crate::json_number")]
    pub galette_ns: f64,
    /// The same chain with every NF a BPF-to-BPF call (`--fusion calls`);
    /// absent from runs before fusion, and when it was not measured.
    #[serde(default, with = "crate::json_number::optional")]
    pub galette_calls_ns: Option<f64>,
    /// Nanoseconds per packet of one hand-written program doing the same
    /// work.
    #[serde(with = "crate::json_number")]
    pub handwritten_ns: f64,
}

/// One galettec timing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompilerTiming {
    /// What was timed, e.g. "check and place a 10,000-instance chain".
    pub what: String,
    /// Median over the runs, in milliseconds.
    #[serde(with = "crate::json_number")]
    pub median_ms: f64,
    pub runs: u32,
}

/// One publish to many agents: how long until each reports the new bundle,
/// and what the update cost the broker, the registry and each agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetScale {
    /// Real `galette agent` processes, each its own device identity, with
    /// `--no-data-plane` (they verify, pull and report, and run no chain).
    pub agents: u32,
    /// From just before `galette-ctl publish` to each agent's report of the
    /// new bundle, as the admin's subscriber received it: percentiles over
    /// the agents, in milliseconds.
    #[serde(with = "crate::json_number")]
    pub p50_ms: f64,
    #[serde(with = "crate::json_number")]
    pub p99_ms: f64,
    #[serde(with = "crate::json_number")]
    pub max_ms: f64,
    /// CPU time (user and system) of the update, mean per agent, ms.
    #[serde(with = "crate::json_number")]
    pub agent_cpu_ms: f64,
    /// Resident memory per agent, after the update: mean and largest, KiB.
    #[serde(with = "crate::json_number")]
    pub agent_rss_kib_mean: f64,
    #[serde(with = "crate::json_number")]
    pub agent_rss_kib_max: f64,
    /// The broker's CPU time for the update (ms) and its memory (KiB),
    /// per agent.
    #[serde(with = "crate::json_number")]
    pub broker_cpu_ms_per_agent: f64,
    #[serde(with = "crate::json_number")]
    pub broker_rss_kib_per_agent: f64,
    /// The registry's CPU time serving the pulls, per agent, ms.
    #[serde(with = "crate::json_number")]
    pub registry_cpu_ms_per_agent: f64,
}

/// Which kind of chain the reload experiment replaced, live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReloadTier {
    /// Every NF in XDP.
    Xdp,
    /// NFs in XDP and NFs upcalled to a userland worker (AF_XDP).
    TwoTier,
}

impl ReloadTier {
    /// `XDP only`, `two-tier`: for tables and plots.
    pub fn label(self) -> &'static str {
        match self {
            ReloadTier::Xdp => "XDP only",
            ReloadTier::TwoTier => "two-tier",
        }
    }

    /// `xdp`, `two-tier`: for file names.
    pub fn slug(self) -> &'static str {
        match self {
            ReloadTier::Xdp => "xdp",
            ReloadTier::TwoTier => "two-tier",
        }
    }
}

/// One chain reloaded again and again under a fixed offered rate, and the
/// same rate without reloads just before, in the same `galette run`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReloadRun {
    pub tier: ReloadTier,
    /// The two chains reloaded in turn (the first runs without reloads).
    pub chains: Vec<String>,
    /// The TTLs a frame may come back with: one per chain, each leaving its
    /// own mark. Any other is a frame that ran in neither chain alone.
    pub marks: Vec<u8>,
    pub frame_bytes: u32,
    /// The rate the generator was asked for, in both phases.
    #[serde(with = "crate::json_number")]
    pub target_pps: f64,
    /// How long each timeline bucket lasts, in nanoseconds.
    pub bucket_ns: u64,
    /// The phase without reloads.
    pub steady: ReloadPhase,
    /// The phase with the reloads.
    pub reloading: ReloadPhase,
    /// Every reload of the second phase, in order.
    pub reloads: Vec<ReloadTiming>,
}

/// What the generator sent and what came back during one phase.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReloadPhase {
    /// Frames sent and frames that came back, in all.
    pub sent: u64,
    pub received: u64,
    /// How long the generator sent, in nanoseconds.
    pub sending_ns: u64,
    /// Per timeline bucket from the phase's start: frames sent (by send
    /// time) and frames that came back (by arrival time).
    pub sent_per_bucket: Vec<u64>,
    pub received_per_bucket: Vec<u64>,
    /// The frames that came back, by TTL (only the TTLs seen).
    pub by_ttl: Vec<TtlCount>,
}

/// How many frames came back with one TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtlCount {
    pub ttl: u8,
    pub frames: u64,
}

/// One `galette reload`: when the command ran (nanoseconds from its
/// phase's start, on the timeline's clock) and the switch time the running
/// chain reported for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadTiming {
    /// The command started and ended (it was spawned, and it exited).
    pub started_ns: u64,
    pub ended_ns: u64,
    /// The runtime's own figure: from the start of the reload to the last
    /// link switched.
    pub switch_ns: u64,
}
