//! The keymap: one table that both dispatches keys and documents them (the `?`/F1 help overlay
//! and README's key table are generated from it, so they cannot drift apart).
//!
//! Keys are modal, the way an editor-plus-viewer usually is:
//! - **Editor** focus (while composing): letters type text; only Ctrl/Alt/F-keys, Enter, Tab and
//!   Esc are commands.
//! - **Panes** focus (after sending, or Tab/Esc from the editor): single letters are commands;
//!   `i`, `/` or Enter go back to the editor.
//!
//! Popups (help, model picker, system prompt) take keys first and list their own.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    Send,
    Newline,
    CancelAll,
    CancelFocused,
    FocusNext,
    FocusPrev,
    FocusEditor,
    Zoom,
    ScrollUp,
    ScrollDown,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Rerun,
    EditSystem,
    PickModels,
    HistoryPrev,
    HistoryNext,
    CycleTheme,
    ToggleReasoning,
    NewConversation,
    /// Score the focused answer with the digit pressed (1–5).
    Score,
    ClearScore,
    Winner,
    Tie,
    Note,
    Details,
    ToggleBlind,
    Reveal,
    Summary,
    /// The results history's trends for the models on screen.
    RunHistory,
    SaveReport,
    NextCase,
    PrevCase,
    RunAllCases,
}

/// Where a binding applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Both the editor and the panes.
    Global,
    Editor,
    Panes,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "anywhere",
            Context::Editor => "editing the prompt",
            Context::Panes => "in the panes (after sending; letters are commands)",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

const fn k(code: KeyCode) -> Key {
    Key { code, mods: KeyModifiers::NONE }
}
const fn c(ch: char) -> Key {
    Key { code: KeyCode::Char(ch), mods: KeyModifiers::NONE }
}
const fn ctrl(ch: char) -> Key {
    Key { code: KeyCode::Char(ch), mods: KeyModifiers::CONTROL }
}
const fn alt(code: KeyCode) -> Key {
    Key { code, mods: KeyModifiers::ALT }
}

pub struct Binding {
    pub context: Context,
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
}

const fn b(context: Context, keys: &'static [Key], action: Action, help: &'static str) -> Binding {
    Binding { context, keys, action, help }
}

use Action as A;
use Context::{Editor as E, Global as G, Panes as P};

/// Every binding, in the order the help shows them.
pub const KEYMAP: &[Binding] = &[
    b(E, &[k(KeyCode::Enter)], A::Send, "send the prompt to every selected model"),
    b(E, &[alt(KeyCode::Enter), ctrl('j')], A::Newline, "new line in the prompt (Esc Enter works too)"),
    b(E, &[k(KeyCode::Up), ctrl('p')], A::HistoryPrev, "previous prompt from history (↑ on the first line)"),
    b(E, &[k(KeyCode::Down), ctrl('n')], A::HistoryNext, "next prompt from history (↓ on the last line)"),
    b(E, &[k(KeyCode::Esc)], A::CancelAll, "cancel all streaming; when idle, go to the panes"),
    b(G, &[k(KeyCode::Tab)], A::FocusNext, "focus next: editor → pane 1 → pane 2 … → editor"),
    b(G, &[k(KeyCode::BackTab)], A::FocusPrev, "focus previous"),
    b(G, &[ctrl('x')], A::CancelFocused, "cancel the focused model's request"),
    b(G, &[k(KeyCode::F(1))], A::Help, "show or hide this help"),
    b(G, &[k(KeyCode::F(2))], A::EditSystem, "edit the system prompt"),
    b(G, &[k(KeyCode::F(3))], A::PickModels, "pick which models take part"),
    b(G, &[k(KeyCode::F(4))], A::CycleTheme, "next colour theme"),
    b(G, &[k(KeyCode::F(5))], A::Rerun, "re-run the last prompt"),
    b(G, &[k(KeyCode::F(6))], A::NewConversation, "new conversation: the next prompt starts afresh"),
    b(G, &[ctrl('s')], A::SaveReport, "save the session report (JSON, Markdown, HTML)"),
    b(G, &[k(KeyCode::F(7))], A::PrevCase, "previous case (with --cases)"),
    b(G, &[k(KeyCode::F(8))], A::NextCase, "next case (with --cases)"),
    b(G, &[ctrl('c')], A::Quit, "quit (restores the terminal)"),
    b(P, &[c('i'), c('/'), k(KeyCode::Enter)], A::FocusEditor, "back to the prompt editor"),
    b(P, &[k(KeyCode::Esc)], A::CancelAll, "cancel all streaming requests"),
    b(P, &[c('x')], A::CancelFocused, "cancel the focused model's request"),
    b(P, &[c('z')], A::Zoom, "zoom the focused pane to full screen and back"),
    b(P, &[k(KeyCode::Up), c('k')], A::ScrollUp, "scroll up (mouse wheel too, with --mouse)"),
    b(P, &[k(KeyCode::Down), c('j')], A::ScrollDown, "scroll down"),
    b(P, &[k(KeyCode::PageUp)], A::PageUp, "scroll a page up"),
    b(P, &[k(KeyCode::PageDown), c(' ')], A::PageDown, "scroll a page down"),
    b(P, &[k(KeyCode::Home), c('g')], A::Top, "go to the top"),
    b(P, &[k(KeyCode::End), c('G')], A::Bottom, "go to the end and follow the stream"),
    b(P, &[c('r')], A::Rerun, "re-run the last prompt"),
    b(P, &[c('e')], A::ToggleReasoning, "fold or unfold reasoning text"),
    b(P, &[c('N')], A::NewConversation, "new conversation: the next prompt starts afresh"),
    b(P, &[c('s')], A::EditSystem, "edit the system prompt"),
    b(P, &[c('m')], A::PickModels, "pick which models take part"),
    b(P, &[c('t')], A::CycleTheme, "next colour theme"),
    b(P, &[c('1'), c('2'), c('3'), c('4'), c('5')], A::Score, "score the focused answer 1–5 (this round; changeable)"),
    b(P, &[c('0')], A::ClearScore, "clear the focused answer's score"),
    b(P, &[c('w')], A::Winner, "mark the focused answer the round's winner"),
    b(P, &[c('=')], A::Tie, "call the round a tie"),
    b(P, &[c('n')], A::Note, "attach a one-line note to the focused answer"),
    b(P, &[c('d')], A::Details, "evaluator details, note and verdicts of the focused answer"),
    b(P, &[c('b')], A::ToggleBlind, "blind mode on/off (from the next round: labels A, B…, shuffled)"),
    b(P, &[c('B')], A::Reveal, "reveal the model names of a blind round"),
    b(P, &[c('v')], A::Summary, "summary of the session: per-model table and charts"),
    b(P, &[c('H')], A::RunHistory, "history: these models' TTFT, acceptance and cost run after run"),
    b(P, &[c('S')], A::SaveReport, "save the session report"),
    b(P, &[c(']')], A::NextCase, "next case (with --cases)"),
    b(P, &[c('[')], A::PrevCase, "previous case"),
    b(P, &[c('A')], A::RunAllCases, "run the cases unattended from the current one (any key stops)"),
    b(P, &[c('?')], A::Help, "show or hide this help"),
    b(P, &[c('q')], A::Quit, "quit"),
];

/// Shift is implied by the character itself (`G`, `?`), and terminals disagree on reporting it.
fn normalize(code: KeyCode, mods: KeyModifiers) -> KeyModifiers {
    match code {
        KeyCode::Char(_) | KeyCode::BackTab => mods - KeyModifiers::SHIFT,
        _ => mods,
    }
}

/// The action bound to `ev` in `ctx` (context-specific bindings first, then global ones).
pub fn lookup(ctx: Context, ev: &KeyEvent) -> Option<Action> {
    let mods = normalize(ev.code, ev.modifiers);
    let hit = |b: &&Binding| b.keys.iter().any(|key| key.code == ev.code && normalize(key.code, key.mods) == mods);
    KEYMAP
        .iter()
        .filter(|b| b.context == ctx)
        .find(hit)
        .or_else(|| KEYMAP.iter().filter(|b| b.context == G).find(hit))
        .map(|b| b.action)
}

/// `Ctrl-C`, `Alt-Enter`, `Shift-Tab`, `↑`, `PgUp`, `Space`.
pub fn key_name(key: &Key) -> String {
    let base = match key.code {
        KeyCode::Enter => "Enter".to_string(),
        KeyCode::Esc => "Esc".to_string(),
        KeyCode::Tab => "Tab".to_string(),
        KeyCode::BackTab => return "Shift-Tab".to_string(),
        KeyCode::Up => "↑".to_string(),
        KeyCode::Down => "↓".to_string(),
        KeyCode::Left => "←".to_string(),
        KeyCode::Right => "→".to_string(),
        KeyCode::PageUp => "PgUp".to_string(),
        KeyCode::PageDown => "PgDn".to_string(),
        KeyCode::Home => "Home".to_string(),
        KeyCode::End => "End".to_string(),
        KeyCode::F(n) => format!("F{n}"),
        KeyCode::Char(' ') => "Space".to_string(),
        KeyCode::Char(ch) if key.mods.contains(KeyModifiers::CONTROL) => ch.to_ascii_uppercase().to_string(),
        KeyCode::Char(ch) => ch.to_string(),
        other => format!("{other:?}"),
    };
    let mut out = String::new();
    if key.mods.contains(KeyModifiers::CONTROL) {
        out.push_str("Ctrl-");
    }
    if key.mods.contains(KeyModifiers::ALT) {
        out.push_str("Alt-");
    }
    out.push_str(&base);
    out
}

/// `i / Enter` — all keys of a binding.
pub fn keys_label(b: &Binding) -> String {
    b.keys.iter().map(key_name).collect::<Vec<_>>().join(" / ")
}

/// The key table as Markdown, for README.
pub fn markdown() -> String {
    let mut out = String::new();
    for ctx in [E, P, G] {
        out.push_str(&format!("\n**{}**\n\n| key | action |\n|---|---|\n", ctx.title()));
        for b in KEYMAP.iter().filter(|b| b.context == ctx) {
            out.push_str(&format!("| `{}` | {} |\n", keys_label(b).replace(" / ", "` / `"), b.help));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn modal_lookup() {
        assert_eq!(lookup(E, &ev(KeyCode::Char('q'), KeyModifiers::NONE)), None);
        assert_eq!(lookup(P, &ev(KeyCode::Char('q'), KeyModifiers::NONE)), Some(A::Quit));
        assert_eq!(lookup(E, &ev(KeyCode::Char('c'), KeyModifiers::CONTROL)), Some(A::Quit));
        assert_eq!(lookup(E, &ev(KeyCode::Enter, KeyModifiers::ALT)), Some(A::Newline));
        assert_eq!(lookup(E, &ev(KeyCode::Enter, KeyModifiers::NONE)), Some(A::Send));
        assert_eq!(lookup(P, &ev(KeyCode::Char('G'), KeyModifiers::SHIFT)), Some(A::Bottom));
        assert_eq!(lookup(P, &ev(KeyCode::BackTab, KeyModifiers::SHIFT)), Some(A::FocusPrev));
        assert_eq!(lookup(P, &ev(KeyCode::Tab, KeyModifiers::NONE)), Some(A::FocusNext));
    }

    #[test]
    fn no_key_is_bound_twice_in_one_context() {
        for (i, a) in KEYMAP.iter().enumerate() {
            for b in &KEYMAP[i + 1..] {
                let overlap = a.context == b.context || a.context == G || b.context == G;
                if !overlap || (a.context == G) == (b.context == G) && a.context != b.context {
                    continue;
                }
                for ka in a.keys {
                    // A context binding may shadow a global one on purpose (Esc, Tab); only
                    // same-context duplicates are mistakes.
                    if a.context == b.context {
                        assert!(!b.keys.contains(ka), "{} bound twice", key_name(ka));
                    }
                }
            }
        }
        assert!(markdown().contains("| `Alt-Enter` / `Ctrl-J` |"));
    }
}
