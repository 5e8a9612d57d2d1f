//! The real binary as a user runs it: killed at random moments, stopped by signals, fed
//! bad input, and searched for its API key in everything it leaves behind.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use barfill::report::RunStatus;
use barfill::sim::{Sim, SimOptions};
use rusqlite::{Connection, OpenFlags};

const BIN: &str = env!("CARGO_BIN_EXE_barfill");

/// A command with HOME and the XDG dirs inside `dir` and no key in the environment, so
/// nothing reads or writes the real user's files.
fn barfill(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("home/.config"))
        .env("XDG_DATA_HOME", dir.join("home/.local/share"))
        .env_remove("MASSIVE_API_KEY")
        .env_remove("POLYGON_API_KEY")
        .env_remove("BARFILL_LOG")
        // Retries wait a hundredth of their time (a `test-hooks` knob; see src/testhooks.rs).
        .env("BARFILL_TEST_WAIT_SCALE", "0.01")
        .stdin(Stdio::null());
    cmd
}

/// The workload the interrupted runs fetch: 30 requests, each window of 52 sessions a
/// request, so a run can be stopped between windows and inside a row. Both timeframes
/// count base minute bars against the page limit like `1/minute` does, but carry a fifth
/// and a sixtieth of its bars: the same windows for much less work.
const SYMBOLS: &str = "AAPL,MSFT,NVDA";
const TIMEFRAMES: &str = "5/minute,1/hour";
const FROM: &str = "2024-01-01";
const TO: &str = "2024-12-31";
const QUOTA: u32 = 900;

fn workload_args(db: &Path, base_url: &str) -> Vec<String> {
    let quota = QUOTA.to_string();
    let args = ["run", "--headless", "--db", db.to_str().unwrap(), "--base-url", base_url, "--symbols", SYMBOLS];
    let rest = ["--timeframes", TIMEFRAMES, "--from", FROM, "--to", TO, "--quota", &quota, "--stagger", "0"];
    args.iter().chain(&rest).map(|s| s.to_string()).collect()
}

fn windows_stored(db: &Path) -> usize {
    let Ok(conn) = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY) else { return 0 };
    conn.query_row("SELECT count(*) FROM progress", [], |r| r.get::<_, i64>(0)).map(|n| n as usize).unwrap_or(0)
}

/// Polls until the database holds at least `n` finished windows. Fails, saying what it
/// saw, if the child ends first or the deadline passes.
fn wait_for_windows(child: &mut Child, db: &Path, n: usize) {
    let limit = Duration::from_secs(120);
    let deadline = Instant::now() + limit;
    while windows_stored(db) < n {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("waited for {n} finished windows, but barfill exited ({status}) with {}", windows_stored(db));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("waited {limit:?} for {n} finished windows; the database holds {}", windows_stored(db));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_with_deadline(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the workload once more to its end and checks the database equals an
/// uninterrupted run's.
fn restart_to_completion(dir: &Path, args: &[String], db: &Path, want: &[Row]) {
    let status = barfill(dir).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert!(status.success(), "{status}");
    assert_same_rows(&dump(db), want, "the restarted database against an uninterrupted run's");
}

fn slow_sim_opts() -> SimOptions {
    let mut opts = SimOptions::fast();
    opts.latency_ms = 20;
    opts
}

/// The database an uninterrupted in-process run of the workload leaves, made once and
/// shared by the tests: every simulator serves the same bars, whatever its latency.
async fn reference_dump() -> Vec<Row> {
    static REFERENCE: tokio::sync::OnceCell<Vec<Row>> = tokio::sync::OnceCell::const_new();
    REFERENCE
        .get_or_init(|| async {
            let sim = fast_sim().await;
            let (_t, dir) = tmp();
            let symbols: Vec<&str> = SYMBOLS.split(',').collect();
            let timeframes: Vec<&str> = TIMEFRAMES.split(',').collect();
            let mut c = config(&dir, &symbols, &timeframes, FROM, TO);
            c.quota_per_min = QUOTA;
            let (r, _) = run(&c, source(&sim)).await;
            assert_eq!((r.status, r.failed_jobs), (RunStatus::Done, 0), "the reference run: {}", r.to_text());
            dump(&c.db)
        })
        .await
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_several_points_then_restart_gives_the_uninterrupted_database() {
    let sim = Sim::start_local(slow_sim_opts()).await.unwrap();
    let want = reference_dump().await;
    let (_t, dir) = tmp();
    let db = dir.join("killed.db");
    let args = workload_args(&db, &sim.base_url());
    // 30 windows in all; kill after these many are stored. The last kill leaves a third of
    // the run (at least 0.6 s at the quota) to catch it before it ends by itself.
    for kill_at in [4usize, 12, 20] {
        let finished_before: Vec<_> = if db.exists() { progress(&db) } else { vec![] };
        let log_start = sim.stats.snapshot().log.len();
        let mut child = barfill(&dir).args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        wait_for_windows(&mut child, &db, kill_at);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Windows finished before this start were not fetched again.
        let log = sim.stats.snapshot().log;
        for (ticker, tf, from, to, _) in &finished_before {
            let (m, span) = tf.split_once('/').unwrap();
            let path = format!("/v2/aggs/ticker/{ticker}/range/{m}/{span}/{from}/{to}");
            assert!(!log[log_start..].iter().any(|(p, _)| *p == path), "{path} fetched again after kill");
        }
    }
    restart_to_completion(&dir, &args, &db, &want);
    let conn = Connection::open(&db).unwrap();
    let statuses: Vec<String> = conn
        .prepare("SELECT status FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(statuses, ["interrupted", "interrupted", "interrupted", "done"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_panics_fails_the_run_and_loses_nothing() {
    let sim = Sim::start_local(slow_sim_opts()).await.unwrap();
    let want = reference_dump().await;
    let (_t, dir) = tmp();
    let db = dir.join("panicked.db");
    let args = workload_args(&db, &sim.base_url());
    let out =
        barfill(&dir).args(&args).env("BARFILL_TEST_PANIC_WORKER", "6").env("RUST_BACKTRACE", "0").output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains(": failed in") && stdout.contains("a worker panicked"), "{stdout}");
    let conn = Connection::open(&db).unwrap();
    let (status, note): (String, String) = conn
        .query_row("SELECT status, note FROM runs ORDER BY id DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(status, "failed");
    assert!(note.contains("a worker panicked"), "{note}");
    // The five pages handed over before the panic were written.
    assert!(windows_stored(&db) >= 5, "{} windows", windows_stored(&db));
    drop(conn);
    restart_to_completion(&dir, &args, &db, &want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_write_what_was_fetched_and_record_the_stop() {
    let sim = Sim::start_local(slow_sim_opts()).await.unwrap();
    let want = reference_dump().await;
    let (_t, dir) = tmp();
    let db = dir.join("stopped.db");
    let args = workload_args(&db, &sim.base_url());
    for signal in ["-TERM", "-INT"] {
        let mut child = barfill(&dir).args(&args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        wait_for_windows(&mut child, &db, windows_stored(&db) + 4);
        Command::new("kill").arg(signal).arg(child.id().to_string()).status().unwrap();
        let status = wait_with_deadline(&mut child, Duration::from_secs(30)).expect("exits after the signal");
        assert_eq!(status.code(), Some(130), "{signal}");
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        assert!(out.contains(": stopped in"), "{out}");
        let conn = Connection::open(&db).unwrap();
        let last: String =
            conn.query_row("SELECT status FROM runs ORDER BY id DESC LIMIT 1", [], |r| r.get(0)).unwrap();
        assert_eq!(last, "stopped");
    }
    restart_to_completion(&dir, &args, &db, &want);
}

fn run_bad(dir: &Path, args: &[&str]) -> Output {
    barfill(dir).args(args).output().unwrap()
}

fn assert_rejected(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit code for {needle}: {err}");
    assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
}

#[test]
fn bad_input_is_named_and_nothing_is_written() {
    let (_t, dir) = tmp();
    let db = dir.join("never.db");
    let db_s = db.to_str().unwrap();
    let cfg = |name: &str, body: &str| -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let syntax = cfg("syntax.toml", "symbols = [\"AAPL\"\nfrom = \"2024-01-01\"\n");
    let unknown = cfg("unknown.toml", "from = \"2024-01-01\"\nquota = 5\n");
    let wrong_type = cfg("type.toml", "[api]\nquota_per_min = \"lots\"\n");
    let reversed = cfg("reversed.toml", "from = \"2024-06-01\"\nto = \"2024-01-01\"\n");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["run", "--headless", "--config", syntax.to_str().unwrap()], "syntax.toml:".into()),
        (vec!["run", "--headless", "--config", unknown.to_str().unwrap()], "unknown.toml:2: key `quota`".into()),
        (
            vec!["run", "--headless", "--config", wrong_type.to_str().unwrap()],
            "type.toml:2: key `api.quota_per_min`".into(),
        ),
        (vec!["run", "--headless", "--config", reversed.to_str().unwrap()], "reversed.toml:2: key `to`".into()),
        (vec!["run", "--headless", "--config", "/no/such/file.toml"], "cannot read the config file".into()),
        (vec!["run", "--headless", "--from", "2024-02-30"], "--from: '2024-02-30' is not a valid date".into()),
        (vec!["run", "--headless", "--from", "2025-01-01", "--to", "2024-01-01"], "is after".into()),
        (vec!["run", "--headless", "--timeframes", "1/fortnight"], "unknown timespan 'fortnight'".into()),
        (vec!["run", "--headless", "--timeframes", "1/minute,"], "--timeframes: empty entry".into()),
        (vec!["run", "--headless", "--symbols", ""], "--symbols: the list is empty; name at least one ticker".into()),
        (vec!["run", "--headless", "--symbols", "AAPL,,MSFT"], "--symbols: empty ticker".into()),
        (vec!["run", "--headless", "--symbols", "../../etc/passwd"], "contains '/'".into()),
        (vec!["run", "--headless", "--symbols", "AAPL?apiKey=x"], "contains '?'".into()),
        (vec!["run", "--headless", "--quota", "0"], "--quota: must be a positive whole number".into()),
        (vec!["run", "--headless", "--quota", "-5"], "--quota: must be a positive whole number".into()),
        (vec!["run", "--headless", "--concurrency", "-1"], "--concurrency: must be between 1 and 64".into()),
        (vec!["run", "--headless", "--fixes", "4"], "--fixes: '4' is not a fix".into()),
        (vec!["plan", "--timeframes", "1/second"], "not supported".into()),
        (vec!["run", "--headless", "--timeframes", "1/day,1/day"], "--timeframes: '1/day' is listed twice".into()),
        (
            vec!["run", "--headless", "--stagger", "NaN"],
            "--stagger: must be between 0 and 3600 seconds, got NaN".into(),
        ),
        (vec!["run", "--headless", "--concurrency", "lots"], "--concurrency: must be `auto` or a number".into()),
        (
            vec!["run", "--headless", "--from", "2024-12-25", "--to", "2024-12-25"],
            "--to: the range 2024-12-25..2024-12-25 holds no trading session: 2024-12-25 is Christmas Day".into(),
        ),
        (
            vec!["run", "--headless", "--from", "1850-01-01", "--to", "1850-02-01"],
            "--from: 1850-01-01 is before 1990-01-01, the first day of the trading calendar".into(),
        ),
        (vec!["plan", "--universe", "bonds"], "--universe: unknown universe 'bonds'".into()),
        (vec!["plan", "--universe", "stocks", "--symbols", "KO"], "give either --universe or --symbols".into()),
        (vec!["plan", "--symbols-file", "/no/such/tickers.txt"], "--symbols-file: cannot read".into()),
        (
            vec!["run", "--headless", "--symbols", "AAPL,Z:FOO"],
            "--symbols: 'Z:FOO' has the prefix 'Z:', which names no asset class".into(),
        ),
        (
            vec!["run", "--headless", "--symbols", "O:SPY251219C0065000"],
            "--symbols: 'O:SPY251219C0065000' is not an option ticker".into(),
        ),
        (vec!["run", "--headless", "--options", "SPY"], "--options: an options chain needs the expirations".into()),
        (vec!["tickers", "--options", "SPY", "--expiring", "2025-01..2025-02"], "--expiring: '2025-01' is not".into()),
        (vec!["sim", "--quota", "0"], "--quota: must be a positive whole number, got 0".into()),
        (vec!["sim", "--window-secs", "NaN"], "--window-secs: must be a number of seconds above 0".into()),
        (vec!["sim", "--faults", "5xx=2"], "--faults: fault '5xx': must be a fraction between 0 and 1, got 2".into()),
        (vec!["sim", "--latency-ms", "-1"], "--latency-ms: must be between 0 and 3600000 milliseconds".into()),
    ];
    for (args, needle) in &cases {
        let mut all = args.clone();
        // `barfill sim` writes no database and has no --db.
        if !all.contains(&"--db") && all[0] != "sim" {
            all.extend(["--db", db_s]);
        }
        assert_rejected(&run_bad(&dir, &all), needle);
        assert!(!db.exists(), "{args:?} created the database");
    }
    // A bad --json path is refused before the database is created.
    assert_rejected(
        &run_bad(&dir, &["run", "--headless", "--db", db_s, "--json", dir.join("no/such/r.json").to_str().unwrap()]),
        "--json",
    );
    assert!(!db.exists(), "--json refused, yet the database was created");
    // Database paths: a directory, a missing directory.
    assert_rejected(&run_bad(&dir, &["run", "--headless", "--db", dir.to_str().unwrap()]), "is a directory");
    assert_rejected(
        &run_bad(&dir, &["run", "--headless", "--db", dir.join("missing/x.db").to_str().unwrap()]),
        "does not exist",
    );
    assert!(!dir.join("home").join(".local/share/barfill/barfill.db").exists());
}

#[test]
fn refetch_plans_and_fetches_what_is_already_stored() {
    let (_t, dir) = tmp();
    let db = dir.join("bars.db");
    let args = [
        "--db",
        db.to_str().unwrap(),
        "--symbols",
        "AAPL,MSFT",
        "--timeframes",
        "1/day",
        "--from",
        "2024-01-02",
        "--to",
        "2024-01-31",
    ];
    let run = |extra: &[&str]| -> String {
        let out = barfill(&dir).args(["run", "--headless"]).args(args).args(extra).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let plan = |extra: &[&str]| -> String {
        let out = barfill(&dir).arg("plan").args(args).args(extra).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    // Two windows, and the splits of both tickers in one request (once a day, and again
    // with --refetch).
    let first = run(&[]);
    assert!(first.contains("Requests:       3 (1 for splits; "), "{first}");
    let again = run(&[]);
    assert!(again.contains("Nothing to fetch") && again.contains("--refetch fetches it all again"), "{again}");
    assert!(plan(&[]).contains("Everything is already stored"));
    let replanned = plan(&["--refetch"]);
    assert!(replanned.contains("With fixes 1,2,3: 2 windows, 2 requests"), "{replanned}");
    let refetched = run(&["--refetch"]);
    assert!(
        refetched.contains("Requests:       3 (1 for splits; ") && refetched.contains("Bars stored:    42 "),
        "{refetched}"
    );
    let conn = Connection::open(&db).unwrap();
    let bars: i64 = conn.query_row("SELECT count(*) FROM bars", [], |r| r.get(0)).unwrap();
    assert_eq!(bars, 42, "21 sessions (MLK day closed) x 2 symbols, stored once");
}

#[test]
fn a_database_from_another_tool_is_refused_and_left_untouched() {
    let (_t, dir) = tmp();
    let db = dir.join("theirs.db");
    Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE prices(sym TEXT, px REAL); INSERT INTO prices VALUES ('A', 1.0);")
        .unwrap();
    let before = std::fs::read(&db).unwrap();
    let out = run_bad(&dir, &["run", "--headless", "--db", db.to_str().unwrap()]);
    assert_rejected(&out, "was not made by barfill (it holds tables prices)");
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert!(!barfill::store::lock_path(&db).exists(), "nothing is written beside a refused database");
    let out = run_bad(&dir, &["plan", "--db", db.to_str().unwrap()]);
    assert_rejected(&out, "was not made by barfill");
}

#[test]
fn a_corrupt_database_is_a_clear_error() {
    let (_t, dir) = tmp();
    let db = dir.join("b.db");
    drop(barfill::store::Store::open(&db, false, false).unwrap());
    let mut bytes = std::fs::read(&db).unwrap();
    for b in bytes.iter_mut().skip(100) {
        *b = 0xA5;
    }
    std::fs::write(&db, bytes).unwrap();
    let out = run_bad(&dir, &["run", "--headless", "--db", db.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("corrupt") || err.contains("not an SQLite database"), "{err}");
}

#[test]
fn a_locked_database_is_a_clear_error() {
    let (_t, dir) = tmp();
    let db = dir.join("b.db");
    drop(barfill::store::Store::open(&db, false, false).unwrap());
    let other = Connection::open(&db).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE; INSERT INTO meta VALUES ('x', 'y');").unwrap();
    let out = run_bad(&dir, &["run", "--headless", "--db", db.to_str().unwrap()]);
    assert_rejected(&out, "locked by another program");
    other.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn a_second_barfill_on_the_same_database_is_refused() {
    let (_t, dir) = tmp();
    let db = dir.join("b.db");
    let _held = barfill::store::Store::open(&db, false, false).unwrap();
    let out = run_bad(&dir, &["run", "--headless", "--db", db.to_str().unwrap()]);
    assert_rejected(&out, "in use by another barfill run");
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() { out.extend(files_under(&p)) } else { out.push(p) }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_appears_in_no_output_of_a_run() {
    const KEY: &str = "pk_live_Zq8XsecretKEYvalue";
    let mut opts = SimOptions::fast();
    opts.api_key = Some(barfill::secret::ApiKey::new(KEY));
    opts.faults = barfill::config::Faults::parse("5xx=0.2,truncate=0.1").unwrap();
    let sim = Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let db = dir.join("k.db");
    let logs = dir.join("logs");
    let json = dir.join("report.json");
    let common = |cmd: &mut Command, db: &Path| {
        cmd.args(["run", "--headless", "--base-url", &sim.base_url(), "--db", db.to_str().unwrap()])
            .args(["--log-dir", logs.to_str().unwrap(), "--json", json.to_str().unwrap()])
            .args([
                "--symbols",
                "AAPL,MSFT",
                "--timeframes",
                "1/hour,1/day",
                "--from",
                "2024-01-01",
                "--to",
                "2024-03-29",
                // Not paced at the default 150/min: the requests, not their pace, are the test.
                "--quota",
                "60000",
            ])
            .env("BARFILL_LOG", "barfill=trace");
    };
    // A good key, with server errors along the way.
    let mut good = barfill(&dir);
    common(&mut good, &db);
    let ok = good.env("POLYGON_API_KEY", KEY).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    // A wrong key that differs from the right one only at the end.
    let wrong = format!("{KEY}X");
    let mut bad = barfill(&dir);
    common(&mut bad, &dir.join("k2.db"));
    let rejected = bad.env("MASSIVE_API_KEY", &wrong).output().unwrap();
    assert_eq!(rejected.status.code(), Some(1));
    let err = String::from_utf8_lossy(&rejected.stderr);
    assert!(err.contains("401") && err.contains("Unknown API Key"), "{err}");

    let mut haystacks: Vec<(String, Vec<u8>)> = vec![
        ("stdout".into(), ok.stdout.clone()),
        ("stderr".into(), ok.stderr.clone()),
        ("stdout (401)".into(), rejected.stdout.clone()),
        ("stderr (401)".into(), rejected.stderr.clone()),
    ];
    for f in files_under(&dir) {
        haystacks.push((f.display().to_string(), std::fs::read(&f).unwrap()));
    }
    assert!(files_under(&logs).iter().any(|f| std::fs::metadata(f).unwrap().len() > 0), "a log was written");
    for (name, bytes) in haystacks {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(KEY), "the key leaked into {name}");
    }
}

#[test]
fn the_simulator_binds_to_loopback_and_warns_otherwise() {
    let (_t, dir) = tmp();
    let read_first_line = |args: &[&str]| -> (String, String) {
        let mut child = barfill(&dir).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while out.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        (String::from_utf8(line).unwrap(), err)
    };
    let (out, err) = read_first_line(&["sim", "--port", "0"]);
    assert!(out.starts_with("barfill simulator listening on http://127.0.0.1:"), "{out}");
    assert!(!err.contains("warning"), "{err}");
    let (out, err) = read_first_line(&["sim", "--port", "0", "--bind", "0.0.0.0"]);
    assert!(out.contains("listening on http://0.0.0.0:"), "{out}");
    assert!(err.contains("reachable from other machines"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_run_clearly_and_loses_nothing_stored() {
    let sim = Sim::start_local(SimOptions::fast()).await.unwrap();
    let want = reference_dump().await;
    let (_t, dir) = tmp();
    let db = dir.join("full.db");
    let args = workload_args(&db, &sim.base_url());
    // A file-size limit makes writes past 5 MB (about half the database) fail with EFBIG,
    // which SQLite reports as a full disk. SIGXFSZ is ignored (and stays ignored across
    // exec) so the write fails instead of the signal killing the process.
    let out = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 10000; exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(&args)
        .env("HOME", dir.join("home"))
        .env_remove("MASSIVE_API_KEY")
        .env_remove("POLYGON_API_KEY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{err}\n{text}");
    assert!(err.contains("the disk is full"), "{err}");
    assert!(text.contains("database write failed"), "{text}");
    // What was committed is whole: every finished window's bars are there, and a run
    // without the limit completes the same database as an uninterrupted one.
    let stored = dump(&db);
    assert!(!stored.is_empty());
    let conn = Connection::open(&db).unwrap();
    let status: String = conn.query_row("SELECT status FROM runs WHERE id = 1", [], |r| r.get(0)).unwrap();
    assert_eq!(status, "failed", "the run is recorded as failed, not left running");
    drop(conn);
    restart_to_completion(&dir, &args, &db, &want);
}

#[test]
fn a_read_only_database_is_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let (_t, dir) = tmp();
    let db = dir.join("ro.db");
    drop(barfill::store::Store::open(&db, false, false).unwrap());
    let before = std::fs::read(&db).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    // The directory stays writable (for the lock file); only the database is read-only.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let root = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap().trim() == "0";
    // Root writes through file modes, so run as `nobody` when the tests run as root.
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let out = cmd
        .args(["run", "--headless", "--db", db.to_str().unwrap(), "--log-dir", dir.join("logs").to_str().unwrap()])
        .env("HOME", &dir)
        .env_remove("MASSIVE_API_KEY")
        .env_remove("POLYGON_API_KEY")
        .output()
        .unwrap();
    assert_rejected(&out, "the file is read-only");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_brings_the_count_down_when_the_database_writer_holds_workers() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let db = dir.join("slow-writer.db");
    // Forty one-page rows at a paid plan's pace: sixteen workers fetch far faster than a
    // writer that takes 100 ms a page (a `test-hooks` knob playing a slow disk) can store.
    let symbols = symbols(40).join(",");
    let db_arg = db.to_str().unwrap();
    let args = ["run", "--headless", "--db", db_arg, "--base-url", &sim.base_url(), "--symbols", &symbols];
    let rest = ["--timeframes", "1/minute", "--from", "2024-03-04", "--to", "2024-03-08", "--quota", "600000"];
    let out = barfill(&dir).args(args).args(rest).env("BARFILL_TEST_SLOW_WRITER_MS", "100").output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("workers 16 -> 15: the database writer held workers"), "{stderr}");
    assert!(stdout.contains("16 workers") || stdout.contains("at most 16"), "{stdout}");
    // Every bar is stored whatever the count did.
    for s in symbols.split(',') {
        assert_eq!(count(&db, s, "1/minute"), expected(s, "1/minute", "2024-03-04", "2024-03-08"), "{s}");
    }
}
