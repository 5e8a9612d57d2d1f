//! The key tables: one for the dashboard, one for while a search is typed. Key handling,
//! the footer hints and the `?` overlay all read them, so what the screen says a key does
//! is what the key does.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::config::Fix;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    ToggleFix(Fix),
    MoreWorkers,
    FewerWorkers,
    AutoWorkers,
    LongerStagger,
    ShorterStagger,
    PauseResume,
    NewRun {
        refetch: bool,
    },
    StopRun,
    Quit,
    Help,
    FocusNext,
    FocusPrev,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Close,
    Search,
    CycleFilter,
    CycleOrder,
    Overview,
    Coverage,
    /// While searching: a character of the ticker.
    SearchType(char),
    SearchBack,
    SearchKeep,
    SearchClear,
}

pub struct Binding {
    pub keys: &'static [(KeyCode, KeyModifiers)],
    /// How the key is written on screen.
    pub label: &'static str,
    pub action: Action,
    pub help: &'static str,
    /// Keys and a word or two for the footer; `None` keeps the binding to the `?` overlay.
    pub footer: Option<(&'static str, &'static str)>,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const SHIFT: KeyModifiers = KeyModifiers::SHIFT;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;

pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[(KeyCode::Char('q'), NONE), (KeyCode::Char('c'), CTRL)],
        label: "q Ctrl-C",
        action: Action::Quit,
        help: "quit: stop the run, write what was fetched, restore the terminal",
        footer: Some(("q", "quit")),
    },
    Binding {
        keys: &[(KeyCode::Char('?'), NONE), (KeyCode::F(1), NONE)],
        label: "?",
        action: Action::Help,
        help: "this help",
        footer: Some(("?", "help")),
    },
    Binding {
        keys: &[(KeyCode::Char('1'), NONE)],
        label: "1",
        action: Action::ToggleFix(Fix::Backoff),
        help: "fix 1 (backoff) on/off, from the next request",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::Char('2'), NONE)],
        label: "2",
        action: Action::ToggleFix(Fix::Batching),
        help: "fix 2 (batching and pacing) on/off",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::Char('3'), NONE)],
        label: "3",
        action: Action::ToggleFix(Fix::Parallel),
        help: "fix 3 (parallel workers) on/off",
        footer: Some(("1 2 3", "fixes")),
    },
    Binding {
        keys: &[(KeyCode::Char('/'), NONE)],
        label: "/",
        action: Action::Search,
        help: "search the symbols by ticker as you type (Enter keeps, Esc clears)",
        footer: Some(("/", "search")),
    },
    Binding {
        keys: &[(KeyCode::Char('f'), NONE)],
        label: "f",
        action: Action::CycleFilter,
        help: "filter the symbols: all, active, failed or empty, done",
        footer: Some(("f", "filter")),
    },
    Binding {
        keys: &[(KeyCode::Char('o'), NONE)],
        label: "o",
        action: Action::CycleOrder,
        help: "order the symbols: plan, state (follows a live run), 429s, bars, time",
        footer: Some(("o", "order")),
    },
    Binding {
        keys: &[(KeyCode::Char('v'), NONE)],
        label: "v",
        action: Action::Overview,
        help: "overview: every row as one cell, by state",
        footer: Some(("v", "overview")),
    },
    Binding {
        keys: &[(KeyCode::Char('c'), NONE)],
        label: "c",
        action: Action::Coverage,
        help: "coverage: what the database holds per row, and its holes (read from the file)",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::Char('+'), NONE), (KeyCode::Char('='), NONE)],
        label: "+",
        action: Action::MoreWorkers,
        help: "one more worker (fix 3)",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::Char('-'), NONE)],
        label: "-",
        action: Action::FewerWorkers,
        help: "one worker less (fix 3); a count set by hand sticks until a",
        footer: Some(("+ -", "workers")),
    },
    Binding {
        keys: &[(KeyCode::Char('a'), NONE)],
        label: "a",
        action: Action::AutoWorkers,
        help: "workers on auto: the pace x latency of answers (Little), throughput on a paid plan",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::Char(']'), NONE)],
        label: "]",
        action: Action::LongerStagger,
        help: "stagger worker starts 1 s more (fix 3)",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::Char('['), NONE)],
        label: "[",
        action: Action::ShorterStagger,
        help: "stagger worker starts 1 s less (fix 3)",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::Char('p'), NONE), (KeyCode::Char(' '), NONE)],
        label: "p",
        action: Action::PauseResume,
        help: "pause / resume requests",
        footer: Some(("p", "pause")),
    },
    Binding {
        keys: &[(KeyCode::Char('s'), NONE)],
        label: "s",
        action: Action::StopRun,
        help: "stop the run (fetched pages are written; the next run resumes)",
        footer: Some(("s", "stop")),
    },
    Binding {
        keys: &[(KeyCode::Char('r'), NONE)],
        label: "r",
        action: Action::NewRun { refetch: false },
        help: "new run with the current switches, for what is not stored yet",
        footer: Some(("r", "new run")),
    },
    Binding {
        keys: &[(KeyCode::Char('R'), NONE)],
        label: "R",
        action: Action::NewRun { refetch: true },
        help: "new run that fetches every window again (compare switches)",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::Tab, NONE)],
        label: "Tab",
        action: Action::FocusNext,
        help: "next pane (symbols, log, runs)",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::BackTab, SHIFT), (KeyCode::BackTab, NONE)],
        label: "S-Tab",
        action: Action::FocusPrev,
        help: "previous pane",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::Up, NONE), (KeyCode::Char('k'), NONE)],
        label: "Up k",
        action: Action::Up,
        help: "move up in the focused pane",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::Down, NONE), (KeyCode::Char('j'), NONE)],
        label: "Down j",
        action: Action::Down,
        help: "move down in the focused pane",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::PageUp, NONE)],
        label: "PgUp",
        action: Action::PageUp,
        help: "a page up",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::PageDown, NONE)],
        label: "PgDn",
        action: Action::PageDown,
        help: "a page down",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::Home, NONE), (KeyCode::Char('g'), NONE)],
        label: "Home g",
        action: Action::Top,
        help: "to the top",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::End, NONE), (KeyCode::Char('G'), NONE)],
        label: "End G",
        action: Action::Bottom,
        help: "to the bottom (the log follows new lines again)",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        action: Action::Open,
        help: "open the selected symbol row: its recent requests",
        footer: Some(("Enter", "details")),
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        action: Action::Close,
        help: "close the overlay, or clear the search",
        footer: None,
    },
];

/// While a search is typed (after `/`): these keys, and any other character is part of
/// the ticker.
pub const SEARCH_BINDINGS: &[Binding] = &[
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        action: Action::SearchKeep,
        help: "keep the rows found and stop typing",
        footer: Some(("Enter", "keep")),
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        action: Action::SearchClear,
        help: "clear the search: every row again",
        footer: Some(("Esc", "clear")),
    },
    Binding {
        keys: &[(KeyCode::Backspace, NONE)],
        label: "Bksp",
        action: Action::SearchBack,
        help: "delete the last character",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::Up, NONE)],
        label: "Up",
        action: Action::Up,
        help: "move up in the rows found",
        footer: None,
    },
    Binding {
        keys: &[(KeyCode::Down, NONE)],
        label: "Down",
        action: Action::Down,
        help: "move down in the rows found",
        footer: Some(("Up Down", "move")),
    },
    Binding { keys: &[(KeyCode::Char('c'), CTRL)], label: "Ctrl-C", action: Action::Quit, help: "quit", footer: None },
];

/// How typing a ticker is told in the `?` overlay (it has no binding of its own).
pub const SEARCH_TYPING: (&str, &str) = ("A-Z 0-9", "any part of a ticker; the list narrows as you type");

/// The action bound to a key press, if any; `typing` while a search is typed.
pub fn action_for(key: KeyEvent, typing: bool) -> Option<Action> {
    if !typing {
        return lookup(BINDINGS, key);
    }
    lookup(SEARCH_BINDINGS, key).or(match key.code {
        KeyCode::Char(c) if !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => {
            Some(Action::SearchType(c))
        }
        _ => None,
    })
}

fn lookup(table: &[Binding], key: KeyEvent) -> Option<Action> {
    // Terminals differ on whether a shifted character also carries SHIFT; the character
    // itself already says it, so SHIFT alone never changes the meaning of a char key.
    let mods = match key.code {
        KeyCode::Char(_) => key.modifiers - KeyModifiers::SHIFT,
        _ => key.modifiers,
    };
    table.iter().find_map(|b| {
        b.keys
            .iter()
            .any(|&(code, m)| {
                let m = match code {
                    KeyCode::Char(_) => m - KeyModifiers::SHIFT,
                    _ => m,
                };
                code == key.code && m == mods
            })
            .then_some(b.action)
    })
}

/// The footer's hints, in table order; `typing` while a search is typed.
pub fn footer_hints(typing: bool) -> impl Iterator<Item = (&'static str, &'static str)> {
    (if typing { SEARCH_BINDINGS } else { BINDINGS }).iter().filter_map(|b| b.footer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn every_binding_resolves_to_its_own_action() {
        for (table, typing) in [(BINDINGS, false), (SEARCH_BINDINGS, true)] {
            for b in table {
                for &(code, m) in b.keys {
                    assert_eq!(action_for(key(code, m), typing), Some(b.action), "{} {code:?} {m:?}", b.label);
                }
            }
        }
    }

    #[test]
    fn no_key_is_bound_twice() {
        for table in [BINDINGS, SEARCH_BINDINGS] {
            let mut seen = Vec::new();
            for b in table {
                for &(code, m) in b.keys {
                    let m = if matches!(code, KeyCode::Char(_)) { m - KeyModifiers::SHIFT } else { m };
                    assert!(!seen.contains(&(code, m)), "{code:?} {m:?} bound twice");
                    seen.push((code, m));
                }
            }
        }
    }

    #[test]
    fn while_searching_letters_are_the_ticker_and_ctrl_c_still_quits() {
        assert_eq!(action_for(key(KeyCode::Char('q'), NONE), true), Some(Action::SearchType('q')));
        assert_eq!(action_for(key(KeyCode::Char('Z'), SHIFT), true), Some(Action::SearchType('Z')));
        assert_eq!(action_for(key(KeyCode::Char('/'), NONE), true), Some(Action::SearchType('/')));
        assert_eq!(action_for(key(KeyCode::Char('c'), CTRL), true), Some(Action::Quit));
        assert_eq!(action_for(key(KeyCode::Esc, NONE), true), Some(Action::SearchClear));
        assert_eq!(action_for(key(KeyCode::Tab, NONE), true), None);
        assert_eq!(action_for(key(KeyCode::Char('q'), NONE), false), Some(Action::Quit));
    }

    #[test]
    fn plain_c_is_coverage_not_quit_but_ctrl_c_quits() {
        assert_eq!(action_for(key(KeyCode::Char('c'), NONE), false), Some(Action::Coverage));
        assert_eq!(action_for(key(KeyCode::Char('c'), CTRL), false), Some(Action::Quit));
        assert_eq!(action_for(key(KeyCode::Char('+'), SHIFT), false), Some(Action::MoreWorkers));
        assert_eq!(action_for(key(KeyCode::Char('?'), SHIFT), false), Some(Action::Help));
    }
}
