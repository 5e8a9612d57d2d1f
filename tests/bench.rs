//! `barfill bench` on a tiny workload: the steps run, and the JSON carries the keys
//! scripts read. Timings are not asserted (they are the bench's output, not its test).

use barfill::bench::{self, BenchReport, Profile, Workload};

#[tokio::test]
async fn a_small_bench_reports_every_step_with_stable_keys() {
    let mut w = Workload::for_profile(Profile::Quick);
    w.symbols = vec!["AAPL".into(), "MSFT".into()];
    w.timeframes = vec!["1/hour", "1/day"];
    w.from = "2024-03-04";
    w.to = "2024-03-29";
    w.quota_per_min = 6_000;
    w.latency_ms = 0;
    w.latency_ms_per_1k_bars = 0.0;
    let scratch = tempfile::tempdir().unwrap();
    let only: Vec<String> = ["baseline", "fix1+2", "best"].iter().map(|s| s.to_string()).collect();
    let p = bench::run_profile(&w, Some(&only), scratch.path(), 2.0, &|_| {}).await.unwrap();
    assert_eq!(p.floor_requests, 4);
    let names: Vec<&str> = p.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["baseline", "fix1+2", "best"]);
    for s in &p.steps {
        assert_eq!(s.status, "done");
        assert_eq!(s.success_rate, 1.0);
        assert!(s.bars > 0);
    }
    // Same bars whichever fixes fetched them.
    assert!(p.steps.iter().all(|s| s.bars == p.steps[0].bars));
    assert_eq!(p.steps[0].fixes, "none");
    assert_eq!(p.steps[2].requests, 4, "the best step makes the fewest requests possible");
    let report = BenchReport {
        machine: bench::machine(),
        command: "test".into(),
        floor_s: p.floor_s,
        steps: p.steps.clone(),
        profiles: vec![p],
    };
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert!(json["floor_s"].as_f64().unwrap() > 0.0);
    for key in [
        "name",
        "fixes",
        "wall_s",
        "requests",
        "rate_limit_hits",
        "success_rate",
        "api_s",
        "db_s",
        "backoff_s",
        "limiter_s",
    ] {
        assert!(json["steps"][0].get(key).is_some(), "steps[].{key} missing");
    }
    let out = scratch.path().join("out");
    let (md, js) = bench::write_outputs(&out, &report).unwrap();
    assert!(std::fs::read_to_string(md).unwrap().contains("| baseline | none | 1 |"));
    assert!(js.exists());
}
