//! The table the run prints: one row a figure, beside its baseline from the same run, and the
//! machine it ran on.

use crate::helpers::proc_kib;

/// One line of the table: a figure and the baseline it is measured against.
pub struct Row {
    pub figure: String,
    pub value: String,
    pub baseline: String,
    pub base_value: String,
    pub ratio: String,
    pub target: String,
    pub met: String,
}

/// A row without a target; [`Row::target`] adds one.
pub fn row(figure: &str, value: String, baseline: &str, base_value: String, ratio: String) -> Row {
    Row {
        figure: figure.into(),
        value,
        baseline: baseline.into(),
        base_value,
        ratio,
        target: String::new(),
        met: String::new(),
    }
}

impl Row {
    /// Sets the row's target and whether the figure met it (`None`: no target to meet).
    pub fn target(mut self, target: &str, met: Option<bool>) -> Self {
        self.target = target.into();
        self.met = match met {
            Some(true) => "yes".into(),
            Some(false) => "NO".into(),
            None => "-".into(),
        };
        self
    }
}

/// The machine line under the run: cores, CPU, memory, mode, and the sections that ran when
/// `--only` chose some (`sections` is then their numbers).
pub fn print_machine(quick: bool, sections: Option<String>) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = proc_kib("/proc/meminfo", "MemTotal:").unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!();
    println!(
        "machine: {cores} cores available ({cpu}), {:.1} GiB memory; mode: {}",
        mem as f64 / 1048576.0,
        if quick {
            "--quick (every size ÷ 20, fewer samples)"
        } else {
            "full"
        }
    );
    if let Some(sections) = sections {
        println!("sections: {sections} only (--only)");
    }
    println!();
}

/// Prints the rows as a Markdown table, columns padded to their widest cell.
pub fn print_table(rows: &[Row]) {
    let header = Row {
        figure: "figure".into(),
        value: "value".into(),
        baseline: "baseline (same run)".into(),
        base_value: "baseline value".into(),
        ratio: "ratio".into(),
        target: "target".into(),
        met: "met".into(),
    };
    let cols = |r: &Row| {
        [
            r.figure.clone(),
            r.value.clone(),
            r.baseline.clone(),
            r.base_value.clone(),
            r.ratio.clone(),
            r.target.clone(),
            r.met.clone(),
        ]
    };
    let all: Vec<[String; 7]> = std::iter::once(&header).chain(rows).map(cols).collect();
    let widths: Vec<usize> = (0..7)
        .map(|i| all.iter().map(|c| c[i].chars().count()).max().unwrap_or(0))
        .collect();
    for (n, c) in all.iter().enumerate() {
        let line: Vec<String> = c
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s}{}", " ".repeat(w - s.chars().count())))
            .collect();
        println!("| {} |", line.join(" | "));
        if n == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            println!("|-{}-|", rule.join("-|-"));
        }
    }
}
