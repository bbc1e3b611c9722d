//! Files written whole or not at all (reports, summaries, anything a crash must not leave half
//! written), and a content hash that tells whether a file changed between a run and its resume.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Removes temporary files a killed save of `name` left in `dir` (`.NAME.tmp-PID-…` whose PID
/// no longer runs). Linux tells through `/proc`; elsewhere nothing is removed.
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    if !Path::new("/proc/self").exists() {
        return;
    }
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = file.strip_prefix(&prefix).and_then(|rest| rest.split('-').next()) else { continue };
        let alive = pid.parse::<u32>().is_ok_and(|p| Path::new(&format!("/proc/{p}")).exists());
        if pid.parse::<u32>().is_ok() && !alive {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Writes `bytes` to `path` so that `path` holds either its old content or all of the new one,
/// never a part: a temporary file in the same directory is written, fsynced and renamed over
/// `path`, then the directory is fsynced so the rename itself survives a crash.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().with_context(|| format!("{}: not a file path", path.display()))?;
    remove_stale_temps(&dir, &name.to_string_lossy());
    let tmp =
        dir.join(format!(".{}.tmp-{}-{:016x}", name.to_string_lossy(), std::process::id(), rand::random::<u64>()));
    let write = || -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.sync_all().with_context(|| format!("cannot sync {}", tmp.display()))?;
        drop(f);
        std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
        Ok(())
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // Directory fsync makes the rename durable; not every platform can open a directory.
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(&dir) {
        d.sync_all().with_context(|| format!("cannot sync directory {}", dir.display()))?;
    }
    Ok(())
}

/// A stable hash of `bytes` for telling whether a file changed (FNV-1a, 64 bits): `fnv1a64:…`.
/// Not a security measure; only an edit between a run and its resume is to be noticed.
pub fn content_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("fnv1a64:{h:016x}")
}
