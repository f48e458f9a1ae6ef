//! Java-style `.properties` files (Kafka, Kafka Connect and REST proxy settings): `key=value` or
//! `key: value` lines, `#`/`!` comments, later keys override earlier ones.

use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum PropertiesError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: expected `key=value`, found `{text}`")]
    Syntax {
        path: String,
        line: usize,
        text: String,
    },
}

/// Keys and values, sorted by key.
pub type Properties = BTreeMap<String, String>;

/// Parses properties text; `path` names the source in errors.
///
/// Errors: [`PropertiesError::Syntax`] with the line of an entry that has no `=` or `:`, or an
/// empty key.
pub fn parse(text: &str, path: &str) -> Result<Properties, PropertiesError> {
    let mut out = Properties::new();
    let mut pending = String::new();
    let mut start_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        if pending.is_empty() {
            start_line = i + 1;
        }
        // A trailing backslash continues the value on the next line.
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(line);
        let entry = std::mem::take(&mut pending);
        let Some(split) = entry.find(['=', ':']) else {
            return Err(PropertiesError::Syntax {
                path: path.to_string(),
                line: start_line,
                text: entry,
            });
        };
        let key = entry[..split].trim().to_string();
        let value = entry[split + 1..].trim().to_string();
        if key.is_empty() {
            return Err(PropertiesError::Syntax {
                path: path.to_string(),
                line: start_line,
                text: entry,
            });
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// Reads and parses a properties file. Errors: [`PropertiesError::Read`] when it cannot be read,
/// or as [`parse`].
pub fn read(path: &Path) -> Result<Properties, PropertiesError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| PropertiesError::Read {
        path: shown.clone(),
        source,
    })?;
    parse(&text, &shown)
}

/// Properties as text, one `key=value` line per key in key order (how pinctl writes MSK
/// configurations and MSK Connect worker configurations, so equal maps give equal text).
pub fn render(p: &Properties) -> String {
    p.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comments_separators_and_continuations() {
        let p = parse(
            "# c\n! c\na=1\nb : two words \nc=x\\\n  y\nbootstrap.servers=h:9092,h2:9092\n",
            "t",
        )
        .unwrap();
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "two words");
        assert_eq!(p["c"], "xy");
        assert_eq!(p["bootstrap.servers"], "h:9092,h2:9092");
    }

    #[test]
    fn render_then_parse_is_the_identity() {
        let p = parse("b=2\na = 1\n", "t").unwrap();
        assert_eq!(render(&p), "a=1\nb=2\n");
        assert_eq!(parse(&render(&p), "t").unwrap(), p);
    }

    #[test]
    fn a_line_without_separator_is_located() {
        let e = parse("a=1\n\nnot a pair\n", "f.properties").unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.properties:3: expected `key=value`, found `not a pair`"
        );
    }
}
