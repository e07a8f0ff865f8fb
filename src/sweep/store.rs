//! A sweep's output directory and how it survives interruption.
//!
//! ```text
//! DIR/manifest.json        what the directory holds: experiment hash, points, chunking
//! DIR/experiment.toml      copies of the experiment and its model, as run
//! DIR/model.toml
//! DIR/parts/chunk-NNNNNNNNN.csv   the results rows of one chunk (no header)
//! DIR/results.csv, summary.csv, recommendation.json, recommendation.md   once every chunk is in
//! ```
//!
//! Every file is written to a temporary file in the same directory and renamed into place, so a
//! file that exists is complete: a part file's presence is the record that its chunk is done.
//! Rerunning with the same `--out` skips the chunks whose part exists; the final files are
//! assembled from the parts in chunk order, so no row is lost or written twice whichever runs,
//! threads or shards produced them.

use super::experiment::Experiment;
use super::SweepError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "manifest.json";
const FORMAT: &str = "edgesim-sweep/1";
/// Files this module writes at the top of DIR (all removed by `--fresh`).
const OWNED: &[&str] = &[MANIFEST, "experiment.toml", "model.toml", "results.csv", "summary.csv", "recommendation.json", "recommendation.md"];
const TMP_PREFIX: &str = ".tmp-";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub edgesim: String,
    /// The experiment's name (file stem).
    pub experiment: String,
    pub hash: String,
    pub points: u64,
    pub replications: u32,
    pub chunk_points: u64,
    pub chunks: u64,
}

impl Manifest {
    pub fn of(exp: &Experiment) -> Manifest {
        let s = &exp.spec;
        Manifest {
            format: FORMAT.into(),
            edgesim: env!("CARGO_PKG_VERSION").into(),
            experiment: s.name.clone(),
            hash: exp.hash.clone(),
            points: s.points(),
            replications: s.replications,
            chunk_points: s.chunk_points,
            chunks: s.chunks(),
        }
    }

    pub fn read(dir: &Path) -> Result<Option<Manifest>, SweepError> {
        let path = dir.join(MANIFEST);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SweepError::io(&path, e)),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| SweepError::Invalid(format!("{}: not a sweep manifest ({e})", path.display())))
    }

    pub fn write(&self, dir: &Path) -> Result<(), SweepError> {
        write_atomic(&dir.join(MANIFEST), (serde_json::to_string_pretty(self).expect("serializes") + "\n").as_bytes())
    }
}

/// A sweep's output directory.
pub struct OutDir {
    pub root: PathBuf,
    pub chunks: u64,
}

impl OutDir {
    /// Opens (creating it if needed) the output directory of `exp`. A directory that holds
    /// another experiment's results (its hash differs) is refused unless `fresh`, which deletes
    /// this module's files in it (and nothing else) first.
    pub fn open(root: &Path, exp: &Experiment, fresh: bool) -> Result<OutDir, SweepError> {
        std::fs::create_dir_all(root.join("parts")).map_err(|e| SweepError::io(root, e))?;
        let dir = OutDir { root: root.to_path_buf(), chunks: exp.spec.chunks() };
        let want = Manifest::of(exp);
        if fresh {
            dir.clear()?;
        } else if let Some(have) = Manifest::read(root)? {
            if have != want {
                let why = if have.hash != want.hash {
                    format!("the experiment file or its model changed since (hash {} then, {} now)", short(&have.hash), short(&want.hash))
                } else {
                    format!("it was written by edgesim {} in format {}", have.edgesim, have.format)
                };
                return Err(SweepError::Resume(format!(
                    "{} holds results of `{}` that cannot be resumed: {why}.\n  hint: rerun with --fresh to discard them, or choose another --out",
                    root.display(),
                    have.experiment
                )));
            }
        }
        want.write(root)?;
        write_atomic(&root.join("experiment.toml"), exp.spec.text.as_bytes())?;
        write_atomic(&root.join("model.toml"), exp.model_text.as_bytes())?;
        Ok(dir)
    }

    /// Removes the files a sweep writes here, and leftovers of interrupted writes.
    fn clear(&self) -> Result<(), SweepError> {
        for f in OWNED {
            remove_if_present(&self.root.join(f))?;
        }
        let parts = self.root.join("parts");
        for entry in std::fs::read_dir(&parts).map_err(|e| SweepError::io(&parts, e))? {
            let entry = entry.map_err(|e| SweepError::io(&parts, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if parse_part_name(&name).is_some() || name.starts_with(TMP_PREFIX) {
                remove_if_present(&entry.path())?;
            }
        }
        remove_tmp_files(&self.root)
    }

    /// Chunks whose part file exists.
    pub fn completed(&self) -> Result<BTreeSet<u64>, SweepError> {
        completed_parts(&self.root, self.chunks)
    }

    pub fn part_path(&self, chunk: u64) -> PathBuf {
        part_path(&self.root, chunk)
    }

    pub fn write_part(&self, chunk: u64, bytes: &[u8]) -> Result<(), SweepError> {
        write_atomic(&self.part_path(chunk), bytes)
    }

    /// Drops temporary files an interrupted run left behind (call only when no other run is
    /// writing here).
    pub fn remove_leftovers(&self) -> Result<(), SweepError> {
        remove_tmp_files(&self.root.join("parts"))?;
        remove_tmp_files(&self.root)
    }
}

pub fn part_path(root: &Path, chunk: u64) -> PathBuf {
    root.join("parts").join(format!("chunk-{chunk:09}.csv"))
}

fn parse_part_name(name: &str) -> Option<u64> {
    name.strip_prefix("chunk-")?.strip_suffix(".csv")?.parse().ok()
}

/// Chunks below `chunks` with a part file in `root/parts`.
pub fn completed_parts(root: &Path, chunks: u64) -> Result<BTreeSet<u64>, SweepError> {
    let parts = root.join("parts");
    let mut done = BTreeSet::new();
    let entries = match std::fs::read_dir(&parts) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(SweepError::io(&parts, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| SweepError::io(&parts, e))?;
        if let Some(c) = parse_part_name(&entry.file_name().to_string_lossy()) {
            if c < chunks {
                done.insert(c);
            }
        }
    }
    Ok(done)
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

fn remove_if_present(path: &Path) -> Result<(), SweepError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SweepError::io(path, e)),
    }
}

fn remove_tmp_files(dir: &Path) -> Result<(), SweepError> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) && entry.path().is_file() {
            remove_if_present(&entry.path())?;
        }
    }
    Ok(())
}

/// A temporary file next to `path`, to be renamed onto it with [`persist`].
pub fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile, SweepError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut b = tempfile::Builder::new();
    b.prefix(TMP_PREFIX);
    // Outputs are ordinary files (0666 less the umask), not tempfile's private 0600.
    #[cfg(unix)]
    b.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    b.tempfile_in(dir).map_err(|e| SweepError::io(dir, e))
}

/// Flushes `tmp` to disk and renames it onto `path`.
pub fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<(), SweepError> {
    tmp.as_file().sync_all().map_err(|e| SweepError::io(path, e))?;
    tmp.persist(path).map_err(|e| SweepError::io(path, e.error))?;
    Ok(())
}

/// Writes `bytes` to `path` atomically: all of it or nothing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SweepError> {
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes).map_err(|e| SweepError::io(path, e))?;
    persist(tmp, path)
}
