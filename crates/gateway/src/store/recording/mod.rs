//! Tick recordings (DESIGN.md §12, docs/RECORDING.md): every broker frame as received, with
//! its receive time and shard, in `FEEDGATE_DATA_DIR/recordings/YYYY-MM-DD/` (IST day) as
//! zstd-compressed, checksummed blocks with an index for time seeks. The file format
//! ([`format`]), writing ([`writer`]) and reading ([`reader`]), which days to delete
//! ([`retention`]), and the upstream's non-blocking hand-off ([`tap`]). The recorder task that
//! decides when blocks are sealed is in the runtime's wiring.

pub mod format;
pub mod reader;
pub mod retention;
pub mod tap;
pub mod writer;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

/// The recordings root under a data directory.
pub fn root(data_dir: &Path) -> PathBuf {
    data_dir.join("recordings")
}
