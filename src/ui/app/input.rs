//! Key presses turned into changes of the view or into `Effect`s for the run loop. The
//! keys themselves come from the one table in `ui::keys`.

use std::time::Instant;

use crossterm::event::KeyEvent;

use super::{App, CoverageView, Effect, Focus, Overlay, Phase};
use crate::engine::autotune::why;
use crate::engine::events::Command;
use crate::ui::keys::{self, Action};

impl App {
    pub fn on_key(&mut self, key: KeyEvent, at: Instant) -> Option<Effect> {
        let action = keys::action_for(key, self.list.typing)?;
        self.redraw = true;
        self.act(action, at)
    }

    pub fn act(&mut self, action: Action, at: Instant) -> Option<Effect> {
        match action {
            Action::ToggleFix(_)
            | Action::MoreWorkers
            | Action::FewerWorkers
            | Action::AutoWorkers
            | Action::LongerStagger
            | Action::ShorterStagger
            | Action::PauseResume
            | Action::StopRun
            | Action::NewRun { .. }
            | Action::Quit => self.act_on_run(action, at),
            Action::Coverage => {
                self.toggle_overlay(Overlay::Coverage);
                // Read afresh each time it opens: a run may have stored more since.
                (self.view.overlay == Overlay::Coverage).then(|| {
                    self.coverage = CoverageView::Reading;
                    Effect::ReadCoverage
                })
            }
            _ => {
                self.act_on_view(action);
                None
            }
        }
    }

    /// Keys that change the run: engine commands, a new run, quitting.
    fn act_on_run(&mut self, action: Action, at: Instant) -> Option<Effect> {
        match action {
            Action::ToggleFix(fix) => {
                if self.live() {
                    return Some(Effect::Engine(Command::ToggleFix(fix)));
                }
                let on = !self.settings.fixes.get(fix);
                self.settings.fixes.set(fix, on);
                let (n, name) = (fix.number(), fix.name());
                self.note(at, format!("fix {n} ({name}) {} for the next run", if on { "ON" } else { "OFF" }));
                None
            }
            Action::MoreWorkers => self.set_concurrency(self.settings.concurrency.saturating_add(1).min(64)),
            Action::FewerWorkers => self.set_concurrency(self.settings.concurrency.saturating_sub(1).max(1)),
            Action::AutoWorkers => {
                (self.settings.auto, self.settings.why) = (true, why::AUTO_AGAIN);
                self.live().then_some(Effect::Engine(Command::Auto))
            }
            Action::LongerStagger => self.set_stagger((self.settings.stagger_secs + 1.0).min(120.0)),
            Action::ShorterStagger => self.set_stagger((self.settings.stagger_secs - 1.0).max(0.0)),
            Action::PauseResume => {
                if !self.live() || self.stop_requested {
                    return None;
                }
                // Changed here at once, so a quick second press undoes the first.
                self.settings.paused = !self.settings.paused;
                Some(Effect::Engine(if self.settings.paused { Command::Pause } else { Command::Resume }))
            }
            Action::StopRun => {
                if !self.live() || self.stop_requested {
                    return None;
                }
                self.stop_requested = true;
                Some(Effect::Engine(Command::Stop))
            }
            Action::NewRun { refetch } => self.new_run(refetch, at),
            Action::Quit => self.quit(),
            _ => None,
        }
    }

    fn new_run(&mut self, refetch: bool, at: Instant) -> Option<Effect> {
        if self.phase == Phase::Finished && !self.quitting {
            self.phase = Phase::Starting;
            let mut settings = self.settings;
            settings.paused = false;
            return Some(Effect::NewRun { settings, refetch });
        }
        if self.live() {
            self.note(at, "a run is going: press s to stop it, then r or R for a new one");
        }
        None
    }

    fn quit(&mut self) -> Option<Effect> {
        if self.quitting {
            return Some(Effect::ForceQuit);
        }
        self.quitting = true;
        if self.live() {
            self.stop_requested = true;
        }
        Some(Effect::Quit)
    }

    /// Keys that change only what is shown.
    fn act_on_view(&mut self, action: Action) {
        match action {
            Action::Help => self.toggle_overlay(Overlay::Help),
            Action::Overview => self.toggle_overlay(Overlay::Overview),
            Action::Close if self.view.overlay == Overlay::None => self.list.search_clear(),
            Action::Close => self.view.overlay = Overlay::None,
            Action::Open => {
                self.view.overlay = match self.view.overlay {
                    Overlay::None if self.view.focus == Focus::Symbols && self.list.selected().is_some() => {
                        // The row opened stays selected, even at the top of a moving list.
                        self.list.pin();
                        Overlay::Detail
                    }
                    _ => Overlay::None,
                };
            }
            Action::FocusNext | Action::FocusPrev => {
                self.view.focus = self.view.focus.step(if action == Action::FocusNext { 1 } else { -1 });
            }
            Action::Up => self.scroll(-1),
            Action::Down => self.scroll(1),
            Action::PageUp => self.scroll(-(self.list.page.max(1) as isize)),
            Action::PageDown => self.scroll(self.list.page.max(1) as isize),
            Action::Top => self.scroll(isize::MIN / 2),
            Action::Bottom => self.scroll(isize::MAX / 2),
            _ => self.act_on_list(action),
        }
    }

    /// Keys of the symbols list: filter, order, search.
    fn act_on_list(&mut self, action: Action) {
        match action {
            Action::CycleFilter => self.list.cycle_filter(),
            Action::CycleOrder => self.list.cycle_order(self.live()),
            Action::Search => {
                self.view.focus = Focus::Symbols;
                self.view.overlay = Overlay::None;
                self.list.search_start();
            }
            Action::SearchType(c) => self.list.search_type(c),
            Action::SearchBack => self.list.search_back(),
            Action::SearchKeep => self.list.search_keep(),
            Action::SearchClear => self.list.search_clear(),
            _ => {}
        }
        // Keys answer in the frame they arrive: the view is rebuilt now, not at the draw.
        self.list.refresh(&self.rows, self.live());
    }

    fn toggle_overlay(&mut self, overlay: Overlay) {
        self.view.overlay = if self.view.overlay == overlay { Overlay::None } else { overlay };
        self.view.overlay_scroll = 0;
    }

    fn set_concurrency(&mut self, c: u32) -> Option<Effect> {
        self.settings.concurrency = c;
        (self.settings.auto, self.settings.why) = (false, why::BY_HAND);
        self.live().then_some(Effect::Engine(Command::SetConcurrency(c)))
    }

    fn set_stagger(&mut self, secs: f64) -> Option<Effect> {
        self.settings.stagger_secs = secs;
        self.live().then_some(Effect::Engine(Command::SetStagger(secs)))
    }

    /// Moves in the focused pane, or scrolls the help or the overview; positive is down
    /// (for the log: towards the newest line).
    fn scroll(&mut self, by: isize) {
        let step = |v: usize, by: isize, len: usize| -> usize {
            (v as isize).saturating_add(by).clamp(0, len.saturating_sub(1) as isize) as usize
        };
        if matches!(self.view.overlay, Overlay::Help | Overlay::Overview | Overlay::Coverage) {
            // Clamped to what the screen shows before the next frame.
            self.view.overlay_scroll = step(self.view.overlay_scroll, by, usize::MAX / 4);
            return;
        }
        let focus = if self.view.overlay == Overlay::Detail { Focus::Symbols } else { self.view.focus };
        match focus {
            Focus::Symbols => {
                self.list.refresh(&self.rows, self.live());
                self.list.move_by(by);
            }
            Focus::Log => self.view.log_scroll = step(self.view.log_scroll, -by, self.log.len()),
            Focus::Runs => self.view.runs_scroll = step(self.view.runs_scroll, by, self.runs.list.len()),
        }
    }
}
