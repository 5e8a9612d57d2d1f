//! The configuration as the user meets it: the file, the flags and `barfill sim`'s flags,
//! each fed the same values.

use std::path::Path;
use std::time::Duration;

use clap::Parser;

use super::*;

/// A fixed "today" (a Monday), so no test depends on the day it runs.
const TODAY: &str = "2026-11-30";

fn today() -> Day {
    calendar::parse_date(TODAY).unwrap()
}

fn dirs(tmp: &Path) -> Dirs {
    Dirs { config: tmp.join("cfg"), data: tmp.join("data") }
}

#[derive(Parser)]
struct FlagsCli {
    #[command(flatten)]
    flags: Flags,
}

#[derive(Parser)]
struct SimCli {
    #[command(flatten)]
    flags: SimFlags,
}

/// Flags as clap parses them from the command line.
fn flags(args: &[&str]) -> Flags {
    FlagsCli::try_parse_from(std::iter::once("barfill").chain(args.iter().copied())).unwrap().flags
}

fn sim_flags(args: &[&str]) -> SimFlags {
    SimCli::try_parse_from(std::iter::once("barfill-sim").chain(args.iter().copied())).unwrap().flags
}

/// The config file `text` (if any) under the flags `args`.
fn load_with(text: Option<&str>, args: &[&str]) -> Result<Config, ConfigError> {
    let tmp = tempfile::tempdir().unwrap();
    let mut f = flags(args);
    if let Some(text) = text {
        let path = tmp.path().join("barfill.toml");
        std::fs::write(&path, text).unwrap();
        f.config = Some(path);
    }
    load_on(&dirs(tmp.path()), &f, &|_| None, today())
}

fn load_text(text: &str) -> Result<Config, ConfigError> {
    load_with(Some(text), &[])
}

fn load_flags(args: &[&str]) -> Result<Config, ConfigError> {
    load_with(None, args)
}

fn sim_error(args: &[&str]) -> ConfigError {
    let mut opts = SimOptions::default();
    apply_sim_flags(&mut opts, &sim_flags(args)).unwrap_err()
}

#[test]
fn defaults_without_a_file() {
    let c = load_flags(&[]).unwrap();
    assert_eq!(c.symbols, ["AAPL", "MSFT", "NVDA", "SPY", "TSLA"]);
    assert_eq!(c.timeframes.len(), 4);
    assert_eq!(c.quota_per_min, 150);
    assert_eq!(c.fixes, Fixes::ALL);
    assert_eq!(c.concurrency, Concurrency::Auto);
    assert_eq!(c.stagger, Duration::ZERO);
    assert!(!c.retry.jitter);
    assert_eq!((c.universe, c.universe_as_of, c.universe_limit), (None, None, None));
    assert!(c.uses_embedded_sim());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(c.db.ends_with("data/barfill.db"), "{}", c.db.display());
}

#[test]
fn full_example_file_loads_with_the_defaults_it_documents() {
    let text = include_str!("../../config.example.toml");
    let c = load_text(text).unwrap();
    let d = load_flags(&[]).unwrap();
    assert!(c.api_key.is_none());
    assert_eq!(c.quota_per_min, d.quota_per_min);
    assert_eq!(c.concurrency, d.concurrency);
    assert_eq!(c.stagger, d.stagger);
    assert_eq!(c.retry.jitter, d.retry.jitter);
    assert_eq!((c.retry.max_attempts, c.retry.budget), (d.retry.max_attempts, d.retry.budget));
    assert_eq!(c.sim.faults, d.sim.faults);
    assert_eq!((c.from, c.to, c.symbols.clone()), (d.from, d.to, d.symbols.clone()));
    // The commented-out chain, switched on, loads too.
    let chain: String = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(kv)
                if ["options =", "expiring =", "strikes =", "contract_type ="].iter().any(|k| kv.starts_with(k)) =>
            {
                kv
            }
            _ if l.starts_with("symbols =") => "",
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let c = load_text(&chain).unwrap();
    assert_eq!(c.chain.chain().unwrap().underlyings, ["SPY"]);
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let e = load_text("from = \"2024-01-01\"\nquota = 5\n").unwrap_err();
    assert!(e.place.ends_with("barfill.toml:2: key `quota`"), "{e}");
    assert!(e.message.contains("unknown field `quota`"), "{e}");
}

#[test]
fn wrong_type_names_the_key() {
    let e = load_text("[api]\nquota_per_min = \"fast\"\n").unwrap_err();
    assert!(e.place.ends_with(":2: key `api.quota_per_min`"), "{e}");
    assert!(e.message.contains("invalid type"), "{e}");
    let e = load_text("[fixes]\nconcurrency = true\n").unwrap_err();
    assert!(e.place.ends_with(":2: key `fixes.concurrency`"), "{e}");
    assert!(e.message.contains("\"auto\" or a number of workers"), "{e}");
}

#[test]
fn syntax_error_names_the_line() {
    let e = load_text("symbols = [\"AAPL\"\nfrom = 1\n").unwrap_err();
    assert!(e.place.contains("barfill.toml:"), "{e}");
}

#[test]
fn a_list_entry_at_fault_is_named_by_its_own_line() {
    let e = load_text("timeframes = [\n  \"1/day\",\n  \"1/day\",\n]\n").unwrap_err();
    assert!(e.place.ends_with("barfill.toml:3: key `timeframes`"), "{e}");
    assert_eq!(e.message, "'1/day' is listed twice");
    let e = load_text("symbols = [\n\"AAPL\",\n\"aapl\"]\n").unwrap_err();
    assert!(e.place.ends_with(":3: key `symbols`"), "{e}");
}

/// Where a value can be given: a config file's text, command-line flags, `barfill sim`'s
/// flags.
struct Case {
    files: &'static [&'static str],
    flags: &'static [&'static [&'static str]],
    sim: &'static [&'static [&'static str]],
    message: &'static str,
}

const SAME_VERDICT: &[Case] = &[
    Case {
        files: &["[api]\nquota_per_min = 0\n", "[sim]\nquota = 0\n"],
        flags: &[&["--quota", "0"], &["--sim-quota", "0"]],
        sim: &[&["--quota", "0"]],
        message: "must be a positive whole number, got 0",
    },
    Case {
        files: &["[api]\nquota_per_min = -5\n"],
        flags: &[&["--quota", "-5"]],
        sim: &[&["--quota", "-5"]],
        message: "must be a positive whole number, got -5",
    },
    Case {
        files: &["[fixes]\nconcurrency = 0\n", "[fixes]\nconcurrency = \"0\"\n"],
        flags: &[&["--concurrency", "0"]],
        sim: &[],
        message: "must be between 1 and 64, got 0",
    },
    Case {
        files: &["[fixes]\nconcurrency = \"lots\"\n"],
        flags: &[&["--concurrency", "lots"]],
        sim: &[],
        message: "must be `auto` or a number of workers from 1 to 64, got 'lots'",
    },
    Case {
        files: &["[fixes]\nstagger_secs = nan\n"],
        flags: &[&["--stagger", "NaN"]],
        sim: &[],
        message: "must be between 0 and 3600 seconds, got NaN",
    },
    Case {
        files: &["[fixes]\nstagger_secs = inf\n"],
        flags: &[&["--stagger", "inf"]],
        sim: &[],
        message: "must be between 0 and 3600 seconds, got inf",
    },
    Case {
        files: &["timeframes = [\"1/day\", \"1/day\"]\n"],
        flags: &[&["--timeframes", "1/day,1/day"], &["--timeframes", "1/day, 1/day"]],
        sim: &[],
        message: "'1/day' is listed twice",
    },
    Case {
        files: &["timeframes = []\n"],
        flags: &[&["--timeframes", ""]],
        sim: &[],
        message: "the list is empty; name at least one, e.g. \"1/day\"",
    },
    Case {
        files: &["timeframes = [\"1/day\", \"\"]\n"],
        flags: &[&["--timeframes", "1/day,"]],
        sim: &[],
        message: "empty entry in the list",
    },
    Case {
        files: &["symbols = [\"aapl\"]\n"],
        flags: &[&["--symbols", "aapl"]],
        sim: &[],
        message: "'aapl' has lower-case letters; tickers are case-sensitive (did you mean 'AAPL'?)",
    },
    Case {
        files: &["symbols = [\"AAPL\", \"Z:FOO\"]\n"],
        flags: &[&["--symbols", "AAPL,Z:FOO"]],
        sim: &[],
        message: "'Z:FOO' has the prefix 'Z:', which names no asset class; known: none (US stocks), X: (crypto), \
                  C: (forex), I: (indices), O: (options)",
    },
    Case {
        files: &["symbols = [\"O:SPY251219Q00650000\"]\n"],
        flags: &[&["--symbols", "O:SPY251219Q00650000"]],
        sim: &[],
        message: "'O:SPY251219Q00650000' is not an option ticker: 'Q' where C (call) or P (put) belongs (expected O:, \
                  a root, YYMMDD, C or P and the strike in thousandths over 8 digits, e.g. O:SPY251219C00650000)",
    },
    Case {
        files: &["options = [\"O:SPY\"]\nexpiring = \"2025-01-01..2025-03-31\"\n"],
        flags: &[&["--options", "O:SPY", "--expiring", "2025-01-01..2025-03-31"]],
        sim: &[],
        message: "'O:SPY' is not an underlying: name the root the chain is listed under ('SPY', not 'O:SPY')",
    },
    Case {
        files: &["options = [\"SPY\"]\nexpiring = \"2025-03-31..2025-01-01\"\n"],
        flags: &[&["--options", "SPY", "--expiring", "2025-03-31..2025-01-01"]],
        sim: &[],
        message: "`from` (2025-03-31) is after `to` (2025-01-01)",
    },
    Case {
        files: &["options = [\"SPY\"]\nexpiring = \"2025-01-01..2025-03-31\"\nstrikes = \"520..480\"\n"],
        flags: &[&["--options", "SPY", "--expiring", "2025-01-01..2025-03-31", "--strikes", "520..480"]],
        sim: &[],
        message: "the lowest strike (520) is above the highest (480)",
    },
    Case {
        files: &["options = [\"SPY\"]\nexpiring = \"2025-01-01..2025-03-31\"\ncontract_type = \"straddle\"\n"],
        flags: &[&["--options", "SPY", "--expiring", "2025-01-01..2025-03-31", "--contract-type", "straddle"]],
        sim: &[],
        message: "unknown contract type 'straddle'; expected call or put",
    },
    Case {
        files: &["options = [\"SPY\"]\n"],
        flags: &[&["--options", "SPY"]],
        sim: &[],
        message: "an options chain needs the expirations to list: add --expiring FROM..TO or `expiring = \"FROM..TO\"`",
    },
    Case {
        files: &["strikes = \"480..520\"\n"],
        flags: &[&["--strikes", "480..520"]],
        sim: &[],
        message: "applies only to an options chain; add --options SPY or `options = [\"SPY\"]`",
    },
    Case {
        files: &["symbols = [\"KO\", \"KO\"]\n"],
        flags: &[&["--symbols", "KO,KO"]],
        sim: &[],
        message: "'KO' is listed twice",
    },
    Case {
        files: &["symbols = []\n"],
        flags: &[&["--symbols", ""]],
        sim: &[],
        message: "the list is empty; name at least one ticker",
    },
    Case {
        files: &["from = \"2024-02-30\"\n", "[sim]\nplan_from = \"2024-02-30\"\n"],
        flags: &[&["--from", "2024-02-30"]],
        sim: &[&["--plan-from", "2024-02-30"]],
        message: "'2024-02-30' is not a valid date: parsed date is not valid: parameter 'day' for `2024-02` is invalid, \
                  must be in range `1..=29`",
    },
    Case {
        files: &["from = \"2024-12-25\"\nto = \"2024-12-25\"\n"],
        flags: &[&["--from", "2024-12-25", "--to", "2024-12-25"]],
        sim: &[],
        message: "the range 2024-12-25..2024-12-25 holds no trading session: 2024-12-25 is Christmas Day",
    },
    Case {
        files: &["symbols = [\"AAPL\", \"C:EURUSD\"]\nfrom = \"2025-01-04\"\nto = \"2025-01-04\"\n"],
        flags: &[&["--symbols", "AAPL,C:EURUSD", "--from", "2025-01-04", "--to", "2025-01-04"]],
        sim: &[],
        message: "the range 2025-01-04..2025-01-04 holds no day any of its tickers trades (stocks: 2025-01-04 is a \
                  Saturday; fx: 2025-01-04 is a Saturday, when forex does not trade)",
    },
    Case {
        files: &["from = \"1850-01-01\"\nto = \"1850-02-01\"\n"],
        flags: &[&["--from", "1850-01-01", "--to", "1850-02-01"]],
        sim: &[],
        message: "1850-01-01 is before 1990-01-01, the first day of the trading calendar barfill knows",
    },
    Case {
        files: &["from = \"2025-01-01\"\nto = \"2024-01-01\"\n"],
        flags: &[&["--from", "2025-01-01", "--to", "2024-01-01"]],
        sim: &[],
        message: "`from` (2025-01-01) is after `to` (2024-01-01)",
    },
    Case {
        files: &["[api]\nbase_url = \"ftp://example.com\"\n"],
        flags: &[&["--base-url", "ftp://example.com"]],
        sim: &[],
        message: "'ftp://example.com' must start with http:// or https://",
    },
    Case {
        files: &["[api]\nkey = \"abc\u{a0}def\"\n"],
        flags: &[],
        sim: &[&["--api-key", "abc\u{a0}def"]],
        message: "the API key has a character an HTTP header cannot carry at position 4 (only printable ASCII)",
    },
    Case {
        files: &["[sim]\nwindow_secs = 0\n"],
        flags: &[],
        sim: &[&["--window-secs", "0"]],
        message: "must be a number of seconds above 0 and at most a day, got 0",
    },
    Case {
        files: &["[sim]\nwindow_secs = nan\n"],
        flags: &[],
        sim: &[&["--window-secs", "NaN"]],
        message: "must be a number of seconds above 0 and at most a day, got NaN",
    },
    Case {
        files: &["[sim]\nlatency_ms = -1\n"],
        flags: &[],
        sim: &[&["--latency-ms", "-1"]],
        message: "must be between 0 and 3600000 milliseconds, got -1",
    },
    Case {
        files: &["[sim]\nlatency_ms_per_1k_bars = nan\n"],
        flags: &[],
        sim: &[&["--latency-per-1k", "NaN"]],
        message: "must be between 0 and 60000 milliseconds, got NaN",
    },
    Case {
        files: &["[sim.faults]\nserver_error = 2.0\n"],
        flags: &[],
        sim: &[&["--faults", "server_error=2"]],
        message: "fault 'server_error': must be a fraction between 0 and 1, got 2",
    },
    Case {
        files: &["[sim.faults]\nboom = 0.1\n"],
        flags: &[],
        sim: &[&["--faults", "boom=0.1"]],
        message: "unknown fault 'boom'; known: 5xx, drop, truncate, malformed, stall, empty, repeat, seconds-ts, swap-hl, dup-boundary, off-grid, out-of-range, bad-bar",
    },
    Case {
        files: &["[sim.faults]\ndrop = 0.6\nstall = 0.6\n"],
        flags: &[],
        sim: &[&["--faults", "drop=0.6,stall=0.6"]],
        message: "fault fractions add up to more than 1",
    },
    Case {
        files: &["universe = \"bonds\"\n"],
        flags: &[&["--universe", "bonds"]],
        sim: &[],
        message: "unknown universe 'bonds'; known: stocks (all active common stocks and ETFs), crypto (all crypto \
                  pairs), fx (all forex pairs), indices (all indices)",
    },
    Case {
        files: &["universe = \"stocks\"\nuniverse_limit = 0\n"],
        flags: &[&["--universe", "stocks", "--universe-limit", "0"]],
        sim: &[],
        message: "must be a positive whole number, got 0",
    },
];

#[test]
fn the_same_bad_value_gets_the_same_message_from_file_flag_and_sim() {
    for case in SAME_VERDICT {
        for text in case.files {
            let e = load_text(text).unwrap_err();
            assert!(e.place.contains("barfill.toml:") && e.place.contains("key `"), "{text:?}: {e}");
            assert_eq!(e.message, case.message, "file {text:?}");
        }
        for args in case.flags {
            let e = load_flags(args).unwrap_err();
            assert!(e.place.starts_with("--") && args.contains(&e.place.as_str()), "{args:?}: {e}");
            assert_eq!(e.message, case.message, "flags {args:?}");
        }
        for args in case.sim {
            let e = sim_error(args);
            assert_eq!(e.place, args[0], "{args:?}");
            assert_eq!(e.message, case.message, "sim {args:?}");
        }
    }
}

#[test]
fn a_repeated_timeframe_in_the_flag_is_refused_not_dropped() {
    let e = load_flags(&["--timeframes", "1/minute,1/day,1/minute"]).unwrap_err();
    assert_eq!(e.to_string(), "--timeframes: '1/minute' is listed twice");
    let c = load_flags(&["--timeframes", "1/minute, 1/day"]).unwrap();
    assert_eq!(c.timeframes.iter().map(|t| t.to_string()).collect::<Vec<_>>(), ["1/minute", "1/day"]);
}

#[test]
fn a_nan_or_infinite_stagger_is_bad_input_not_a_panic() {
    for v in ["NaN", "nan", "inf", "-inf", "-1", "3601"] {
        let e = load_flags(&[&format!("--stagger={v}")]).unwrap_err();
        assert_eq!(e.place, "--stagger", "{v}");
        assert!(e.message.starts_with("must be between 0 and 3600 seconds"), "{v}: {e}");
    }
    assert!(validate::stagger_secs(f64::NAN).is_err());
    assert_eq!(load_flags(&["--stagger", "2.5"]).unwrap().stagger, Duration::from_millis(2500));
}

#[test]
fn flags_override_file_and_are_checked() {
    let c =
        load_with(Some("symbols = [\"AAPL\"]\n[api]\nquota_per_min = 10\n"), &["--symbols", "IBM,KO", "--quota", "5"])
            .unwrap();
    assert_eq!(c.symbols, ["IBM", "KO"]);
    assert_eq!(c.quota_per_min, 5);
    let c = load_flags(&["--fixes", "none"]).unwrap();
    assert_eq!(c.fixes, Fixes::NONE);
    assert_eq!(load_flags(&["--quota", "0"]).unwrap_err().place, "--quota");
    assert_eq!(load_flags(&["--from", "2024-13-01"]).unwrap_err().place, "--from");
    // clap refuses `--db ""` itself; the rule holds for any caller.
    let tmp = tempfile::tempdir().unwrap();
    let empty = Flags { db: Some(std::path::PathBuf::new()), ..Flags::default() };
    let e = load_on(&dirs(tmp.path()), &empty, &|_| None, today()).unwrap_err();
    assert_eq!(e.to_string(), "--db: the path is empty");
}

#[test]
fn flags_before_the_subcommand_fill_what_the_subcommand_leaves_unset() {
    let outer = flags(&["--db", "outer.db", "--quota", "9", "--refetch", "--jitter"]);
    let inner = flags(&["--quota", "5", "--symbols", "KO"]);
    let merged = inner.or(&outer);
    assert_eq!(merged.db.as_deref(), Some(Path::new("outer.db")));
    assert_eq!((merged.quota, merged.symbols.as_deref()), (Some(5), Some("KO")));
    assert!(merged.refetch);
    assert_eq!(merged.jitter, Some(true));
}

#[test]
fn key_from_environment_is_never_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let env_key = |k: &str| (k == "POLYGON_API_KEY").then(|| "sekrit123".to_string());
    let c = load_on(&dirs(tmp.path()), &Flags::default(), &env_key, today()).unwrap();
    assert!(!c.uses_embedded_sim());
    assert!(!format!("{c:?}").contains("sekrit123"));
    let bad_key = |k: &str| (k == "MASSIVE_API_KEY").then(|| "abc\u{a0}def".to_string());
    let e = load_on(&dirs(tmp.path()), &Flags::default(), &bad_key, today()).unwrap_err();
    assert_eq!(e.place, "$MASSIVE_API_KEY");
    assert!(e.message.contains("position 4") && !e.message.contains("abc"), "{e}");
}

#[cfg(unix)]
#[test]
fn a_key_in_a_file_others_can_read_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("barfill.toml");
    std::fs::write(&path, "[api]\nkey = \"sekrit123\"\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let f = Flags { config: Some(path.clone()), ..Flags::default() };
    let c = load_on(&dirs(tmp.path()), &f, &|_| None, today()).unwrap();
    assert_eq!(c.warnings.len(), 1);
    assert!(c.warnings[0].contains("other users can read it (mode 644)"), "{:?}", c.warnings);
    assert!(!c.warnings[0].contains("sekrit123"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = load_on(&dirs(tmp.path()), &f, &|_| None, today()).unwrap();
    assert!(c.warnings.is_empty());
    assert_eq!(c.api_key.unwrap().expose(), "sekrit123");
    let e = load_text("[api]\nkey = \" \"\n").unwrap_err();
    assert_eq!(e.message, "the key is empty; remove the line to use the simulator");
}

#[test]
fn dates_past_today_are_clamped_or_refused() {
    let c = load_flags(&["--to", "2026-12-30"]).unwrap();
    assert_eq!(c.to, today());
    assert!(
        c.warnings[0].contains("`to` (2026-12-30) is after today; fetching through 2026-11-30"),
        "{:?}",
        c.warnings
    );
    let e = load_flags(&["--from", "2026-12-05", "--to", "2026-12-09"]).unwrap_err();
    assert_eq!(e.to_string(), "--from: 2026-12-05 is in the future (today in New York is 2026-11-30)");
}

#[test]
fn ranges_say_what_they_hold() {
    let err = |args: &[&str]| load_flags(args).unwrap_err().to_string();
    assert_eq!(
        err(&["--from", "2024-12-28", "--to", "2024-12-29"]),
        "--to: the range 2024-12-28..2024-12-29 holds no trading session: 2024-12-28 is a Saturday, 2024-12-29 a Sunday"
    );
    assert_eq!(
        err(&["--from", "2025-01-18", "--to", "2025-01-20"]),
        "--to: the range 2025-01-18..2025-01-20 holds no trading session: \
         2025-01-18 is a Saturday, 2025-01-19 a Sunday, 2025-01-20 Martin Luther King Jr. Day"
    );
    // The end given last is the one named: here the flag's `from` over the file's `to`.
    let e = load_with(Some("from = \"2024-12-02\"\nto = \"2024-12-25\"\n"), &["--from", "2024-12-25"]).unwrap_err();
    assert_eq!(e.place, "--from");
    // A reversed range in the file names `to`, on its line.
    let e = load_text("from = \"2024-06-01\"\nto = \"2024-01-01\"\n").unwrap_err();
    assert!(e.place.ends_with(":2: key `to`"), "{e}");
    assert_eq!(err(&["--from", "1989-12-29", "--to", "1990-01-05"]).split(": ").next(), Some("--from"));
    // Christmas Eve trades (a half day): a session.
    assert!(load_flags(&["--from", "2024-12-24", "--to", "2024-12-25"]).is_ok());
}

#[test]
fn dates_before_the_apis_history_are_warned_about_not_refused() {
    let c = load_flags(&["--from", "1999-01-04", "--to", "1999-02-01"]).unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].starts_with("`from` (1999-01-04) is before 2003-09-10"), "{:?}", c.warnings);
    let c = load_flags(&["--from", "2003-09-10", "--to", "2003-09-30"]).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn concurrency_is_auto_or_a_count_and_the_stagger_follows_it() {
    let c = load_flags(&["--concurrency", "auto"]).unwrap();
    assert_eq!((c.concurrency, c.stagger), (Concurrency::Auto, Duration::ZERO));
    let c = load_flags(&["--concurrency", "8"]).unwrap();
    assert_eq!((c.concurrency, c.stagger), (Concurrency::Fixed(8), Concurrency::SEED_FIX3_STAGGER));
    let c = load_flags(&["--concurrency", "8", "--stagger", "0"]).unwrap();
    assert_eq!(c.stagger, Duration::ZERO);
    let c = load_flags(&["--stagger", "2"]).unwrap();
    assert_eq!((c.concurrency, c.stagger), (Concurrency::Auto, Duration::from_secs(2)));
    let c = load_text("[fixes]\nconcurrency = \"auto\"\nstagger_secs = 1\n").unwrap();
    assert_eq!((c.concurrency, c.stagger), (Concurrency::Auto, Duration::from_secs(1)));
    let c = load_text("[fixes]\nconcurrency = 4\n").unwrap();
    assert_eq!((c.concurrency, c.stagger), (Concurrency::Fixed(4), Duration::from_secs(5)));
    // The file's count, the flag's auto: auto, with auto's stagger.
    let c = load_with(Some("[fixes]\nconcurrency = 4\n"), &["--concurrency", "AUTO"]).unwrap();
    assert_eq!((c.concurrency, c.stagger), (Concurrency::Auto, Duration::ZERO));
    assert_eq!(Concurrency::Auto.initial_workers(150, true), Concurrency::AUTO_START);
    assert_eq!(Concurrency::Auto.initial_workers(5, true), Concurrency::AUTO_START);
    assert_eq!(Concurrency::Auto.initial_workers(360, true), 4);
    assert_eq!(Concurrency::Auto.initial_workers(1200, true), 11);
    assert_eq!(Concurrency::Auto.initial_workers(1200, false), Concurrency::AUTO_START, "unpaced");
    assert_eq!(Concurrency::Auto.initial_workers(6000, true), Concurrency::AUTO_START_PAID);
    assert_eq!(Concurrency::Auto.initial_workers(12_000, true), Concurrency::AUTO_START_PAID);
    assert_eq!(Concurrency::Fixed(5).initial_workers(6000, true), 5);
    let mut seed = c.clone();
    seed.use_seed_fix3();
    assert_eq!((seed.concurrency.initial_workers(150, true), seed.stagger), (3, Duration::from_secs(5)));
    assert_eq!(Concurrency::Fixed(8).to_string(), "8");
}

#[test]
fn jitter_is_its_own_setting_and_off_by_default() {
    assert!(!load_flags(&[]).unwrap().retry.jitter);
    assert!(load_text("[retry]\njitter = true\n").unwrap().retry.jitter);
    assert!(load_flags(&["--jitter"]).unwrap().retry.jitter);
    assert!(!load_with(Some("[retry]\njitter = true\n"), &["--jitter=false"]).unwrap().retry.jitter);
    let e = load_text("[retry]\njitter = \"yes\"\n").unwrap_err();
    assert!(e.place.ends_with(":2: key `retry.jitter`"), "{e}");
}

#[test]
fn a_symbols_file_on_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let list = tmp.path().join("tickers.txt");
    std::fs::write(&list, "# mine\nIBM KO\nBRK.B\n").unwrap();
    let path = list.to_str().unwrap();
    let c = load_flags(&["--symbols-file", path]).unwrap();
    assert_eq!(c.symbols, ["IBM", "KO", "BRK.B"]);
    // Over the file's list, as any flag.
    let c = load_with(Some("symbols = [\"AAPL\"]\n"), &["--symbols-file", path]).unwrap();
    assert_eq!(c.symbols, ["IBM", "KO", "BRK.B"]);
    let e = load_flags(&["--symbols", "A", "--symbols-file", path]).unwrap_err();
    assert_eq!(e.to_string(), "--symbols-file: give either --symbols or --symbols-file, not both");
    std::fs::write(&list, "IBM\nko\n").unwrap();
    let e = load_flags(&["--symbols-file", path]).unwrap_err();
    assert_eq!(e.place, format!("{path}:2"));
    let e = load_flags(&["--symbols-file", "/no/such/tickers.txt"]).unwrap_err();
    assert!(e.to_string().starts_with("--symbols-file: cannot read '/no/such/tickers.txt'"), "{e}");
}

#[test]
fn a_universe_replaces_the_list_and_its_settings_need_one() {
    let c = load_flags(&["--universe", "stocks", "--universe-as-of", "2020-01-02", "--universe-limit", "100"]).unwrap();
    assert_eq!(c.universe, Some(Universe::Stocks));
    assert_eq!(c.universe_as_of, Some(calendar::parse_date("2020-01-02").unwrap()));
    assert_eq!(c.universe_limit, Some(100));
    assert!(c.symbols.is_empty(), "the universe names the tickers");
    let c = load_text("universe = \"stocks\"\nuniverse_as_of = \"2020-01-02\"\n").unwrap();
    assert_eq!((c.universe, c.symbols.len()), (Some(Universe::Stocks), 0));
    // Both in one place: refused, at the universe.
    let e = load_text("symbols = [\"AAPL\"]\nuniverse = \"stocks\"\n").unwrap_err();
    assert!(e.place.ends_with(":2: key `universe`"), "{e}");
    assert_eq!(e.message, "set either `universe` or `symbols`, not both");
    let e = load_flags(&["--universe", "stocks", "--symbols", "KO"]).unwrap_err();
    assert_eq!(e.to_string(), "--universe: give either --universe or --symbols, not both");
    // A later layer replaces the earlier one, as for any setting.
    let c = load_with(Some("universe = \"stocks\"\nuniverse_limit = 5\n"), &["--symbols", "KO"]).unwrap();
    assert_eq!((c.symbols.clone(), c.universe, c.universe_limit), (vec!["KO".to_string()], None, None));
    let c = load_with(Some("symbols = [\"AAPL\"]\n"), &["--universe", "stocks"]).unwrap();
    assert_eq!((c.universe, c.symbols.len()), (Some(Universe::Stocks), 0));
    // Its settings alone mean nothing.
    let e = load_flags(&["--universe-limit", "5"]).unwrap_err();
    assert_eq!(e.place, "--universe-limit");
    assert!(e.message.starts_with("applies only to a universe"), "{e}");
    let e = load_text("universe_as_of = \"2020-01-02\"\n").unwrap_err();
    assert!(e.place.ends_with(":1: key `universe_as_of`"), "{e}");
    // Its day: inside the calendar, not in the future, warned about before the API's history.
    let e = load_flags(&["--universe", "stocks", "--universe-as-of", "2026-12-01"]).unwrap_err();
    assert_eq!(e.to_string(), "--universe-as-of: 2026-12-01 is in the future (today in New York is 2026-11-30)");
    let c = load_flags(&["--universe", "stocks", "--universe-as-of", "2001-01-02"]).unwrap();
    assert!(c.warnings.iter().any(|w| w.starts_with("`universe_as_of` (2001-01-02) is before 2003-09-10")));
}

#[test]
fn sim_flags_apply_over_the_files_sim_table() {
    let c = load_text("[sim]\nquota = 7\nlatency_ms = 5\n[sim.faults]\n5xx = 0.25\nempty_page = 0.1\n").unwrap();
    let mut opts = c.sim_options();
    assert_eq!((opts.quota, opts.latency_ms), (Some(7), 5));
    assert_eq!((opts.faults.server_error, opts.faults.empty_page), (0.25, 0.1));
    apply_sim_flags(&mut opts, &sim_flags(&["--quota", "3", "--faults", "drop=0.5", "--retry-after"])).unwrap();
    assert_eq!(opts.quota, Some(3));
    assert_eq!((opts.faults.drop, opts.faults.server_error), (0.5, 0.0), "--faults replaces the table");
    assert!(opts.retry_after);
    apply_sim_flags(&mut opts, &sim_flags(&["--api-key", ""])).unwrap();
    assert!(opts.api_key.is_none(), "an empty key is none");
}

#[test]
fn fixes_and_faults_parse() {
    assert_eq!(Fixes::parse("1,3").unwrap().label(), "1,3");
    assert_eq!(Fixes::parse("none").unwrap(), Fixes::NONE);
    assert!(Fixes::parse("4").is_err());
    let f = Faults::parse("5xx=0.1, drop=0.05").unwrap();
    assert_eq!(f.server_error, 0.1);
    assert!(Faults::parse("boom=0.1").is_err());
    assert!(Faults::parse("5xx=2").is_err());
}

#[test]
fn a_range_is_judged_by_the_days_of_its_tickers_classes() {
    // Christmas and a Saturday hold no session, but crypto trades every day and forex on Sundays.
    let c = load_flags(&["--symbols", "X:BTCUSD", "--from", "2024-12-25", "--to", "2024-12-25"]).unwrap();
    assert_eq!(c.classes(), [crate::markets::Class::Crypto]);
    assert!(load_flags(&["--symbols", "AAPL,C:EURUSD", "--from", "2025-01-05", "--to", "2025-01-05"]).is_ok());
    let c =
        load_flags(&["--symbols", "O:SPY241220C00600000,AAPL", "--from", "2025-01-02", "--to", "2025-01-31"]).unwrap();
    assert_eq!(
        c.warnings,
        ["O:SPY241220C00600000 expired on 2024-12-20, before `from` (2025-01-02): nothing to fetch for it"]
    );
    let e = load_flags(&["--symbols", "I:SPX", "--from", "2025-01-04", "--to", "2025-01-05"]).unwrap_err();
    assert!(e.message.contains("indices: 2025-01-04 is a Saturday, 2025-01-05 a Sunday"), "{e}");
}

#[test]
fn an_options_chain_names_the_tickers_from_the_file_or_the_flags() {
    use crate::markets::{Class, ContractType};
    let flags = ["--options", "SPY,QQQ", "--expiring", "2025-01-01..2025-03-31", "--strikes", "480..520.5"];
    let c = load_flags(&[&flags[..], &["--contract-type", "put"]].concat()).unwrap();
    let chain = c.chain.chain().unwrap();
    assert_eq!(chain.underlyings, ["SPY", "QQQ"]);
    assert_eq!(chain.expiring.to_string(), "2025-01-01..2025-03-31");
    assert_eq!((chain.strikes, chain.contract_type), (Some((480.0, 520.5)), Some(ContractType::Put)));
    assert!(c.symbols.is_empty(), "the chain names the tickers");
    assert_eq!(c.classes(), [Class::Options]);
    let text = "options = [\"SPY\"]\nexpiring = \"2025-01-01..2025-03-31\"\ncontract_type = \"call\"\n";
    let c = load_text(text).unwrap();
    assert_eq!(c.chain.chain().unwrap().contract_type, Some(ContractType::Call));
    // A list on the command line replaces the file's chain, as any flag replaces the file's value.
    let c = load_with(Some(text), &["--symbols", "AAPL"]).unwrap();
    assert!(c.chain.chain().is_none() && !c.chain.is_set());
    assert_eq!(c.symbols, ["AAPL"]);
    // ...and a chain on the command line the file's list.
    let c = load_with(Some("symbols = [\"AAPL\"]\n"), &flags).unwrap();
    assert!(c.symbols.is_empty() && c.chain.chain().is_some());
    // Both in one place: refused.
    let e = load_flags(&[&flags[..], &["--symbols", "AAPL"]].concat()).unwrap_err();
    assert_eq!(e.to_string(), "--options: give either --options or --symbols, not both");
    let e =
        load_text("symbols = [\"AAPL\"]\noptions = [\"SPY\"]\nexpiring = \"2025-01-01..2025-01-31\"\n").unwrap_err();
    assert!(e.place.ends_with(":2: key `options`") && e.message.contains("not both"), "{e}");
}
