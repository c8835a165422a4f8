//! Loading a bundle's eBPF object into the kernel and attaching it.

use std::sync::Arc;

use std::os::fd::{AsFd, BorrowedFd};

use aya::maps::{DevMap, ProgramArray};
use aya::programs::Xdp;
use aya::{Ebpf, EbpfLoader};
use galette_bundle::{Bundle, DEVS_MAP, PROGRAMS_MAP, Placement, STATS_MAP};

use crate::RunError;
use crate::attach::{Attachment, InterfaceUsage};
use crate::counters::{ChainCounters, LiveCounters, StatsError};
use crate::error::ObjectError;
use crate::map_command::{MapContents, PinnedMap};
use crate::pins::MapPins;
use crate::stats::InstanceCounters;
use crate::userland::{UserlandTier, WorkerMode};
use crate::xdp_link::XdpLink;

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

    /// The `XDP_FLAGS_*` of the mode, as bpf_link takes them.
    fn flags(self) -> u32 {
        match self {
            XdpMode::Auto => 0,
            XdpMode::Skb => 1 << 1,
            XdpMode::Drv => 1 << 2,
        }
    }
}

/// A chain loaded into the kernel and attached to its interfaces. Dropping
/// it detaches the chain.
pub struct RunningChain {
    pub(crate) ebpf: Ebpf,
    /// The bundle it runs, verified.
    pub(crate) bundle: Bundle,
    pub(crate) attachments: Vec<Attachment>,
    /// One per attachment, in the same order: the link and the program
    /// behind it.
    pub(crate) links: Vec<XdpLink>,
    /// The workers, when the chain has userland instances.
    pub(crate) userland: Option<UserlandTier>,
    /// Both tiers' counters, shared with whoever reads them at any time.
    pub(crate) counters: Arc<LiveCounters>,
    /// Removed (unless kept) when the chain is dropped, after the detach.
    pub(crate) pins: MapPins,
    pub(crate) bpffs: std::path::PathBuf,
    /// How many workers a userland tier has, or gets when a reload adds one.
    pub(crate) workers: Workers,
    /// Which load of the chain runs: 0, then one more per reload (see
    /// `galette_bundle::CONFIG_GENERATION`).
    pub(crate) generation: u16,
    /// The frame accounting of userland tiers that reloads stopped.
    pub(crate) retired_frames: Vec<(u64, u64)>,
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
        if attachments.is_empty() {
            return Err(InterfaceUsage::NoInterface.into());
        }
        let mut ebpf = load_object(bundle, &[])?;
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
            Some(UserlandTier::start(bundle, &mut ebpf, attachments, workers.count, workers.mode, 0)?)
        } else {
            None
        };
        fill_devices(&mut ebpf, attachments)?;
        load_entry_programs(&mut ebpf, attachments)?;
        let stats = ebpf.map(STATS_MAP).ok_or(StatsError::NoStatsMap)?;
        let counters = ChainCounters::new(&bundle.manifest, stats, userland.as_ref().map(UserlandTier::counters))?;
        let mut chain = RunningChain {
            ebpf,
            bundle: bundle.clone(),
            attachments: attachments.to_vec(),
            links: Vec::new(),
            userland,
            counters: Arc::new(LiveCounters::new(counters)),
            pins,
            bpffs: bpffs.clone(),
            workers,
            generation: 0,
            retired_frames: Vec::new(),
        };
        for attachment in attachments {
            // Should one attach fail, dropping `chain` detaches the others.
            let link = attach(&chain.ebpf, attachment, mode)?;
            chain.links.push(link);
        }
        Ok(chain)
    }

    /// The bundle the chain runs now.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
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
    /// endpoint reads them when it is scraped). It follows reloads.
    pub fn counter_reader(&self) -> Arc<LiveCounters> {
        Arc::clone(&self.counters)
    }

    /// Copies the userland instances' counters into the stats map, where
    /// `galette stats` in another process reads them.
    pub fn publish_userland_counters(&self) -> Result<(), StatsError> {
        self.counters.mirror_userland()
    }

    /// Detaches the chain from its interfaces, then stops the workers.
    /// Returns the userland tier's frame accounting (see
    /// `UserlandTier::stop`), when it has one.
    pub fn stop(mut self) -> Result<Option<(u64, u64)>, RunError> {
        self.links.clear();
        let running = self.userland.take().map(UserlandTier::stop);
        let all = running.into_iter().chain(self.retired_frames.iter().copied());
        Ok(all.reduce(|(accounted, total), (a, t)| (accounted + a, total + t)))
    }
}

/// Loads `bundle`'s XDP object, its chain maps named in `reuse` opened from
/// their pins (the maps a reload keeps) and the others created, then loads
/// the program of every segment entered by a tail call into the program
/// array. Nothing is attached.
pub(crate) fn load_object(bundle: &Bundle, reuse: &[(String, std::path::PathBuf)]) -> Result<Ebpf, RunError> {
    let xdp = bundle.manifest.xdp.as_ref().ok_or(RunError::NoXdpPart)?;
    let object = bundle.artifact(&xdp.object)?;
    let mut loader = EbpfLoader::new();
    for (name, path) in reuse {
        loader.map_pin_path(name.as_str(), path.as_path());
    }
    let mut ebpf = loader.load(&object).map_err(|error| ObjectError::Object(Box::new(error)))?;
    load_segment_programs(&mut ebpf, bundle)?;
    Ok(ebpf)
}

/// Loads the program each attachment attaches (the entry program, or a
/// role's), once each.
pub(crate) fn load_entry_programs(ebpf: &mut Ebpf, attachments: &[Attachment]) -> Result<(), ObjectError> {
    for attachment in attachments {
        let program = xdp_program(ebpf, &attachment.program)?;
        if program.fd().is_err() {
            program.load().map_err(|source| ObjectError::program(&attachment.program, None, source))?;
        }
    }
    Ok(())
}

/// The file descriptor of the loaded program `name`.
pub(crate) fn program_fd<'a>(ebpf: &'a Ebpf, name: &str) -> Result<BorrowedFd<'a>, ObjectError> {
    let program: &Xdp = ebpf
        .program(name)
        .ok_or_else(|| ObjectError::NoProgram(name.to_owned()))?
        .try_into()
        .map_err(|source| ObjectError::NotXdp { program: name.to_owned(), source: Box::new(source) })?;
    program.fd().map(|fd| fd.as_fd()).map_err(|source| ObjectError::program(name, None, source))
}

/// Attaches the attachment's (loaded) program to its interface.
fn attach(ebpf: &Ebpf, attachment: &Attachment, mode: XdpMode) -> Result<XdpLink, RunError> {
    let if_index = crate::interface::interface_index(&attachment.interface)?;
    let program = program_fd(ebpf, &attachment.program)?;
    XdpLink::attach(program, if_index, mode.flags())
        .map_err(|source| RunError::Attach { interface: attachment.interface.clone(), source })
}

/// Loads the bundle's XDP part as `galette run` does (every split
/// segment's program in the program array, the entry program loaded) without attaching it anywhere: for running the chain with
/// BPF_PROG_TEST_RUN, as the benchmarks do. Returns the object and the entry
/// program's name.
pub fn load_detached(bundle: &Bundle) -> Result<(Ebpf, String), RunError> {
    let xdp = bundle.manifest.xdp.as_ref().ok_or(RunError::NoXdpPart)?;
    let mut ebpf = load_object(bundle, &[])?;
    xdp_program(&mut ebpf, &xdp.entry_program)?
        .load()
        .map_err(|source| ObjectError::program(&xdp.entry_program, None, source))?;
    Ok((ebpf, xdp.entry_program.clone()))
}

/// The XDP program `name` of the object.
fn xdp_program<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Xdp, ObjectError> {
    ebpf.program_mut(name)
        .ok_or_else(|| ObjectError::NoProgram(name.to_owned()))?
        .try_into()
        .map_err(|source| ObjectError::NotXdp { program: name.to_owned(), source: Box::new(source) })
}

/// Loads the program of each segment entered by a tail call (an XDP
/// instance with a program of its own, where the chain was split) and puts
/// it in the program array at that instance's index, where the tail calls
/// find it. The instances fused into another program have none.
fn load_segment_programs(ebpf: &mut Ebpf, bundle: &Bundle) -> Result<(), ObjectError> {
    let mut loaded = Vec::new();
    for (index, instance) in bundle.manifest.instances.iter().enumerate() {
        let (Placement::Xdp, Some(name)) = (instance.placement, instance.program.as_deref()) else { continue };
        let program = xdp_program(ebpf, name)?;
        let program_error = |source| ObjectError::program(name, Some(&instance.name), source);
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
pub(crate) fn fill_devices(ebpf: &mut Ebpf, attachments: &[Attachment]) -> Result<(), RunError> {
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
