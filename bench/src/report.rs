//! The result of one run: a table for people, one JSON object for programs, and the targets the
//! project set itself (issue #3), each judged on ratios taken in this same run.

use serde_json::{json, Map, Value};

/// Which way is better for a figure.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Better {
    Lower,
    Higher,
}

/// One line of the table: a HERO figure next to raw tonic's and the floor's.
pub(crate) struct Row {
    pub(crate) figure: String,
    pub(crate) unit: &'static str,
    pub(crate) hero: f64,
    pub(crate) tonic: Option<f64>,
    /// The floor's figure in the same unit, when one makes sense.
    pub(crate) floor: Option<f64>,
    pub(crate) better: Better,
}

/// A goal stated as a ratio with a bound.
pub(crate) struct Target {
    pub(crate) what: &'static str,
    pub(crate) ratio: Option<f64>,
    pub(crate) bound: f64,
    pub(crate) better: Better,
}

impl Target {
    fn verdict(&self) -> &'static str {
        match self.ratio {
            Some(ratio) if ratio.is_finite() => {
                let met = match self.better {
                    Better::Lower => ratio <= self.bound,
                    Better::Higher => ratio >= self.bound,
                };
                if met {
                    "met"
                } else {
                    "MISSED"
                }
            }
            _ => "not measured",
        }
    }
}

/// Everything one run found.
#[derive(Default)]
pub(crate) struct Report {
    pub(crate) rows: Vec<Row>,
    pub(crate) json: Map<String, Value>,
    pub(crate) targets: Vec<Target>,
    pub(crate) notes: Vec<String>,
}

impl Report {
    pub(crate) fn row(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Sets a JSON key; NaN and infinities become `null`.
    pub(crate) fn set(&mut self, key: &str, value: impl Into<Option<f64>>) {
        let value = value.into().filter(|v| v.is_finite()).map_or(Value::Null, |v| json!(round(v)));
        self.json.insert(key.to_owned(), value);
    }

    pub(crate) fn set_value(&mut self, key: &str, value: Value) {
        self.json.insert(key.to_owned(), value);
    }

    pub(crate) fn target(&mut self, what: &'static str, ratio: Option<f64>, bound: f64, better: Better) {
        self.targets.push(Target { what, ratio, bound, better });
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut json = self.json.clone();
        let targets = self
            .targets
            .iter()
            .map(|t| {
                json!({
                    "what": t.what,
                    "ratio": t.ratio.filter(|r| r.is_finite()).map(round),
                    "bound": t.bound,
                    "verdict": t.verdict(),
                })
            })
            .collect();
        json.insert("targets".into(), Value::Array(targets));
        json.insert("notes".into(), json!(self.notes));
        Value::Object(json)
    }

    /// The table, the targets and the notes, as text.
    pub(crate) fn to_table(&self) -> String {
        let mut out = String::new();
        let header = ["figure", "unit", "HEROS", "raw tonic", "HEROS/tonic", "HEROS/floor"];
        let mut lines = vec![header.map(str::to_owned).to_vec()];
        for row in &self.rows {
            let ratio = |base: Option<f64>| base.map_or("".to_owned(), |b| format!("{:.2}x", row.hero / b));
            lines.push(vec![
                row.figure.clone(),
                format!("{}{}", row.unit, if row.better == Better::Lower { " ↓" } else { " ↑" }),
                number(row.hero),
                row.tonic.map(number).unwrap_or_default(),
                ratio(row.tonic),
                ratio(row.floor),
            ]);
        }
        out.push_str(&aligned(&lines, &[false, false, true, true, true, true]));
        out.push_str("\n↓ lower is better, ↑ higher is better; ratios are HEROS over the baseline of this run.\n\n");
        let mut targets = vec![vec!["target".to_owned(), "ratio".to_owned(), "bound".to_owned(), "verdict".to_owned()]];
        for target in &self.targets {
            targets.push(vec![
                target.what.to_owned(),
                target.ratio.filter(|r| r.is_finite()).map_or("-".to_owned(), |r| format!("{r:.2}x")),
                format!("{} {:.2}x", if target.better == Better::Lower { "≤" } else { "≥" }, target.bound),
                target.verdict().to_owned(),
            ]);
        }
        out.push_str(&aligned(&targets, &[false, true, true, false]));
        for note in &self.notes {
            out.push_str(&format!("\nnote: {note}"));
        }
        out.push('\n');
        out
    }
}

/// Three significant digits at most, for people.
fn number(value: f64) -> String {
    if !value.is_finite() {
        return "-".to_owned();
    }
    match value.abs() {
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    }
}

/// Three decimals in JSON: more is noise.
fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn aligned(lines: &[Vec<String>], right: &[bool]) -> String {
    let widths: Vec<usize> =
        (0..right.len()).map(|c| lines.iter().map(|l| l[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .zip(right)
            .map(|((cell, &width), &right)| if right { format!("{cell:>width$}") } else { format!("{cell:<width$}") })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_judge_in_their_direction() {
        let mut report = Report::default();
        report.target("fast", Some(1.05), 1.10, Better::Lower);
        report.target("slow", Some(1.20), 1.10, Better::Lower);
        report.target("wide", Some(2.5), 2.0, Better::Higher);
        report.target("absent", None, 2.0, Better::Higher);
        let verdicts: Vec<_> = report.targets.iter().map(Target::verdict).collect();
        assert_eq!(verdicts, ["met", "MISSED", "met", "not measured"]);
    }

    #[test]
    fn json_turns_nan_into_null() {
        let mut report = Report::default();
        report.set("a", f64::NAN);
        report.set("b", None);
        report.set("c", 1.23456);
        let json = report.to_json();
        assert_eq!(json["a"], Value::Null);
        assert_eq!(json["b"], Value::Null);
        assert_eq!(json["c"], json!(1.235));
    }
}
