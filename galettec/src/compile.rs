//! The driver: runs the stages in order for one `.gal` file.

use std::path::{Path, PathBuf};

use galette_bundle::{
    ArtifactFile, FORMAT_VERSION, Instance, Manifest, MapEntry, Placement, Platform, Port, PortAction, RoleEntry,
    XDP_OBJECT, XdpPart, write_bundle,
};
use galette_grammar::ast::ChainFile;
use galette_grammar::{Diagnostic, FileId};

use crate::check::{CheckContext, ResolvedInstance, check};
use crate::codegen::{ENTRY_PROGRAM, Fusion, generate_ebpf_crate, instance_program, role_entry_program};
use crate::codegen_userland::{generate_userland_crate, library_name};
use crate::ebpf_build::{BuildEnv, BuildError, BuildTarget, NfCrate};
use crate::ir::{ChainIr, Target};
use crate::place::{DEFAULT_MAX_TAIL_CALLS, PlaceOptions, PlacedChain, Split, pass_after_userland, place, unsupported};
use crate::segments::{segments, split_point};
use crate::source::{FileSystem, SourceFiles, SourceReader, decode};
use crate::verify::{VerifierOutcome, log_summary, verify_object};

/// Where the compiler finds the crates NFs build against, and where it builds.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// The standard NF library: `std.NAME` is `stdlib_dir/NAME`.
    pub stdlib_dir: PathBuf,
    /// The `nf-std` crate.
    pub nf_std_dir: PathBuf,
    pub build: BuildEnv,
    /// The most tail calls from `rx` to an XDP instance (see `place`).
    pub max_tail_calls: u32,
    /// Whether the kernel verifier judges the XDP part (when galettec may
    /// load programs). Off for a bundle meant for another kernel than this
    /// machine's: the device's runtime then has the last word.
    pub verify: bool,
    /// How each segment's NFs are joined in its program.
    pub fusion: Fusion,
    /// The platforms to build the userland NF libraries for (at least one;
    /// the eBPF object serves them all).
    pub platforms: Vec<Platform>,
}

impl CompileOptions {
    /// The stdlib and nf-std of this source tree (overridable with
    /// `$GALETTE_STDLIB` and `$GALETTE_NF_STD`), and the default build cache.
    pub fn from_env() -> CompileOptions {
        let project = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("galettec lives in the project").to_owned();
        let dir = |var: &str, default: &str| {
            let dir = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| project.join(default));
            // Generated crates live elsewhere, so their path dependencies
            // must not be relative to the current directory.
            std::path::absolute(&dir).unwrap_or(dir)
        };
        CompileOptions {
            stdlib_dir: dir("GALETTE_STDLIB", "stdlib-nfs"),
            nf_std_dir: dir("GALETTE_NF_STD", "nf-std"),
            build: BuildEnv::from_env(),
            max_tail_calls: DEFAULT_MAX_TAIL_CALLS,
            verify: true,
            fusion: Fusion::default(),
            platforms: Platform::host().into_iter().collect(),
        }
    }
}

/// Why a chain did not compile.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("cannot read {}: {source}", path.display())]
    ReadChain { path: PathBuf, source: std::io::Error },
    #[error("the chain has errors")]
    Invalid(Box<Checked>),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot write the bundle to {}: {source}", path.display())]
    WriteBundle { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    WriteOutput { path: PathBuf, source: std::io::Error },
    /// Arguments that do not go together.
    #[error("{0}")]
    Usage(String),
}

/// A chain after the front end: every file read, every diagnostic, and the
/// IR with its placement when there was no error.
#[derive(Debug)]
pub struct Checked {
    pub files: SourceFiles,
    /// The `.gal` file in `files`.
    pub chain_file: galette_grammar::FileId,
    pub diagnostics: Vec<Diagnostic>,
    pub chain: Option<PlacedChain>,
    /// The syntax tree, as far as the file parsed.
    pub ast: ChainFile,
    /// Every instance declared, with its NF's signature when it could be read.
    pub instances: Vec<ResolvedInstance>,
}

/// Everything `galettec` checks before building the chain in `path`: the
/// front end, then what this version cannot build yet (E0900).
pub fn check_chain(path: &Path, options: &CompileOptions) -> Result<Checked, CompileError> {
    let mut checked = check_with(path, options, &FileSystem)?;
    if let Some(placed) = &checked.chain {
        let warnings = pass_after_userland(placed, checked.chain_file);
        checked.diagnostics.extend(warnings);
        let unsupported = unsupported(placed, checked.chain_file);
        if !unsupported.is_empty() {
            checked.diagnostics.extend(unsupported);
            checked.chain = None;
        }
    }
    Ok(checked)
}

/// The front end alone (parse, check, place), reading through `reader`:
/// whether the chain is valid, whatever this version can build.
pub fn check_with(path: &Path, options: &CompileOptions, reader: &dyn SourceReader) -> Result<Checked, CompileError> {
    let bytes = reader.read_bytes(path).map_err(|source| CompileError::ReadChain { path: path.to_owned(), source })?;
    match decode(bytes, 0) {
        Ok(text) => Ok(check_text(path, text, options, reader)),
        Err((text, diagnostic)) => {
            let mut files = SourceFiles::default();
            let chain_file = files.add(path.display().to_string(), text);
            let ast = ChainFile { name: None, items: Vec::new() };
            Ok(Checked { files, chain_file, diagnostics: vec![diagnostic], chain: None, ast, instances: Vec::new() })
        }
    }
}

/// The front end on `text`, the contents of the `.gal` file at `path` (which
/// need not be saved: an editor checks its buffer), reading NF crates
/// through `reader`. A file with syntax errors is checked as far as it
/// parsed; it never has a chain.
pub fn check_text(path: &Path, text: String, options: &CompileOptions, reader: &dyn SourceReader) -> Checked {
    let mut files = SourceFiles::default();
    let chain_file = files.add_as(path.display().to_string(), path, text.clone());
    let parsed = galette_grammar::parse(&text, chain_file);
    let syntax_errors = parsed.diagnostics.iter().any(Diagnostic::is_error);
    let ast = parsed.chain;
    // `chain.gal` has the parent "", which `absolute` refuses.
    let chain_dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let cx = CheckContext {
        reader,
        chain_file,
        // Absolute, for the same reason as the stdlib's directory.
        chain_dir: std::path::absolute(chain_dir).unwrap_or_else(|_| chain_dir.to_owned()),
        stdlib_dir: options.stdlib_dir.clone(),
        nf_std_dir: options.nf_std_dir.clone(),
    };
    let mut output = check(&ast, &mut files, &cx);
    output.diagnostics.splice(0..0, parsed.diagnostics);
    output.diagnostics.sort_by_key(|d| (d.primary.file != chain_file, d.primary.span.start));
    let chain = match output.chain.filter(|_| !syntax_errors) {
        None => None,
        Some(chain) => match place(
            chain,
            chain_file,
            &PlaceOptions { max_tail_calls: options.max_tail_calls, ..PlaceOptions::default() },
        ) {
            Ok(placed) => Some(placed),
            Err(errors) => {
                output.diagnostics.extend(errors);
                None
            }
        },
    };
    Checked { files, chain_file, diagnostics: output.diagnostics, chain, ast, instances: output.instances }
}

/// What a successful compile produced.
#[derive(Debug)]
pub struct Compiled {
    pub manifest: Manifest,
    /// Warnings, with the files they point into.
    pub checked: Checked,
    /// Whether the eBPF object came from the build cache (no cargo run).
    pub cached: bool,
    /// Things the user should know that are not diagnostics (e.g. that the
    /// verifier check was skipped).
    pub notes: Vec<String>,
}

/// Compiles the chain in `path` into a bundle in `out_dir`.
pub fn compile_chain(path: &Path, out_dir: &Path, options: &CompileOptions) -> Result<Compiled, CompileError> {
    let checked = check_chain(path, options)?;
    let Some(placed) = &checked.chain else {
        return Err(CompileError::Invalid(Box::new(checked)));
    };
    let chain = &placed.chain;
    let mut notes = Vec::new();
    let BuiltXdp { placed, object, cached } = match build_xdp(placed, checked.chain_file, options, &mut notes) {
        Ok(built) => built,
        Err(XdpFailure::Invalid(errors)) => return Err(invalid_with(checked, errors)),
        Err(XdpFailure::Compile(error)) => return Err(error),
    };
    if options.platforms.is_empty() {
        return Err(CompileError::Usage("no platform to build for".to_owned()));
    }
    let libraries = build_userland(&placed, options)?;
    let maps = map_entries(chain, &object)?;
    let mut manifest = manifest(&placed, &options.platforms);
    manifest.maps = maps;
    let mut artifacts = vec![ArtifactFile::shared(XDP_OBJECT, &object)];
    artifacts.extend(
        libraries.iter().map(|library| ArtifactFile::for_platform(library.platform, &library.path, &library.bytes)),
    );
    write_bundle(out_dir, manifest.clone(), &artifacts)
        .map_err(|source| CompileError::WriteBundle { path: out_dir.to_owned(), source })?;
    // Read back as each platform's runtime will read it.
    let mut reopened = None;
    for &platform in &options.platforms {
        let bundle = galette_bundle::Bundle::open_for(out_dir, platform).map_err(|err| CompileError::WriteBundle {
            path: out_dir.to_owned(),
            source: std::io::Error::other(err),
        })?;
        reopened = Some(bundle.manifest);
    }
    let manifest = reopened.expect("at least one platform");
    Ok(Compiled { manifest, checked, cached, notes })
}

/// The XDP part of a chain, built and judged by the kernel verifier.
#[derive(Debug)]
pub struct BuiltXdp {
    /// The placement it was built for: the chain's, with the NFs the
    /// verifier rejected moved to userland and the segments it rejected split.
    pub placed: PlacedChain,
    pub object: Vec<u8>,
    /// Whether the object came from the build cache.
    pub cached: bool,
}

/// Why the XDP part could not be built.
#[derive(Debug, thiserror::Error)]
pub enum XdpFailure {
    #[error("the chain became invalid")]
    /// The chain became invalid (an `@xdp` NF the verifier rejects).
    Invalid(Vec<Diagnostic>),
    #[error(transparent)]
    Compile(CompileError),
}

impl From<BuildError> for XdpFailure {
    fn from(error: BuildError) -> XdpFailure {
        XdpFailure::Compile(CompileError::Build(error))
    }
}

/// Builds the XDP part of `placed` and lets the kernel verifier judge it.
/// A rejected segment of several NFs is split in two (see
/// [`split_point`]); a rejected segment of one NF moves that NF to
/// userland. Then the part is built again. Each round either splits a
/// segment or moves an NF, so this ends. What the user should know (splits,
/// NFs moved, a skipped verifier) goes into `notes`, also when it fails.
pub fn build_xdp(
    placed: &PlacedChain,
    chain_file: FileId,
    options: &CompileOptions,
    notes: &mut Vec<String>,
) -> Result<BuiltXdp, XdpFailure> {
    let chain = &placed.chain;
    let mut placed = placed.clone();
    let mut place_options = PlaceOptions { max_tail_calls: options.max_tail_calls, ..PlaceOptions::default() };
    loop {
        let generated = generate_ebpf_crate(&placed, &options.nf_std_dir, options.fusion);
        let built =
            options.build.build(BuildTarget::Bpf, &chain.name, &generated, &nf_crates(chain), &options.nf_std_dir)?;
        let rejected = match options.verify.then(|| verify_object(&built.object)) {
            None => {
                notes.push("the kernel verifier did not check the chain: --no-verify".to_owned());
                Vec::new()
            }
            Some(VerifierOutcome::Skipped(why)) => {
                notes.push(format!("the kernel verifier did not check the chain: {why}"));
                Vec::new()
            }
            Some(VerifierOutcome::Checked { rejected }) => rejected,
        };
        if rejected.is_empty() {
            return Ok(BuiltXdp { placed, object: built.object, cached: built.cached });
        }
        let segments = segments(&placed);
        for rejection in &rejected {
            let generated_program_rejected = || {
                XdpFailure::Compile(CompileError::Build(BuildError::Compile {
                    chain: chain.name.clone(),
                    errors: format!(
                        "the kernel verifier rejected the generated program `{}`:\n{}",
                        rejection.program, rejection.log
                    ),
                }))
            };
            let segment = segments
                .iter()
                .find(|segment| segment.program == rejection.program)
                .ok_or_else(generated_program_rejected)?;
            let summary = log_summary(&rejection.log);
            if let Some(instance) = split_point(segment) {
                notes.push(format!(
                    "the kernel verifier rejected `{}`, {} NFs in one program ({summary}); split before `{}`",
                    segment.program,
                    segment.instances.len(),
                    chain.instances[instance].name
                ));
                place_options.splits.push(Split { instance, rejected_program: segment.program.clone(), summary });
            } else if let [instance] = segment.instances[..] {
                notes.push(format!(
                    "the kernel verifier rejected `{}`; it runs in userland",
                    chain.instances[instance].name
                ));
                place_options.rejected_by_verifier.push((instance, rejection.log.clone()));
            } else {
                return Err(generated_program_rejected());
            }
        }
        placed = place(chain.clone(), chain_file, &place_options).map_err(XdpFailure::Invalid)?;
        let unsupported = unsupported(&placed, chain_file);
        if !unsupported.is_empty() {
            return Err(XdpFailure::Invalid(unsupported));
        }
    }
}

/// The chain, now invalid because of `errors` found while building it.
fn invalid_with(mut checked: Checked, errors: Vec<Diagnostic>) -> CompileError {
    checked.diagnostics.extend(errors);
    checked.chain = None;
    CompileError::Invalid(Box::new(checked))
}

fn manifest(placed: &PlacedChain, platforms: &[Platform]) -> Manifest {
    let chain = &placed.chain;
    let instances = placed
        .instances()
        .enumerate()
        .map(|(index, (instance, decision))| Instance {
            name: instance.name.clone(),
            source: instance.source.clone(),
            placement: decision.placement,
            reason: decision.reason.to_string(),
            program: placed.starts_segment(index).then(|| instance_program(index)),
            library: (decision.placement == Placement::Userland).then(|| library_name(instance)),
            ports: instance
                .ports
                .iter()
                .map(|port| Port { name: port.name.clone(), action: port_action(port.target, chain) })
                .collect(),
            maps: instance.bindings.iter().map(|binding| chain.maps[binding.map].name.clone()).collect(),
        })
        .collect();
    Manifest {
        format_version: FORMAT_VERSION,
        chain: chain.name.clone(),
        compiler_version: env!("CARGO_PKG_VERSION").to_owned(),
        platforms: platforms.to_vec(),
        xdp: Some(XdpPart {
            object: XDP_OBJECT.to_owned(),
            entry_program: ENTRY_PROGRAM.to_owned(),
            entry: chain
                .entries
                .iter()
                .find(|entry| entry.role.is_none())
                .map_or(PortAction::Drop, |entry| port_action(entry.target, chain)),
            role_entries: chain
                .entries
                .iter()
                .filter_map(|entry| {
                    let role = entry.role?;
                    Some(RoleEntry {
                        role: chain.roles[role].name.clone(),
                        program: role_entry_program(role),
                        action: port_action(entry.target, chain),
                    })
                })
                .collect(),
            max_ports: chain.max_ports(),
        }),
        roles: chain.roles.iter().map(|role| role.name.clone()).collect(),
        instances,
        maps: Vec::new(),
        artifacts: Vec::new(),
    }
}

/// A userland instance's library, built for one platform.
struct BuiltLibrary {
    platform: Platform,
    /// Its path in the bundle.
    path: String,
    bytes: Vec<u8>,
}

/// Builds the library of every userland instance for every platform of
/// `options`.
fn build_userland(placed: &PlacedChain, options: &CompileOptions) -> Result<Vec<BuiltLibrary>, CompileError> {
    let chain = &placed.chain;
    let mut libraries = Vec::new();
    for &platform in &options.platforms {
        for (instance, decision) in placed.instances() {
            if decision.placement != Placement::Userland {
                continue;
            }
            let generated = generate_userland_crate(chain, instance, &options.nf_std_dir);
            let nf = NfCrate {
                dir: instance.nf.crate_dir.clone(),
                source_name: instance.source.clone(),
                instances: vec![instance.name.clone()],
            };
            let target = BuildTarget::Userland(platform);
            let built = options.build.build(target, &chain.name, &generated, &[nf], &options.nf_std_dir)?;
            libraries.push(BuiltLibrary {
                platform,
                path: platform.library_path(&library_name(instance)),
                bytes: built.object,
            });
        }
    }
    Ok(libraries)
}

/// The chain's NF crates, each with the instances that use it.
fn nf_crates(chain: &ChainIr) -> Vec<NfCrate> {
    let mut crates: Vec<NfCrate> = Vec::new();
    for instance in &chain.instances {
        match crates.iter_mut().find(|nf| nf.dir == instance.nf.crate_dir) {
            Some(nf) => nf.instances.push(instance.name.clone()),
            None => crates.push(NfCrate {
                dir: instance.nf.crate_dir.clone(),
                source_name: instance.source.clone(),
                instances: vec![instance.name.clone()],
            }),
        }
    }
    crates
}

/// The manifest's description of each chain map in the object, with the key
/// and value sizes the object declares (only the NF crates know the types'
/// sizes, and the object is where they meet).
fn map_entries(chain: &ChainIr, object: &[u8]) -> Result<Vec<MapEntry>, CompileError> {
    let parsed = aya_obj::Object::parse(object).map_err(|err| {
        CompileError::Build(BuildError::BadObject { path: PathBuf::from(format!("the built object ({err})")) })
    })?;
    Ok(chain
        .maps
        .iter()
        .filter_map(|map| {
            let declared = parsed.maps.get(&map.name)?;
            Some(MapEntry {
                name: map.name.clone(),
                kind: map.kind,
                key_type: map.key.clone(),
                value_type: map.value.clone(),
                key_size: declared.key_size(),
                value_size: declared.value_size(),
                capacity: declared.max_entries(),
                pin_name: format!("galette/{}/{}", chain.name, map.name),
            })
        })
        .collect())
}

fn port_action(target: Target, chain: &ChainIr) -> PortAction {
    match target {
        Target::Tx => PortAction::Tx,
        Target::Pass => PortAction::Pass,
        Target::Drop => PortAction::Drop,
        Target::Abort => PortAction::Abort,
        Target::Instance(index) => PortAction::Instance(chain.instances[index].name.clone()),
        Target::Redirect(role) => PortAction::Redirect(chain.roles[role].name.clone()),
    }
}
