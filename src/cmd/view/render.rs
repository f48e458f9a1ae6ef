//! Human-readable plans and drift reports, in the manner of Terraform's.

use serde_json::Value;

use crate::engine::drift::{DriftReport, DriftStatus};
use crate::engine::plan::{Action, FieldChange, Plan};
use crate::providers::cost::{Estimate, PlanCost, RateSource, Source};
use crate::providers::preflight::{Report, Severity};
use crate::stack::resolve::{is_unknown, UNKNOWN};

fn one_value(v: &Value) -> String {
    match v {
        Value::String(s) if s == UNKNOWN => "(known after apply)".into(),
        Value::String(s) if s.starts_with("(sensitive") => "(sensitive)".into(),
        Value::String(s) if s.contains('\n') => {
            let first = s.lines().next().unwrap_or_default();
            let n = s.lines().count();
            format!(
                "{:?}… ({n} line{})",
                truncate(first, 60),
                if n == 1 { "" } else { "s" }
            )
        }
        Value::String(s) => format!("{:?}", truncate(s, 120)),
        other => {
            let t = other.to_string().replace(UNKNOWN, "(known after apply)");
            truncate(&t, 120)
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// A value as plans and reports show it: `(none)`, `(known after apply)`, `(sensitive)`, or
/// the value on one line, truncated.
pub(super) fn shown(v: &Option<Value>, sensitive: bool) -> String {
    match v {
        None => "(none)".into(),
        Some(x) if is_unknown(x) => "(known after apply)".into(),
        Some(_) if sensitive => "(sensitive)".into(),
        Some(x) => one_value(x),
    }
}

/// First differing line of two multi-line strings, to show what changed in a template.
fn first_line_change(old: &Option<Value>, new: &Option<Value>) -> Option<String> {
    let (Some(Value::String(a)), Some(Value::String(b))) = (old, new) else {
        return None;
    };
    if !a.contains('\n') && !b.contains('\n') {
        return None;
    }
    let (al, bl): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let i = (0..al.len().max(bl.len())).find(|i| al.get(*i) != bl.get(*i))?;
    Some(format!(
        "line {}: {:?} -> {:?}",
        i + 1,
        truncate(al.get(i).copied().unwrap_or(""), 60),
        truncate(bl.get(i).copied().unwrap_or(""), 60)
    ))
}

fn change_line(c: &FieldChange, action: Action) -> String {
    let mut line = match action {
        Action::Create => format!("{}: {}", c.path, shown(&c.new, c.sensitive)),
        _ => format!(
            "{}: {} -> {}",
            c.path,
            shown(&c.old, c.sensitive),
            shown(&c.new, c.sensitive)
        ),
    };
    if let Some(r) = &c.reason {
        line.push_str(&format!("   # forces replacement: {r}"));
    }
    if !c.sensitive && action != Action::Create {
        if let Some(d) = first_line_change(&c.old, &c.new) {
            line.push_str(&format!("\n          {d}"));
        }
    }
    line
}

pub fn plan_text(plan: &Plan, state_location: &str) -> String {
    let mut out = format!(
        "Plan for stack `{}`, env `{}` (state: {state_location})\n\n",
        plan.stack, plan.env
    );
    for r in plan.resources.iter().filter(|r| r.action != Action::NoOp) {
        let what = match r.action {
            Action::Create => "will be created",
            Action::Update => "will be updated in place",
            Action::Replace if r.create_before_destroy => "will be replaced (new one first)",
            Action::Replace => "will be replaced",
            Action::Delete => "will be deleted",
            Action::NoOp => "",
        };
        out.push_str(&format!(
            "  {} {} ({}) {what}\n",
            r.action.symbol(),
            r.name,
            r.kind
        ));
        if let Some(reason) = &r.reason {
            out.push_str(&format!("      because {}\n", reason.text));
        }
        for c in &r.changes {
            out.push_str(&format!("      {}\n", change_line(c, r.action)));
        }
    }
    let s = &plan.summary;
    if plan.changes {
        out.push_str(&format!(
            "\nPlan: {} to create, {} to update, {} to replace, {} to delete, {} unchanged.\n",
            s.create, s.update, s.replace, s.delete, s.no_op
        ));
    } else {
        out.push_str(&format!(
            "No changes: the {} resource{} the stack.\n",
            s.no_op,
            if s.no_op == 1 { " matches" } else { "s match" }
        ));
    }
    out
}

pub fn drift_text(report: &DriftReport) -> String {
    let mut out = format!(
        "Drift of stack `{}`, env `{}`\n\n",
        report.stack, report.env
    );
    for r in &report.resources {
        match r.status {
            DriftStatus::InSync => {}
            DriftStatus::Incomplete => out.push_str(&format!(
                "  ? {} ({}): its creation has not finished; nothing to compare\n",
                r.name, r.kind
            )),
            DriftStatus::Missing => out.push_str(&format!(
                "  - {} ({}): deleted outside pinctl\n",
                r.name, r.kind
            )),
            DriftStatus::Drifted => {
                out.push_str(&format!(
                    "  ~ {} ({}): changed outside pinctl\n",
                    r.name, r.kind
                ));
                for c in &r.changes {
                    out.push_str(&format!(
                        "      {}: recorded {} , live {}\n",
                        c.path,
                        shown(&c.recorded, c.sensitive),
                        shown(&c.live, c.sensitive)
                    ));
                }
            }
        }
    }
    let n = report
        .resources
        .iter()
        .filter(|r| matches!(r.status, DriftStatus::Drifted | DriftStatus::Missing))
        .count();
    if n == 0 {
        out.push_str(&format!(
            "No drift: {} resource{} match what was recorded.\n",
            report.resources.len(),
            if report.resources.len() == 1 { "" } else { "s" }
        ));
    } else {
        out.push_str(&format!(
            "\n{n} of {} resource{} drifted. `pinctl up` brings them back to the stack.\n",
            report.resources.len(),
            if report.resources.len() == 1 { "" } else { "s" }
        ));
    }
    if let Some(found) = &report.unmanaged {
        if found.is_empty() {
            out.push_str("No unmanaged look-alikes of the stack's resources.\n");
        } else {
            out.push_str(&format!(
                "\nUnmanaged: {} live resource{} look like this stack's but are not in its state:\n",
                found.len(),
                if found.len() == 1 { "" } else { "s" }
            ));
            for f in found {
                out.push_str(&format!(
                    "  ! {} ({}) like `{}`: {}\n",
                    f.physical_id, f.kind, f.like, f.why
                ));
            }
        }
        let mut by_why: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for n in &report.not_looked_up {
            by_why.entry(&n.why).or_default().push(&n.name);
        }
        for (why, names) in by_why {
            out.push_str(&format!("Not looked for ({why}): {}\n", names.join(", ")));
        }
    }
    out
}

/// Preflight's findings: each with its resource, what is wrong and the fix; errors first.
pub fn preflight_text(report: &Report) -> String {
    if report.findings.is_empty() {
        return "\nPreflight: every check passed.\n".into();
    }
    let errors = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let mut out = if errors > 0 {
        format!(
            "\nPreflight: {errors} problem{} AWS would refuse; `up` would fail:\n",
            if errors == 1 { "" } else { "s" }
        )
    } else {
        "\nPreflight: no problem found, but not everything could be checked:\n".to_string()
    };
    let mut sorted: Vec<_> = report.findings.iter().collect();
    sorted.sort_by_key(|f| f.severity != Severity::Error);
    for f in sorted {
        let mark = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!(
            "  {mark}: {}: {}\n      fix: {}\n",
            f.resource, f.problem, f.fix
        ));
    }
    out
}

/// Dollars as a bill shows them: `$66.58`; below a cent, enough digits to see the rate.
pub(super) fn usd(x: f64) -> String {
    // An empty sum of f64 is -0.0.
    let x = x + 0.0;
    if x != 0.0 && x.abs() < 0.01 {
        format!("${x:.4}")
    } else {
        format!("${x:.2}")
    }
}

/// A rate with enough digits for sub-cent prices (`$0.0456`, `$0.10`).
pub(super) fn rate(x: f64) -> String {
    let s = format!("{:.6}", x + 0.0);
    let s = s.trim_end_matches('0');
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    format!("${whole}.{frac:0<2}")
}

/// What the stack costs after a plan (`after`), beside what its recorded resources cost now
/// (`now`): per resource and line, the total per hour and per month, what is billed by use
/// (rate, not counted), what could not be priced, and where the rates came from.
/// `targeted`: the plan was scoped with `--target`, so the figures cover those resources only.
pub fn cost_text(cost: &PlanCost, targeted: bool) -> String {
    let (after, now) = (&cost.after, &cost.now);
    if after.resources.is_empty() && after.by_use.is_empty() && after.not_priced.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "\nCost in {} after this plan{}, in USD, at On-Demand list prices from {}, {} hours a month:\n",
        after.region,
        if targeted {
            " (the targeted resources only)"
        } else {
            ""
        },
        after.source_text(),
        after.hours_per_month
    );
    for r in &after.resources {
        out.push_str(&format!(
            "  {:<44} {:>11}/h {:>12}/month\n",
            format!("{} ({})", r.resource, r.kind),
            rate(r.hourly),
            usd(r.monthly)
        ));
        for l in &r.lines {
            let mark = if matches!(l.source, RateSource::Table) && after.source == Source::Mixed {
                " [table]"
            } else {
                ""
            };
            out.push_str(&format!(
                "      {}: {} × {}/{}{mark}\n",
                l.what,
                l.quantity,
                rate(l.rate),
                l.unit
            ));
        }
    }
    out.push_str(&format!(
        "  {:<44} {:>11}/h {:>12}/month\n",
        if after.not_priced.is_empty() {
            "Total"
        } else {
            "Total of what is priced (see below)"
        },
        rate(after.hourly),
        usd(after.monthly)
    ));
    let delta = after.monthly - now.monthly;
    if now.monthly < 0.005 && delta >= 0.005 {
        out.push_str(&format!(
            "  Nothing of it is billed yet: this plan adds {}/month.\n",
            usd(delta)
        ));
    } else if delta.abs() >= 0.005 {
        out.push_str(&format!(
            "  Now {}/month: this plan {} {}/month.\n",
            usd(now.monthly),
            if delta > 0.0 { "adds" } else { "saves" },
            usd(delta.abs())
        ));
    }
    if !after.by_use.is_empty() {
        out.push_str("  Billed by use, not counted above:\n");
        for b in &after.by_use {
            let r = b
                .rate
                .map(|r| format!("{}/{}", rate(r), b.unit))
                .unwrap_or_else(|| format!("per {} (rate unknown)", b.unit));
            out.push_str(&format!("      {}: {} at {r}\n", b.resource, b.what));
        }
    }
    for n in &after.not_priced {
        out.push_str(&format!(
            "  Not priced: {}: {}: {}\n",
            n.resource, n.what, n.reason
        ));
    }
    out
}

/// What a `down` stops paying for: the deleted resources' always-on charges.
pub fn billing_stops_text(stopped: &Estimate) -> String {
    if stopped.resources.is_empty() {
        return String::new();
    }
    let names: Vec<String> = stopped
        .resources
        .iter()
        .map(|r| format!("{} {}/month", r.resource, usd(r.monthly)))
        .collect();
    format!(
        "Stops being billed: {}/h, {}/month ({}; rates from {}).\n",
        rate(stopped.hourly),
        usd(stopped.monthly),
        names.join(", "),
        stopped.source_text()
    )
}

/// What `import` found: matched (`=`), ambiguous (`!`, every candidate), not matched (`?`,
/// why), already recorded (listed by count).
pub fn import_text(items: &[crate::engine::import::Item]) -> String {
    use crate::engine::import::Outcome;
    let mut out = String::from("Import: live resources matched to the stack's\n\n");
    let mut managed = 0;
    for i in items {
        match &i.outcome {
            Outcome::Matched { physical_id, by } => out.push_str(&format!(
                "  = {} ({}): {physical_id}, {by}\n",
                i.resource, i.kind
            )),
            Outcome::Ambiguous { candidates, by } => {
                out.push_str(&format!(
                    "  ! {} ({}): {} live resources match, none is chosen:\n",
                    i.resource,
                    i.kind,
                    candidates.len()
                ));
                for (c, b) in candidates.iter().zip(by) {
                    out.push_str(&format!("      {c} ({b})\n"));
                }
            }
            Outcome::NotMatched { why } => out.push_str(&format!(
                "  ? {} ({}): not matched: {why}\n",
                i.resource, i.kind
            )),
            Outcome::Managed { .. } => managed += 1,
        }
    }
    if managed > 0 {
        out.push_str(&format!("  ({managed} already recorded in state)\n"));
    }
    out
}
