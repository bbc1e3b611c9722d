//! The live screen of `bakeoff load`: the same terminal guard, panic hook and themes (`--theme`,
//! `t` cycles, user theme files, `NO_COLOR` → mono) as the main TUI. Drawing is a pure function
//! of the load run's [`Snapshot`] and the theme; keys are read on a thread of their own.

use super::theme::{self, Theme};
use crate::format::ms_f64 as ms;
use crate::load::runner::Interrupter;
use crate::load::view::{LiveScreen, Snapshot, progress};
use anyhow::Result;
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{BarChart, Block, Gauge, Paragraph, Row, Sparkline, Table};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// The terminal while a load run shows live. Dropping it stops the key thread and restores the
/// terminal.
pub struct LoadScreen {
    // Field order: the key thread stops before the guard restores the terminal.
    keys: Option<std::thread::JoinHandle<()>>,
    quit: Arc<AtomicBool>,
    themes: Vec<Theme>,
    theme: Arc<AtomicUsize>,
    guard: super::Guard,
}

impl LoadScreen {
    /// Takes over the terminal. `theme` as `--theme` (else dark, or mono under `NO_COLOR`); q,
    /// Esc and Ctrl-C call `interrupter`, `t` cycles the theme.
    pub fn enter(theme_name: Option<&str>, interrupter: Interrupter) -> Result<LoadScreen> {
        let user_dir = crate::config::default_config_dir().map(|d| d.join("themes"));
        let (themes, _problems) = theme::load_all(user_dir.as_deref());
        let first = theme::initial(&themes, theme_name, theme::no_color_env())?;
        super::install_panic_hook();
        let guard = super::Guard::enter(false)?;
        let quit = Arc::new(AtomicBool::new(false));
        let theme = Arc::new(AtomicUsize::new(first));
        let n = themes.len().max(1);
        let keys = {
            let (quit, theme) = (quit.clone(), theme.clone());
            // Blocking reads on their own thread: the runtime's workers stay free for requests.
            std::thread::spawn(move || {
                while !quit.load(Ordering::SeqCst) {
                    if !event::poll(Duration::from_millis(50)).unwrap_or(false) {
                        continue;
                    }
                    let Ok(Event::Key(k)) = event::read() else { continue };
                    if k.kind != KeyEventKind::Press {
                        continue;
                    }
                    let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                    match k.code {
                        _ if ctrl_c => interrupter.interrupt(),
                        KeyCode::Char('q') | KeyCode::Esc => interrupter.interrupt(),
                        KeyCode::Char('t') => {
                            let _ = theme.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |i| Some((i + 1) % n));
                        }
                        _ => {}
                    }
                }
            })
        };
        Ok(LoadScreen { keys: Some(keys), quit, themes, theme, guard })
    }
}

impl LiveScreen for LoadScreen {
    fn draw(&mut self, snapshot: &Snapshot) -> std::io::Result<()> {
        let th = &self.themes[self.theme.load(Ordering::SeqCst) % self.themes.len()];
        super::draw_synchronized(&mut self.guard.terminal, |f| draw(f, snapshot, th))
    }
}

impl Drop for LoadScreen {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::SeqCst);
        if let Some(k) = self.keys.take() {
            let _ = k.join();
        }
    }
}

fn bordered<'a>(title: String, th: &Theme) -> Block<'a> {
    Block::bordered().border_style(th.border).title(Span::styled(title, th.title))
}

/// Draws one frame (pure: no clocks, no I/O).
pub fn draw(f: &mut Frame, s: &Snapshot, th: &Theme) {
    let area = f.area();
    f.buffer_mut().set_style(area, th.text);
    let [head, mid, hist, spark, foot] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(11),
        Constraint::Min(6),
        Constraint::Length(6),
        Constraint::Length(1),
    ])
    .areas(area);

    let (ratio, label) = progress(s);
    let state = if s.stopping { " · stopping" } else { "" };
    let gauge = Gauge::default()
        .block(bordered(format!(" bakeoff load · {}{state} ", s.title), th))
        .gauge_style(th.accent)
        .ratio(ratio.clamp(0.0, 1.0))
        .label(label);
    f.render_widget(gauge, head);

    let [left, right] = Layout::horizontal([Constraint::Length(44), Constraint::Min(40)]).areas(mid);
    let strong = th.text.patch(th.title);
    let mut lines = vec![
        Line::from(vec![
            Span::raw("req/s  now "),
            Span::styled(format!("{:.1}", s.rps_now), strong),
            Span::raw(format!("  mean {:.1}", s.rps_mean)),
        ]),
        Line::from(vec![Span::raw("in flight "), Span::styled(s.in_flight.to_string(), strong)]),
        Line::from(vec![
            Span::styled(format!("ok {}", s.ok), th.ok),
            Span::raw("  "),
            Span::styled(format!("errors {}", s.errors), if s.errors > 0 { th.error } else { th.text }),
            Span::raw(format!("  cancelled {}", s.cancelled)),
        ]),
        Line::from(format!("throughput tok/s {:.0} (all streams)", s.tokens_per_s)),
        Line::from(match s.itl {
            Some([a, b]) => format!("inter-token p50 {}  p99 {}", ms(a), ms(b)),
            None => "inter-token —".to_string(),
        }),
    ];
    if let Some((met, share)) = s.goodput {
        lines.push(Line::from(format!("SLO met {met} ({:.1}%)", share * 100.0)));
    }
    for (k, v) in s.error_kinds.iter().take(4) {
        lines.push(Line::styled(format!("  {k:<22}{v:>8}"), th.error));
    }
    f.render_widget(Paragraph::new(lines).style(th.text).block(bordered(" throughput ".into(), th)), left);

    let rows = s.rows.iter().map(|(label, q)| {
        let cells = match q {
            Some([a, b, c]) => [ms(*a), ms(*b), ms(*c)],
            None => ["—".into(), "—".into(), "—".into()],
        };
        Row::new([label.clone(), cells[0].clone(), cells[1].clone(), cells[2].clone()])
    });
    let table =
        Table::new(rows, [Constraint::Min(13), Constraint::Length(7), Constraint::Length(7), Constraint::Length(7)])
            .header(Row::new(["", "p50", "p95", "p99"]).style(strong))
            .style(th.text)
            .block(bordered(" latency ".into(), th));
    f.render_widget(table, right);

    let bars: Vec<(&str, u64)> = s.ttft_bins.iter().map(|(l, n)| (l.as_str(), *n)).collect();
    let n = bars.len().max(1) as u16;
    let width = (hist.width.saturating_sub(2) / n).saturating_sub(1).clamp(1, 12);
    let chart = BarChart::default()
        .block(bordered(" TTFT histogram (ms, run, successful requests) ".into(), th))
        .data(&bars)
        .bar_width(width)
        .bar_gap(1)
        .bar_style(th.accent)
        .value_style(th.accent.patch(th.selection))
        .label_style(th.text);
    f.render_widget(chart, hist);

    let [sl, sr] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(spark);
    let tail = |v: &[u64], r: Rect| v[v.len().saturating_sub(r.width.saturating_sub(2) as usize)..].to_vec();
    f.render_widget(
        Sparkline::default().block(bordered(" completions/s ".into(), th)).data(tail(&s.rps_series, sl)).style(th.ok),
        sl,
    );
    f.render_widget(
        Sparkline::default().block(bordered(" errors/s ".into(), th)).data(tail(&s.err_series, sr)).style(th.error),
        sr,
    );
    f.render_widget(
        Paragraph::new(
            " q / Esc / Ctrl-C: stop (open requests are cancelled and reported; the summary still prints) · t: theme",
        )
        .style(th.muted),
        foot,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::view::tests::snap;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::style::Color;

    fn themes() -> Vec<Theme> {
        theme::load_all(None).0
    }

    #[test]
    fn draws_the_numbers() {
        let th = &themes()[0];
        let mut t = Terminal::new(TestBackend::new(120, 35)).unwrap();
        t.draw(|f| draw(f, &snap(), th)).unwrap();
        let text: String = t.backend().buffer().content().iter().map(|c| c.symbol()).collect();
        for want in [
            "245/500 requests",
            "in flight 32",
            "errors 5",
            "http_500",
            "182ms",
            "p99",
            "TTFT histogram",
            "completions/s",
            "t: theme",
        ] {
            assert!(text.contains(want), "missing {want:?}");
        }
        // Tiny terminals must not panic.
        let mut t = Terminal::new(TestBackend::new(20, 5)).unwrap();
        t.draw(|f| draw(f, &snap(), th)).unwrap();
    }

    /// Colours come from the theme's roles: the mono theme (what `NO_COLOR` picks) sets none.
    #[test]
    fn colours_follow_the_theme() {
        let all = themes();
        let colours = |th: &Theme| {
            let mut t = Terminal::new(TestBackend::new(120, 35)).unwrap();
            t.draw(|f| draw(f, &snap(), th)).unwrap();
            let cells = t.backend().buffer().content().to_vec();
            let mut seen: Vec<Color> = cells.iter().flat_map(|c| [c.fg, c.bg]).filter(|c| *c != Color::Reset).collect();
            seen.sort_by_key(|c| format!("{c:?}"));
            seen.dedup();
            seen
        };
        let mono = all.iter().find(|t| t.name == "mono").expect("mono theme");
        assert!(colours(mono).is_empty(), "mono draws colours: {:?}", colours(mono));
        let dark = all.iter().find(|t| t.name == "dark").expect("dark theme");
        let light = all.iter().find(|t| t.name == "light").expect("light theme");
        assert!(!colours(dark).is_empty());
        assert_ne!(colours(dark), colours(light), "themes change the screen");
        let ok_fg = dark.ok.fg.expect("dark sets ok");
        assert!(colours(dark).contains(&ok_fg), "the ok role colours the ok count");
    }
}
