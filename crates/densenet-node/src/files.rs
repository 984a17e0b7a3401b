//! File I/O for the core's byte-level weights and checkpoints.

use densenet_core::{Error, Result};
use std::path::Path;

/// Reads a whole regular file, naming the path in the error. Directories, FIFOs, sockets and
/// devices are refused up front (a FIFO would block the reader forever).
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::Io(format!("cannot read '{}': {e}", path.display())))?;
    if !meta.is_file() {
        return Err(Error::Io(format!("cannot read '{}': it is {}, not a regular file", path.display(), file_kind(&meta))));
    }
    std::fs::read(path).map_err(|e| Error::Io(format!("cannot read '{}': {e}", path.display())))
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Writes bytes to a temporary file beside `path`, syncs it and renames it into place, so a
/// crash never leaves a half-written file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let io = |e: std::io::Error| {
        // Say plainly what the OS calls EROFS / ENOSPC, with the code users search for.
        let hint = match e.raw_os_error() {
            Some(30) => " (EROFS: the file system is read-only; choose another path)",
            Some(28) => " (ENOSPC: the disk is full; nothing was written)",
            _ => "",
        };
        Error::Io(format!("cannot write '{}': {e}{hint}", path.display()))
    };
    if path.is_dir() {
        return Err(Error::Io(format!("cannot write '{}': it is a directory; give a file path", path.display())));
    }
    let written = (|| {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    written.map_err(|e| {
        // A full disk or a failed rename leaves no temporary file behind.
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}
