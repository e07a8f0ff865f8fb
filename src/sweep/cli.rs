//! What `edgesim sweep` and `edgesim merge` print. `main.rs` parses the arguments and calls
//! these.

use super::{merge, run_sweep, Experiment, Shard, SweepError, SweepOptions};
use std::path::{Path, PathBuf};

/// `edgesim sweep`: the shard comes from `--shard`, else from a batch system's environment.
/// Prints the best points to stdout and a one-line account (runs, runs/s) to stderr.
pub fn sweep(experiment: &Path, shard_arg: Option<&str>, mut opts: SweepOptions) -> Result<(), SweepError> {
    opts.shard = match shard_arg {
        Some(s) => Some(Shard::parse(s).map_err(|e| SweepError::Invalid(format!("--shard: {e}")))?),
        None => match Shard::from_env(|k| std::env::var(k).ok()).map_err(SweepError::Invalid)? {
            Some((s, from)) => {
                eprintln!("shard {}/{} (from {from})", s.index, s.count);
                Some(s)
            }
            None => None,
        },
    };
    let exp = Experiment::load(experiment)?;
    let report = run_sweep(&exp, &opts)?;
    eprintln!(
        "sweep {}: {} runs in {:.2} s = {:.1} runs/s on {} threads (chunks: {} run, {} already done, {} in all)",
        exp.spec.name,
        report.runs,
        report.elapsed.as_secs_f64(),
        report.runs_per_second(),
        report.threads,
        report.chunks_run,
        report.chunks_skipped,
        report.chunks_total
    );
    match &report.recommendation {
        Some(r) => {
            print!("{}", r.top);
            eprintln!("wrote {}/{{results.csv, summary.csv, recommendation.json, recommendation.md}}", opts.out.display());
        }
        None => eprintln!(
            "{} holds this shard's chunks; once every shard is done: edgesim merge SHARD_DIRS... --out DIR (or rerun without --shard in one directory to fill in the rest)",
            opts.out.display()
        ),
    }
    Ok(())
}

/// `edgesim merge`.
pub fn merge_dirs(inputs: &[PathBuf], out: &Path) -> Result<(), SweepError> {
    let r = merge(inputs, out)?;
    print!("{}", r.top);
    eprintln!(
        "merged {} directories: {} points, wrote {}/{{results.csv, summary.csv, recommendation.json, recommendation.md}}",
        inputs.len(),
        r.points,
        out.display()
    );
    Ok(())
}
