//! Model files: TOML in `models/`, parsed with serde into [`crate::model::config::Model`].
//!
//! Loading goes: parse the text (syntax errors located) -> apply `--set` overrides -> fill
//! presets -> deserialize (unknown fields are errors; the failing field's path is kept) ->
//! validate the topology and settings. Every error names the file, line, field path, what was
//! expected, and a hint.

pub mod error;
pub mod presets;
pub mod validate;

pub use error::ModelError;

use crate::model::config::Model;
use error::line_col;
use std::path::Path;
use toml_edit::{DocumentMut, ImDocument, Item, Table, Value};

/// One `path=value` override (`--set`, sweep axes, what-ifs).
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    pub path: String,
    pub value: String,
}

impl Override {
    /// Parses `path=value`.
    pub fn parse(text: &str) -> Result<Override, String> {
        let (p, v) = text.split_once('=').ok_or_else(|| format!("`{text}` is not PATH=VALUE (e.g. components.edge.deadline=30s)"))?;
        let p = p.trim();
        if p.is_empty() {
            return Err(format!("`{text}` has an empty path"));
        }
        Ok(Override { path: p.to_string(), value: v.trim().to_string() })
    }
}

/// A model loaded from a file, with the text it came from (for locating later errors).
pub struct LoadedModel {
    pub model: Model,
    pub file: String,
    pub text: String,
}

/// Reads and loads a model file.
pub fn load_file(path: &Path, overrides: &[Override]) -> Result<LoadedModel, ModelError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ModelError::unreadable(&file, "model file", &e, "check the path; models live under models/ (e.g. models/seed-incident.toml)"))?;
    let model = load_str(&text, &file, overrides)?;
    Ok(LoadedModel { model, file, text })
}

/// Loads a model from TOML text. `file` is only used in error messages.
pub fn load_str(text: &str, file: &str, overrides: &[Override]) -> Result<Model, ModelError> {
    let original = ImDocument::parse(text.to_string()).map_err(|e| {
        ModelError::syntax(text, file, &e, "see the scenario format tour in README.md; strings need quotes, durations are strings like \"30s\"")
    })?;
    let locate = |path: &str| -> (Option<usize>, Option<usize>) { locate_path(original.as_item(), &split_path(path)).map(|off| line_col(text, off)).unzip() };
    let err = |path: &str, message: String, hint: Option<String>| {
        let (line, column) = locate(path);
        ModelError { file: file.into(), line, column, path: path.to_string(), message, hint }
    };

    let mut doc: DocumentMut = text.parse().expect("parsed above");
    // `[check]` holds property-check ranges for `edgesim check` (src/check/spec.rs); it is not
    // part of the model.
    doc.remove("check");
    for o in overrides {
        apply_override(&mut doc, o).map_err(|(m, h)| err(&o.path, m, h))?;
    }
    apply_presets(doc.as_table_mut(), "").map_err(|(p, m, h)| err(&p, m, Some(h)))?;

    let merged = doc.clone();
    let de = toml_edit::de::Deserializer::from(doc);
    let model: Model = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let inner = e.into_inner();
        let message = inner.message().trim().to_string();
        // Components are a tagged enum: serde buffers their table, which hides the failing
        // field. Read the table again as its concrete type to find it.
        let (path, message) = refine_component_error(&merged, &path).unwrap_or((path, message));
        let hint = hint_for(&message);
        err(&path, message, hint)
    })?;
    validate::validate(&model).map_err(|v| err(&v.path, v.message, v.hint))?;
    Ok(model)
}

fn refine_component_error(doc: &DocumentMut, path: &str) -> Option<(String, String)> {
    use crate::model::{edge::EdgeConfig, platform_api::PlatformApiConfig, proxy::ProxyConfig, service::ServiceConfig, token_endpoint::TokenEndpointConfig};
    let segs = split_path(path);
    let [Seg::Key(top), Seg::Key(name)] = segs.as_slice() else { return None };
    if top != "components" {
        return None;
    }
    let table = doc.get("components")?.as_table_like()?.get(name)?.clone().into_table().ok()?;
    let kind = table.get("kind")?.as_str()?.to_string();
    let mut sub = DocumentMut::new();
    for (k, v) in table.iter() {
        if k != "kind" {
            sub.insert(k, v.clone());
        }
    }
    fn probe<T: serde::de::DeserializeOwned>(d: DocumentMut) -> Option<(String, String)> {
        match serde_path_to_error::deserialize::<_, T>(toml_edit::de::Deserializer::from(d)) {
            Ok(_) => None,
            Err(e) => Some((e.path().to_string(), e.into_inner().message().trim().to_string())),
        }
    }
    let (inner, message) = match kind.as_str() {
        "edge" => probe::<EdgeConfig>(sub),
        "proxy" => probe::<ProxyConfig>(sub),
        "service" => probe::<ServiceConfig>(sub),
        "token-endpoint" => probe::<TokenEndpointConfig>(sub),
        "platform-api" => probe::<PlatformApiConfig>(sub),
        _ => None,
    }?;
    let inner = if inner == "." { String::new() } else { format!(".{inner}") };
    Some((format!("components.{name}{inner}"), message))
}

fn hint_for(message: &str) -> Option<String> {
    if message.starts_with("unknown field") {
        Some("remove the field or fix its spelling; the expected fields are listed above, and README.md documents each".into())
    } else if message.starts_with("missing field") {
        Some("this setting has no default; add it".into())
    } else if message.contains("unknown variant") {
        Some("use one of the values listed".into())
    } else if message.contains("invalid type") {
        Some("check the value's type: durations are strings with a unit (\"30s\"), counts are integers, rates are numbers".into())
    } else {
        None
    }
}

/// A path segment: a key, or an index into an array.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Splits `a.b[0].c` (serde_path_to_error's form) or `a.b.0.c` into segments.
pub fn split_path(path: &str) -> Vec<Seg> {
    let mut out = vec![];
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            let (k, idx) = rest.split_at(i);
            if !k.is_empty() {
                out.push(Seg::Key(k.to_string()));
            }
            rest = idx;
            for piece in rest.split('[').filter(|s| !s.is_empty()) {
                if let Ok(n) = piece.trim_end_matches(']').parse() {
                    out.push(Seg::Index(n));
                }
            }
        } else if let Ok(n) = rest.parse::<usize>() {
            out.push(Seg::Index(n));
        } else {
            out.push(Seg::Key(rest.to_string()));
        }
    }
    out
}

enum Node<'a> {
    Item(&'a Item),
    Value(&'a Value),
    Table(&'a Table),
}

/// Byte offset of the deepest part of `path` present in the document (the key if there is one).
/// Shared by every TOML file edgesim reads (models, experiments, incident headers).
pub fn locate_path(root: &Item, path: &[Seg]) -> Option<usize> {
    let mut node = Node::Item(root);
    let mut best = None;
    for seg in path {
        let (next, span) = match (node, seg) {
            (Node::Item(Item::Table(t)), Seg::Key(k)) | (Node::Table(t), Seg::Key(k)) => match t.get_key_value(k) {
                Some((key, item)) => (Node::Item(item), key.span().or_else(|| item.span())),
                None => break,
            },
            (Node::Item(Item::ArrayOfTables(a)), Seg::Index(i)) => match a.get(*i) {
                Some(t) => (Node::Table(t), t.span()),
                None => break,
            },
            (Node::Item(Item::Value(v)), _) => match child_value(v, seg) {
                Some((v, span)) => (Node::Value(v), span),
                None => break,
            },
            (Node::Value(v), _) => match child_value(v, seg) {
                Some((v, span)) => (Node::Value(v), span),
                None => break,
            },
            _ => break,
        };
        if let Some(s) = span {
            best = Some(s.start);
        }
        node = next;
    }
    best
}

fn child_value<'a>(v: &'a Value, seg: &Seg) -> Option<(&'a Value, Option<std::ops::Range<usize>>)> {
    match (v, seg) {
        (Value::InlineTable(t), Seg::Key(k)) => {
            let (key, item) = t.get_key_value(k)?;
            let v = item.as_value()?;
            Some((v, key.span().or_else(|| v.span())))
        }
        (Value::Array(a), Seg::Index(i)) => {
            let v = a.get(*i)?;
            Some((v, v.span()))
        }
        _ => None,
    }
}

/// Component names are accepted without the `components.` prefix: `edge.deadline=30s`.
fn normalise_override_path(doc: &DocumentMut, path: &str) -> String {
    let first = path.split(['.', '[']).next().unwrap_or("");
    let top_level = ["simulation", "limits", "org", "components", "workload", "fault", "description"];
    let is_component = doc.get("components").and_then(|c| c.as_table_like()).is_some_and(|t| t.contains_key(first));
    if !top_level.contains(&first) && is_component {
        format!("components.{path}")
    } else {
        path.to_string()
    }
}

/// Parses an override's value: a TOML value if it is one (`30`, `true`, `"x"`, `[1, 2]`,
/// `{ dist = "constant", value = "1s" }`), otherwise a bare string (`30s`, `single-flight`).
fn parse_value(text: &str) -> Value {
    let probe = format!("v = {text}");
    if let Ok(d) = probe.parse::<DocumentMut>() {
        if let Some(v) = d.get("v").and_then(|i| i.as_value()) {
            let mut v = v.clone();
            v.decor_mut().clear();
            return v;
        }
    }
    Value::from(text)
}

fn apply_override(doc: &mut DocumentMut, o: &Override) -> Result<(), (String, Option<String>)> {
    let path = normalise_override_path(doc, &o.path);
    let segs = split_path(&path);
    set_path(doc.as_table_mut(), &segs, &o.value, &path)
}

/// Sets `segs` under `table` to `value`, creating missing intermediate tables (so a setting absent
/// from the file can be given a value; a wrong name is caught by deserialization).
fn set_path(table: &mut dyn toml_edit::TableLike, segs: &[Seg], value: &str, path: &str) -> Result<(), (String, Option<String>)> {
    let not_table = |what: &str| (format!("`{path}`: `{what}` is not a table"), Some("check the path against the model file".to_string()));
    match segs {
        [] => Err((format!("`{path}` is empty"), None)),
        [Seg::Index(_), ..] => Err(not_table("list index")),
        [Seg::Key(k)] => {
            table.insert(k, Item::Value(parse_value(value)));
            Ok(())
        }
        [Seg::Key(k), rest @ ..] => {
            if !table.contains_key(k) {
                table.insert(k, Item::Value(Value::InlineTable(Default::default())));
            }
            match table.get_mut(k).expect("present") {
                Item::Table(t) => set_path(t, rest, value, path),
                Item::Value(Value::InlineTable(t)) => set_path(t, rest, value, path),
                Item::ArrayOfTables(a) => {
                    let len = a.len();
                    let Seg::Index(i) = rest[0] else { return Err((format!("`{path}`: `{k}` is a list; give an index, e.g. {k}[0]"), None)) };
                    let t = a.get_mut(i).ok_or_else(|| (format!("`{path}`: index {i} out of range ({k} has {len})"), None))?;
                    if rest.len() == 1 {
                        return Err((format!("`{path}` names a whole table; set one of its fields"), None));
                    }
                    set_path(t, &rest[1..], value, path)
                }
                Item::Value(Value::Array(arr)) => {
                    let len = arr.len();
                    let Seg::Index(i) = rest[0] else { return Err((format!("`{path}`: `{k}` is a list; give an index"), None)) };
                    if i >= len {
                        return Err((format!("`{path}`: index {i} out of range ({k} has {len})"), None));
                    }
                    if rest.len() == 1 {
                        arr.replace(i, parse_value(value));
                        return Ok(());
                    }
                    match arr.get_mut(i).expect("checked") {
                        Value::InlineTable(t) => set_path(t, &rest[1..], value, path),
                        _ => Err(not_table(k)),
                    }
                }
                _ => Err(not_table(k)),
            }
        }
    }
}

/// Fills presets into every table (or inline table) that names one. Returns
/// (path, message, hint) on an unknown preset or one used in the wrong place.
fn apply_presets(table: &mut dyn toml_edit::TableLike, path: &str) -> Result<(), (String, String, String)> {
    if let Some(item) = table.remove("preset") {
        let here = if path.is_empty() { "preset".to_string() } else { format!("{path}.preset") };
        let name = item.as_str().ok_or_else(|| (here.clone(), "preset must be a string".to_string(), "e.g. preset = \"alb\"".to_string()))?;
        let context = if path.ends_with("retry") { "retry".to_string() } else { table.get("kind").and_then(|k| k.as_str()).unwrap_or("").to_string() };
        let preset = presets::find(name).ok_or_else(|| {
            (
                here.clone(),
                format!("unknown preset `{name}`"),
                format!("presets for {}: {}", if context.is_empty() { "this table".into() } else { context.clone() }, presets::names_for(&context).join(", ")),
            )
        })?;
        if preset.applies_to != context {
            return Err((
                here,
                format!("preset `{name}` is for {}, not for this {}", article(preset.applies_to), if context.is_empty() { "table" } else { &context }),
                format!("presets here: {}", presets::names_for(&context).join(", ")),
            ));
        }
        let defaults: DocumentMut = preset.toml.parse().expect("presets are tested to parse");
        merge_missing(table, defaults.as_table());
    }
    let keys: Vec<String> = table.iter().map(|(k, _)| k.to_string()).collect();
    for k in keys {
        let sub = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
        match table.get_mut(&k) {
            Some(Item::Table(t)) => apply_presets(t, &sub)?,
            Some(Item::Value(Value::InlineTable(t))) => apply_presets(t, &sub)?,
            Some(Item::ArrayOfTables(a)) => {
                for (i, t) in a.iter_mut().enumerate() {
                    apply_presets(t, &format!("{sub}[{i}]"))?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn article(kind: &str) -> String {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {kind}")
    } else {
        format!("a {kind}")
    }
}

/// Copies keys of `defaults` that `table` lacks; recurses into tables both have.
fn merge_missing(table: &mut dyn toml_edit::TableLike, defaults: &Table) {
    for (k, v) in defaults.iter() {
        match table.get_mut(k) {
            None => {
                let item = match v {
                    Item::Table(t) => Item::Value(Value::InlineTable(t.clone().into_inline_table())),
                    other => other.clone(),
                };
                table.insert(k, item);
            }
            Some(existing) => {
                if let (Some(sub), Item::Table(dt)) = (existing.as_table_like_mut(), v) {
                    merge_missing(sub, dt);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_paths() {
        assert_eq!(split_path("workload[0].org"), vec![Seg::Key("workload".into()), Seg::Index(0), Seg::Key("org".into())]);
        assert_eq!(split_path("a.1.b"), vec![Seg::Key("a".into()), Seg::Index(1), Seg::Key("b".into())]);
    }

    #[test]
    fn override_values() {
        assert_eq!(parse_value("30").as_integer(), Some(30));
        assert_eq!(parse_value("30s").as_str(), Some("30s"));
        assert_eq!(parse_value("\"x\"").as_str(), Some("x"));
        assert_eq!(parse_value("single-flight").as_str(), Some("single-flight"));
    }
}
