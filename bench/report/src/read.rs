//! Reading a run's `results.json` back, to report on it again or compare it
//! with another run.

use std::io;
use std::path::Path;

use crate::results::Results;

/// The run in the `results.json` at `path`, as [`crate::write_report`]
/// wrote it. A file that is not such a run is an `InvalidData` error that
/// says where it goes wrong.
pub fn read_results(path: &Path) -> io::Result<Results> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|error| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{} is not a run's results: {error}", path.display()))
    })
}
