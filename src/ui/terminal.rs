//! Owning the screen: raw mode and the alternate screen while the guard lives, restored
//! on drop, and a panic hook that never leaves a half-restored terminal.
//!
//! Panic policy: a panic on the dashboard's own thread restores the terminal, then the
//! usual report is printed. A panic on any other thread (a tokio worker) must not touch
//! the screen: the engine turns a worker's panic into a failed run, which the dashboard
//! shows, so the hook only keeps the message for the log pane and for stderr after
//! restore. Printing it at once would scribble over the dashboard.

use std::io::{self, Stdout, stdout};
use std::panic::PanicHookInfo;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;

use crossterm::cursor::Show;
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Whether the screen is ours right now; the hook and the guard both restore, once.
static OWNED: AtomicBool = AtomicBool::new(false);
/// Panics of other threads while the screen was owned, to show and print later.
static HELD_PANICS: parking_lot::Mutex<Vec<String>> = parking_lot::Mutex::new(Vec::new());

pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
    previous_hook: Arc<Hook>,
}

impl TerminalGuard {
    pub fn enter() -> io::Result<TerminalGuard> {
        let previous_hook: Arc<Hook> = Arc::new(std::panic::take_hook());
        install_hook(previous_hook.clone(), std::thread::current().id());
        let entered = (|| {
            enable_raw_mode()?;
            OWNED.store(true, Ordering::SeqCst);
            execute!(stdout(), EnterAlternateScreen)?;
            Terminal::new(CrosstermBackend::new(stdout()))
        })();
        match entered {
            Ok(terminal) => Ok(TerminalGuard { terminal, previous_hook }),
            Err(e) => {
                restore();
                set_hook(previous_hook);
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
        // While unwinding the hook cannot be changed (std panics, then aborts); ours only
        // passes panics on once the screen is given back, so it may stay.
        if !std::thread::panicking() {
            set_hook(self.previous_hook.clone());
        }
    }
}

/// Gives the screen back: raw mode off first (it has the wider effects), then the
/// alternate screen, then the cursor. Safe to call twice.
pub fn restore() {
    if OWNED.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(stdout(), LeaveAlternateScreen, Show);
    }
}

/// Panic messages from other threads kept while the screen was owned.
pub fn take_held_panics() -> Vec<String> {
    std::mem::take(&mut *HELD_PANICS.lock())
}

fn set_hook(hook: Arc<Hook>) {
    std::panic::set_hook(Box::new(move |info| hook(info)));
}

fn install_hook(previous: Arc<Hook>, ui_thread: ThreadId) {
    std::panic::set_hook(Box::new(move |info| {
        let on_ui_thread = std::thread::current().id() == ui_thread;
        if OWNED.load(Ordering::SeqCst) && !on_ui_thread {
            if let Some(mut held) = HELD_PANICS.try_lock() {
                held.push(describe(info));
            }
            return;
        }
        restore();
        previous(info);
    }));
}

/// One line: the log pane has no room for the usual two.
fn describe(info: &PanicHookInfo<'_>) -> String {
    let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
    let payload = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
    format!("thread '{thread}' panicked{place}: {}", payload.replace('\n', " "))
}
