//! The experiments of one benchmark run, each filling its part of the
//! results.

pub mod ceiling;
pub mod chain_cost;
pub mod compiler;
pub mod conntrack;
pub mod dut_cost;
pub mod expensive;
pub mod fleet;
pub mod forwarding;
pub mod reload;

use std::path::{Path, PathBuf};

use galettec::{CompileOptions, compile_chain};

use crate::BenchError;

/// Writes `source` as `NAME.gal` in `dir` and compiles it to `NAME.bundle`.
pub fn compile(dir: &Path, name: &str, source: &str) -> Result<PathBuf, BenchError> {
    compile_with(dir, name, source, &CompileOptions::from_env())
}

/// [`compile`] with other compiler options.
pub fn compile_with(dir: &Path, name: &str, source: &str, options: &CompileOptions) -> Result<PathBuf, BenchError> {
    let chain = dir.join(format!("{name}.gal"));
    std::fs::write(&chain, source)
        .map_err(|err| BenchError::Setup(format!("cannot write {}: {err}", chain.display())))?;
    let bundle = dir.join(format!("{name}.bundle"));
    compile_chain(&chain, &bundle, options)
        .map_err(|err| BenchError::Setup(format!("cannot compile {}: {err}", chain.display())))?;
    Ok(bundle)
}

/// Compiles the chain at `chain` into `bundle`.
pub fn compile_file(chain: &Path, bundle: &Path) -> Result<PathBuf, BenchError> {
    compile_chain(chain, bundle, &CompileOptions::from_env())
        .map_err(|err| BenchError::Setup(format!("cannot compile {}: {err}", chain.display())))?;
    Ok(bundle.to_owned())
}
