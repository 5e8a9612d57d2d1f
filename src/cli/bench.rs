//! `barfill bench`: every fix measured against the floor the quota allows.

use std::process::ExitCode;

use super::{BenchArgs, exit};
use crate::config::{Config, Dirs};

pub(super) async fn bench_command(args: BenchArgs) -> ExitCode {
    use crate::bench::{self, Profile, Workload};
    let profile = match Profile::parse(&args.profile) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --profile: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let steps: Option<Vec<String>> = args.steps.as_ref().map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    if let Some(list) = &steps
        && let Some(bad) = list.iter().find(|s| !bench::STEP_NAMES.contains(&s.as_str()))
    {
        eprintln!("error: --steps: unknown step '{bad}'; use {}", bench::STEP_NAMES.join(","));
        return ExitCode::from(exit::BAD_INPUT);
    }
    let scratch = std::env::temp_dir().join(format!("barfill-bench-{}", std::process::id()));
    let progress = |line: &str| eprintln!("{line}");
    let headroom = Config::defaults(&Dirs::platform()).headroom_pct;
    let mut profiles = Vec::new();
    let mut order = vec![(profile, steps.clone())];
    if profile != Profile::Latency && !args.skip_latency {
        order.push((Profile::Latency, None));
    }
    for (p, only) in order {
        let w = Workload::for_profile(p);
        match bench::run_profile(&w, only.as_deref(), &scratch, headroom, &progress).await {
            Ok(r) => profiles.push(r),
            Err(e) => {
                eprintln!("error: bench profile {}: {e}", p.name());
                let _ = std::fs::remove_dir_all(&scratch);
                return ExitCode::from(exit::FAILED);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let report = bench::BenchReport {
        machine: bench::machine(),
        command,
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
