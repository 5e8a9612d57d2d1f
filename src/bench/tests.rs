use super::*;
use crate::calendar::{self, Day};
use crate::config::{Concurrency, Fixes};
use crate::sim::market::Universe;

fn day(s: &str) -> Day {
    calendar::parse_date(s).unwrap()
}

#[test]
fn floors_of_the_profiles() {
    // quick: 2024 has 252 sessions; per symbol 3 intraday rows x ceil(252*960/50000)=5,
    // plus 1 daily = 16. The simulator's count and the plan's agree on liquid names.
    let q = Workload::for_profile(Profile::Quick);
    assert_eq!(q.floor_requests(&q.universe()), 5 * 16);
    assert_eq!(q.plan().floor_requests(), 5 * 16);
    assert_eq!(q.best_concurrency(2.0), 4);
    assert_eq!(q.sim_options().quota, Some(200));
    let l = Workload::for_profile(Profile::Latency);
    assert_eq!(l.best_concurrency(2.0), 16);
    let f = Workload::for_profile(Profile::Free);
    assert_eq!(f.sim_options().quota, Some(5), "a free key's 5 requests a window");
    let u = Workload::for_profile(Profile::Unlimited);
    assert_eq!(u.symbols.len(), 10);
    assert!(u.sim_options().quota.unwrap() > 100_000);
    assert_eq!(u.universe().tickers().iter().filter(|t| u.symbols.contains(&t.ticker)).count(), 10);
}

#[test]
fn steps_follow_the_original_plan() {
    let q = Workload::for_profile(Profile::Quick);
    let s = steps(&q, 2.0);
    let names: Vec<_> = s.iter().map(|s| s.name).collect();
    assert_eq!(names, PROGRESSION);
    assert_eq!(s[0].fixes, Fixes::NONE);
    assert_eq!(s[3].concurrency, Concurrency::SEED_FIX3);
    assert_eq!(s[3].stagger_s, 5.0);
    assert!((s[3].expected_ratio.unwrap() - 240.0 / 487.2).abs() < 1e-12);
    assert!(s.iter().all(|s| s.by_default));
    let l = steps(&Workload::for_profile(Profile::Latency), 2.0);
    assert_eq!(l.iter().filter(|s| s.by_default).count(), 3);
}

#[test]
fn the_new_profiles_run_the_defaults_against_hand_tuned_counts() {
    let names = |p| steps(&Workload::for_profile(p), 2.0).iter().map(|s| s.name).collect::<Vec<_>>();
    assert_eq!(names(Profile::Universe), ["baseline", "defaults", "best"]);
    assert_eq!(names(Profile::Free), ["baseline", "defaults", "best"]);
    assert_eq!(names(Profile::Options), ["baseline", "defaults", "best"]);
    let f = steps(&Workload::for_profile(Profile::Free), 2.0);
    assert!(!f[0].by_default, "the baseline runs only when named");
    assert!(f[2].workers(50) >= 4);
    assert_eq!(names(Profile::Unlimited), ["defaults", "fixed1", "fixed4", "fixed8", "fixed16"]);
    let u = steps(&Workload::for_profile(Profile::Unlimited), 2.0);
    assert_eq!(u[0].concurrency, Concurrency::Auto);
    assert!(u[1..].iter().all(|s| s.stagger_s == 0.0 && s.fixes == Fixes::ALL));
    for p in Profile::ALL {
        assert_eq!(Profile::parse(p.name()), Ok(p));
    }
    assert!(Profile::parse("nope").unwrap_err().contains("unlimited"));
}

#[test]
fn the_universe_sample_is_mostly_thin_with_a_few_liquid_unknown_and_short_lives() {
    let u = Universe::new(workload::UNIVERSE_EXTRA);
    let (from, to) = (day("2025-01-01"), day("2025-12-31"));
    let picked = universe_sample(&u, from, to);
    assert_eq!(picked, universe_sample(&u, from, to), "deterministic");
    assert_eq!(picked.len(), 300);
    let known: Vec<_> = picked.iter().filter_map(|t| u.info(t)).collect();
    let unknown = picked.len() - known.len();
    assert_eq!(unknown, UNKNOWN_NAMES.len());
    let liquid = known.iter().filter(|t| t.density >= 1.0).count();
    assert_eq!(liquid, 8);
    let thin: Vec<f64> = known.iter().map(|t| t.density).filter(|d| *d < 1.0).collect();
    assert!(thin.iter().any(|d| *d < 0.2) && thin.iter().any(|d| *d > 0.8), "a spread of density");
    let listed = known.iter().filter(|t| t.first_day() > day("2025-01-02") && t.first_day() <= to).count();
    let gone = known.iter().filter(|t| t.last_day.is_some_and(|l| l >= from && l < day("2025-12-31"))).count();
    assert!(listed >= 3 && gone >= 3, "{listed} listed and {gone} delisted inside the range");
    let mut sorted = picked.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), picked.len(), "no ticker twice");
}

#[test]
fn the_free_sample_mixes_thin_liquid_unknown_and_delisted() {
    let u = Universe::new(workload::UNIVERSE_EXTRA);
    let (from, to) = (day("2025-01-01"), day("2025-12-31"));
    let picked = free_sample(&u, from, to);
    assert_eq!(picked.len(), 9, "{picked:?}");
    assert!(picked.contains(&"FB".to_string()) && !u.contains("APPL") && picked.contains(&"APPL".to_string()));
    let w = Workload::for_profile(Profile::Free);
    assert_eq!(w.tickers_without_bars(&u), ["FB", "APPL"]);
    let gone = picked.iter().filter_map(|t| u.info(t)).filter(|t| t.last_day.is_some_and(|l| l >= from && l <= to));
    assert_eq!(gone.count(), 1);
}

#[test]
fn the_options_profile_is_a_chain_of_about_500_thin_contracts_at_one_request_a_row() {
    let w = Workload::for_profile(Profile::Options);
    assert_eq!(w.symbols.len(), 13 * 19 * 2);
    assert!(w.symbols.iter().all(|t| t.starts_with("O:SPY25")));
    assert_eq!(w.sim_options().quota, Some(5), "a free key's 5 requests a window");
    // One request a contract's minute row, and the one page that lists the chain.
    let u = w.universe();
    assert_eq!(w.floor_requests(&u), w.symbols.len() as u64 + 1);
    assert_eq!(w.chain.as_ref().unwrap().underlyings, ["SPY"]);
}
