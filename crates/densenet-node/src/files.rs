//! File I/O for the core's byte-level weights and checkpoints.

use densenet_core::{Error, Result};
use std::path::Path;

/// Reads a whole file, naming the path in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Io(format!("cannot read '{}': {e}", path.display())))
}

/// Writes bytes to a temporary file beside `path`, syncs it and renames it into place, so a
/// crash never leaves a half-written file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let io = |e: std::io::Error| Error::Io(format!("cannot write '{}': {e}", path.display()));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}
