//! Reading files that come from outside (the desired state, the settings file): regular files
//! only, and never more than a limit. A FIFO or a device would otherwise block a read, or never
//! end one (`/dev/urandom`), and a huge file would be read whole before it was refused.
//!
//! It imports nothing of muster's: every layer that reads a file may use it.

use std::io::Read;
use std::path::Path;

/// Why a file was not read. The messages name no path: callers put it in front.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReadError {
    #[error("cannot read the file: {0}")]
    Io(String),
    #[error("it is {0}, not a regular file; give the path of a file or a directory")]
    NotAFile(&'static str),
    #[error("the file is {size} bytes; the limit is {limit}")]
    TooLarge { size: u64, limit: u64 },
}

/// What kind of file `t` is, in words, for an error.
fn kind_of(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Reads the regular file at `path` (symlinks followed), at most `limit` bytes of it.
///
/// The kind is checked before the file is opened and again on the opened file (opened without
/// blocking, so a FIFO swapped in between cannot hang the open); the size is checked before
/// reading, and the read itself stops at `limit + 1` bytes in case the file grows meanwhile.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let io = |e: std::io::Error| ReadError::Io(e.to_string());
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile(kind_of(meta.file_type())));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile(kind_of(meta.file_type())));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// For tests: `bytes` written to `file` in a directory of its own (named by `prefix`, the
/// process and the thread, so parallel tests never share one); the directory and the file.
#[cfg(test)]
pub(crate) fn scratch_file(
    prefix: &str,
    file: &str,
    bytes: &[u8],
) -> (std::path::PathBuf, std::path::PathBuf) {
    let thread = std::thread::current().id();
    let name = format!("{prefix}-{}-{thread:?}", std::process::id());
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("muster-input-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn devices_fifos_and_directories_are_refused_without_reading() {
        assert_eq!(
            read_regular(Path::new("/dev/urandom"), 10),
            Err(ReadError::NotAFile("a character device"))
        );
        let d = scratch("fifo");
        let fifo = d.join("desired.yaml");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(
            read_regular(&fifo, 10),
            Err(ReadError::NotAFile("a FIFO (named pipe)"))
        );
        assert_eq!(
            read_regular(&d, 10),
            Err(ReadError::NotAFile("a directory"))
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_file_over_the_limit_is_refused_and_one_at_it_is_read() {
        let d = scratch("limit");
        let f = d.join("a.yaml");
        std::fs::write(&f, b"0123456789").unwrap();
        assert_eq!(read_regular(&f, 10).unwrap(), b"0123456789");
        assert_eq!(
            read_regular(&f, 9),
            Err(ReadError::TooLarge { size: 10, limit: 9 })
        );
        assert!(matches!(
            read_regular(&d.join("missing.yaml"), 9),
            Err(ReadError::Io(m)) if m.contains("No such file")
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
