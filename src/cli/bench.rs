//! `barfill bench`: each profile's steps measured against its floors.

use std::process::ExitCode;

use super::{BenchArgs, exit};
use crate::bench::{self, Profile, Workload};
use crate::config::{Config, Dirs};

/// The steps `--steps` names, checked against the profile's own.
fn chosen_steps(args: &BenchArgs, w: &Workload, headroom: f64) -> Result<Option<Vec<String>>, String> {
    let Some(raw) = &args.steps else { return Ok(None) };
    let known: Vec<&str> = bench::steps(w, headroom).iter().map(|s| s.name).collect();
    let list: Vec<String> = raw.split(',').map(|x| x.trim().to_string()).collect();
    match list.iter().find(|s| !known.contains(&s.as_str())) {
        Some(bad) => Err(format!("unknown step '{bad}' for profile {}; use {}", w.profile.name(), known.join(","))),
        None => Ok(Some(list)),
    }
}

pub(super) async fn bench_command(args: BenchArgs) -> ExitCode {
    let profile = match Profile::parse(&args.profile) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --profile: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let headroom = Config::defaults(&Dirs::platform()).headroom_pct;
    let main = Workload::for_profile(profile);
    let steps = match chosen_steps(&args, &main, headroom) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --steps: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let scratch = std::env::temp_dir().join(format!("barfill-bench-{}", std::process::id()));
    let progress = |line: &str| eprintln!("{line}");
    let load_before = bench::load_average();
    let mut order = vec![(main, steps)];
    if matches!(profile, Profile::Quick | Profile::Seed) && !args.skip_latency {
        order.push((Workload::for_profile(Profile::Latency), None));
    }
    let mut profiles = Vec::new();
    for (w, only) in order {
        match bench::run_profile(&w, only.as_deref(), &scratch, headroom, &progress).await {
            Ok(r) => profiles.push(r),
            Err(e) => {
                eprintln!("error: bench profile {}: {e}", w.profile.name());
                let _ = std::fs::remove_dir_all(&scratch);
                return ExitCode::from(exit::FAILED);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let report = bench::BenchReport {
        machine: bench::machine(),
        load: format!("{load_before} at the start, {} at the end", bench::load_average()),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        floor_s: profiles[0].floor_s,
        steps: profiles[0].steps.clone(),
        profiles,
    };
    print!("{}", bench::to_markdown(&report));
    if let Some(dir) = &args.out {
        match bench::write_outputs(dir, &report) {
            Ok((md, json)) => eprintln!("wrote {} and {}", md.display(), json.display()),
            Err(e) => {
                eprintln!("error: cannot write to {}: {e}", dir.display());
                return ExitCode::from(exit::FAILED);
            }
        }
    }
    ExitCode::SUCCESS
}
