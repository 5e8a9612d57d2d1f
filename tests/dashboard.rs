//! The real binary's dashboard in tmux, against the embedded simulator: it starts, a fix
//! is toggled and the engine acts on it, `q` stops the run, the terminal is restored, the
//! report is printed and the bars and the run are in the database; with a thousand rows,
//! search finds a ticker far down the list and the filter shows the failed rows; `q`
//! exits 0 and a signal 130.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

/// Waits are generous: a loaded CI machine is slow, and nothing here depends on speed.
const PATIENCE: Duration = Duration::from_secs(60);

/// A tmux server of our own, killed when the test ends, however it ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(width: u16, height: u16, shell_command: &str) -> Tmux {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        let tmux = Tmux { socket: format!("barfill-test-{}-{nanos}", std::process::id()) };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            shell_command,
        ]);
        assert!(out.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&out.stderr));
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        let out = self.run(&["send-keys", "-t", "t", keys]);
        assert!(out.status.success(), "tmux send-keys: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Polls the screen until `done` holds; the last screen is in the failure message.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            if start.elapsed() > PATIENCE {
                panic!("gave up waiting for {what}; the screen was:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Whether tmux is here to drive the dashboard. When it is not, the test is skipped and
/// says so on the terminal: libtest captures `eprintln!` of a passing test, not a write
/// to stderr itself, and has no "skipped" outcome of its own.
fn tmux_or_skip() -> bool {
    if Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()) {
        return true;
    }
    let test = std::thread::current().name().unwrap_or("a dashboard test").to_string();
    let _ = writeln!(
        std::io::stderr(),
        "skipped {test}: it drives the real dashboard in tmux, and tmux is not installed (apt-get install tmux)"
    );
    false
}

/// The number after `label` on the first line that has it.
fn figure_after(screen: &str, label: &str) -> Option<u64> {
    let rest = &screen[screen.find(label)? + label.len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == ',').filter(|c| *c != ',').collect();
    digits.parse().ok()
}

fn quoted(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

#[test]
fn dashboard_toggles_a_fix_quits_cleanly_and_keeps_the_bars() {
    if !tmux_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = dir.join("bars.db");
    // The quota keeps the run going for several seconds (8 requests at 29/min), so the
    // toggle reaches a live engine; everything else points into the temp dir.
    let command = format!(
        "cd {dir} && env -u MASSIVE_API_KEY -u POLYGON_API_KEY HOME={dir} XDG_CONFIG_HOME={dir}/config \
         XDG_DATA_HOME={dir}/data XDG_CACHE_HOME={dir}/cache XDG_STATE_HOME={dir}/state \
         {bin} --db {db} --symbols AAPL,MSFT --timeframes 1/minute,1/day --from 2024-01-02 --to 2024-06-28 \
         --quota 30; echo \"barfill exited with $?\"; sleep 600",
        dir = quoted(dir),
        bin = quoted(Path::new(env!("CARGO_BIN_EXE_barfill"))),
        db = quoted(&db),
    );
    let tmux = Tmux::start(120, 40, &command);

    // A capture can come while the terminal is still drawing the first frame: wait for
    // its last pane too.
    let screen = tmux
        .wait_for("the dashboard", |s| s.contains("RUNNING") && s.contains("[1] backoff  ON") && s.contains("Runs"));
    assert!(screen.contains("simulator"), "{screen}");
    assert!(screen.contains("4 rows: ") && screen.contains("Rate limit"), "{screen}");

    tmux.keys("1");
    let screen = tmux.wait_for("fix 1 to go OFF", |s| s.contains("[1] backoff  OFF"));
    assert!(screen.contains("[2] batching  ON"), "{screen}");
    tmux.wait_for("the engine's notice in the log", |s| s.contains("fix 1 (backoff) OFF"));
    tmux.wait_for("bars stored", |s| figure_after(s, "bars ").is_some_and(|n| n > 0));

    tmux.keys("q");
    let screen = tmux.wait_for("barfill to exit", |s| s.contains("barfill exited with"));
    assert!(!screen.contains("Rate limit") && !screen.contains("╭"), "the dashboard is gone:\n{screen}");
    assert!(screen.contains("barfill run #1: stopped"), "the report is printed:\n{screen}");
    assert!(screen.contains("Polygon API:"), "{screen}");
    assert!(screen.contains("barfill exited with 0"), "q stops the run as asked: exit 0:\n{screen}");

    let conn = Connection::open(&db).unwrap();
    let bars: i64 = conn.query_row("SELECT count(*) FROM bars", [], |r| r.get(0)).unwrap();
    assert!(bars > 0, "no bars stored");
    let (runs, status, fixes): (i64, String, String) = conn
        .query_row("SELECT count(*), max(status), max(fixes) FROM runs", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    assert_eq!(runs, 1);
    assert_eq!(status, "stopped");
    assert_eq!(fixes, "2,3", "the run is recorded with fix 1 off, as it ended");

    let logs = dir.join("data/barfill/logs");
    let logged: String = std::fs::read_dir(&logs)
        .unwrap_or_else(|e| panic!("{}: {e}", logs.display()))
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(logged.contains("fix 1 (backoff) OFF"), "the log file has the notice too:\n{logged}");
}

#[test]
fn a_panic_on_the_dashboards_thread_gives_the_terminal_back() {
    if !tmux_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // With the `test-hooks` feature (on under `cargo test`), the dashboard's thread panics
    // on its fifth frame when this variable is set. After the exit,
    // `stty -a` shows whether the terminal is back in cooked mode (`icanon echo`, not
    // `-icanon -echo` as raw mode leaves it).
    let command = format!(
        "cd {dir} && env -u MASSIVE_API_KEY -u POLYGON_API_KEY HOME={dir} RUST_BACKTRACE=0 BARFILL_TEST_PANIC_DASHBOARD=1 \
         {bin} --db {db} --symbols AAPL --timeframes 1/day --from 2024-01-02 --to 2024-06-28 --quota 30; \
         echo \"barfill exited with $?\"; \
         stty -a | tr ' ;' '\\n\\n' | grep -E -x -- '-?(icanon|echo)' | tr '\\n' ' '; echo; sleep 600",
        dir = quoted(dir),
        bin = quoted(Path::new(env!("CARGO_BIN_EXE_barfill"))),
        db = quoted(&dir.join("bars.db")),
    );
    let tmux = Tmux::start(120, 40, &command);
    // The shell prints the exit code, then stty's flags: wait for both.
    let screen = tmux
        .wait_for("barfill to exit and stty to report", |s| s.contains("barfill exited with") && s.contains("icanon"));
    assert!(screen.contains("barfill exited with 101"), "a panic exits 101:\n{screen}");
    assert!(screen.contains("panicked") && screen.contains("BARFILL_TEST_PANIC_DASHBOARD"), "{screen}");
    assert!(!screen.contains("Rate limit") && !screen.contains("╭"), "the dashboard is gone:\n{screen}");
    assert!(screen.contains("icanon echo"), "the terminal is back in cooked mode:\n{screen}");
}

/// The simulator's synthetic names, `ZAAA`, `ZAAB`, ...
fn synthetic(i: u32) -> String {
    let letters: String = [i / 676, (i / 26) % 26, i % 26].iter().map(|k| (b'A' + *k as u8) as char).collect();
    format!("Z{letters}")
}

/// The symbols pane's data rows on a 160-column screen: its lines that start with a ticker.
fn symbol_lines(screen: &str) -> Vec<&str> {
    screen.lines().filter(|l| l.starts_with("│Z")).map(|l| l.split('│').nth(1).unwrap_or("")).collect()
}

/// The number before `label` in the symbols pane's title (`12 failed`).
fn count_before(screen: &str, label: &str) -> Option<u64> {
    let title = screen.lines().find(|l| l.contains(" rows: "))?;
    let end = title.find(label)?;
    let digits: String =
        title[..end].trim_end().chars().rev().take_while(|c| c.is_ascii_digit() || *c == ',').collect();
    digits.chars().rev().filter(|c| *c != ',').collect::<String>().parse().ok()
}

#[test]
fn a_thousand_rows_search_finds_a_ticker_far_down_the_filter_shows_the_failed_and_q_exits_0() {
    if !tmux_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tickers: Vec<String> = (0..500).map(synthetic).collect();
    std::fs::write(dir.join("tickers.txt"), tickers.join("\n")).unwrap();
    // 500 tickers x 2 timeframes; the simulator's plan starts in March, so the minute
    // windows before it answer 403 and their rows fail. The quota keeps the run going
    // for minutes, long after the test is done with it.
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "symbols_file = \"tickers.txt\"\ntimeframes = [\"1/minute\", \"1/day\"]\nfrom = \"2024-01-02\"\n\
             to = \"2024-06-28\"\ndb = {db:?}\nlog_dir = {logs:?}\n[api]\nquota_per_min = 300\n\
             [sim]\nplan_from = \"2024-03-01\"\nlatency_ms = 20\n",
            db = dir.join("bars.db"),
            logs = dir.join("logs"),
        ),
    )
    .unwrap();
    let command = format!(
        "cd {dir} && env -u MASSIVE_API_KEY -u POLYGON_API_KEY -u NO_COLOR HOME={dir} {bin} --config config.toml; \
         echo \"barfill exited with $?\"; \
         stty -a | tr ' ;' '\\n\\n' | grep -E -x -- '-?(icanon|echo)' | tr '\\n' ' '; echo; sleep 600",
        dir = quoted(dir),
        bin = quoted(Path::new(env!("CARGO_BIN_EXE_barfill"))),
    );
    let tmux = Tmux::start(160, 45, &command);
    let screen = tmux.wait_for("the dashboard with a thousand rows", |s| s.contains("1,000 rows: "));
    assert!(screen.contains("RUNNING"), "{screen}");

    // ZATF is the last ticker: rows 999 and 1000 of the plan, far below the first screen.
    tmux.keys("/");
    tmux.keys("zatf");
    let screen = tmux.wait_for("the search to narrow the list", |s| s.contains("search: /ZATF▏"));
    let rows = symbol_lines(&screen);
    assert_eq!(rows.len(), 2, "{screen}");
    assert!(rows.iter().all(|r| r.starts_with("ZATF ")), "{screen}");
    assert!(screen.contains("1-2 of 2"), "{screen}");
    tmux.keys("Enter");
    tmux.wait_for("the search kept", |s| s.contains("search: /ZATF (Esc clears)"));
    tmux.keys("Escape");
    let screen = tmux.wait_for("the search cleared", |s| !s.contains("search: /") && symbol_lines(s).len() > 2);
    assert!(
        symbol_lines(&screen).iter().any(|r| r.starts_with("ZATF ")),
        "the row found stays selected, and so on screen:\n{screen}"
    );

    tmux.wait_for("some rows to fail", |s| count_before(s, " failed").is_some_and(|n| n >= 3));
    tmux.keys("f");
    tmux.keys("f");
    let screen = tmux.wait_for("the failed rows", |s| s.contains("filter: failed or empty"));
    let rows = symbol_lines(&screen);
    assert!(!rows.is_empty(), "{screen}");
    for r in &rows {
        assert!(r.contains("failed: 403") || r.contains("empty"), "only failed or empty rows: {r}\n{screen}");
    }

    tmux.keys("q");
    let screen = tmux.wait_for("barfill to exit", |s| s.contains("barfill exited with"));
    assert!(screen.contains("barfill exited with 0"), "q exits 0:\n{screen}");
    assert!(screen.contains("barfill run #1: stopped"), "the report is printed:\n{screen}");
    assert!(!screen.contains("Rate limit") && !screen.contains("╭"), "the dashboard is gone:\n{screen}");
    let screen = tmux.wait_for("stty's answer", |s| s.contains("icanon") || s.contains("-icanon"));
    assert!(screen.contains("icanon echo"), "the terminal is back in cooked mode:\n{screen}");
    let conn = Connection::open(dir.join("bars.db")).unwrap();
    let status: String = conn.query_row("SELECT status FROM runs", [], |r| r.get(0)).unwrap();
    assert_eq!(status, "stopped", "and the run resumes next time");
}

/// The pid of the program the tmux pane's shell is running.
fn child_of_pane(tmux: &Tmux) -> String {
    let shell = String::from_utf8_lossy(&tmux.run(&["display-message", "-p", "-t", "t", "#{pane_pid}"]).stdout)
        .trim()
        .to_string();
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap_or_default();
    children.split_whitespace().next().unwrap_or_else(|| panic!("the pane's shell {shell} runs nothing")).to_string()
}

#[test]
fn a_signal_to_the_dashboard_still_exits_130() {
    if !tmux_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for signal in ["-TERM", "-HUP"] {
        let command = format!(
            "cd {dir} && env -u MASSIVE_API_KEY -u POLYGON_API_KEY HOME={dir} {bin} --db {db} --symbols AAPL,MSFT \
             --timeframes 1/minute,1/day --from 2024-01-02 --to 2024-06-28 --quota 30; \
             echo \"barfill exited with $?\"; sleep 600",
            dir = quoted(dir),
            bin = quoted(Path::new(env!("CARGO_BIN_EXE_barfill"))),
            db = quoted(&dir.join("bars.db")),
        );
        let tmux = Tmux::start(120, 40, &command);
        tmux.wait_for("the dashboard", |s| s.contains("RUNNING"));
        let pid = child_of_pane(&tmux);
        let killed = Command::new("kill").arg(signal).arg(&pid).status().unwrap();
        assert!(killed.success(), "kill {signal} {pid}");
        let screen = tmux.wait_for("barfill to exit", |s| s.contains("barfill exited with"));
        assert!(screen.contains("barfill exited with 130"), "{signal} exits 130:\n{screen}");
        assert!(screen.contains(": stopped in"), "{screen}");
    }
}
