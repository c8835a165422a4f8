//! Loading a bundle's eBPF object into the kernel and attaching it.

use aya::Ebpf;
use aya::maps::{Array, PerCpuArray, PerCpuValues, ProgramArray};
use aya::programs::xdp::{XdpLinkId, XdpMode as AyaXdpMode};
use aya::programs::Xdp;
use galette_bundle::{
    ACTIONS_MAP, Bundle, Manifest, PROGRAMS_MAP, Placement, STATS_MAP, StatsSlot, action_table, stats_index,
};

use crate::RunError;
use crate::stats::{InstanceCounters, read_counters};
use crate::pins::MapPins;
use crate::userland::{UserlandTier, WorkerMode};

/// How the program is attached to the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum XdpMode {
    /// Let the kernel choose: native if the driver supports it, else generic.
    Auto,
    /// Native (driver) mode; fails where the driver has no XDP support.
    Drv,
    /// Generic (skb) mode: works everywhere, slower.
    Skb,
}

impl XdpMode {
    /// The mode as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            XdpMode::Auto => "auto",
            XdpMode::Drv => "drv",
            XdpMode::Skb => "skb",
        }
    }

    fn aya_mode(self) -> AyaXdpMode {
        match self {
            XdpMode::Auto => AyaXdpMode::Default,
            XdpMode::Drv => AyaXdpMode::Driver,
            XdpMode::Skb => AyaXdpMode::Skb,
        }
    }
}

/// A chain loaded into the kernel and attached to one interface. Dropping it
/// detaches the chain.
pub struct RunningChain {
    ebpf: Ebpf,
    manifest: Manifest,
    entry_program: String,
    link: Option<XdpLinkId>,
    /// The workers, when the chain has userland instances.
    userland: Option<UserlandTier>,
    /// Removed (unless kept) when the chain is dropped, after the detach.
    _pins: MapPins,
}

/// Where to pin the chain's maps, and whether to leave them pinned.
#[derive(Debug, Clone)]
pub struct PinOptions {
    pub bpffs: std::path::PathBuf,
    pub keep: bool,
}

/// How many userland workers to run, and how they wait for packets.
#[derive(Debug, Clone, Copy)]
pub struct Workers {
    pub count: u32,
    pub mode: WorkerMode,
}

impl RunningChain {
    /// Loads the bundle's XDP object: every instance's program into the
    /// program array, the action table from the manifest, then attaches the
    /// entry program to `interface`.
    pub fn start(bundle: &Bundle, interface: &str, mode: XdpMode, workers: Workers, pins: &PinOptions) -> Result<RunningChain, RunError> {
        let xdp = bundle.manifest.xdp.as_ref().ok_or(RunError::NoXdpPart)?;
        let object = bundle.artifact(&xdp.object)?;
        let mut ebpf = Ebpf::load(&object).map_err(|err| RunError::Load(error_chain(&err)))?;
        load_instance_programs(&mut ebpf, &bundle.manifest)?;
        fill_action_table(&mut ebpf, &bundle.manifest)?;
        let pins = MapPins::pin(&ebpf, &bundle.manifest, &pins.bpffs, pins.keep)?;
        // The workers are ready before the first upcall can happen.
        let has_userland = bundle.manifest.instances.iter().any(|instance| instance.placement == Placement::Userland);
        let userland = if has_userland { Some(UserlandTier::start(bundle, &mut ebpf, interface, workers.count, workers.mode)?) } else { None };
        let program: &mut Xdp = ebpf
            .program_mut(&xdp.entry_program)
            .ok_or_else(|| RunError::Load(format!("the object has no program `{}`", xdp.entry_program)))?
            .try_into()
            .map_err(|err| RunError::Load(error_chain(&err)))?;
        program.load().map_err(|err| RunError::Load(error_chain(&err)))?;
        let link = program
            .attach(interface, mode.aya_mode())
            .map_err(|err| RunError::Attach { interface: interface.to_owned(), reason: error_chain(&err) })?;
        Ok(RunningChain { ebpf, manifest: bundle.manifest.clone(), entry_program: xdp.entry_program.clone(), link: Some(link), userland, _pins: pins })
    }

    /// The counters of every instance, summed over CPUs: the XDP ones from
    /// the stats map, the userland ones from the workers.
    pub fn counters(&self) -> Result<Vec<InstanceCounters>, RunError> {
        let map = self.ebpf.map(STATS_MAP).ok_or_else(|| RunError::Stats(format!("the object has no map `{STATS_MAP}`")))?;
        let stats: PerCpuArray<_, u64> = PerCpuArray::try_from(map).map_err(|err| RunError::Stats(error_chain(&err)))?;
        let mut counters = read_counters(&self.manifest, |index| -> Result<u64, RunError> {
            let per_cpu = stats.get(&index, 0).map_err(|err| RunError::Stats(error_chain(&err)))?;
            Ok(per_cpu.iter().sum())
        })?;
        if let Some(tier) = &self.userland {
            for (index, (counter, description)) in counters.iter_mut().zip(&self.manifest.instances).enumerate() {
                if let Some(userland) = tier.counters(index) {
                    let port_names: Vec<String> = description.ports.iter().map(|p| p.name.clone()).collect();
                    *counter = userland.snapshot(&description.name, &port_names);
                }
            }
        }
        Ok(counters)
    }

    /// Copies the userland instances' counters into their (otherwise unused)
    /// slots of the stats map, on the first CPU, so `galette stats` reading
    /// the pinned map from another process sees both tiers.
    pub fn publish_userland_counters(&mut self) -> Result<(), RunError> {
        let Some(tier) = &self.userland else { return Ok(()) };
        let max_ports = self.manifest.xdp.as_ref().map_or(0, |xdp| xdp.max_ports);
        let cpus = aya::util::nr_cpus().map_err(|(_, err)| RunError::Stats(err.to_string()))?;
        let map = self.ebpf.map_mut(STATS_MAP).ok_or_else(|| RunError::Stats(format!("the object has no map `{STATS_MAP}`")))?;
        let mut stats: PerCpuArray<_, u64> = PerCpuArray::try_from(map).map_err(|err| RunError::Stats(error_chain(&err)))?;
        for (index, description) in self.manifest.instances.iter().enumerate() {
            let Some(userland) = tier.counters(index) else { continue };
            let snapshot = userland.snapshot(&description.name, &[]);
            let mut values = vec![(StatsSlot::Received, snapshot.received), (StatsSlot::MissedTailCall, snapshot.aborted)];
            for (port, count) in userland.ports.iter().enumerate() {
                values.push((StatsSlot::Port(port as u32), count.load(std::sync::atomic::Ordering::Relaxed)));
            }
            for (slot, count) in values {
                let mut per_cpu = vec![0u64; cpus];
                per_cpu[0] = count;
                let per_cpu = PerCpuValues::try_from(per_cpu).map_err(|err| RunError::Stats(err.to_string()))?;
                stats.set(stats_index(index as u32, slot, max_ports), per_cpu, 0).map_err(|err| RunError::Stats(error_chain(&err)))?;
            }
        }
        Ok(())
    }

    /// Detaches the chain from its interface, then stops the workers.
    /// Returns the userland tier's frame accounting (see
    /// `UserlandTier::stop`), when it has one.
    pub fn stop(mut self) -> Result<Option<(u64, u64)>, RunError> {
        self.detach()?;
        Ok(self.userland.take().map(UserlandTier::stop))
    }

    fn detach(&mut self) -> Result<(), RunError> {
        let Some(link) = self.link.take() else { return Ok(()) };
        let program: &mut Xdp = self
            .ebpf
            .program_mut(&self.entry_program)
            .and_then(|program| program.try_into().ok())
            .ok_or_else(|| RunError::Load("the entry program disappeared".into()))?;
        program.detach(link).map_err(|err| RunError::Load(error_chain(&err)))
    }
}

/// Loads each XDP instance's program and puts it in the program array at
/// the instance's index, where tail calls find it.
fn load_instance_programs(ebpf: &mut Ebpf, manifest: &Manifest) -> Result<(), RunError> {
    let mut loaded = Vec::new();
    for (index, instance) in manifest.instances.iter().enumerate() {
        if instance.placement != Placement::Xdp {
            continue;
        }
        let name = instance
            .program
            .as_deref()
            .ok_or_else(|| RunError::Load(format!("the manifest gives XDP instance `{}` no program", instance.name)))?;
        let program: &mut Xdp = ebpf
            .program_mut(name)
            .ok_or_else(|| RunError::Load(format!("the object has no program `{name}` for `{}`", instance.name)))?
            .try_into()
            .map_err(|err| RunError::Load(error_chain(&err)))?;
        program.load().map_err(|err| RunError::Load(format!("`{}`: {}", instance.name, error_chain(&err))))?;
        let fd = program.fd().map_err(|err| RunError::Load(error_chain(&err)))?;
        let fd = fd.try_clone().map_err(|err| RunError::Load(error_chain(&err)))?;
        loaded.push((index as u32, fd));
    }
    let map = ebpf.map_mut(PROGRAMS_MAP).ok_or_else(|| RunError::Load(format!("the object has no map `{PROGRAMS_MAP}`")))?;
    let mut programs = ProgramArray::try_from(map).map_err(|err| RunError::Load(error_chain(&err)))?;
    for (index, fd) in &loaded {
        programs.set(*index, fd, 0).map_err(|err| RunError::Load(error_chain(&err)))?;
    }
    Ok(())
}

/// Writes where every port and `rx` lead, as the manifest says.
fn fill_action_table(ebpf: &mut Ebpf, manifest: &Manifest) -> Result<(), RunError> {
    let table = action_table(manifest).map_err(|reason| RunError::Load(format!("invalid manifest: {reason}")))?;
    let map = ebpf.map_mut(ACTIONS_MAP).ok_or_else(|| RunError::Load(format!("the object has no map `{ACTIONS_MAP}`")))?;
    let mut actions: Array<_, u32> = Array::try_from(map).map_err(|err| RunError::Load(error_chain(&err)))?;
    for (slot, code) in table {
        actions.set(slot, code, 0).map_err(|err| RunError::Load(error_chain(&err)))?;
    }
    Ok(())
}

impl Drop for RunningChain {
    fn drop(&mut self) {
        // Best effort: the link would also go when its fd closes with `ebpf`.
        let _ = self.detach();
    }
}

/// An error and its causes on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
