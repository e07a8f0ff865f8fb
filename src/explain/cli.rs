//! `edgesim explain MODEL [--seed N] [--set PATH=VALUE]... [--dot FILE] [--perfetto FILE] [--top N]`

use crate::model::trace::TraceFormat;
use crate::model::world::RunOptions;
use crate::scenario::{self, Override};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// Model file (TOML).
    pub model: PathBuf,
    /// Master seed (overrides simulation.seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override a model field, as in `edgesim run`. Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Write the causal graph of the cascades in Graphviz DOT.
    #[arg(long)]
    pub dot: Option<PathBuf>,
    /// Write the run's timeline as Chrome trace-event JSON (ui.perfetto.dev, chrome://tracing).
    #[arg(long)]
    pub perfetto: Option<PathBuf>,
    /// Cascades to describe in full (the rest are counted).
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

/// Writes `bytes` to `path` atomically (a temporary file in the same folder, then a rename).
fn write_atomically(path: &Path, f: impl FnOnce(&mut dyn Write) -> Result<(), String>) -> Result<(), String> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        f(&mut w)?;
        w.flush().map_err(|e| e.to_string())?;
    }
    tmp.persist(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

pub fn main(a: ExplainArgs) -> ExitCode {
    let ov: Result<Vec<Override>, String> = a.set.iter().map(|s| Override::parse(s)).collect();
    let ov = match ov {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: --set {e}");
            return ExitCode::from(2);
        }
    };
    let loaded = match scenario::load_file(&a.model, &ov) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let org_names: Vec<String> = loaded.model.orgs.iter().map(|o| o.name.clone()).collect();
    // The timeline needs the trace: written to a temporary file, converted, then dropped.
    let trace_tmp = match &a.perfetto {
        Some(_) => match tempfile::NamedTempFile::new() {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("error: cannot create a temporary trace file: {e}");
                return ExitCode::from(1);
            }
        },
        None => None,
    };
    let mut opts = RunOptions { seed: a.seed, ..Default::default() };
    if let Some(t) = &trace_tmp {
        match t.reopen() {
            Ok(f) => opts.trace = Some((Box::new(std::io::BufWriter::with_capacity(1 << 20, f)), TraceFormat::Csv)),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let (summary, causes) = match crate::run_explained(loaded.model, opts) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{}", super::to_text(&causes, &org_names, a.top));
    let c = &summary.cascades;
    let _ = writeln!(
        stdout,
        "\nsummary: {} revocation cascade(s), {} duplicate cascade(s); largest affects {} invocation(s) over {:.1} s",
        c.revocation_cascades, c.duplicate_cascades, c.largest_invocations_affected, c.largest_seconds
    );
    let _ = stdout.flush();
    drop(stdout);
    if let Some(path) = &a.dot {
        let dot = super::to_dot(&causes, &org_names, a.top);
        if let Err(e) = write_atomically(path, |w| w.write_all(dot.as_bytes()).map_err(|e| e.to_string())) {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
        eprintln!("wrote {}", path.display());
    }
    if let (Some(path), Some(t)) = (&a.perfetto, &trace_tmp) {
        let reader = match t.reopen() {
            Ok(f) => std::io::BufReader::new(f),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        if let Err(e) = write_atomically(path, |w| super::perfetto::convert(reader, w).map(|_| ())) {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
        eprintln!("wrote {} (open it in ui.perfetto.dev or chrome://tracing)", path.display());
    }
    ExitCode::SUCCESS
}
