//! Loading a bundle's eBPF object into the kernel and attaching it.

use aya::Ebpf;
use aya::maps::{Array, DevMap, PerCpuArray, PerCpuValues, ProgramArray};
use aya::programs::Xdp;
use aya::programs::xdp::{XdpLinkId, XdpMode as AyaXdpMode};
use galette_bundle::{
    ACTIONS_MAP, Bundle, DEVS_MAP, Manifest, PROGRAMS_MAP, Placement, STATS_MAP, StatsSlot, action_table, error_chain,
    stats_index,
};

use crate::RunError;
use crate::attach::Attachment;
use crate::map_command::{self, MapContents};
use crate::pins::MapPins;
use crate::stats::{InstanceCounters, read_counters};
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

/// A chain loaded into the kernel and attached to its interfaces. Dropping
/// it detaches the chain.
pub struct RunningChain {
    ebpf: Ebpf,
    manifest: Manifest,
    /// Each attachment: the program and its link.
    links: Vec<(String, XdpLinkId)>,
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
    pub fn start(
        bundle: &Bundle,
        attachments: &[Attachment],
        mode: XdpMode,
        workers: Workers,
        pins: &PinOptions,
        preload: &[MapContents],
    ) -> Result<RunningChain, RunError> {
        let xdp = bundle.manifest.xdp.as_ref().ok_or(RunError::NoXdpPart)?;
        if attachments.is_empty() {
            return Err(RunError::Interfaces("no interface to attach to".into()));
        }
        let object = bundle.artifact(&xdp.object)?;
        let mut ebpf = Ebpf::load(&object).map_err(|err| RunError::Load(error_chain(&err)))?;
        load_instance_programs(&mut ebpf, &bundle.manifest)?;
        fill_action_table(&mut ebpf, bundle)?;
        let bpffs = &pins.bpffs;
        let pins = MapPins::pin(&ebpf, &bundle.manifest, bpffs, pins.keep)?;
        for contents in preload {
            let (entry, map) = map_command::open(bundle, bpffs, &contents.map)?;
            let loaded = map_command::load(&entry, &map, &contents.text)
                .map_err(|err| RunError::Map(format!("loading `{}`: {err}", contents.map)))?;
            println!("galette: loaded {loaded} entries into `{}`", contents.map);
        }
        // The workers are ready before the first upcall can happen.
        let has_userland = bundle.manifest.instances.iter().any(|instance| instance.placement == Placement::Userland);
        let userland = if has_userland {
            Some(UserlandTier::start(bundle, &mut ebpf, attachments, workers.count, workers.mode)?)
        } else {
            None
        };
        fill_devices(&mut ebpf, attachments)?;
        let mut chain =
            RunningChain { ebpf, manifest: bundle.manifest.clone(), links: Vec::new(), userland, _pins: pins };
        for attachment in attachments {
            // Should one attach fail, dropping `chain` detaches the others.
            chain.attach(attachment, mode)?;
        }
        Ok(chain)
    }

    fn attach(&mut self, attachment: &Attachment, mode: XdpMode) -> Result<(), RunError> {
        let program: &mut Xdp = self
            .ebpf
            .program_mut(&attachment.program)
            .ok_or_else(|| RunError::Load(format!("the object has no program `{}`", attachment.program)))?
            .try_into()
            .map_err(|err| RunError::Load(error_chain(&err)))?;
        if program.fd().is_err() {
            program.load().map_err(|err| RunError::Load(error_chain(&err)))?;
        }
        let link = program
            .attach(&attachment.interface, mode.aya_mode())
            .map_err(|err| RunError::Attach { interface: attachment.interface.clone(), reason: error_chain(&err) })?;
        self.links.push((attachment.program.clone(), link));
        Ok(())
    }

    /// The counters of every instance, summed over CPUs: the XDP ones from
    /// the stats map, the userland ones from the workers.
    /// The userland tier's start-up summary, if the chain has one.
    pub fn userland_summary(&self) -> Option<&str> {
        self.userland.as_ref().map(UserlandTier::summary)
    }

    pub fn counters(&self) -> Result<Vec<InstanceCounters>, RunError> {
        let map =
            self.ebpf.map(STATS_MAP).ok_or_else(|| RunError::Stats(format!("the object has no map `{STATS_MAP}`")))?;
        let stats: PerCpuArray<_, u64> =
            PerCpuArray::try_from(map).map_err(|err| RunError::Stats(error_chain(&err)))?;
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
        let map = self
            .ebpf
            .map_mut(STATS_MAP)
            .ok_or_else(|| RunError::Stats(format!("the object has no map `{STATS_MAP}`")))?;
        let mut stats: PerCpuArray<_, u64> =
            PerCpuArray::try_from(map).map_err(|err| RunError::Stats(error_chain(&err)))?;
        for (index, description) in self.manifest.instances.iter().enumerate() {
            let Some(userland) = tier.counters(index) else { continue };
            let snapshot = userland.snapshot(&description.name, &[]);
            let mut values =
                vec![(StatsSlot::Received, snapshot.received), (StatsSlot::MissedTailCall, snapshot.aborted)];
            for (port, count) in userland.ports.iter().enumerate() {
                values.push((StatsSlot::Port(port as u32), count.load(std::sync::atomic::Ordering::Relaxed)));
            }
            for (slot, count) in values {
                let mut per_cpu = vec![0u64; cpus];
                per_cpu[0] = count;
                let per_cpu = PerCpuValues::try_from(per_cpu).map_err(|err| RunError::Stats(err.to_string()))?;
                stats
                    .set(stats_index(index as u32, slot, max_ports), per_cpu, 0)
                    .map_err(|err| RunError::Stats(error_chain(&err)))?;
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
        let mut result = Ok(());
        for (name, link) in std::mem::take(&mut self.links) {
            let program: Option<&mut Xdp> = self.ebpf.program_mut(&name).and_then(|program| program.try_into().ok());
            let detached = match program {
                Some(program) => program.detach(link).map_err(|err| RunError::Load(error_chain(&err))),
                None => Err(RunError::Load(format!("the program `{name}` disappeared"))),
            };
            // Detach every interface, reporting the first failure.
            if result.is_ok() {
                result = detached;
            }
        }
        result
    }
}

/// Loads the bundle's XDP part as `galette run` does (every instance's
/// program in the program array, the action table filled, the entry program
/// loaded) without attaching it anywhere: for running the chain with
/// BPF_PROG_TEST_RUN, as the benchmarks do. Returns the object and the entry
/// program's name.
pub fn load_detached(bundle: &Bundle) -> Result<(Ebpf, String), RunError> {
    let xdp = bundle.manifest.xdp.as_ref().ok_or(RunError::NoXdpPart)?;
    let object = bundle.artifact(&xdp.object)?;
    let mut ebpf = Ebpf::load(&object).map_err(|err| RunError::Load(error_chain(&err)))?;
    load_instance_programs(&mut ebpf, &bundle.manifest)?;
    fill_action_table(&mut ebpf, bundle)?;
    let program: &mut Xdp = ebpf
        .program_mut(&xdp.entry_program)
        .ok_or_else(|| RunError::Load(format!("the object has no program `{}`", xdp.entry_program)))?
        .try_into()
        .map_err(|err| RunError::Load(error_chain(&err)))?;
    program.load().map_err(|err| RunError::Load(error_chain(&err)))?;
    Ok((ebpf, xdp.entry_program.clone()))
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
    let map =
        ebpf.map_mut(PROGRAMS_MAP).ok_or_else(|| RunError::Load(format!("the object has no map `{PROGRAMS_MAP}`")))?;
    let mut programs = ProgramArray::try_from(map).map_err(|err| RunError::Load(error_chain(&err)))?;
    for (index, fd) in &loaded {
        programs.set(*index, fd, 0).map_err(|err| RunError::Load(error_chain(&err)))?;
    }
    Ok(())
}

/// Writes each interface role's interface into the DEVMAP, where redirects
/// out of that role look it up.
fn fill_devices(ebpf: &mut Ebpf, attachments: &[Attachment]) -> Result<(), RunError> {
    if attachments.iter().all(|attachment| attachment.role.is_none()) {
        return Ok(());
    }
    let map = ebpf.map_mut(DEVS_MAP).ok_or_else(|| RunError::Load(format!("the object has no map `{DEVS_MAP}`")))?;
    let mut devices = DevMap::try_from(map).map_err(|err| RunError::Load(error_chain(&err)))?;
    for attachment in attachments {
        let Some(role) = attachment.role else { continue };
        let index = crate::interface::interface_index(&attachment.interface)?;
        devices.set(role, index, None, 0).map_err(|err| RunError::Load(error_chain(&err)))?;
    }
    Ok(())
}

/// Writes where every port and `rx` lead, as the manifest says.
fn fill_action_table(ebpf: &mut Ebpf, bundle: &Bundle) -> Result<(), RunError> {
    let table = action_table(&bundle.resolved);
    let map =
        ebpf.map_mut(ACTIONS_MAP).ok_or_else(|| RunError::Load(format!("the object has no map `{ACTIONS_MAP}`")))?;
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
