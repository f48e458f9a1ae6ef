//! Inline SVG charts for the report, chosen by an answer's shape the way an analyst would draw
//! it: a trend over years as lines (one per category when there are categories), age groups
//! as grouped bars, per-country answers as the top countries' bars. Every chart carries its
//! title (`<title>`, `aria-label`), axis labels and, with several series, a legend; each mark
//! (a point, a bar) has class `mark`, and the chart says how many it drew (`data-marks`), so a
//! browser test can check what was drawn against the data.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{cell, escape};

/// The palette: Tableau 20's hues, dark ones first, so that up to 20 series (q2 has 13
/// categories) each have their own colour.
const PALETTE: [&str; 20] = [
    "#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#9d7660", "#499894", "#d37295",
    "#b6992d", "#79706e", "#a0cbe8", "#ffbe7d", "#ff9d9a", "#8cd17d", "#d4a6c8", "#d7b5a6",
    "#86bcb6", "#fabfd2", "#f1ce63", "#bab0ac",
];

/// The drawing area: a laptop screen's content column.
const WIDTH: f64 = 860.0;

/// The age groups in their natural order (spec §5).
const AGE_ORDER: [&str; 4] = ["18-24", "25-35", "36-50", "+50"];

/// How many countries a per-country chart draws; the rest are in the table below it.
pub const TOP_COUNTRIES: usize = 12;

type Row = Map<String, Value>;

fn num(r: &Row, c: &str) -> Option<f64> {
    r.get(c)?.as_f64()
}

/// A round step for about `n` ticks up to `max` (1, 2 or 5 times a power of ten).
fn step(max: f64, n: f64) -> f64 {
    let raw = (max / n).max(1e-9);
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let s = format!("{}", v as i64);
        // Thousands separators: 12,345.
        let (sign, digits) = s.split_at(if s.starts_with('-') { 1 } else { 0 });
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else {
        format!("{v:.2}")
    }
}

/// The opening of a chart's SVG, with its title.
fn open(kind: &str, title: &str, height: f64, marks: usize) -> String {
    format!(
        "<svg class=\"chart\" data-chart=\"{kind}\" data-marks=\"{marks}\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {WIDTH} {height}\" width=\"100%\" role=\"img\" aria-label=\"{t}\"><title>{t}</title>",
        t = escape(title)
    )
}

/// A y axis from 0 to `max` over `[top, bottom]` at `x`, with gridlines to `right`, and the
/// axis's label.
fn y_axis(max: f64, top: f64, bottom: f64, x: f64, right: f64, label: &str) -> (String, f64) {
    let s = step(max, 5.0);
    let top_value = (max / s).ceil().max(1.0) * s;
    let mut out = String::new();
    let mut v = 0.0;
    while v <= top_value + s / 2.0 {
        let y = bottom - v / top_value * (bottom - top);
        out.push_str(&format!(
            "<line x1=\"{x}\" x2=\"{right}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e5e5e5\"/>\
             <text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\">{}</text>",
            x - 6.0,
            y + 4.0,
            number(v)
        ));
        v += s;
    }
    out.push_str(&format!(
        "<text class=\"axis-label\" transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">{}</text>",
        (top + bottom) / 2.0,
        escape(label)
    ));
    (out, top_value)
}

fn x_label(text: &str, y: f64) -> String {
    format!(
        "<text class=\"axis-label\" x=\"{:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" font-size=\"12\">{}</text>",
        WIDTH / 2.0,
        escape(text)
    )
}

/// A legend row at `y`: a swatch and a name per series.
fn legend(series: &[String], y: f64) -> String {
    let mut out = String::new();
    let (mut x, mut row) = (60.0, 0.0);
    for (i, s) in series.iter().enumerate() {
        let w = 24.0 + 7.0 * s.chars().count() as f64;
        if x + w > WIDTH - 10.0 {
            x = 60.0;
            row += 18.0;
        }
        out.push_str(&format!(
            "<g class=\"legend-item\"><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{}</text></g>",
            y + row,
            PALETTE[i % PALETTE.len()],
            x + 16.0,
            y + row + 10.5,
            escape(s)
        ));
        x += w + 12.0;
    }
    out
}

fn legend_height(series: &[String]) -> f64 {
    let mut x = 60.0;
    let mut rows = 1.0;
    for s in series {
        let w = 24.0 + 7.0 * s.chars().count() as f64;
        if x + w > WIDTH - 10.0 {
            x = 60.0;
            rows += 1.0;
        }
        x += w + 12.0;
    }
    rows * 18.0
}

/// The plot area of a chart with a y axis, and the chart's height with its legend.
struct Frame {
    top: f64,
    plot_h: f64,
    left: f64,
    right: f64,
    bottom: f64,
    legend_y: f64,
    height: f64,
}

impl Frame {
    /// 220 px of plot under a 16 px margin, axis labels below, then the legend of `series`.
    fn new(legend_of: Option<&[String]>) -> Frame {
        let (top, plot_h, left, right) = (16.0, 220.0, 70.0, WIDTH - 20.0);
        let bottom = top + plot_h;
        let legend_y = bottom + 44.0;
        let height = legend_y + legend_of.map_or(0.0, |s| legend_height(s) + 6.0);
        Frame {
            top,
            plot_h,
            left,
            right,
            bottom,
            legend_y,
            height,
        }
    }
}

/// A line per series over the x column's values (years), the measure on the y axis.
/// `series_col` none: one line.
pub fn lines(
    title: &str,
    rows: &[Row],
    x_col: &str,
    series_col: Option<&str>,
    measure: &str,
) -> String {
    let mut xs: Vec<i64> = rows.iter().filter_map(|r| r.get(x_col)?.as_i64()).collect();
    xs.sort();
    xs.dedup();
    let mut series: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for r in rows {
        let (Some(x), Some(v)) = (r.get(x_col).and_then(Value::as_i64), num(r, measure)) else {
            continue;
        };
        let name = series_col
            .map(|c| cell(r.get(c).unwrap_or(&Value::Null)))
            .unwrap_or_else(|| measure.to_string());
        series.entry(name).or_default().insert(x, v);
    }
    if xs.is_empty() || series.is_empty() {
        return String::new();
    }
    let names: Vec<String> = series.keys().cloned().collect();
    let with_legend = series_col.is_some();
    let Frame {
        top,
        plot_h,
        left,
        right,
        bottom,
        legend_y,
        height,
    } = Frame::new(with_legend.then_some(names.as_slice()));
    let max = series
        .values()
        .flat_map(|s| s.values())
        .fold(0.0_f64, |a, b| a.max(*b));
    let marks: usize = series.values().map(BTreeMap::len).sum();
    let mut out = open("line", title, height, marks);
    let (axis, top_value) = y_axis(max, top, bottom, left, right, measure);
    out.push_str(&axis);
    let x_at = |x: i64| {
        let i = xs.iter().position(|v| *v == x).unwrap_or(0) as f64;
        if xs.len() == 1 {
            (left + right) / 2.0
        } else {
            left + 20.0 + i / (xs.len() - 1) as f64 * (right - left - 40.0)
        }
    };
    for x in &xs {
        out.push_str(&format!(
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{x}</text>",
            x_at(*x),
            bottom + 16.0
        ));
    }
    out.push_str(&x_label(x_col, bottom + 34.0));
    let y_at = |v: f64| bottom - v / top_value * plot_h;
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let path: Vec<String> = points
            .iter()
            .map(|(x, v)| format!("{:.1},{:.1}", x_at(*x), y_at(*v)))
            .collect();
        out.push_str(&format!(
            "<g class=\"series\" data-series=\"{}\"><polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            escape(name),
            path.join(" ")
        ));
        for (x, v) in points {
            out.push_str(&format!(
                "<circle class=\"mark\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{colour}\"><title>{}, {x}: {}</title></circle>",
                x_at(*x),
                y_at(*v),
                escape(name),
                number(*v)
            ));
        }
        out.push_str("</g>");
    }
    if with_legend {
        out.push_str(&legend(&names, legend_y));
    }
    out.push_str("</svg>");
    out
}

/// Vertical bars grouped by the group column (age groups in their natural order), one bar per
/// value of the series column in each group (none: one bar per group), labelled with its
/// value.
pub fn grouped_bars(
    title: &str,
    rows: &[Row],
    group_col: &str,
    series_col: Option<&str>,
    measure: &str,
) -> String {
    let mut groups: Vec<String> = Vec::new();
    let mut series: Vec<String> = Vec::new();
    let mut values: BTreeMap<(String, String), f64> = BTreeMap::new();
    for r in rows {
        let Some(v) = num(r, measure) else { continue };
        let g = cell(r.get(group_col).unwrap_or(&Value::Null));
        let s = series_col
            .map(|c| cell(r.get(c).unwrap_or(&Value::Null)))
            .unwrap_or_default();
        if !groups.contains(&g) {
            groups.push(g.clone());
        }
        if !series.contains(&s) {
            series.push(s.clone());
        }
        values.insert((g, s), v);
    }
    if values.is_empty() {
        return String::new();
    }
    groups.sort_by_key(|g| {
        AGE_ORDER
            .iter()
            .position(|a| a == g)
            .unwrap_or(AGE_ORDER.len())
    });
    series.sort();
    let with_legend = series_col.is_some();
    let Frame {
        top,
        plot_h,
        left,
        right,
        bottom,
        legend_y,
        height,
    } = Frame::new(with_legend.then_some(series.as_slice()));
    let max = values.values().fold(0.0_f64, |a, b| a.max(*b));
    let mut out = open("grouped-bars", title, height, values.len());
    let (axis, top_value) = y_axis(max, top, bottom, left, right, measure);
    out.push_str(&axis);
    let group_w = (right - left) / groups.len() as f64;
    // Each group lays out only the series it has: an answer of winners (q4: the top category
    // of each age group) leaves no gaps for the categories another group won.
    let present = |g: &String| -> Vec<(usize, &String)> {
        series
            .iter()
            .enumerate()
            .filter(|(_, s)| values.contains_key(&(g.clone(), (*s).clone())))
            .collect()
    };
    let most = groups
        .iter()
        .map(|g| present(g).len())
        .max()
        .unwrap_or(1)
        .max(1);
    let bar_w = ((group_w - 16.0) / most as f64).min(48.0);
    for (gi, g) in groups.iter().enumerate() {
        let bars = present(g);
        let x0 = left + gi as f64 * group_w + (group_w - bar_w * bars.len() as f64) / 2.0;
        for (bi, (si, s)) in bars.iter().enumerate() {
            let v = values[&(g.clone(), (*s).clone())];
            let h = v / top_value * plot_h;
            let x = x0 + bi as f64 * bar_w;
            let what = if with_legend {
                format!("{g}, {s}")
            } else {
                g.clone()
            };
            out.push_str(&format!(
                "<rect class=\"mark\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{}: {}</title></rect>",
                bottom - h,
                (bar_w - 2.0).max(1.0),
                PALETTE[si % PALETTE.len()],
                escape(&what),
                number(v)
            ));
            if !with_legend || most <= 4 {
                out.push_str(&format!(
                    "<text class=\"value\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{}</text>",
                    x + bar_w / 2.0 - 1.0,
                    bottom - h - 3.0,
                    number(v)
                ));
            }
        }
        out.push_str(&format!(
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
            left + (gi as f64 + 0.5) * group_w,
            bottom + 16.0,
            escape(g)
        ));
    }
    out.push_str(&x_label(group_col, bottom + 34.0));
    if with_legend {
        out.push_str(&legend(&series, legend_y));
    }
    out.push_str("</svg>");
    out
}

/// Horizontal bars of the rows with the largest measure (at most [`TOP_COUNTRIES`]), each
/// labelled with its other columns (`Albania — sport`) and its value.
pub fn top_bars(title: &str, rows: &[Row], label_cols: &[&str], measure: &str) -> String {
    let mut ranked: Vec<(&Row, f64)> = rows
        .iter()
        .filter_map(|r| Some((r, num(r, measure)?)))
        .collect();
    // Largest first; equal values keep the answer's order (by country).
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked.truncate(TOP_COUNTRIES);
    if ranked.is_empty() {
        return String::new();
    }
    let (row_h, left, right, top) = (24.0, 300.0, WIDTH - 80.0, 8.0);
    let height = top + ranked.len() as f64 * row_h + 40.0;
    let max = ranked
        .iter()
        .map(|(_, v)| *v)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let mut out = open("top-bars", title, height, ranked.len());
    for (i, (r, v)) in ranked.iter().enumerate() {
        let y = top + i as f64 * row_h;
        let label: Vec<String> = label_cols
            .iter()
            .map(|c| cell(r.get(*c).unwrap_or(&Value::Null)))
            .collect();
        let label = label.join(" — ");
        // The label column is 300 px: a long name is cut, and whole in the bar's tooltip.
        let shown = if label.chars().count() > 44 {
            format!("{}…", label.chars().take(43).collect::<String>())
        } else {
            label.clone()
        };
        let w = (v / max * (right - left)).max(1.0);
        out.push_str(&format!(
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"12\">{}</text>\
             <rect class=\"mark\" x=\"{left}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {}</title></rect>\
             <text class=\"value\" x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{}</text>",
            left - 8.0,
            y + 15.0,
            escape(&shown),
            y + 3.0,
            row_h - 6.0,
            PALETTE[0],
            escape(&label),
            number(*v),
            left + w + 6.0,
            y + 15.0,
            number(*v)
        ));
    }
    out.push_str(&format!(
        "<text class=\"axis-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"12\">{}</text>",
        (left + right) / 2.0,
        height - 12.0,
        escape(measure)
    ));
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows(v: Value) -> Vec<Row> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_object().unwrap().clone())
            .collect()
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(step(47.0, 5.0), 10.0);
        assert_eq!(step(1200.0, 5.0), 500.0);
        assert_eq!(step(3.0, 5.0), 1.0);
        assert_eq!(number(1234567.0), "1,234,567");
        assert_eq!(number(12.5), "12.50");
    }

    #[test]
    fn a_line_per_category_with_a_point_per_year() {
        let r = rows(json!([
            {"post_year": 2018, "category": "art", "category_count": 3},
            {"post_year": 2019, "category": "art", "category_count": 5},
            {"post_year": 2018, "category": "diy", "category_count": 2}
        ]));
        let svg = lines("Posts", &r, "post_year", Some("category"), "category_count");
        assert!(svg.contains("data-marks=\"3\""));
        assert_eq!(svg.matches("class=\"series\"").count(), 2);
        assert_eq!(svg.matches("class=\"legend-item\"").count(), 2);
        assert!(svg.contains(">post_year</text>") && svg.contains(">category_count</text>"));
    }

    #[test]
    fn age_groups_in_their_natural_order() {
        let r = rows(json!([
            {"age_group": "+50", "median_follower_count": 10},
            {"age_group": "18-24", "median_follower_count": 30},
            {"age_group": "36-50", "median_follower_count": 20}
        ]));
        let svg = grouped_bars("Median", &r, "age_group", None, "median_follower_count");
        let a = svg.find(">18-24<").unwrap();
        let b = svg.find(">36-50<").unwrap();
        let c = svg.find(">+50<").unwrap();
        assert!(a < b && b < c);
        assert!(svg.contains("data-marks=\"3\""));
    }

    #[test]
    fn the_top_countries_by_their_measure() {
        let many: Vec<Value> = (0..30)
            .map(|i| json!({"country": format!("C{i:02}"), "category": "x", "category_count": i}))
            .collect();
        let svg = top_bars(
            "Top",
            &rows(Value::Array(many)),
            &["country", "category"],
            "category_count",
        );
        assert!(svg.contains(&format!("data-marks=\"{TOP_COUNTRIES}\"")));
        assert!(svg.contains("C29 — x"));
        assert!(!svg.contains("C00 — x"));
    }
}
