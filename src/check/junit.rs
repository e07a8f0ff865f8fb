//! JUnit XML for CI systems: one `<testcase>` per property, written atomically (a temporary file
//! in the target's directory, renamed over it), so a CI job never reads half a report.

use super::runner::{Checker, PropertyReport, Verdict};
use std::io::Write;
use std::path::Path;

/// XML escaping, shared with the HTML report (element content and quoted attributes).
pub fn escape(s: &str) -> String {
    crate::report::html::esc(s)
}

/// The report as JUnit XML (`testsuites` > `testsuite` > `testcase`).
pub fn to_xml(checker: &Checker, reports: &[PropertyReport]) -> String {
    let failures = reports.iter().filter(|r| matches!(r.verdict, Verdict::Violated { .. })).count();
    let errors = reports.iter().filter(|r| r.is_error()).count();
    let time: f64 = reports.iter().map(|r| r.seconds).sum();
    let suite = format!("edgesim check {}", checker.model_file);
    let mut o = String::new();
    o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    o.push_str(&format!("<testsuites name=\"edgesim check\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.3}\">\n", reports.len()));
    o.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{time:.3}\">\n",
        escape(&suite),
        reports.len()
    ));
    for r in reports {
        let name = escape(&r.property.name());
        o.push_str(&format!("    <testcase classname=\"{}\" name=\"{name}\" time=\"{:.3}\"", escape(&suite), r.seconds));
        let body = r.detail(checker).join("\n");
        match &r.verdict {
            Verdict::Held { cases } => o.push_str(&format!(">\n      <system-out>{cases} cases held</system-out>\n    </testcase>\n")),
            Verdict::Violated { case, reason, .. } => {
                let message = format!("{reason} (minimal case: {case})");
                o.push_str(&format!(
                    ">\n      <failure type=\"PropertyViolation\" message=\"{}\">{}</failure>\n    </testcase>\n",
                    escape(&message),
                    escape(&body)
                ));
            }
            Verdict::Invalid { reason, .. } | Verdict::Aborted(reason) => {
                o.push_str(&format!(
                    ">\n      <error type=\"BadInput\" message=\"{}\">{}</error>\n    </testcase>\n",
                    escape(reason.lines().next().unwrap_or("")),
                    escape(&body)
                ));
            }
        }
    }
    o.push_str("  </testsuite>\n</testsuites>\n");
    o
}

/// Writes `content` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomically(path: &Path, content: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(content.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a < 1 && b > \"x\" 'y'"), "a &lt; 1 &amp;&amp; b &gt; &quot;x&quot; &#39;y&#39;");
    }
}
