//! Sweeps: run a model over a grid or a sample of settings, with replications, in parallel,
//! resumably and in shards, and say which settings meet the constraints.
//!
//! - [`experiment`]: the experiment file (axes, seeds, metrics, constraints, objectives).
//! - [`expr`]: the constraint and objective language.
//! - [`stats`]: Student-t and Wilson intervals.
//! - [`store`]: the output directory, part files, the manifest, atomic writes.
//! - [`summary`]: per-point statistics, `results.csv` and `summary.csv`.
//! - [`recommend`]: ranking, Pareto front, feasible region.
//!
//! Determinism: a run is a pure function of (model, overrides, seed), the points and seeds are
//! functions of the experiment file alone, and rows are written in (point, replication) order
//! from per-chunk part files assembled in chunk order. So the output bytes do not depend on the
//! thread count, the shard count, or how often the sweep was interrupted and resumed.

pub mod cli;
pub mod experiment;
pub mod expr;
pub mod recommend;
pub mod stats;
pub mod store;
pub mod summary;

pub use experiment::{Experiment, ExperimentSpec};
pub use recommend::Recommendation;

use crate::model::world::RunOptions;
use crate::scenario::ModelError;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use store::{Manifest, OutDir};

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The experiment file is wrong (located: file, line, field path, hint).
    #[error("{0}")]
    Experiment(Box<ModelError>),
    /// The output directory holds results that cannot be resumed.
    #[error("{0}")]
    Resume(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// Bad arguments, corrupt or incomplete parts.
    #[error("{0}")]
    Invalid(String),
}

impl From<ModelError> for SweepError {
    fn from(e: ModelError) -> Self {
        SweepError::Experiment(Box::new(e))
    }
}

impl SweepError {
    pub fn io(path: &Path, source: std::io::Error) -> SweepError {
        SweepError::Io { path: path.display().to_string(), source }
    }
}

/// One slice of a sweep: chunk `c` belongs to shard `c % count`. Round-robin rather than
/// contiguous ranges, so shards get similar mixes of cheap and expensive points (the first axis
/// varies slowest, and a load axis there would otherwise give one shard all the heavy points).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// `i/n`, 0-based: `0/4` .. `3/4`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (i, n) = s.split_once('/').ok_or_else(|| format!("`{s}` is not INDEX/COUNT (e.g. 0/4)"))?;
        let index: u64 = i.trim().parse().map_err(|_| format!("`{i}` is not a shard index"))?;
        let count: u64 = n.trim().parse().map_err(|_| format!("`{n}` is not a shard count"))?;
        Shard::new(index, count)
    }

    pub fn new(index: u64, count: u64) -> Result<Shard, String> {
        if count == 0 {
            return Err("the shard count must be at least 1".into());
        }
        if index >= count {
            return Err(format!("shard index {index} is not below the count {count} (indices are 0-based)"));
        }
        Ok(Shard { index, count })
    }

    /// A shard from the environment of a batch system: a Kubernetes Indexed Job
    /// (`JOB_COMPLETION_INDEX`, with the count in `EDGESIM_SHARD_COUNT`, since Kubernetes does
    /// not export `completions`) or a Slurm job array (`SLURM_ARRAY_TASK_ID` less
    /// `SLURM_ARRAY_TASK_MIN`, out of `SLURM_ARRAY_TASK_COUNT`). Returns the shard and where it
    /// came from.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<(Shard, &'static str)>, String> {
        let num = |name: &str| -> Result<Option<u64>, String> {
            match var(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| format!("{name}={v} is not a number")),
            }
        };
        if let Some(i) = num("JOB_COMPLETION_INDEX")? {
            let n = num("EDGESIM_SHARD_COUNT")?.ok_or("JOB_COMPLETION_INDEX is set but EDGESIM_SHARD_COUNT is not: set it to the Job's completions")?;
            return Shard::new(i, n).map(|s| Some((s, "JOB_COMPLETION_INDEX/EDGESIM_SHARD_COUNT")));
        }
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let n = num("SLURM_ARRAY_TASK_COUNT")?.ok_or("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let i = id.checked_sub(min).ok_or("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")?;
            return Shard::new(i, n).map(|s| Some((s, "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT")));
        }
        Ok(None)
    }

    pub fn owns(&self, chunk: u64) -> bool {
        chunk % self.count == self.index
    }
}

#[derive(Clone, Debug, Default)]
pub struct SweepOptions {
    pub out: PathBuf,
    /// Worker threads (default: rayon's, one per core).
    pub threads: Option<usize>,
    pub shard: Option<Shard>,
    pub progress: bool,
    /// Discard what the output directory holds instead of resuming.
    pub fresh: bool,
    /// Stop after this many chunks (tests: simulates an interruption).
    pub max_chunks: Option<u64>,
}

/// What a sweep invocation did.
pub struct SweepReport {
    pub runs: u64,
    pub chunks_run: u64,
    /// Chunks found already done in the output directory.
    pub chunks_skipped: u64,
    pub chunks_total: u64,
    pub elapsed: Duration,
    pub threads: usize,
    /// Set once every chunk is done and the final files are written.
    pub recommendation: Option<Recommendation>,
}

impl SweepReport {
    pub fn runs_per_second(&self) -> f64 {
        self.runs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs the chunks of `exp` that `opts.shard` owns and the output directory lacks, then, if
/// every chunk is done, writes the final files.
pub fn run_sweep(exp: &Experiment, opts: &SweepOptions) -> Result<SweepReport, SweepError> {
    let spec = &exp.spec;
    let dir = OutDir::open(&opts.out, exp, opts.fresh)?;
    let done = dir.completed()?;
    let mine: Vec<u64> = (0..spec.chunks()).filter(|c| opts.shard.is_none_or(|s| s.owns(*c))).collect();
    let skipped = mine.iter().filter(|c| done.contains(c)).count() as u64;
    let mut todo: Vec<u64> = mine.into_iter().filter(|c| !done.contains(c)).collect();
    if let Some(m) = opts.max_chunks {
        todo.truncate(m as usize);
    }
    let runs: u64 = todo.iter().map(|c| spec.chunk_points(*c).count() as u64 * spec.replications as u64).sum();

    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = opts.threads {
        builder = builder.num_threads(n.max(1));
    }
    let pool = builder.build().map_err(|e| SweepError::Invalid(format!("cannot start worker threads: {e}")))?;
    let threads = pool.current_num_threads();

    let bar = if opts.progress { ProgressBar::with_draw_target(Some(runs), ProgressDrawTarget::stderr()) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("{prefix} [{elapsed_precise}] {wide_bar} {msg} {per_sec} runs, ETA {eta}").expect("valid template"));
    bar.set_prefix(spec.name.clone());
    let points_todo: u64 = todo.iter().map(|c| spec.chunk_points(*c).count() as u64).sum();
    let points_done = std::sync::atomic::AtomicU64::new(0);
    bar.set_message(format!("points 0/{points_todo}"));

    // Wall-clock time is only for the progress bar and the runs/s figure.
    let start = Instant::now();
    pool.install(|| {
        todo.par_iter().try_for_each(|c| {
            let bytes = run_chunk(exp, *c, &|| bar.inc(1));
            dir.write_part(*c, &bytes)?;
            let points = spec.chunk_points(*c).count() as u64;
            let n = points_done.fetch_add(points, std::sync::atomic::Ordering::Relaxed) + points;
            bar.set_message(format!("points {n}/{points_todo}"));
            Ok::<(), SweepError>(())
        })
    })?;
    bar.finish_and_clear();
    let elapsed = start.elapsed();

    let complete = dir.completed()?.len() as u64 == spec.chunks();
    let recommendation = if complete {
        dir.remove_leftovers()?;
        let parts: Vec<PathBuf> = (0..spec.chunks()).map(|c| dir.part_path(c)).collect();
        Some(summary::finalize(spec, &parts, &opts.out, &exp.hash)?)
    } else {
        None
    };
    Ok(SweepReport { runs, chunks_run: todo.len() as u64, chunks_skipped: skipped, chunks_total: spec.chunks(), elapsed, threads, recommendation })
}

/// The results rows of chunk `c` (CSV, no header), in (point, replication) order. Points and
/// replications run in parallel; `collect` keeps their order.
pub fn run_chunk(exp: &Experiment, c: u64, on_run: &(dyn Fn() + Sync)) -> Vec<u8> {
    let spec = &exp.spec;
    let rows: Vec<Vec<Vec<String>>> = spec
        .chunk_points(c)
        .into_par_iter()
        .map(|p| {
            let levels = spec.point(p);
            let model = exp.model_at(&levels).map_err(|e| one_line(&e.to_string()));
            (0..spec.replications)
                .into_par_iter()
                .map(|r| {
                    let seed = spec.run_seed(p, r);
                    let mut row = vec![p.to_string(), r.to_string(), seed.to_string()];
                    row.extend(levels.iter().map(|l| l.label.clone()));
                    let outcome =
                        model.clone().and_then(|m| crate::run(m, RunOptions { seed: Some(seed), ..Default::default() }).map_err(|e| one_line(&e.to_string())));
                    match outcome {
                        Ok(summary) => {
                            row.extend(summary::metric_cells(&summary, &spec.metrics));
                            row.push(String::new());
                        }
                        Err(e) => {
                            row.extend(spec.metrics.iter().map(|_| String::new()));
                            row.push(e);
                        }
                    }
                    on_run();
                    row
                })
                .collect()
        })
        .collect();
    let mut w = csv::Writer::from_writer(vec![]);
    for row in rows.iter().flatten() {
        w.write_record(row).expect("writing to memory");
    }
    w.into_inner().expect("writing to memory")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Joins the output directories of shards into `out`: checks that they ran the same experiment
/// and together hold every chunk, then writes the final files from their parts (which stay where
/// they are). The result is byte for byte what an unsharded sweep writes.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<Recommendation, SweepError> {
    let first = inputs.first().ok_or_else(|| SweepError::Invalid("merge needs at least one shard directory".into()))?;
    let manifest =
        Manifest::read(first)?.ok_or_else(|| SweepError::Invalid(format!("{}: no {} (not a sweep output directory)", first.display(), store::MANIFEST)))?;
    for dir in &inputs[1..] {
        let m = Manifest::read(dir)?.ok_or_else(|| SweepError::Invalid(format!("{}: no {} (not a sweep output directory)", dir.display(), store::MANIFEST)))?;
        if m != manifest {
            return Err(SweepError::Invalid(format!(
                "{} and {} hold different sweeps (experiment `{}` hash {}, `{}` hash {}); only shards of one experiment can be merged",
                first.display(),
                dir.display(),
                manifest.experiment,
                &manifest.hash[..12],
                m.experiment,
                &m.hash[..12]
            )));
        }
    }
    let text = std::fs::read_to_string(first.join("experiment.toml")).map_err(|e| SweepError::io(&first.join("experiment.toml"), e))?;
    let spec = ExperimentSpec::parse(&text, &first.join("experiment.toml").display().to_string(), &manifest.experiment)?;
    let model = std::fs::read_to_string(first.join("model.toml")).map_err(|e| SweepError::io(&first.join("model.toml"), e))?;
    if experiment::experiment_hash(&text, &model) != manifest.hash || spec.chunks() != manifest.chunks || spec.points() != manifest.points {
        return Err(SweepError::Invalid(format!("{}: experiment.toml and model.toml do not match the manifest", first.display())));
    }
    let mut parts: Vec<Option<PathBuf>> = vec![None; manifest.chunks as usize];
    for dir in inputs {
        for c in store::completed_parts(dir, manifest.chunks)? {
            let path = store::part_path(dir, c);
            match &parts[c as usize] {
                None => parts[c as usize] = Some(path),
                Some(have) => {
                    // The same chunk from two shards (overlapping runs): it must be identical.
                    let (a, b) = (std::fs::read(have).map_err(|e| SweepError::io(have, e))?, std::fs::read(&path).map_err(|e| SweepError::io(&path, e))?);
                    if a != b {
                        return Err(SweepError::Invalid(format!("chunk {c} differs between {} and {}", have.display(), path.display())));
                    }
                }
            }
        }
    }
    let missing: Vec<u64> = parts.iter().enumerate().filter(|(_, p)| p.is_none()).map(|(c, _)| c as u64).collect();
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(10).map(|c| c.to_string()).collect();
        return Err(SweepError::Invalid(format!(
            "{} of {} chunks are missing (chunks {}{}); run the shards that own them, then merge again",
            missing.len(),
            manifest.chunks,
            shown.join(", "),
            if missing.len() > 10 { ", ..." } else { "" }
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| SweepError::io(out, e))?;
    manifest.write(out)?;
    store::write_atomic(&out.join("experiment.toml"), text.as_bytes())?;
    store::write_atomic(&out.join("model.toml"), model.as_bytes())?;
    let parts: Vec<PathBuf> = parts.into_iter().map(|p| p.expect("checked")).collect();
    summary::finalize(&spec, &parts, out, &manifest.hash)
}
