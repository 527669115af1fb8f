//! Secret files under the data directory, written one way: a private directory (0700), a
//! file created once (0600, never overwritten, flushed to disk), and "read it, or create it
//! on first start" for keys (the token key, the document key, the TOTP sealing key, the
//! audit checkpoint key). Base layer: imports nothing else of the crate.
//!
//! Does not: choose key material (callers generate it), or log anything about a file's
//! content.

use std::io::{self, Write};
use std::path::Path;

/// Create `dir` (and its parents) and make it readable by the owner only.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Write `bytes` to a new file readable by the owner only (0600) and flush it to disk.
/// Fails with `AlreadyExists` if the file is there: a secret is never overwritten.
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The file's bytes; on first start (no file) the bytes `create` makes, written with
/// [`write_new`]. If another process created the file in between, its bytes win.
pub fn read_or_create(
    path: &Path,
    create: impl FnOnce() -> io::Result<Vec<u8>>,
) -> io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let bytes = create()?;
            match write_new(path, &bytes) {
                Ok(()) => Ok(bytes),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => std::fs::read(path),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// `N` bytes from the system's secure random source.
pub fn random<const N: usize>() -> io::Result<[u8; N]> {
    use ring::rand::SecureRandom;
    let mut key = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| io::Error::other("no system randomness"))?;
    Ok(key)
}

/// A 32-byte key in `<dir>/<name>` (0600 in a 0700 directory), created on first start.
pub fn key32(dir: &Path, name: &str) -> io::Result<[u8; 32]> {
    private_dir(dir)?;
    let path = dir.join(name);
    let bytes = read_or_create(&path, || Ok(random::<32>()?.to_vec()))?;
    bytes.try_into().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a 32-byte key", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let a = key32(&keys, "k.key").unwrap();
        let b = key32(&keys, "k.key").unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&keys.join("k.key")), 0o600);
            assert_eq!(mode(&keys), 0o700);
        }
        assert_eq!(
            write_new(&keys.join("k.key"), b"x").unwrap_err().kind(),
            io::ErrorKind::AlreadyExists,
            "a secret is never overwritten"
        );
    }

    #[test]
    fn a_short_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k.key"), b"short").unwrap();
        let e = key32(dir.path(), "k.key").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
