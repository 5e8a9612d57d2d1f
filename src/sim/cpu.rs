//! CPU time of the simulator's own threads, so a benchmark can leave the server's work out
//! of the client's. Linux only (from `/proc/self/task/<tid>/stat`); 0 elsewhere.

use parking_lot::Mutex;

/// `/proc` reports times in clock ticks of `USER_HZ`, which Linux fixes at 100 for
/// user space on every architecture it ships for.
const TICKS_PER_SECOND: f64 = 100.0;

/// The sim runtime's threads: those alive, and the time of those that have ended.
#[derive(Default)]
pub struct Threads(Mutex<ThreadsInner>);

#[derive(Default)]
struct ThreadsInner {
    live: Vec<u32>,
    ended_ticks: u64,
}

impl Threads {
    /// Called on each new sim thread.
    pub fn started(&self) {
        if let Some(tid) = own_tid() {
            self.0.lock().live.push(tid);
        }
    }

    /// Called on each sim thread as it ends: its time is kept, its id dropped.
    pub fn stopping(&self) {
        let Some(tid) = own_tid() else { return };
        let ticks = thread_ticks(tid).unwrap_or(0);
        let mut inner = self.0.lock();
        inner.live.retain(|&t| t != tid);
        inner.ended_ticks += ticks;
    }

    /// User plus system time of every sim thread so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let inner = self.0.lock();
        let live: u64 = inner.live.iter().filter_map(|&t| thread_ticks(t)).sum();
        (live + inner.ended_ticks) as f64 / TICKS_PER_SECOND
    }

    #[cfg(test)]
    pub fn count(&self) -> usize {
        self.0.lock().live.len()
    }
}

/// The calling thread's kernel id: `/proc/thread-self` links to `<pid>/task/<tid>`.
fn own_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// utime + stime of one of this process's threads, in ticks.
fn thread_ticks(tid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    parse_ticks(&stat)
}

/// Fields 14 and 15 of a stat line; the command name (field 2) may hold spaces and
/// parentheses, so counting starts after its last `)`.
fn parse_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_past_an_awkward_name() {
        let line = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 170 30 0 0 20 0 1 0 100 0 0";
        assert_eq!(parse_ticks(line), Some(200));
        assert_eq!(parse_ticks("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn counts_a_busy_thread() {
        let threads = std::sync::Arc::new(Threads::default());
        let t = threads.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let h = std::thread::spawn(move || {
            t.started();
            // Busy until the kernel has charged it a few ticks, however loaded the machine.
            let tid = own_tid().unwrap();
            let mut x = 0u64;
            while thread_ticks(tid).unwrap_or(0) < 3 {
                for _ in 0..100_000 {
                    x = x.wrapping_add(std::hint::black_box(1));
                }
            }
            tx.send(x).unwrap();
            done_rx.recv().unwrap();
            t.stopping();
        });
        rx.recv().unwrap();
        assert_eq!(threads.count(), 1);
        let live = threads.cpu_seconds();
        done_tx.send(()).unwrap();
        h.join().unwrap();
        assert_eq!(threads.count(), 0);
        assert!(live > 0.0, "{live}");
        assert!(threads.cpu_seconds() >= live);
    }
}
