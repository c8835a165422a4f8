//! Writing a run's report files into a directory.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::markdown::markdown;
use crate::plots::plots;
use crate::results::Results;

/// Writes `results.json`, `results.md` and the plots (`latency-64B.svg`,
/// `throughput-64B.svg`, …, `expensive-share.svg`, `expensive-p99.svg`,
/// `expensive-classes-p99.svg`, `expensive-workers.svg`, `chain-cost.svg`, each only when there is data
/// for it) into `dir`, creating it if needed, and returns the paths
/// written.
///
/// The JSON is `results` as is ([`crate::read_results`] reads it back; a
/// value that is not finite is `"NaN"`, `"inf"` or `"-inf"`). Fails at the
/// first file that cannot be written, leaving those before it in place.
pub fn write_report(results: &Results, dir: &Path) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(results).map_err(io::Error::other)?;
    let mut files = vec![("results.json".to_string(), json + "\n"), ("results.md".to_string(), markdown(results))];
    files.extend(plots(results).into_iter().map(|plot| (plot.file_name, plot.svg)));
    let mut written = Vec::with_capacity(files.len());
    for (name, contents) in files {
        let path = dir.join(name);
        fs::write(&path, contents)?;
        written.push(path);
    }
    Ok(written)
}
