//! The `galettec` command line: parses arguments and calls the library.

// Diagnostics travel in `Err` on the cold path of a compile; their size
// costs nothing that matters, and boxing them would only add noise.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use galette_bundle::{Manifest, Placement, Platform, platform_list};
use galette_grammar::{Diagnostic, FormatError};
use galettec::codegen::Fusion;
use galettec::compile::{build_xdp, check_with};
use galettec::explain::{dot_graph, placement_table};
use galettec::place::{DEFAULT_MAX_TAIL_CALLS, unsupported};
use galettec::render::{render_diagnostics, render_json};
use galettec::source::{FileSystem, SourceFiles, decode};
use galettec::{Checked, CompileError, CompileOptions, check_chain, compile_chain};

/// Compile a Galette chain (`.gal`) into a bundle that `galette run` loads.
#[derive(Parser)]
#[command(version, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    build: BuildArgs,
    /// How to print diagnostics: for people, or one JSON object per line
    /// (on stdout) for editors and scripts.
    #[arg(long, value_enum, global = true, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
    /// The most tail calls from `rx` to an NF in XDP, where the verifier made
    /// galettec split the XDP part into segments; NFs further away run in
    /// userland.
    #[arg(long, global = true, value_name = "N", default_value_t = DEFAULT_MAX_TAIL_CALLS)]
    max_tail_calls: u32,
    /// Do not ask this machine's kernel verifier about the XDP part (for a
    /// bundle meant for a device with another kernel, whose runtime then
    /// refuses what its verifier rejects).
    #[arg(long, global = true)]
    no_verify: bool,
    /// How the NFs of one XDP segment are joined in its program: inlined
    /// into it (the default, measured the faster), or each a BPF-to-BPF
    /// call.
    #[arg(long, global = true, value_enum, default_value_t = FusionArg::Inline)]
    fusion: FusionArg,
    /// The platforms to build the userland NF libraries for, comma-separated
    /// (x86_64-linux, aarch64-linux; default: this machine's). The eBPF
    /// object serves them all; each device runs its own platform's libraries.
    #[arg(long, global = true, value_name = "PLATFORM,...", value_delimiter = ',', value_parser = parse_platform)]
    platform: Vec<Platform>,
}

fn parse_platform(name: &str) -> Result<Platform, String> {
    Platform::from_name(name).ok_or_else(|| format!("unknown platform (known: {})", platform_list(&Platform::ALL)))
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FusionArg {
    Inline,
    Calls,
}

impl From<FusionArg> for Fusion {
    fn from(fusion: FusionArg) -> Fusion {
        match fusion {
            FusionArg::Inline => Fusion::Inline,
            FusionArg::Calls => Fusion::Calls,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MessageFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Compile a chain into a bundle (the default when no command is given).
    Build(BuildArgs),
    /// Check a chain and its NF crates without building anything.
    Check {
        /// The `.gal` file.
        file: PathBuf,
    },
    /// Rewrite chains in the canonical layout, comments kept (see
    /// "Formatting" in docs/language.md). A file with syntax errors is
    /// left as it is.
    Fmt {
        /// Write nothing: print the name of each file that is not in the
        /// canonical layout, and fail if there is one.
        #[arg(long)]
        check: bool,
        /// The `.gal` files; none, or `-`, reads standard input and writes
        /// standard output.
        files: Vec<PathBuf>,
    },
    /// Serve the Language Server Protocol over standard input and output,
    /// for editors (see editors/README.md).
    Lsp,
    /// Show where each NF runs and why, or draw the chain.
    Explain {
        /// The `.gal` file.
        file: PathBuf,
        /// What to print: the placement table, or a Graphviz (DOT) graph
        /// with the XDP and userland parts marked (default: the graph when
        /// writing a `.svg` or `.dot` file, else the table).
        #[arg(long, value_enum)]
        emit: Option<Emit>,
        /// Write to this file instead of standard output; a `.svg` file is
        /// the graph rendered with Graphviz's `dot`.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Emit {
    Table,
    Dot,
}

#[derive(clap::Args)]
struct BuildArgs {
    /// The `.gal` file.
    #[arg(required = true)]
    file: Option<PathBuf>,
    /// The bundle directory to write (default: `<chain file name>.bundle`).
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // An operational error is one line a script can grep, whatever the
    // terminal's width.
    let _ = miette::set_hook(Box::new(|_| Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())));
    let mut options = CompileOptions {
        max_tail_calls: cli.max_tail_calls,
        verify: !cli.no_verify,
        fusion: cli.fusion.into(),
        ..CompileOptions::from_env()
    };
    if !cli.platform.is_empty() {
        // In the order given, each once.
        let mut platforms = Vec::new();
        for platform in cli.platform {
            if !platforms.contains(&platform) {
                platforms.push(platform);
            }
        }
        options.platforms = platforms;
    }
    options.build.progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let format = cli.message_format;
    let result = match cli.command {
        Some(Command::Check { file }) => check(&file, &options, format),
        Some(Command::Explain { file, emit, output }) => explain(&file, emit, output.as_deref(), &options, format),
        Some(Command::Fmt { check, files }) => return fmt(&files, check, format),
        Some(Command::Lsp) => return lsp(options),
        Some(Command::Build(args)) => build(args, &options, format),
        None => build(cli.build, &options, format),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(error, format);
            ExitCode::FAILURE
        }
    }
}

fn check(file: &Path, options: &CompileOptions, format: MessageFormat) -> Result<(), CompileError> {
    let checked = check_chain(file, options)?;
    if checked.chain.is_none() {
        return Err(CompileError::Invalid(Box::new(checked)));
    }
    print_diagnostics(&checked, format);
    if format == MessageFormat::Human {
        eprintln!("{}: ok", file.display());
    }
    Ok(())
}

fn explain(
    file: &Path,
    emit: Option<Emit>,
    output: Option<&Path>,
    options: &CompileOptions,
    format: MessageFormat,
) -> Result<(), CompileError> {
    let extension = output.and_then(Path::extension).and_then(|ext| ext.to_str());
    let svg = extension == Some("svg");
    let emit = match (emit, extension) {
        (Some(Emit::Table), Some("svg")) => {
            return Err(CompileError::Usage(
                "a placement table cannot be drawn as SVG: use `--emit dot`, or write a .txt file".to_owned(),
            ));
        }
        (Some(emit), _) => emit,
        (None, Some("svg" | "dot" | "gv")) => Emit::Dot,
        (None, _) => Emit::Table,
    };
    // The front end first: placement is worth explaining even for chains
    // this version cannot build yet.
    let checked = check_with(file, options, &FileSystem)?;
    let Some(placed) = &checked.chain else {
        return Err(CompileError::Invalid(Box::new(checked)));
    };
    print_diagnostics(&checked, format);
    // Then what the kernel verifier makes of it (NFs it rejects move to
    // userland, segments it rejects are split), when it can be asked.
    let verified = options.verify && unsupported(placed, checked.chain_file).is_empty();
    let mut notes = Vec::new();
    let built = verified.then(|| build_xdp(placed, checked.chain_file, options, &mut notes));
    for note in &notes {
        eprintln!("note: {note}");
    }
    let placed = match &built {
        Some(Ok(built)) => &built.placed,
        Some(Err(failure)) => {
            eprintln!("note: the XDP part could not be built ({}); this is the placement before the verifier", failure);
            placed
        }
        None => placed,
    };
    let text = match emit {
        Emit::Table => placement_table(placed),
        Emit::Dot => dot_graph(placed),
    };
    let write_error = |path: &Path, source| CompileError::WriteOutput { path: path.to_owned(), source };
    match output {
        None => print!("{text}"),
        Some(path) if svg => {
            render_svg(&text, path).map_err(|source| write_error(path, source))?;
            eprintln!("wrote {}", path.display());
        }
        Some(path) => {
            std::fs::write(path, text).map_err(|source| write_error(path, source))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// `galettec lsp`: serves one editor until it says `exit`.
fn lsp(options: CompileOptions) -> ExitCode {
    match galettec::lsp::serve_stdio(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{:?}", miette::Report::msg(format!("galettec lsp: {error}")));
            ExitCode::FAILURE
        }
    }
}

/// `galettec fmt`: formats every file, going on past those it cannot, and
/// fails if one could not be formatted or, with `--check`, is not.
fn fmt(files: &[PathBuf], check: bool, format: MessageFormat) -> ExitCode {
    let stdin = [PathBuf::from("-")];
    let files = if files.is_empty() { &stdin[..] } else { files };
    let mut all_ok = true;
    for file in files {
        all_ok &= fmt_file(file, check, format);
    }
    if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Formats one file in place (only when that changes it), or standard
/// input to standard output for `-`. With `check`, writes nothing and
/// prints the file's name if formatting would change it. Returns whether
/// all went well.
fn fmt_file(path: &Path, check: bool, format: MessageFormat) -> bool {
    let from_stdin = path == Path::new("-");
    let name = if from_stdin { "<stdin>".to_owned() } else { path.display().to_string() };
    let read = if from_stdin {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).map(|_| bytes)
    } else {
        std::fs::read(path)
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(error) => return operational_error(format!("cannot read {name}: {error}")),
    };
    let mut files = SourceFiles::default();
    let source = match decode(bytes, 0) {
        Ok(source) => source,
        Err((text, diagnostic)) => {
            files.add(name.clone(), text);
            print_fmt_errors(&files, &[diagnostic], &name, format);
            return false;
        }
    };
    let file = files.add(name.clone(), source.clone());
    match galette_grammar::format(&source, file) {
        Ok(formatted) if check => {
            if formatted != source {
                println!("{name}");
            }
            formatted == source
        }
        Ok(formatted) if from_stdin => {
            print!("{formatted}");
            true
        }
        Ok(formatted) if formatted == source => true,
        Ok(formatted) => match std::fs::write(path, formatted) {
            Ok(()) => true,
            Err(error) => operational_error(format!("cannot write {name}: {error}")),
        },
        Err(FormatError::Syntax(diagnostics)) => {
            print_fmt_errors(&files, &diagnostics, &name, format);
            false
        }
        Err(FormatError::Bug(reason)) => {
            operational_error(format!("left {name} as it is: the formatter went wrong ({reason}); please report this"))
        }
    }
}

/// Prints why `name` could not be formatted.
fn print_fmt_errors(files: &SourceFiles, diagnostics: &[Diagnostic], name: &str, format: MessageFormat) {
    match format {
        MessageFormat::Human => eprint!("{}", render_diagnostics(files, diagnostics)),
        MessageFormat::Json => print!("{}", render_json(files, diagnostics)),
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    eprintln!("error: could not format {name}: {errors} error{}", if errors == 1 { "" } else { "s" });
}

/// Prints an error that is not about the chain's text; returns `false`.
fn operational_error(message: String) -> bool {
    eprintln!("{:?}", miette::Report::msg(message));
    false
}

/// Renders DOT to SVG with Graphviz's `dot`.
fn render_svg(dot: &str, path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let mut child = std::process::Command::new("dot")
        .args(["-Tsvg", "-o"])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|err| {
            std::io::Error::new(
                err.kind(),
                format!(
                    "cannot run Graphviz's `dot` ({err}); install the graphviz package (`apt-get install graphviz`, or `cargo xtask setup`), or write a .dot file"
                ),
            )
        })?;
    child.stdin.take().expect("piped").write_all(dot.as_bytes())?;
    let status = child.wait()?;
    if status.success() { Ok(()) } else { Err(std::io::Error::other(format!("dot failed ({status})"))) }
}

fn build(args: BuildArgs, options: &CompileOptions, format: MessageFormat) -> Result<(), CompileError> {
    let file = args.file.expect("clap requires the file");
    let output = args.output.unwrap_or_else(|| {
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "chain".into());
        PathBuf::from(format!("{stem}.bundle"))
    });
    eprintln!("   Compiling {}", file.display());
    let compiled = compile_chain(&file, &output, options)?;
    if compiled.cached {
        eprintln!("       Fresh eBPF object from the build cache");
    }
    for note in &compiled.notes {
        eprintln!("note: {note}");
    }
    print_diagnostics(&compiled.checked, format);
    for instance in &compiled.manifest.instances {
        let placement = match instance.placement {
            Placement::Xdp => "XDP",
            Placement::Userland => "userland",
        };
        eprintln!("     Placing {} in {placement}: {}", instance.name, instance.reason);
    }
    eprintln!("     Wrote bundle `{}` to {}", compiled.manifest.chain, output.display());
    for (platform, bytes) in bundle_sizes(&compiled.manifest, &output) {
        eprintln!("        {platform}: {} (what a device of this platform fetches)", human_size(bytes));
    }
    Ok(())
}

/// The size of the bundle for each of its platforms: the manifest, the
/// shared artifacts and that platform's own.
fn bundle_sizes(manifest: &Manifest, dir: &Path) -> Vec<(Platform, u64)> {
    let size = |path: &str| std::fs::metadata(dir.join(path)).map_or(0, |meta| meta.len());
    let manifest_size = size(galette_bundle::MANIFEST_FILE);
    manifest
        .platforms
        .iter()
        .map(|&platform| {
            let artifacts: u64 = manifest
                .artifacts
                .iter()
                .filter(|artifact| artifact.is_for(platform))
                .map(|artifact| size(&artifact.path))
                .sum();
            (platform, manifest_size + artifacts)
        })
        .collect()
}

/// `274.1 KB`, in the kilobytes (1000 bytes) a link's speed is given in.
fn human_size(bytes: u64) -> String {
    if bytes < 1_000_000 { format!("{:.1} KB", bytes as f64 / 1e3) } else { format!("{:.2} MB", bytes as f64 / 1e6) }
}

fn print_diagnostics(checked: &Checked, format: MessageFormat) {
    match format {
        MessageFormat::Human => eprint!("{}", render_diagnostics(&checked.files, &checked.diagnostics)),
        MessageFormat::Json => print!("{}", render_json(&checked.files, &checked.diagnostics)),
    }
}

fn report(error: CompileError, format: MessageFormat) {
    match error {
        CompileError::Invalid(checked) => {
            print_diagnostics(&checked, format);
            let errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
            eprintln!("error: could not compile the chain: {errors} error{}", if errors == 1 { "" } else { "s" });
        }
        CompileError::Build(error) => {
            let help = error.help();
            eprintln!("{:?}", miette::Report::msg(error.to_string()));
            if let Some(help) = help {
                eprintln!("  help: {help}");
            }
        }
        other => eprintln!("{:?}", miette::Report::msg(other.to_string())),
    }
}
