//! Galette's benchmark results and the report made from them: the data
//! model (`results`), written as JSON, a Markdown summary with ratio lines
//! against the baselines, and SVG plots.
//!
//! `results` is the data; `select` picks which points stand for what;
//! `reload` sums up the reload experiment's timelines and reload times;
//! `numbers` shows values to people; `svg` is a small plotting toolkit that
//! knows nothing of benchmarks; `plots`, `markdown` and `ratios` turn the
//! data into each output; `write` puts the files on disk and `read` reads
//! `results.json` back (`json_number` keeps NaN and the infinities in it).
//! Everything but `write` and `read` is pure, and nothing panics on any
//! input: values that are not finite show as "–" or are left out of plots.

mod json_number;
mod markdown;
mod numbers;
mod plots;
mod ratios;
mod read;
mod reload;
pub mod results;
mod select;
mod svg;
mod write;

pub use markdown::markdown;
pub use plots::{Plot, plots};
pub use ratios::ratios;
pub use read::read_results;
pub use reload::{BucketSummary, percentile};
pub use results::*;
pub use write::write_report;
