//! `barfill bench` on tiny workloads: each profile's steps run, its floors are computed
//! and agree with the simulator's count, and the JSON carries the keys scripts read.
//! Timings are not asserted (they are the bench's output, not its test).

use barfill::bench::{self, BenchReport, Profile, ProfileResult, Workload};

/// A workload that runs in a moment: no latency, a quota nothing reaches.
fn tiny(p: Profile, from: &'static str, to: &'static str) -> Workload {
    let mut w = Workload::for_profile(p);
    w.from = from;
    w.to = to;
    w.quota_per_min = 60_000;
    w.window_secs = 60.0;
    w.latency_ms = 0;
    w.latency_ms_per_1k_bars = 0.0;
    // The profiles that run the simulator apart run this build's `barfill sim`.
    w.sim_exe = Some(env!("CARGO_BIN_EXE_barfill").into());
    w
}

fn steps(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

async fn run(w: &Workload, only: &[&str]) -> ProfileResult {
    let scratch = tempfile::tempdir().unwrap();
    bench::run_profile(w, Some(&steps(only)), scratch.path(), 2.0, &|_| {}).await.unwrap()
}

fn json_of(p: &ProfileResult) -> serde_json::Value {
    let report = BenchReport {
        machine: bench::machine(),
        load: bench::load_average(),
        command: "test".into(),
        floor_s: p.floor_s,
        steps: p.steps.clone(),
        profiles: vec![p.clone()],
    };
    serde_json::to_value(&report).unwrap()
}

/// Keys every step carries: the report's own (flattened, one source) and the step's.
const STEP_KEYS: [&str; 20] = [
    "name",
    "fixes",
    "concurrency",
    "concurrency_setting",
    "wall_s",
    "x_floor",
    "x_floor_requests",
    "requests",
    "floor_requests",
    "floor_s",
    "planned_requests",
    "empty_tickers",
    "rate_limit_hits",
    "success_rate",
    "api_s",
    "writer_blocked_s",
    "bars_per_s",
    "client_cpu_us_per_bar",
    "db_bytes_per_bar",
    "peak_rss_mb",
];

fn assert_step_keys(json: &serde_json::Value) {
    for (i, step) in json["profiles"][0]["steps"].as_array().unwrap().iter().enumerate() {
        for key in STEP_KEYS {
            assert!(step.get(key).is_some(), "steps[{i}].{key} missing");
        }
        assert!(step.get("report").is_none(), "the report is flattened into the step");
    }
}

#[tokio::test]
async fn a_small_progression_reports_every_step_with_stable_keys() {
    let mut w = tiny(Profile::Quick, "2024-03-04", "2024-03-29");
    w.symbols = vec!["AAPL".into(), "MSFT".into()];
    w.timeframes = vec!["1/hour", "1/day"];
    let p = run(&w, &["baseline", "fix1+2", "best"]).await;
    assert_eq!(p.floor_requests, 4);
    let names: Vec<&str> = p.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["baseline", "fix1+2", "best"]);
    for s in &p.steps {
        assert_eq!(s.report.status.as_str(), "done");
        assert_eq!(s.report.success_rate, 1.0);
        assert!(s.report.bars > 0);
        assert_eq!(s.report.floor_requests, p.floor_requests, "{}: the report's floor is the workload's", s.name);
    }
    // Same bars whichever fixes fetched them.
    assert!(p.steps.iter().all(|s| s.report.bars == p.steps[0].report.bars));
    assert_eq!(p.steps[0].report.fixes.label(), "none");
    assert_eq!(p.steps[2].report.requests, 4, "the best step makes the fewest requests possible");
    assert_eq!(p.steps[2].x_floor_requests, 1.0);
    let json = json_of(&p);
    assert!(json["floor_s"].as_f64().unwrap() > 0.0);
    assert_eq!(json["steps"][0]["fixes"], "none");
    assert_eq!(json["steps"][0]["status"], "done");
    assert_step_keys(&json);
    let scratch = tempfile::tempdir().unwrap();
    let report: BenchReport = BenchReport {
        machine: "test".into(),
        load: "0 0 0".into(),
        command: "test".into(),
        floor_s: p.floor_s,
        steps: p.steps.clone(),
        profiles: vec![p],
    };
    let (md, js) = bench::write_outputs(&scratch.path().join("out"), &report).unwrap();
    assert!(std::fs::read_to_string(md).unwrap().contains("| baseline | none | 1 |"));
    assert!(js.exists());
}

#[tokio::test]
async fn a_small_universe_counts_its_floor_as_the_simulator_does() {
    // A month of the universe profile's first 20 names (liquid and thin) and its unknown ones.
    let mut w = tiny(Profile::Universe, "2025-03-03", "2025-03-28");
    let unknown: Vec<String> =
        w.symbols.iter().filter(|t| bench::UNKNOWN_NAMES.contains(&t.as_str())).cloned().collect();
    w.symbols = w.symbols[..20].iter().chain(&unknown[..2]).cloned().collect();
    let u = w.universe();
    let fewest = w.floor_requests(&u);
    let p = run(&w, &["defaults", "best"]).await;
    assert_eq!(p.floor_requests, fewest);
    assert!(unknown[..2].iter().all(|t| p.no_bar_tickers.contains(t)));
    assert_eq!(p.no_bar_rows, 2 * p.no_bar_tickers.len() as u64);
    let names: Vec<&str> = p.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["defaults", "best"]);
    for s in &p.steps {
        assert_eq!(s.report.floor_requests, fewest, "{}: the report's after-the-fact floor", s.name);
        assert!(s.x_floor_requests >= 1.0 && s.x_floor > 0.0);
        assert_eq!(s.report.empty_tickers, p.no_bar_tickers, "{}: the engine names what the market says", s.name);
        assert!(s.no_bar_requests >= 2, "{}: the unknown names were asked", s.name);
    }
    assert_eq!(p.goals.len(), 3);
    assert!(p.goals[0].goal.contains("1.02x the true floor"));
    let json = json_of(&p);
    assert_step_keys(&json);
    assert!(json["profiles"][0]["goals"][0].get("met").is_some());
}

#[tokio::test]
async fn a_small_free_key_run_reports_the_floor_and_names_the_empty_tickers() {
    let w = tiny(Profile::Free, "2025-06-02", "2025-06-13");
    assert_eq!(Workload::for_profile(Profile::Free).sim_options().quota, Some(5));
    let p = run(&w, &["defaults"]).await;
    assert_eq!(p.floor_requests, w.floor_requests(&w.universe()));
    assert_eq!(p.steps[0].report.floor_requests, p.floor_requests);
    // Over two weeks the names listed and delisted in 2025 may have no bar either.
    assert!(p.no_bar_tickers.ends_with(&["FB".to_string(), "APPL".to_string()]), "{:?}", p.no_bar_tickers);
    assert_eq!(p.steps[0].report.empty_tickers, p.no_bar_tickers);
    assert_step_keys(&json_of(&p));
}

#[tokio::test]
async fn a_small_options_chain_is_listed_then_fetched_at_one_request_a_contract() {
    let mut w = tiny(Profile::Options, "2025-01-01", "2025-03-31");
    // Two strikes of the quarter's 13 expirations: 52 contracts.
    let chain = w.chain.as_mut().unwrap();
    chain.strikes = Some((500.0, 505.0));
    w.symbols = barfill::sim::market::option_chain("SPY", chain.expiring, (500.0, 505.0));
    assert_eq!(w.symbols.len(), 52);
    let p = run(&w, &["defaults"]).await;
    let r = &p.steps[0].report;
    assert_eq!(p.floor_requests, 52 + 1, "a request a contract, and the page listing them");
    assert_eq!((r.requests, r.floor_requests), (53, 53), "{}", r.to_text());
    assert_step_keys(&json_of(&p));
}

#[tokio::test]
async fn a_small_unlimited_run_measures_throughput_beside_bare_sqlite() {
    let mut w = tiny(Profile::Unlimited, "2025-06-02", "2025-06-06");
    w.symbols.truncate(2);
    w.quota_per_min = 600_000;
    w.bare_insert_rows = 50_000;
    let p = run(&w, &["defaults", "fixed1", "fixed4"]).await;
    assert_eq!(p.bare_insert_samples.len(), 2, "measured before and after the steps");
    assert!(p.bare_insert_rows_per_s.unwrap() > 0.0);
    for s in &p.steps {
        assert_eq!(s.report.bars, 2 * 5 * 960);
        assert!(s.cost.bars_per_s > 0.0 && s.cost.db_bytes_per_bar > 0.0, "{}", s.name);
        assert!(s.cost.client_cpu_us_per_bar >= 0.0 && s.cost.x_bare_insert.unwrap() > 0.0);
    }
    assert_eq!(p.steps[0].concurrency_setting, "auto");
    assert_eq!(p.steps[2].concurrency_setting, "4");
    // The simulator served from a `barfill sim` process of its own: the bars above came
    // from it, and the page (below) says whose CPU and memory the figures are.
    assert!(p.sim_apart);
    let goals: Vec<&str> = p.goals.iter().map(|g| g.goal.as_str()).collect();
    assert_eq!(goals.len(), 4, "{goals:?}");
    assert!(goals[0].contains("0.9x the best hand-tuned"));
    assert!(goals[1].contains("0.85x the bare SQLite"));
    assert!(goals[2].contains("1.3 us per bar"));
    assert!(goals[3].contains("128 MB"));
    let json = json_of(&p);
    assert_step_keys(&json);
    assert!(json["profiles"][0]["bare_insert_rows_per_s"].as_f64().unwrap() > 0.0);
    let report = BenchReport {
        machine: "m".into(),
        load: "l".into(),
        command: "c".into(),
        floor_s: p.floor_s,
        steps: p.steps.clone(),
        profiles: vec![p.clone()],
    };
    let md = bench::to_markdown(&report);
    assert!(md.contains("| defaults | auto"));
    assert!(md.contains("MB |"));
    assert!(md.contains("client CPU and peak RSS are barfill's alone"), "{md}");
}
