//! The batch job's report: every query's result as JSON rows, one Markdown page, and one
//! self-contained HTML page (inline SVG and CSS, nothing fetched) that opens with what the run
//! covered and draws each answer the way its shape calls for ([`chart`]).

mod chart;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One query's answer, as rows of named values.
pub struct Answer {
    pub id: String,
    pub question: String,
    pub columns: Vec<String>,
    pub rows: Vec<Map<String, Value>>,
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn markdown(answers: &[Answer]) -> String {
    let mut out = String::from("# Pinterest pipeline: the batch job's answers\n");
    for a in answers {
        out.push_str(&format!("\n## {} — {}\n\n", a.id, a.question));
        out.push_str(&format!("| {} |\n", a.columns.join(" | ")));
        out.push_str(&format!("|{}\n", "---|".repeat(a.columns.len())));
        for r in &a.rows {
            let cells: Vec<String> = a
                .columns
                .iter()
                .map(|c| cell(r.get(c).unwrap_or(&Value::Null)).replace('|', "\\|"))
                .collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        if a.rows.is_empty() {
            out.push_str("(no rows)\n");
        }
    }
    out
}

/// What a run covered, for the top of the report.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// When the run ended, RFC 3339 UTC.
    pub ran_at: String,
    /// Records read this run, by topic suffix (`pin`, `geo`, `user`), and the objects they came
    /// from.
    pub records: BTreeMap<String, u64>,
    pub objects: u64,
    /// Lines that were not JSON records, skipped.
    pub malformed_lines: u64,
    /// Rows in each table after the run.
    pub rows: BTreeMap<String, u64>,
    /// The first and last post timestamps in the geo table (UTC), when it has any.
    pub first_post: Option<String>,
    pub last_post: Option<String>,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:960px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.4}\
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.15em;margin:1.8em 0 .4em;border-bottom:1px solid #ddd;padding-bottom:.2em}\
.covered{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:.6em;margin:1em 0}\
.covered div{background:#f6f6f6;border-radius:6px;padding:.5em .8em}.covered b{display:block;font-size:1.3em}\
.callout{font-size:1.2em;background:#f6f6f6;border-left:4px solid #4e79a7;padding:.6em 1em}\
svg.chart{display:block;max-width:100%;height:auto;margin:.3em 0}\
details{margin:.4em 0 1em}summary{cursor:pointer;color:#4e79a7}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 8px;font-size:13px}\
th{background:#f4f4f4;position:sticky;top:0}.scroll{max-height:24em;overflow:auto}\
input.filter{margin:.4em 0;padding:3px 6px;width:16em}.caption{color:#555;font-size:.9em;margin:.2em 0}";

/// Filters a table's rows as the reader types (the only script; no network).
const SCRIPT: &str = "document.querySelectorAll('input.filter').forEach(function(i){\
i.addEventListener('input',function(){var q=i.value.toLowerCase();\
i.parentNode.querySelectorAll('tbody tr').forEach(function(r){\
r.hidden=q!==''&&r.textContent.toLowerCase().indexOf(q)<0;});});});";

/// The chart an answer gets, by its columns (spec §5): years first → lines (a line per
/// category when there is one), age groups first → grouped bars, countries first → the top
/// countries' bars. One row: a callout, not a chart.
fn figure(a: &Answer) -> String {
    let cols: Vec<&str> = a.columns.iter().map(String::as_str).collect();
    let Some((measure, keys)) = cols.split_last() else {
        return String::new();
    };
    match keys {
        _ if a.rows.len() == 1 => {
            let r = &a.rows[0];
            let what: Vec<String> = keys
                .iter()
                .map(|k| escape(&cell(r.get(*k).unwrap_or(&Value::Null))))
                .collect();
            format!(
                "<p class=\"callout\"><b>{}</b>: {} {}</p>",
                what.join(", "),
                escape(&cell(r.get(*measure).unwrap_or(&Value::Null))),
                escape(measure)
            )
        }
        ["post_year"] => chart::lines(&a.question, &a.rows, "post_year", None, measure),
        ["post_year", series] => {
            chart::lines(&a.question, &a.rows, "post_year", Some(series), measure)
        }
        ["age_group"] => chart::grouped_bars(&a.question, &a.rows, "age_group", None, measure),
        ["age_group", series] => {
            chart::grouped_bars(&a.question, &a.rows, "age_group", Some(series), measure)
        }
        _ => {
            let caption = if a.rows.len() > chart::TOP_COUNTRIES {
                format!(
                    "<p class=\"caption\">The {} largest of {} rows by {}; every row is in the table below.</p>",
                    chart::TOP_COUNTRIES,
                    a.rows.len(),
                    escape(measure)
                )
            } else {
                String::new()
            };
            caption + &chart::top_bars(&a.question, &a.rows, keys, measure)
        }
    }
}

/// An answer's rows as a table, folded; a per-country answer's with a filter box.
fn rows_table(a: &Answer) -> String {
    if a.rows.is_empty() {
        return "<p>(no rows)</p>".into();
    }
    let by_country = a.columns.first().is_some_and(|c| c == "country") && a.rows.len() > 1;
    let mut out = format!(
        "<details><summary>{}</summary>",
        if by_country {
            format!("All {} rows, searchable", a.rows.len())
        } else {
            format!(
                "The {} row{}",
                a.rows.len(),
                if a.rows.len() == 1 { "" } else { "s" }
            )
        }
    );
    if by_country {
        out.push_str("<input class=\"filter\" type=\"search\" placeholder=\"Filter rows\" aria-label=\"Filter rows\">");
    }
    out.push_str("<div class=\"scroll\"><table><thead><tr>");
    for c in &a.columns {
        out.push_str(&format!("<th>{}</th>", escape(c)));
    }
    out.push_str("</tr></thead><tbody>");
    for r in &a.rows {
        out.push_str("<tr>");
        for c in &a.columns {
            out.push_str(&format!(
                "<td>{}</td>",
                escape(&cell(r.get(c).unwrap_or(&Value::Null)))
            ));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div></details>");
    out
}

fn covered(c: &Coverage) -> String {
    let tile = |label: &str, value: String| format!("<div>{label}<b>{value}</b></div>");
    let read: u64 = c.records.values().sum();
    // `<uid>_pin_table` → `pin`.
    let short = |t: &str| {
        let t = t.strip_suffix("_table").unwrap_or(t);
        t.rsplit('_').next().unwrap_or(t).to_string()
    };
    let per_topic: Vec<String> = c
        .records
        .iter()
        .map(|(t, n)| format!("{} {n}", short(t)))
        .collect();
    let mut out = String::from(
        "<section id=\"covered\"><h2>What this run covered</h2><div class=\"covered\">",
    );
    out.push_str(&tile("ran at (UTC)", escape(&c.ran_at)));
    out.push_str(&tile(
        &format!("events read this run ({})", escape(&per_topic.join(", "))),
        format!(
            "{read} from {} object{}",
            c.objects,
            if c.objects == 1 { "" } else { "s" }
        ),
    ));
    for (table, n) in &c.rows {
        out.push_str(&format!(
            "<div title=\"{}\">{} rows<b>{n}</b></div>",
            escape(table),
            escape(&short(table))
        ));
    }
    if let (Some(a), Some(b)) = (&c.first_post, &c.last_post) {
        out.push_str(&tile(
            "posts' time range",
            format!("{} … {}", escape(a), escape(b)),
        ));
    }
    if c.malformed_lines > 0 {
        out.push_str(&tile(
            "malformed lines skipped",
            c.malformed_lines.to_string(),
        ));
    }
    out.push_str("</div></section>");
    out
}

/// The report page: what the run covered, then each answer drawn as its shape calls for, its
/// rows folded below it. Self-contained: inline SVG and CSS, one inline script (the tables'
/// filter), nothing fetched.
pub fn html(coverage: &Coverage, answers: &[Answer]) -> String {
    let mut out = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Pinterest pipeline: the batch job's answers</title><style>{STYLE}</style></head><body>\
         <h1>Pinterest pipeline: the batch job's answers</h1>{}",
        covered(coverage)
    );
    for a in answers {
        out.push_str(&format!(
            "<section class=\"answer\" id=\"{}\"><h2>{} — {}</h2>{}{}</section>",
            escape(&a.id),
            escape(&a.id),
            escape(&a.question),
            figure(a),
            rows_table(a)
        ));
    }
    out.push_str(&format!("<script>{SCRIPT}</script></body></html>\n"));
    out
}
