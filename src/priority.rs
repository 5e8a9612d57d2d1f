//! Which threads get the CPU first when there is not enough of it. The one stage of a
//! run that cannot be spread over threads is the database writer; requests and decoding
//! run on many tasks at once and mostly wait on the network. On two cores, the runtime's
//! threads kept the writer off its core for a sixth of the time it was busy (3.7 s busy,
//! 3.1 s on the CPU, for 4.8 M bars at a paid pace). So the runtime's threads run a few
//! steps down (nice +5) and the writer at the process's own priority.
//!
//! Linux gives a new thread the nice value of the thread that makes it, and only a
//! privileged process may lower a nice value again. A thread that must keep the
//! process's priority is therefore made by a thread kept for that, started before the
//! runtime's: [`spawn_unlowered`]. Elsewhere these calls change nothing.

use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread::JoinHandle;

/// Nice steps the runtime's threads give up: each step is about 10 % less CPU when
/// threads compete for a core.
pub const LOWER_BY: i32 = 5;

type Job = Box<dyn FnOnce() + Send>;

static MAKER: OnceLock<mpsc::Sender<Job>> = OnceLock::new();

/// The nice value the process started with.
static OWN: OnceLock<i32> = OnceLock::new();

/// Starts the thread that makes threads at the process's priority. Called first thing
/// in `main`, before any thread is lowered.
pub fn keep_a_thread_maker() {
    OWN.get_or_init(this_thread_nice);
    let (tx, rx) = mpsc::channel::<Job>();
    let maker = std::thread::Builder::new().name("barfill-threads".into()).spawn(move || {
        for job in rx {
            job();
        }
    });
    if maker.is_ok() {
        let _ = MAKER.set(tx);
    }
}

/// Lowers the calling thread to [`LOWER_BY`] below the process's priority (for the
/// runtime's threads, whose blocking pool makes threads from threads already lowered).
pub fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    {
        let own = *OWN.get_or_init(this_thread_nice);
        // SAFETY: on Linux, PRIO_PROCESS with 0 names the calling thread alone.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, 0, own + LOWER_BY);
        }
    }
}

fn this_thread_nice() -> i32 {
    #[cfg(target_os = "linux")]
    // SAFETY: reads the calling thread's nice value (-1 on error, which is a nice value
    // too; at worst the threads are lowered from there).
    unsafe {
        libc::getpriority(libc::PRIO_PROCESS, 0)
    }
    #[cfg(not(target_os = "linux"))]
    0
}

/// Spawns a thread at the process's priority, whatever the calling thread's; a plain
/// spawn when no thread maker was started (tests, tools).
pub fn spawn_unlowered<F, T>(name: &str, f: F) -> std::io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let builder = std::thread::Builder::new().name(name.into());
    let Some(maker) = MAKER.get() else { return builder.spawn(f) };
    let (tx, rx) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = tx.send(builder.spawn(f));
    });
    maker.send(job).map_err(|_| std::io::Error::other("the thread maker has stopped"))?;
    rx.recv().map_err(|_| std::io::Error::other("the thread maker has stopped"))?
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use this_thread_nice as nice;

    #[test]
    fn a_lowered_thread_makes_unlowered_threads_through_the_maker() {
        keep_a_thread_maker();
        let own = nice();
        let (lowered, made) = std::thread::spawn(move || {
            lower_this_thread();
            let made = spawn_unlowered("test", nice).unwrap().join().unwrap();
            (nice(), made)
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (own + LOWER_BY).min(19), "the runtime's threads run lower");
        assert_eq!(made, own, "the writer keeps the process's priority");
        // A plain spawn from a lowered thread inherits its nice value (why the maker
        // exists); lowering it again does not lower it twice.
        let inherited = std::thread::spawn(|| {
            lower_this_thread();
            std::thread::spawn(|| {
                let inherited = nice();
                lower_this_thread();
                (inherited, nice())
            })
            .join()
            .unwrap()
        })
        .join()
        .unwrap();
        let lowered = (own + LOWER_BY).min(19);
        assert_eq!(inherited, (lowered, lowered));
    }
}
