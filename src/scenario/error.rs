//! Errors in model files: file, line, column, field path, what was expected, and a hint.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct ModelError {
    pub file: String,
    /// 1-based line and column, when the error can be located in the file.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Dotted field path, e.g. `components.edge.deadline`.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": error")?;
        if !self.path.is_empty() {
            write!(f, " in `{}`", self.path)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ModelError {}

impl ModelError {
    /// A TOML syntax error in `text`, located.
    pub fn syntax(text: &str, file: &str, e: &toml_edit::TomlError, hint: &str) -> ModelError {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unzip();
        ModelError { file: file.into(), line, column, path: String::new(), message: format!("TOML syntax: {}", e.message().trim()), hint: Some(hint.into()) }
    }

    /// A file that cannot be read.
    pub fn unreadable(file: &str, what: &str, e: &std::io::Error, hint: &str) -> ModelError {
        ModelError {
            file: file.into(),
            line: None,
            column: None,
            path: String::new(),
            message: format!("cannot read the {what}: {e}"),
            hint: Some(hint.into()),
        }
    }
}

/// Converts a byte offset to a 1-based (line, column).
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, col)
}
