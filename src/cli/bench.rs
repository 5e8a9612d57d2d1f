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
    if profile.kind() == bench::Kind::Own {
        return own_profile(profile, &args).await;
    }
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

/// The profiles with a runner and report of their own: `switches` and `quotas`.
async fn own_profile(profile: Profile, args: &BenchArgs) -> ExitCode {
    let only: Option<Vec<String>> = args.steps.as_ref().map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let known: Vec<String> = match profile {
        Profile::Switches => bench::switches::scenarios().iter().map(|s| s.name.to_string()).collect(),
        _ => bench::quotas::QUOTAS.iter().map(|(n, _, _)| n.to_string()).collect(),
    };
    if let Some(bad) = only.iter().flatten().find(|s| !known.contains(s)) {
        eprintln!("error: --steps: unknown step '{bad}' for profile {}; use {}", profile.name(), known.join(","));
        return ExitCode::from(exit::BAD_INPUT);
    }
    let scratch = std::env::temp_dir().join(format!("barfill-bench-{}", std::process::id()));
    let progress = |line: &str| eprintln!("{line}");
    let out = args.out.clone();
    // Charts go beside the tables, linked from bench.md.
    let charted = |names: anyhow::Result<Vec<String>>, md: &mut String| match names {
        Ok(names) if !names.is_empty() => {
            md.push_str("\n## Charts\n\n");
            names.iter().for_each(|n| md.push_str(&format!("![{n}]({n})\n\n")));
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: charts not written: {e}"),
    };
    let chart_dir = |dir: &std::path::Path| std::fs::create_dir_all(dir).map_err(anyhow::Error::from).map(|_| ());
    let outcome = match profile {
        Profile::Switches => bench::switches::run(only.as_deref(), &scratch, &progress).await.map(|r| {
            let mut md = bench::switches::to_markdown(&r);
            if let Some(dir) = &out {
                charted(chart_dir(dir).and_then(|_| bench::switches::write_charts(dir, &r)), &mut md);
            }
            (md, serde_json::to_string_pretty(&r))
        }),
        _ => bench::quotas::run(only.as_deref(), &scratch, &progress).await.map(|r| {
            let mut md = bench::quotas::to_markdown(&r);
            if let Some(dir) = &out {
                charted(chart_dir(dir).and_then(|_| bench::quotas::write_charts(dir, &r)), &mut md);
            }
            (md, serde_json::to_string_pretty(&r))
        }),
    };
    let _ = std::fs::remove_dir_all(&scratch);
    let (md, json) = match outcome {
        Ok((md, Ok(json))) => (md, json),
        Ok((_, Err(e))) => {
            eprintln!("error: bench profile {}: {e}", profile.name());
            return ExitCode::from(exit::FAILED);
        }
        Err(e) => {
            eprintln!("error: bench profile {}: {e}", profile.name());
            return ExitCode::from(exit::FAILED);
        }
    };
    print!("{md}");
    if let Some(dir) = &args.out {
        let written = std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::write(dir.join("bench.md"), &md))
            .and_then(|_| std::fs::write(dir.join("bench.json"), json + "\n"));
        match written {
            Ok(()) => eprintln!("wrote {} and {}", dir.join("bench.md").display(), dir.join("bench.json").display()),
            Err(e) => {
                eprintln!("error: cannot write to {}: {e}", dir.display());
                return ExitCode::from(exit::FAILED);
            }
        }
    }
    ExitCode::SUCCESS
}
