//! `edgesim replay`: the arguments and what the command prints. `src/main.rs` only forwards here.

use super::incident::{LoadOptions, RowOptions};
use super::{bundle, report, ReplayError, WhatIf};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// Incident header (TOML), e.g. models/incidents/seed-incident.toml; see
    /// models/incidents/README.md for the format.
    #[arg(required_unless_present = "verify")]
    pub incident: Option<PathBuf>,
    /// Replay against this model file instead of the one the header names.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Master seed (overrides the header's and the model's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run the same recorded arrivals with a model field changed, side by side with the
    /// baseline: --what-if idp.grace=120s. Repeatable; `a=1,b=2` changes both in one what-if.
    #[arg(long = "what-if", value_name = "PATH=VALUE[,PATH=VALUE...]")]
    pub what_if: Vec<String>,
    /// Write a replay bundle (JSON: model text, rows, seed, what-ifs, trace hashes) here.
    #[arg(long, value_name = "OUT")]
    pub bundle: Option<PathBuf>,
    /// Re-run a bundle and check that it reproduces bit for bit (exit 0 and print the trace
    /// hash; exit 1 on any mismatch).
    #[arg(long, value_name = "BUNDLE", conflicts_with_all = ["incident", "model", "seed", "what_if", "bundle", "redact", "lenient", "trace"])]
    pub verify: Option<PathBuf>,
    /// Blank credential-looking values (and drop credential-named columns) instead of refusing
    /// the observations.
    #[arg(long)]
    pub redact: bool,
    /// Skip bad rows (unparsable time, unknown org, out of order...) and report how many.
    #[arg(long)]
    pub lenient: bool,
    /// Write the baseline replay's trace (CSV) to this file.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReplayFormat,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayFormat {
    Text,
    Json,
}

fn fail(e: ReplayError) -> ExitCode {
    eprintln!("{}{e}", if matches!(e, ReplayError::Incident(_) | ReplayError::Model(_) | ReplayError::Bundle(_)) { "" } else { "error: " });
    ExitCode::from(e.exit_code())
}

/// Writes `text` to `path` through a temporary file, so the file is complete or absent.
fn write_atomically(path: &Path, text: &str, what: &str) -> Result<(), ReplayError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let out = || -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(text.as_bytes())?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    out().map_err(|e| ReplayError::Output(format!("cannot write the {what} to {}: {e}", path.display())))
}

/// Runs `edgesim replay` and returns its exit status.
pub fn main(args: ReplayArgs) -> ExitCode {
    if let Some(path) = &args.verify {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return fail(ReplayError::Bundle(format!("{}: error: cannot read the bundle: {e}", path.display()))),
        };
        return match bundle::verify(&text, &path.display().to_string()) {
            Ok(v) => {
                println!("verified {}: the replay reproduces bit for bit", path.display());
                println!("incident {}  seed {}  {} of {} observed statuses reproduced", v.incident, v.seed, v.reproduced, v.recorded);
                println!("trace blake3 {}  baseline", v.trace_hash);
                for (w, h) in &v.what_ifs {
                    println!("trace blake3 {h}  {w}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    let Some(incident_path) = &args.incident else {
        eprintln!("error: give an incident header (models/incidents/NAME.toml) or --verify BUNDLE");
        return ExitCode::from(2);
    };
    let what_ifs = match args.what_if.iter().map(|w| WhatIf::parse(w)).collect::<Result<Vec<_>, _>>() {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    let opts = LoadOptions { model: args.model.clone(), rows: RowOptions { redact: args.redact, lenient: args.lenient } };
    let incident = match super::incident::load(incident_path, &opts) {
        Ok(i) => i,
        Err(e) => return fail(e.into()),
    };
    if !incident.observations.skipped.is_empty() {
        let sk = &incident.observations.skipped;
        eprintln!("--lenient: skipped {} bad row{} of {}:", sk.len(), if sk.len() == 1 { "" } else { "s" }, incident.observations_file);
        for e in sk.iter().take(5) {
            eprintln!("  {}", e.to_string().replace('\n', "\n  "));
        }
        if sk.len() > 5 {
            eprintln!("  ... and {} more", sk.len() - 5);
        }
    }
    if incident.observations.redacted > 0 {
        eprintln!(
            "--redact: blanked {} credential-looking value{}",
            incident.observations.redacted,
            if incident.observations.redacted == 1 { "" } else { "s" }
        );
    }
    let replayed = match super::replay(&incident, args.seed, &what_ifs) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if let Some(path) = &args.trace {
        if let Err(e) = write_atomically(path, &replayed.baseline_trace, "trace") {
            return fail(e);
        }
    }
    if let Some(path) = &args.bundle {
        let b = bundle::make(&incident, &replayed.report);
        if let Err(e) = write_atomically(path, &bundle::to_json(&b), "bundle") {
            return fail(e);
        }
    }
    let out = match args.format {
        ReplayFormat::Text => report::to_text(&replayed.report),
        ReplayFormat::Json => {
            let mut s = serde_json::to_string_pretty(&replayed.report).expect("a report serializes");
            s.push('\n');
            s
        }
    };
    let _ = std::io::stdout().write_all(out.as_bytes());
    if let Some(path) = &args.bundle {
        if args.format == ReplayFormat::Text {
            println!("\nbundle written to {} (check it with: edgesim replay --verify {})", path.display(), path.display());
        }
    }
    ExitCode::SUCCESS
}
