//! The `edgesim` command line. Thin: it parses arguments and calls the library.

use clap::{Parser, Subcommand, ValueEnum};
use edgesim::engine::{parse_duration, SimDuration};
use edgesim::model::trace::TraceFormat;
use edgesim::model::world::RunOptions;
use edgesim::scenario::{self, Override};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "edgesim", version, about = "Deterministic simulation of HTTP calls through edges, proxies, webhook services and OAuth token endpoints")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, ValueEnum)]
enum Format {
    Text,
    Json,
    Csv,
}

#[derive(Copy, Clone, ValueEnum)]
enum TraceFmt {
    Csv,
    Jsonl,
}

#[derive(Subcommand)]
enum Command {
    /// Run a model once and print its summary.
    Run {
        /// Model file (TOML), e.g. models/seed-incident.toml
        model: PathBuf,
        /// Master seed (overrides simulation.seed).
        #[arg(long)]
        seed: Option<u64>,
        /// Simulated time during which arrivals happen (overrides simulation.duration), e.g. 10m.
        #[arg(long, value_parser = parse_duration_arg)]
        duration: Option<SimDuration>,
        /// Stream one row per event to this file.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Trace format (default: from the file extension, .jsonl gives JSON Lines, else CSV).
        #[arg(long, value_enum)]
        trace_format: Option<TraceFmt>,
        /// Write per-second load per component (CSV) to this file.
        #[arg(long)]
        timeseries: Option<PathBuf>,
        /// Summary format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Override a model field: --set components.edge.deadline=30s (the `components.` prefix
        /// may be left out). Repeatable.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
    },
    /// Check a model file and print nothing but errors.
    Validate {
        model: PathBuf,
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
    },
    /// Run a model and explain its cascades (root cause first); optionally write the causal
    /// graph (DOT) and the timeline (Perfetto / Chrome trace JSON).
    Explain(edgesim::explain::cli::ExplainArgs),
    /// Check properties over generated variations of a model (seeds, load, bursts, fault
    /// windows, settings); shrink a violation to a minimal case and print its replay command.
    Check(edgesim::check::CheckArgs),
    /// List presets with their sources.
    Presets,
    /// Replay a recorded incident (models/incidents/NAME.toml): fidelity, what-ifs, bundles.
    Replay(edgesim::replay::cli::ReplayArgs),
    /// Write one self-contained HTML page about a finished sweep: the recommendation and its
    /// confidence, heatmaps of the swept plane with constraint boundaries, the Pareto front.
    Report(edgesim::report::html::ReportArgs),
    /// Run an experiment (experiments/*.toml): a grid or sample of model settings with
    /// replications, in parallel; resumable; writes results.csv, summary.csv and a recommendation.
    Sweep {
        /// Experiment file, e.g. experiments/seed-advice.toml
        experiment: PathBuf,
        /// Output directory (rerun with the same one to resume).
        #[arg(long)]
        out: PathBuf,
        /// Worker threads (default: one per core). The output does not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Run one slice, INDEX/COUNT with 0-based INDEX (default: from JOB_COMPLETION_INDEX and
        /// EDGESIM_SHARD_COUNT, or SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT, if set).
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// No progress bar.
        #[arg(long)]
        no_progress: bool,
        /// Discard the results already in --out instead of resuming.
        #[arg(long)]
        fresh: bool,
    },
    /// Join the output directories of sweep shards into the files an unsharded sweep writes.
    Merge {
        /// Shard output directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
}

fn parse_duration_arg(s: &str) -> Result<SimDuration, String> {
    parse_duration(s)
}

fn overrides(set: &[String]) -> Result<Vec<Override>, String> {
    set.iter().map(|s| Override::parse(s)).collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { model, seed, duration, trace, trace_format, timeseries, format, set } => {
            let ov = match overrides(&set) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("error: --set {e}");
                    return ExitCode::from(2);
                }
            };
            let loaded = match scenario::load_file(&model, &ov) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let mut opts = RunOptions { seed, duration, ..Default::default() };
            let mut trace_tmp = None;
            if let Some(path) = &trace {
                let fmt = match trace_format {
                    Some(TraceFmt::Jsonl) => TraceFormat::JsonLines,
                    Some(TraceFmt::Csv) => TraceFormat::Csv,
                    None if path.extension().is_some_and(|e| e == "jsonl" || e == "json") => TraceFormat::JsonLines,
                    None => TraceFormat::Csv,
                };
                // Written to a temporary file next to the target and renamed at the end, so a
                // trace file is either complete or absent.
                let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
                let tmp = match tempfile::NamedTempFile::new_in(dir) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("error: cannot create the trace file in {}: {e}", dir.display());
                        return ExitCode::from(2);
                    }
                };
                let file = match tmp.reopen() {
                    Ok(f) => f,
                    Err(e) => {
                        eprintln!("error: cannot open the trace file: {e}");
                        return ExitCode::from(2);
                    }
                };
                opts.trace = Some((Box::new(std::io::BufWriter::with_capacity(1 << 20, file)), fmt));
                trace_tmp = Some((tmp, path.clone()));
            }
            let mut ts_tmp = None;
            if let Some(path) = &timeseries {
                let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
                match tempfile::NamedTempFile::new_in(dir).and_then(|t| t.reopen().map(|f| (t, f))) {
                    Ok((tmp, file)) => {
                        opts.timeseries = Some(Box::new(std::io::BufWriter::new(file)));
                        ts_tmp = Some((tmp, path.clone()));
                    }
                    Err(e) => {
                        eprintln!("error: cannot create the time-series file in {}: {e}", dir.display());
                        return ExitCode::from(2);
                    }
                }
            }
            let summary = match edgesim::run(loaded.model, opts) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            };
            if let Some((tmp, path)) = ts_tmp {
                if let Err(e) = tmp.persist(&path) {
                    eprintln!("error: cannot write the time series to {}: {e}", path.display());
                    return ExitCode::from(1);
                }
            }
            if let Some((tmp, path)) = trace_tmp {
                if let Err(e) = tmp.persist(&path) {
                    eprintln!("error: cannot write the trace to {}: {e}", path.display());
                    return ExitCode::from(1);
                }
            }
            let out = match format {
                Format::Text => edgesim::report::to_text(&summary),
                Format::Json => edgesim::report::to_json(&summary),
                Format::Csv => edgesim::report::to_csv(&summary),
            };
            let _ = std::io::stdout().write_all(out.as_bytes());
            ExitCode::SUCCESS
        }
        Command::Validate { model, set } => {
            let ov = match overrides(&set) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("error: --set {e}");
                    return ExitCode::from(2);
                }
            };
            match scenario::load_file(&model, &ov) {
                Ok(_) => {
                    println!("{}: ok", model.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Sweep { experiment, out, threads, shard, no_progress, fresh } => {
            let opts = edgesim::sweep::SweepOptions { out, threads, progress: !no_progress, fresh, ..Default::default() };
            sweep_exit(edgesim::sweep::cli::sweep(&experiment, shard.as_deref(), opts))
        }
        Command::Merge { dirs, out } => sweep_exit(edgesim::sweep::cli::merge_dirs(&dirs, &out)),
        Command::Replay(args) => edgesim::replay::cli::main(args),
        Command::Report(args) => edgesim::report::html::main(args),
        Command::Explain(args) => edgesim::explain::cli::main(args),
        Command::Check(args) => edgesim::check::main(args),
        Command::Presets => {
            for p in edgesim::scenario::presets::PRESETS {
                println!("{:<22} {:<15} {}", p.name, p.applies_to, p.source);
            }
            ExitCode::SUCCESS
        }
    }
}

fn sweep_exit(r: Result<(), edgesim::sweep::SweepError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}{e}", if matches!(e, edgesim::sweep::SweepError::Experiment(_)) { "" } else { "error: " });
            ExitCode::from(2)
        }
    }
}
