//! Loading a bundle's eBPF object into the kernel and attaching it.

use std::sync::Arc;

use aya::Ebpf;
use aya::maps::{Array, DevMap, ProgramArray};
use aya::programs::Xdp;
use aya::programs::xdp::{XdpLinkId, XdpMode as AyaXdpMode};
use galette_bundle::{ACTIONS_MAP, Bundle, DEVS_MAP, PROGRAMS_MAP, Placement, STATS_MAP, action_table};

use crate::RunError;
use crate::attach::{Attachment, InterfaceUsage};
use crate::counters::{ChainCounters, StatsError};
use crate::error::ObjectError;
use crate::map_command::{MapContents, PinnedMap};
use crate::pins::MapPins;
use crate::stats::InstanceCounters;
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
    /// Each attachment: the program and its link.
    links: Vec<(String, XdpLinkId)>,
    /// The workers, when the chain has userland instances.
    userland: Option<UserlandTier>,
    /// Both tiers' counters, shared with whoever reads them at any time.
    counters: Arc<ChainCounters>,
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
    /// program array, the action table from the manifest, the maps of
    /// `preload`, the userland tier, then attaches the entry programs.
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
            return Err(InterfaceUsage::NoInterface.into());
        }
        let object = bundle.artifact(&xdp.object)?;
        let mut ebpf = Ebpf::load(&object).map_err(|error| ObjectError::Object(Box::new(error)))?;
        load_instance_programs(&mut ebpf, bundle)?;
        fill_action_table(&mut ebpf, bundle)?;
        let bpffs = &pins.bpffs;
        let pins = MapPins::pin(&ebpf, &bundle.manifest, bpffs, pins.keep)?;
        for contents in preload {
            let preload_error = |source| RunError::Preload { map: contents.map.clone(), source };
            let map = PinnedMap::open(bundle, bpffs, &contents.map).map_err(preload_error)?;
            let loaded = map.load(&contents.text).map_err(preload_error)?;
            println!("galette: loaded {loaded} entries into `{}`", contents.map);
        }
        // The workers are ready before the first upcall can happen.
        let has_userland = bundle.resolved.placements.contains(&Placement::Userland);
        let userland = if has_userland {
            Some(UserlandTier::start(bundle, &mut ebpf, attachments, workers.count, workers.mode)?)
        } else {
            None
        };
        fill_devices(&mut ebpf, attachments)?;
        let stats = ebpf.map(STATS_MAP).ok_or(StatsError::NoStatsMap)?;
        let counters = ChainCounters::new(&bundle.manifest, stats, userland.as_ref().map(UserlandTier::counters))?;
        let mut chain = RunningChain { ebpf, links: Vec::new(), userland, counters: Arc::new(counters), _pins: pins };
        for attachment in attachments {
            // Should one attach fail, dropping `chain` detaches the others.
            chain.attach(attachment, mode)?;
        }
        Ok(chain)
    }

    fn attach(&mut self, attachment: &Attachment, mode: XdpMode) -> Result<(), RunError> {
        let program = xdp_program(&mut self.ebpf, &attachment.program)?;
        if program.fd().is_err() {
            program.load().map_err(|source| ObjectError::Program {
                program: attachment.program.clone(),
                instance: None,
                source: Box::new(source),
            })?;
        }
        let link = program
            .attach(&attachment.interface, mode.aya_mode())
            .map_err(|source| RunError::Attach { interface: attachment.interface.clone(), source: Box::new(source) })?;
        self.links.push((attachment.program.clone(), link));
        Ok(())
    }

    /// The userland tier's start-up summary, if the chain has one.
    pub fn userland_summary(&self) -> Option<&str> {
        self.userland.as_ref().map(UserlandTier::summary)
    }

    /// The counters of every instance, now, summed over CPUs: the XDP ones
    /// from the stats map, the userland ones from the workers.
    pub fn counters(&self) -> Result<Vec<InstanceCounters>, StatsError> {
        self.counters.read()
    }

    /// The reader of the chain's counters, for another thread (the metrics
    /// endpoint reads them when it is scraped).
    pub fn counter_reader(&self) -> Arc<ChainCounters> {
        Arc::clone(&self.counters)
    }

    /// Copies the userland instances' counters into the stats map, where
    /// `galette stats` in another process reads them.
    pub fn publish_userland_counters(&self) -> Result<(), StatsError> {
        self.counters.mirror_userland()
    }

    /// Detaches the chain from its interface, then stops the workers.
    /// Returns the userland tier's frame accounting (see
    /// `UserlandTier::stop`), when it has one.
    pub fn stop(mut self) -> Result<Option<(u64, u64)>, RunError> {
        self.detach()?;
        Ok(self.userland.take().map(UserlandTier::stop))
    }

    fn detach(&mut self) -> Result<(), ObjectError> {
        let mut result = Ok(());
        for (name, link) in std::mem::take(&mut self.links) {
            let program: Option<&mut Xdp> = self.ebpf.program_mut(&name).and_then(|program| program.try_into().ok());
            let detached = match program {
                Some(program) => program
                    .detach(link)
                    .map_err(|source| ObjectError::Detach { program: name.clone(), source: Box::new(source) }),
                None => Err(ObjectError::ProgramGone(name)),
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
    let mut ebpf = Ebpf::load(&object).map_err(|error| ObjectError::Object(Box::new(error)))?;
    load_instance_programs(&mut ebpf, bundle)?;
    fill_action_table(&mut ebpf, bundle)?;
    xdp_program(&mut ebpf, &xdp.entry_program)?.load().map_err(|source| ObjectError::Program {
        program: xdp.entry_program.clone(),
        instance: None,
        source: Box::new(source),
    })?;
    Ok((ebpf, xdp.entry_program.clone()))
}

/// The XDP program `name` of the object.
fn xdp_program<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Xdp, ObjectError> {
    ebpf.program_mut(name)
        .ok_or_else(|| ObjectError::NoProgram(name.to_owned()))?
        .try_into()
        .map_err(|source| ObjectError::NotXdp { program: name.to_owned(), source: Box::new(source) })
}

/// Loads each XDP instance's program and puts it in the program array at
/// the instance's index, where tail calls find it.
fn load_instance_programs(ebpf: &mut Ebpf, bundle: &Bundle) -> Result<(), ObjectError> {
    let mut loaded = Vec::new();
    for (index, instance) in bundle.manifest.instances.iter().enumerate() {
        // An XDP instance has a program: the bundle was resolved.
        let (Placement::Xdp, Some(name)) = (instance.placement, instance.program.as_deref()) else { continue };
        let program = xdp_program(ebpf, name)?;
        let program_error = |source| ObjectError::Program {
            program: name.to_owned(),
            instance: Some(instance.name.clone()),
            source: Box::new(source),
        };
        program.load().map_err(program_error)?;
        let fd = program.fd().map_err(program_error)?;
        let fd = fd.try_clone().map_err(|source| ObjectError::ProgramFd { program: name.to_owned(), source })?;
        loaded.push((index as u32, fd));
    }
    let map = ebpf.map_mut(PROGRAMS_MAP).ok_or(ObjectError::NoMap(PROGRAMS_MAP))?;
    let fill_error = |source| ObjectError::FillMap { map: PROGRAMS_MAP, source };
    let mut programs = ProgramArray::try_from(map).map_err(fill_error)?;
    for (index, fd) in &loaded {
        programs.set(*index, fd, 0).map_err(fill_error)?;
    }
    Ok(())
}

/// Writes each interface role's interface into the DEVMAP, where redirects
/// out of that role look it up.
fn fill_devices(ebpf: &mut Ebpf, attachments: &[Attachment]) -> Result<(), RunError> {
    if attachments.iter().all(|attachment| attachment.role.is_none()) {
        return Ok(());
    }
    let map = ebpf.map_mut(DEVS_MAP).ok_or(ObjectError::NoMap(DEVS_MAP))?;
    let fill_error = |source| ObjectError::FillMap { map: DEVS_MAP, source };
    let mut devices = DevMap::try_from(map).map_err(fill_error)?;
    for attachment in attachments {
        let Some(role) = attachment.role else { continue };
        let index = crate::interface::interface_index(&attachment.interface)?;
        devices.set(role, index, None, 0).map_err(|source| ObjectError::FillDevice { role, source })?;
    }
    Ok(())
}

/// Writes where every port and `rx` lead, as the manifest says.
fn fill_action_table(ebpf: &mut Ebpf, bundle: &Bundle) -> Result<(), ObjectError> {
    let map = ebpf.map_mut(ACTIONS_MAP).ok_or(ObjectError::NoMap(ACTIONS_MAP))?;
    let fill_error = |source| ObjectError::FillMap { map: ACTIONS_MAP, source };
    let mut actions: Array<_, u32> = Array::try_from(map).map_err(fill_error)?;
    for (slot, code) in action_table(&bundle.resolved) {
        actions.set(slot, code, 0).map_err(fill_error)?;
    }
    Ok(())
}

impl Drop for RunningChain {
    fn drop(&mut self) {
        // Best effort: the link would also go when its fd closes with `ebpf`.
        let _ = self.detach();
    }
}
