//! Plans and drift reports as GitHub-flavoured Markdown, for a pull-request comment or a CI
//! job summary: a heading, one summary line, a table of the resources that change, then a table
//! of fields per resource. Values are shown as the text view shows them (truncated, one line,
//! secrets as `(sensitive)`), inside code spans with the characters that would break a table
//! cell escaped.

use super::render::{rate, shown, usd};
use crate::engine::drift::{DriftReport, DriftStatus, LookAlike};
use crate::engine::plan::{Action, Plan};
use crate::providers::cost::{Estimate, PlanCost};
use crate::providers::preflight::{Report, Severity};

/// `text` as an inline code span that is safe in a table cell: a pipe would end the cell (GFM
/// "Tables": `\|` inside code spans too), a newline the row, and a backtick the span.
fn code(text: &str) -> String {
    let one_line = text.replace(['\n', '\r'], " ").replace('|', "\\|");
    if one_line.contains('`') {
        format!("`` {one_line} ``")
    } else {
        format!("`{one_line}`")
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn action_words(a: Action, create_before_destroy: bool) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update in place",
        Action::Replace if create_before_destroy => "replace (new one first)",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::NoOp => "no change",
    }
}

/// The plan of `plan --format markdown`; `checks` are preflight's findings when it ran.
pub fn plan(
    plan: &Plan,
    checks: Option<&Report>,
    cost: Option<&PlanCost>,
    stops: Option<&Estimate>,
) -> String {
    let mut out = format!(
        "### pinctl plan: stack {}, env {}\n\n",
        code(&plan.stack),
        code(&plan.env)
    );
    let s = &plan.summary;
    if !plan.changes {
        out.push_str(&format!(
            "**No changes.** The {} match the stack.\n",
            plural(s.no_op, "resource", "resources")
        ));
    } else {
        out.push_str(&format!(
            "**{} to create, {} to update, {} to replace, {} to delete**, {} unchanged.\n\n",
            s.create, s.update, s.replace, s.delete, s.no_op
        ));
        out.push_str("| | resource | type | action |\n|---|---|---|---|\n");
        let changing: Vec<_> = plan
            .resources
            .iter()
            .filter(|r| r.action != Action::NoOp)
            .collect();
        for r in &changing {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                code(r.action.symbol()),
                code(&r.name),
                code(&r.kind),
                action_words(r.action, r.create_before_destroy)
            ));
        }
        for r in changing {
            if r.changes.is_empty() && r.reason.is_none() {
                continue;
            }
            out.push_str(&format!(
                "\n#### {} {} ({}): {}\n\n",
                r.action.symbol(),
                code(&r.name),
                code(&r.kind),
                action_words(r.action, r.create_before_destroy)
            ));
            if let Some(reason) = &r.reason {
                out.push_str(&format!("Because {}.\n\n", reason.text));
            }
            if r.changes.is_empty() {
                continue;
            }
            // A creation lists every prop: folded, so the comment stays short.
            let folded = r.action == Action::Create;
            if folded {
                out.push_str(&format!(
                    "<details><summary>{}</summary>\n\n",
                    plural(r.changes.len(), "field", "fields")
                ));
                out.push_str("| field | value |\n|---|---|\n");
            } else {
                out.push_str("| field | now | after |\n|---|---|---|\n");
            }
            for c in &r.changes {
                let new = code(&shown(&c.new, c.sensitive));
                if folded {
                    out.push_str(&format!("| {} | {new} |\n", code(&c.path)));
                    continue;
                }
                let mut after = new;
                if let Some(why) = &c.reason {
                    after.push_str(&format!(
                        " (forces replacement: {})",
                        why.replace('|', "\\|")
                    ));
                }
                out.push_str(&format!(
                    "| {} | {} | {after} |\n",
                    code(&c.path),
                    code(&shown(&c.old, c.sensitive))
                ));
            }
            if folded {
                out.push_str("\n</details>\n");
            }
        }
    }
    if let Some(c) = cost {
        out.push_str(&cost_table(c));
    }
    if let Some(e) = stops.filter(|e| !e.resources.is_empty()) {
        out.push_str(&format!(
            "\nStops being billed: **{}/month** ({}/h), at On-Demand list prices from {}.\n",
            usd(e.monthly),
            rate(e.hourly),
            e.source_text().replace('|', "\\|")
        ));
    }
    if let Some(r) = checks {
        out.push_str(&preflight(r));
    }
    out
}

/// The plan's cost: one row per priced resource, the total, what is billed by use.
fn cost_table(cost: &PlanCost) -> String {
    let e = &cost.after;
    if e.resources.is_empty() && e.by_use.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\n#### Cost after this plan: {}/month\n\nOn-Demand list prices in {}, USD, from {}; {} hours a month.\n\n| resource | what | per hour | per month |\n|---|---|--:|--:|\n",
        usd(e.monthly),
        code(&e.region),
        e.source_text().replace('|', "\\|"),
        e.hours_per_month
    );
    for r in &e.resources {
        let what: Vec<String> = r.lines.iter().map(|l| l.what.replace('|', "\\|")).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            code(&r.resource),
            what.join("; "),
            rate(r.hourly),
            usd(r.monthly)
        ));
    }
    out.push_str(&format!(
        "| **total** | | **{}** | **{}** |\n",
        rate(e.hourly),
        usd(e.monthly)
    ));
    let delta = e.monthly - cost.now.monthly;
    if delta.abs() >= 0.005 {
        out.push_str(&format!(
            "\nNow {}/month: this plan {} {}/month.\n",
            usd(cost.now.monthly),
            if delta > 0.0 { "adds" } else { "saves" },
            usd(delta.abs())
        ));
    }
    if !e.by_use.is_empty() {
        let items: Vec<String> = e
            .by_use
            .iter()
            .map(|b| match b.rate {
                Some(r) => format!("{} {} ({}/{})", code(&b.resource), b.what, rate(r), b.unit),
                None => format!("{} {}", code(&b.resource), b.what),
            })
            .collect();
        out.push_str(&format!(
            "\nBilled by use, not counted: {}.\n",
            items.join(", ")
        ));
    }
    out
}

fn preflight(report: &Report) -> String {
    if report.findings.is_empty() {
        return "\nPreflight: every check passed.\n".into();
    }
    let mut out =
        String::from("\n#### Preflight\n\n| | resource | problem | fix |\n|---|---|---|---|\n");
    let mut sorted: Vec<_> = report.findings.iter().collect();
    sorted.sort_by_key(|f| f.severity != Severity::Error);
    for f in sorted {
        let mark = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!(
            "| {mark} | {} | {} | {} |\n",
            code(&f.resource),
            f.problem.replace('|', "\\|").replace('\n', " "),
            f.fix.replace('|', "\\|").replace('\n', " ")
        ));
    }
    out
}

/// The drift report of `diff --format markdown`.
pub fn drift(report: &DriftReport) -> String {
    let mut out = format!(
        "### pinctl diff: stack {}, env {}\n\n",
        code(&report.stack),
        code(&report.env)
    );
    let total = report.resources.len();
    let drifted: Vec<_> = report
        .resources
        .iter()
        .filter(|r| r.status != DriftStatus::InSync)
        .collect();
    let n = drifted
        .iter()
        .filter(|r| matches!(r.status, DriftStatus::Drifted | DriftStatus::Missing))
        .count();
    if n == 0 {
        out.push_str(&format!(
            "**No drift.** The {} match what was recorded.\n",
            plural(total, "resource", "resources")
        ));
    } else {
        out.push_str(&format!(
            "**{n} of {} drifted.** `pinctl up` brings them back to the stack.\n",
            plural(total, "resource", "resources")
        ));
    }
    if !drifted.is_empty() {
        out.push_str("\n| | resource | type | what |\n|---|---|---|---|\n");
        for r in &drifted {
            let (mark, what) = match r.status {
                DriftStatus::Drifted => (
                    "~",
                    format!(
                        "changed outside pinctl: {}",
                        plural(r.changes.len(), "field", "fields")
                    ),
                ),
                DriftStatus::Missing => ("-", "deleted outside pinctl".to_string()),
                DriftStatus::Incomplete => (
                    "?",
                    "its creation has not finished; nothing to compare".to_string(),
                ),
                DriftStatus::InSync => continue,
            };
            out.push_str(&format!(
                "| {} | {} | {} | {what} |\n",
                code(mark),
                code(&r.name),
                code(&r.kind)
            ));
        }
    }
    for r in drifted.iter().filter(|r| !r.changes.is_empty()) {
        out.push_str(&format!(
            "\n#### ~ {} ({})\n\n| field | recorded | live |\n|---|---|---|\n",
            code(&r.name),
            code(&r.kind)
        ));
        for c in &r.changes {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                code(&c.path),
                code(&shown(&c.recorded, c.sensitive)),
                code(&shown(&c.live, c.sensitive))
            ));
        }
    }
    if let Some(found) = &report.unmanaged {
        out.push_str(&unmanaged(found));
    }
    out
}

fn unmanaged(found: &[LookAlike]) -> String {
    if found.is_empty() {
        return "\n**No unmanaged look-alikes** of the stack's resources.\n".into();
    }
    let mut out = format!(
        "\n#### Unmanaged\n\n{} look like this stack's but are not in its state:\n\n| type | id | like | why |\n|---|---|---|---|\n",
        plural(found.len(), "live resource", "live resources")
    );
    for f in found {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            code(&f.kind),
            code(&f.physical_id),
            code(&f.like),
            f.why.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_survive_table_cells() {
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("x`y"), "`` x`y ``");
        assert_eq!(code("l1\nl2"), "`l1 l2`");
    }
}
