//! Durable small files: write to a temp file in the same directory, fsync, rename, fsync the
//! directory. A crash (even `kill -9`) mid-write leaves the previous file intact plus at worst
//! an orphaned temp file, which [`sweep_temp_files`] removes at start-up; never a torn file.
//! Every file feedgate writes goes through [`write_atomic_with_mode`], so they all share these
//! guarantees and one temp-file prefix.

use std::io::Write;
use std::path::Path;

/// Prefix of temp files, so leftovers can be recognised and removed.
pub const TEMP_PREFIX: &str = ".feedgate-tmp-";

/// Owner read/write only: the mode of every file feedgate writes (the token file must be
/// private; nothing else in the data directory is meant for other users either).
pub const PRIVATE: u32 = 0o600;

/// Owner-only directories: the data directory and everything feedgate creates under it.
pub const PRIVATE_DIR: u32 = 0o700;

/// Creates `dir` (and missing parents) owner-only, and makes an existing `dir` owner-only
/// too: the data directory holds the broker token and the key hashes.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    create_dirs(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(PRIVATE_DIR))?;
    }
    Ok(())
}

/// Missing directories up to `dir`, created owner-only (existing ones are left as they are).
fn create_dirs(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, PRIVATE_DIR);
    b.create(dir)
}

/// [`write_atomic_with_mode`] with mode [`PRIVATE`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with_mode(path, bytes, PRIVATE)
}

/// Replaces `path` with `bytes` atomically; the file has exactly `mode` (Unix permission bits;
/// ignored elsewhere) from the moment it exists, so a secret is never readable by others, not
/// even in the temp file.
pub fn write_atomic_with_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = parent_dir(path);
    create_dirs(dir)?;
    // The temp file is named after its target, so one writer's leftovers can be swept
    // without touching another writer's temp file in the same directory.
    let prefix = temp_prefix_of(path);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut tmp = builder.tempfile_in(dir)?;
    // Created with `mode` minus the umask; set it exactly, so neither a umask nor a platform
    // default can change it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Temp files of `path` start with this, so each writer's leftovers can be told apart.
fn temp_prefix_of(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    format!("{TEMP_PREFIX}{name}.")
}

/// Removes the temp files an interrupted [`write_atomic_with_mode`] of `path` left behind, and
/// only those: safe while other files in the same directory are being written.
pub fn sweep_temp_files_of(path: &Path) -> usize {
    let prefix = temp_prefix_of(path);
    remove_matching(parent_dir(path), |n| n.starts_with(&prefix))
}

/// Removes every temp file in `dir` (before anything writes there).
pub fn sweep_temp_files(dir: &Path) -> usize {
    remove_matching(dir, |n| n.starts_with(TEMP_PREFIX))
}

/// Removes the files directly in `dir` whose names satisfy `matches`; returns how many.
pub fn remove_matching(dir: &Path, matches: impl Fn(&str) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(&matches))
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
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

    #[test]
    fn a_files_sweep_leaves_other_writers_temp_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token.json");
        let other = dir.path().join("last_values.json");
        std::fs::write(
            format!("{}/{TEMP_PREFIX}token.json.x1", dir.path().display()),
            b"t",
        )
        .unwrap();
        std::fs::write(
            format!("{}/{TEMP_PREFIX}last_values.json.x2", dir.path().display()),
            b"v",
        )
        .unwrap();
        assert_eq!(sweep_temp_files_of(&token), 1);
        assert_eq!(sweep_temp_files_of(&token), 0);
        write_atomic(&other, b"done").unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(left.iter().any(|n| n.ends_with(".x2")), "{left:?}");
        // And a real write's temp file carries its target's name.
        assert!(temp_prefix_of(&token).ends_with("token.json."));
    }

    #[cfg(unix)]
    #[test]
    fn files_get_exactly_the_mode_asked_for() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let private = dir.path().join("private");
        write_atomic(&private, b"x").unwrap();
        assert_eq!(mode(&private), 0o600);
        // Exactly, whatever the umask (commonly 022) would have made of it.
        let shared = dir.path().join("shared");
        write_atomic_with_mode(&shared, b"x", 0o660).unwrap();
        assert_eq!(mode(&shared), 0o660);
        // Replacing a file gives the new file the mode asked for, whatever the old one had.
        write_atomic_with_mode(&shared, b"y", PRIVATE).unwrap();
        assert_eq!(mode(&shared), 0o600);
        let nested = dir.path().join("candles/2026/file");
        write_atomic(&nested, b"z").unwrap();
        assert_eq!(
            mode(&dir.path().join("candles")),
            0o700,
            "new directories are private"
        );
        assert_eq!(mode(&dir.path().join("candles/2026")), 0o700);
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&open).unwrap();
        assert_eq!(
            mode(&open),
            0o700,
            "an existing data directory is tightened"
        );
    }
}
