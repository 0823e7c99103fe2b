//! Durable small files: write to a temp file in the same directory, fsync, rename, fsync the
//! directory. A crash (even `kill -9`) mid-write leaves the previous file intact plus at worst
//! an orphaned temp file, which [`sweep_temp_files`] removes at start-up; never a torn file.

use std::io::Write;
use std::path::Path;

/// Prefix of temp files, so leftovers can be recognised and removed.
pub const TEMP_PREFIX: &str = ".feedgate-tmp-";

pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes temp files a crash left behind in `dir` (not recursive). Returns how many.
pub fn sweep_temp_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let is_tmp = e
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(TEMP_PREFIX));
        if is_tmp && std::fs::remove_file(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_and_leftovers_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("f.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        // Simulate a crash between creating and renaming the temp file.
        std::fs::write(
            dir.path().join("sub").join(format!("{TEMP_PREFIX}abc")),
            b"half",
        )
        .unwrap();
        assert_eq!(sweep_temp_files(&dir.path().join("sub")), 1);
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            1
        );
    }
}
