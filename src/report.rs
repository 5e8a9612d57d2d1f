//! Folding events into the figures of a run, and printing them in the terms the original
//! pipeline's baseline used (`Polygon API: 312.1s (64%)`).

use std::collections::BTreeMap;
use std::fmt::{self, Write};

use serde::{Deserialize, Serialize};

use crate::config::Fixes;

/// How a run ended (or stands), as the runs table and the JSON report spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Done,
    Stopped,
    Failed,
    /// The process ended without recording the run (killed, power lost).
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Stopped => "stopped",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// The spelling the runs table holds; anything else is a run that never recorded its end.
    pub fn parse(s: &str) -> RunStatus {
        [RunStatus::Running, RunStatus::Done, RunStatus::Stopped, RunStatus::Failed]
            .into_iter()
            .find(|k| k.as_str() == s)
            .unwrap_or(RunStatus::Interrupted)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The figures of one run. The JSON keys are stable: scripts and `barfill bench` read them.
/// The source label of a simulator running inside this process: its CPU and memory are in
/// the process's figures, which the faces then say.
pub const EMBEDDED_SIMULATOR: &str = "simulator";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub run_id: i64,
    pub status: RunStatus,
    pub note: Option<String>,
    pub source: String,
    pub fixes: Fixes,
    pub concurrency: u32,
    pub wall_s: f64,
    /// Seconds summed over workers: in requests, in backoff (own and held), in the pacer.
    pub api_s: f64,
    pub db_s: f64,
    pub backoff_s: f64,
    pub limiter_s: f64,
    /// Worker seconds spent waiting for the writer: the database on the critical path.
    pub writer_blocked_s: f64,
    pub requests: u64,
    pub rate_limit_hits: u64,
    pub retries: u64,
    pub failed_jobs: u64,
    pub windows_done: u64,
    pub bars: u64,
    pub bytes: u64,
    /// Windows stored of windows ended, 0..1.
    pub success_rate: f64,
    pub requests_per_min: f64,
    pub quota_per_min: u32,
    pub pace_per_min: f64,
    pub peak_rss_mb: f64,
    /// Process CPU over the run, in percent of one core.
    pub cpu_pct: f64,
    pub errors: BTreeMap<String, u64>,
    /// The fewest requests the bars this run found allow (per row `max(1, ceil(base
    /// bars / 50000))`, daily rows by the grouped days when cheaper), known after the fact.
    pub floor_requests: u64,
    /// Seconds the quota needs for `floor_requests`: the first request waits for no one.
    pub floor_s: f64,
    pub planned_windows: u64,
    /// The plan's estimate before the run, assuming every ticker trades every minute.
    #[serde(default)]
    pub planned_requests: u64,
    /// Tickers with a row whose whole range holds no bar.
    #[serde(default)]
    pub empty_tickers: Vec<String>,
    #[serde(default)]
    pub suspect_bars: u64,
    #[serde(default)]
    pub suspect_examples: Vec<String>,
    /// The most requests sent within one quota window, and that window's length.
    #[serde(default)]
    pub peak_in_window: u64,
    #[serde(default)]
    pub quota_window_s: f64,
    /// Of `bars`, those new or different from what the database held (a refetch of
    /// unchanged history writes none).
    #[serde(default)]
    pub bars_changed: u64,
    /// Whether the engine set the worker count (`--concurrency auto`) when the run
    /// ended, why the count last changed, and the most workers the run had at once.
    #[serde(default)]
    pub concurrency_auto: bool,
    #[serde(default)]
    pub concurrency_why: String,
    #[serde(default)]
    pub peak_workers: u32,
    /// Pages of `/stocks/v1/splits` this run asked for (counted in `requests` too).
    #[serde(default)]
    pub split_requests: u64,
    /// Splits first seen by this run that come after bars stored by earlier runs.
    #[serde(default)]
    pub new_splits: Vec<SplitNews>,
    /// The pacer side by side: the quota less headroom, the limit two separate 429
    /// episodes agreed on (none without such evidence), the most the server accepted in
    /// one of its windows (per minute), and the 429s by what they taught: those that cut
    /// the pace, those from a window still full or an episode already answered, and
    /// those on unpaced requests (fix 2 off).
    #[serde(default)]
    pub ceiling_per_min: f64,
    #[serde(default)]
    pub learned_per_min: Option<f64>,
    #[serde(default)]
    pub accepted_per_min: f64,
    #[serde(default)]
    pub taught_429: u64,
    #[serde(default)]
    pub stale_429: u64,
    #[serde(default)]
    pub unpaced_429: u64,
    #[serde(default)]
    pub pace_cuts: u32,
    /// Only with two agreeing episodes below the ceiling.
    #[serde(default)]
    pub limit_is_lower: bool,
    /// Bars left out of their pages as impossible (a high below the low, a price not
    /// positive) while the rest of each page was stored; kept in the `rejected_bars`
    /// table with the reason, their days asked again by the next run.
    #[serde(default)]
    pub rejected_bars: u64,
    #[serde(default)]
    pub rejected_examples: Vec<String>,
}

/// A split the database learned of after holding bars from before it: `bars_adjusted`
/// reads those bars on the new scale from now on, and no stored row changed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SplitNews {
    pub ticker: String,
    /// `YYYY-MM-DD`, the first New York day on the new scale.
    pub execution_date: String,
    pub split_from: f64,
    pub split_to: f64,
}

/// "AAPL 4-for-1 on 2020-08-31", "XYZ 1-for-10 on 2024-03-04".
impl fmt::Display for SplitNews {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}-for-{} on {}", self.ticker, self.split_to, self.split_from, self.execution_date)
    }
}

impl SplitNews {
    /// The log line for it.
    pub fn line(&self) -> String {
        format!("new split: {self}; bars_adjusted follows, nothing refetched")
    }
}

/// One list of names for the report and the live tally, so the faces cannot drift apart.
pub fn breakdown(api_s: f64, db_s: f64, backoff_s: f64, limiter_s: f64) -> [(&'static str, f64); 4] {
    [("Polygon API", api_s), ("DB Inserts", db_s), ("Backoff waits", backoff_s), ("Limiter waits", limiter_s)]
}

/// Seconds and share, as the baseline printed them: `312.1s (64%)`.
pub fn share(secs: f64, total: f64) -> String {
    let pct = if total > 0.0 { secs / total * 100.0 } else { 0.0 };
    format!("{secs:.1}s ({pct:.0}%)")
}

impl Report {
    /// ` on auto, at most 9: the quota is the limit`, or nothing for a count set by hand.
    fn workers_note(&self) -> String {
        if !self.concurrency_auto {
            return String::new();
        }
        let why = if self.concurrency_why.is_empty() { String::new() } else { format!("; {}", self.concurrency_why) };
        format!(" on auto, at most {}{why}", self.peak_workers.max(self.concurrency))
    }

    /// The four ways worker time went, in the baseline's terms.
    pub fn breakdown(&self) -> [(&'static str, f64); 4] {
        breakdown(self.api_s, self.db_s, self.backoff_s, self.limiter_s)
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "barfill run #{}: {} in {:.1}s ({}, fixes {}, {} worker{}{})",
            self.run_id,
            self.status,
            self.wall_s,
            self.source,
            self.fixes,
            self.concurrency,
            if self.concurrency == 1 { "" } else { "s" },
            self.workers_note()
        );
        if let Some(note) = &self.note {
            let _ = writeln!(s, "  {note}");
        }
        // Splits are asked once a day: a run that found every window stored may still ask
        // for them, and is still a run with nothing to fetch.
        if self.requests == self.split_requests && self.failed_jobs == 0 && self.status == RunStatus::Done {
            let asked = match self.split_requests {
                0 => "0 requests".to_string(),
                n => format!("no bar requests; {n} for splits"),
            };
            let _ = writeln!(s, "  Nothing to fetch: every window is already stored ({asked}).");
            let _ = writeln!(
                s,
                "  To fetch more, widen --from/--to, add --symbols or --timeframes, or use another --db; \
                 --refetch fetches it all again."
            );
            self.write_empty(&mut s);
            self.write_splits(&mut s);
            return s;
        }
        self.write_time(&mut s);
        self.write_requests(&mut s);
        self.write_data(&mut s);
        self.write_splits(&mut s);
        self.write_floor(&mut s);
        self.write_criteria(&mut s);
        s
    }

    fn write_time(&self, s: &mut String) {
        let total: f64 = self.breakdown().iter().map(|(_, v)| v).sum();
        for (name, secs) in self.breakdown() {
            let _ = writeln!(s, "  {:<15} {}", format!("{name}:"), share(secs, total));
        }
        let _ = writeln!(
            s,
            "  (seconds summed over workers; the writer works beside them and held them {:.1}s)",
            self.writer_blocked_s
        );
    }

    fn write_requests(&self, s: &mut String) {
        let splits = match self.split_requests {
            0 => String::new(),
            n => format!("{n} for splits; "),
        };
        let _ = writeln!(
            s,
            "  Requests:       {} ({splits}peak {} of {} in {})",
            self.requests,
            self.peak_in_window,
            self.quota_in_window(),
            window_words(self.quota_window_s)
        );
        let _ = writeln!(s, "  Pace:           {}", self.pace_line());
        let _ = writeln!(
            s,
            "  Rate-limit hits: {} ({})   Retries: {}   Failed jobs: {}",
            self.rate_limit_hits,
            self.limit_hits_by_kind(),
            self.retries,
            self.failed_jobs
        );
        if !self.errors.is_empty() {
            let parts: Vec<String> = self.errors.iter().map(|(k, v)| format!("{k} x{v}")).collect();
            let _ = writeln!(s, "  Errors:         {}", parts.join(", "));
        }
    }

    /// The quota, the learned limit, what the server accepted and the pace, side by side;
    /// a lower limit is claimed only on the evidence of two agreeing episodes.
    pub fn pace_line(&self) -> String {
        let learned = match self.learned_per_min {
            Some(l) => format!("{l:.0}/min"),
            None => "none".to_string(),
        };
        let pace = if self.fixes.batching {
            format!("pace {:.0}/min", self.pace_per_min)
        } else {
            "no pacing at the end (fix 2 off)".to_string()
        };
        let verdict = if self.limit_is_lower {
            "; the server's limit is lower: two separate 429 episodes agreed"
        } else if self.pace_cuts > 0 {
            "; no evidence the server's limit is below the quota"
        } else {
            ""
        };
        format!(
            "quota {}/min (ceiling {:.0}), learned limit {learned}, server accepted at most {:.0}/min, {pace}, {} cut{}{verdict}",
            self.quota_per_min,
            self.ceiling_per_min,
            self.accepted_per_min,
            self.pace_cuts,
            if self.pace_cuts == 1 { "" } else { "s" }
        )
    }

    /// "3 taught, 40 stale, 12 unpaced".
    pub fn limit_hits_by_kind(&self) -> String {
        format!("{} taught, {} stale, {} unpaced", self.taught_429, self.stale_429, self.unpaced_429)
    }

    /// The quota as the server counts it: requests per quota window.
    pub fn quota_in_window(&self) -> u64 {
        let window = if self.quota_window_s > 0.0 { self.quota_window_s } else { 60.0 };
        (self.quota_per_min as f64 * window / 60.0).round() as u64
    }

    fn write_data(&self, s: &mut String) {
        let success = if self.windows_done + self.failed_jobs == 0 {
            "n/a (nothing ended)".to_string()
        } else {
            format!("{:.2}%", self.success_rate * 100.0)
        };
        let _ = writeln!(
            s,
            "  Bars stored:    {} ({} new or changed)   Windows: {}   Success rate: {success}",
            self.bars, self.bars_changed, self.windows_done
        );
        self.write_empty(s);
        self.write_rejected(s);
        if self.suspect_bars > 0 {
            let _ = writeln!(
                s,
                "  Suspect bars:   {} stored but odd, worth a look: {}{}",
                self.suspect_bars,
                self.suspect_examples.join("; "),
                if self.suspect_bars as usize > self.suspect_examples.len() { "; ..." } else { "" }
            );
        }
    }

    fn write_rejected(&self, s: &mut String) {
        if self.rejected_bars > 0 {
            let _ = writeln!(
                s,
                "  Rejected bars:  {} impossible, left out (the rest of their pages stored; table rejected_bars; \
                 their days are asked again next run): {}{}",
                self.rejected_bars,
                self.rejected_examples.join("; "),
                if self.rejected_bars as usize > self.rejected_examples.len() { "; ..." } else { "" }
            );
        }
    }

    fn write_empty(&self, s: &mut String) {
        if !self.empty_tickers.is_empty() {
            let _ = writeln!(
                s,
                "  No bars in range: {} (unknown to the server, renamed (FB became META in 2022), or not trading then)",
                self.empty_tickers.join(", ")
            );
        }
    }

    fn write_splits(&self, s: &mut String) {
        if !self.new_splits.is_empty() {
            let names: Vec<String> = self.new_splits.iter().map(SplitNews::to_string).collect();
            let _ = writeln!(s, "  New splits:     {} (bars_adjusted follows, nothing refetched)", names.join(", "));
        }
    }

    fn write_floor(&self, s: &mut String) {
        if self.floor_requests == 0 || self.status != RunStatus::Done {
            return;
        }
        let _ = writeln!(
            s,
            "  Floor:          {} requests, the fewest the bars found allow (planned ~{}); made {} = {:.2}x",
            self.floor_requests,
            self.planned_requests,
            self.requests,
            self.requests as f64 / self.floor_requests as f64
        );
        if self.floor_s > 0.0 {
            let _ = writeln!(
                s,
                "                  {:.1}s for them at the quota; this run took {:.1}s = {:.2}x",
                self.floor_s,
                self.wall_s,
                self.wall_s / self.floor_s
            );
        }
    }

    fn write_criteria(&self, s: &mut String) {
        let whose = if self.source == EMBEDDED_SIMULATOR { " (the simulator's included)" } else { "" };
        let _ =
            writeln!(s, "  Peak memory:    {:.0} MB   CPU: {:.0}% of one core{whose}", self.peak_rss_mb, self.cpu_pct);
        if self.status == RunStatus::Done {
            let mark = |ok: bool| if ok { "met" } else { "MISSED" };
            let _ = writeln!(
                s,
                "  Criteria:       success > 99% {}, CPU < 80% {}, memory < 2 GB {}",
                mark(self.success_rate > 0.99),
                mark(self.cpu_pct < 80.0),
                mark(self.peak_rss_mb < 2048.0)
            );
        }
    }
}

/// "a minute", "10s": how long a quota window is, in words.
fn window_words(secs: f64) -> String {
    if secs <= 0.0 || (secs - 60.0).abs() < 1e-9 { "a minute".into() } else { format!("{secs:.0}s") }
}

/// Seconds the quota needs for `requests`: the first goes at once, each later one waits
/// its turn, and the last takes one request's time to answer. Never below one request.
pub fn floor_seconds(requests: u64, quota_per_min: f64, request_s: f64) -> f64 {
    if requests == 0 || quota_per_min <= 0.0 {
        return 0.0;
    }
    (requests - 1) as f64 * 60.0 / quota_per_min + request_s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_matches_the_baseline_format() {
        assert_eq!(share(312.1, 487.2), "312.1s (64%)");
        assert_eq!(share(175.1, 487.2), "175.1s (36%)");
        assert_eq!(share(0.0, 0.0), "0.0s (0%)");
    }

    #[test]
    fn splits_read_as_people_say_them() {
        let news = |from: f64, to: f64| SplitNews {
            ticker: "AAPL".into(),
            execution_date: "2020-08-31".into(),
            split_from: from,
            split_to: to,
        };
        assert_eq!(
            news(1.0, 4.0).line(),
            "new split: AAPL 4-for-1 on 2020-08-31; bars_adjusted follows, nothing refetched"
        );
        assert_eq!(news(10.0, 1.0).to_string(), "AAPL 1-for-10 on 2020-08-31");
        assert_eq!(news(2.0, 3.0).to_string(), "AAPL 3-for-2 on 2020-08-31");
    }
}
