//! The batch job's report: every query's result as JSON rows, one Markdown page, and one
//! self-contained HTML page with a bar chart per query (inline SVG, no scripts, no downloads).

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

/// A horizontal bar chart of the answer's last numeric column, labelled by the other columns.
fn chart(a: &Answer) -> String {
    let Some(measure) = a.columns.last() else {
        return String::new();
    };
    let bars: Vec<(String, f64)> = a
        .rows
        .iter()
        .take(40)
        .filter_map(|r| {
            let v = r.get(measure)?.as_f64()?;
            let label = a.columns[..a.columns.len() - 1]
                .iter()
                .map(|c| cell(r.get(c).unwrap_or(&Value::Null)))
                .collect::<Vec<_>>()
                .join(" · ");
            Some((label, v))
        })
        .collect();
    if bars.is_empty() {
        return String::new();
    }
    let max = bars.iter().map(|b| b.1).fold(0.0_f64, f64::max).max(1.0);
    let (row, label_w, bar_w) = (18.0, 320.0, 420.0);
    let height = bars.len() as f64 * row + 10.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\" aria-label=\"{}\">",
        label_w + bar_w + 120.0,
        escape(&a.question)
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = i as f64 * row + 4.0;
        let w = (v / max * bar_w).max(1.0);
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"12\">{}</text>\
             <rect x=\"{}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"#e60023\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>",
            label_w - 6.0,
            y + 12.0,
            escape(label),
            label_w,
            row - 4.0,
            label_w + w + 4.0,
            y + 12.0,
            v
        ));
    }
    svg.push_str("</svg>");
    svg
}

pub fn html(answers: &[Answer]) -> String {
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Pinterest pipeline: the batch job's answers</title>\
         <style>body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}\
         table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:2px 8px;font-size:13px}\
         th{background:#f4f4f4}</style></head><body>\
         <h1>Pinterest pipeline: the batch job's answers</h1>",
    );
    for a in answers {
        out.push_str(&format!(
            "<section id=\"{}\"><h2>{} — {}</h2>{}<table><tr>",
            escape(&a.id),
            escape(&a.id),
            escape(&a.question),
            chart(a)
        ));
        for c in &a.columns {
            out.push_str(&format!("<th>{}</th>", escape(c)));
        }
        out.push_str("</tr>");
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
        out.push_str("</table></section>");
    }
    out.push_str("</body></html>\n");
    out
}
