//! Where everything goes on screen: a pure function of the terminal size and a few bits of
//! state, shared by the view (to draw) and by `App::update` (to know a pane's page height and
//! which pane the mouse is over). Never panics, whatever the size.

use ratatui::layout::Rect;

/// A pane narrower than this is unreadable: switch to the strip layout.
pub const MIN_PANE_WIDTH: u16 = 30;
/// A pane lower than this leaves too few text lines: switch to the strip layout.
pub const MIN_PANE_HEIGHT: u16 = 10;
/// Border (1) + two metric lines + separator, above the text.
pub const PANE_CHROME_TOP: u16 = 4;
/// Most lines the prompt editor grows to.
pub const EDITOR_MAX_LINES: u16 = 6;

/// How the panes are arranged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrangement {
    /// Side by side, possibly wrapped into several rows.
    Grid,
    /// One expanded pane plus a one-line strip per other model.
    Strips,
    /// Only the focused pane.
    Zoom,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Screen {
    pub status: Rect,
    /// Zero-sized when hidden.
    pub editor: Rect,
    pub arrangement: Arrangement,
    /// (slot, area) of each full pane shown.
    pub panes: Vec<(usize, Rect)>,
    /// (slot, one-line area) of each strip shown.
    pub strips: Vec<(usize, Rect)>,
    pub footer: Rect,
}

/// Inputs that shape the screen.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub panes: usize,
    /// The focused (or last focused) pane.
    pub focus: usize,
    pub zoom: bool,
    pub editor_focused: bool,
    /// Lines in the prompt editor.
    pub editor_lines: u16,
}

fn take_top(area: &mut Rect, h: u16) -> Rect {
    let h = h.min(area.height);
    let top = Rect { height: h, ..*area };
    area.y = area.y.saturating_add(h);
    area.height -= h;
    top
}

fn take_bottom(area: &mut Rect, h: u16) -> Rect {
    let h = h.min(area.height);
    area.height -= h;
    Rect { y: area.y.saturating_add(area.height), height: h, ..*area }
}

pub fn screen(area: Rect, s: Shape) -> Screen {
    let mut rest = area;
    let status = take_top(&mut rest, 1);
    let footer = if rest.height >= 2 { take_bottom(&mut rest, 1) } else { Rect { height: 0, ..rest } };
    // On tiny screens show only what has focus: the editor or the panes.
    let tiny = rest.height < 8;
    let show_editor = if tiny { s.editor_focused } else { !s.zoom || s.editor_focused };
    let editor_h = if show_editor { (s.editor_lines.clamp(1, EDITOR_MAX_LINES) + 2).min(rest.height) } else { 0 };
    let editor = take_top(&mut rest, editor_h);
    let show_panes = !(tiny && s.editor_focused);
    let mut scr = Screen { status, editor, arrangement: Arrangement::Grid, panes: vec![], strips: vec![], footer };
    if !show_panes || s.panes == 0 || rest.is_empty() {
        return scr;
    }
    let n = s.panes;
    let focus = s.focus.min(n - 1);
    if s.zoom || n == 1 {
        scr.arrangement = if s.zoom { Arrangement::Zoom } else { Arrangement::Grid };
        scr.panes.push((focus, rest));
        return scr;
    }
    let max_cols = usize::from((rest.width / MIN_PANE_WIDTH).max(1));
    // As few rows as the width allows, then spread the panes evenly over them (8 → 4+4, not 5+3).
    let rows = n.div_ceil(n.min(max_cols));
    let cols = n.div_ceil(rows);
    let row_h = rest.height / rows as u16;
    if row_h >= MIN_PANE_HEIGHT && rows <= usize::from(u16::MAX) {
        let mut y = rest.y;
        for r in 0..rows {
            let h = if r + 1 == rows { rest.bottom() - y } else { row_h };
            let in_row = (n - r * cols).min(cols);
            let w = rest.width / in_row as u16;
            let mut x = rest.x;
            for c in 0..in_row {
                let pw = if c + 1 == in_row { rest.right() - x } else { w };
                scr.panes.push((r * cols + c, Rect { x, y, width: pw, height: h }));
                x += pw;
            }
            y += h;
        }
        return scr;
    }
    // Strips: the focused pane expanded, the others one line each (as many as fit, in order
    // after the focused one so Tab walks through them).
    scr.arrangement = Arrangement::Strips;
    let strip_count = (n - 1).min(usize::from(rest.height.saturating_sub(4)));
    let mut strip_area = take_bottom(&mut rest, strip_count as u16);
    scr.panes.push((focus, rest));
    for k in 1..=strip_count {
        let slot = (focus + k) % n;
        scr.strips.push((slot, take_top(&mut strip_area, 1)));
    }
    scr
}

/// Blank columns between a pane's border and its text, each side.
pub const PANE_PAD: u16 = 1;

/// The text region of a pane drawn in `area` (inside the border and padding, below the metrics).
pub fn pane_text(area: Rect) -> Rect {
    let inner = Rect {
        x: area.x.saturating_add(1 + PANE_PAD),
        y: area.y.saturating_add(PANE_CHROME_TOP),
        width: area.width.saturating_sub(2 + 2 * PANE_PAD),
        height: area.height.saturating_sub(PANE_CHROME_TOP + 1),
    };
    if inner.width == 0 || inner.height == 0 { Rect { width: 0, height: 0, ..inner } } else { inner }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(panes: usize) -> Shape {
        Shape { panes, focus: 0, zoom: false, editor_focused: false, editor_lines: 1 }
    }

    #[test]
    fn columns_grid_and_strips() {
        let s = screen(Rect::new(0, 0, 160, 48), shape(3));
        assert_eq!(s.arrangement, Arrangement::Grid);
        assert_eq!(s.panes.len(), 3);
        assert!(s.panes.iter().all(|(_, r)| r.width >= 53));
        let s = screen(Rect::new(0, 0, 160, 48), shape(8));
        assert_eq!((s.arrangement, s.panes.len()), (Arrangement::Grid, 8));
        assert!(s.panes.iter().all(|(_, r)| r.width >= MIN_PANE_WIDTH && r.height >= MIN_PANE_HEIGHT));
        let s = screen(Rect::new(0, 0, 80, 24), shape(4));
        assert_eq!(s.arrangement, Arrangement::Strips);
        assert_eq!(s.panes.len(), 1);
        assert_eq!(s.strips.iter().map(|x| x.0).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(s.panes[0].1.width, 80);
    }

    #[test]
    fn never_panics_on_tiny_sizes() {
        for w in 0..25 {
            for h in 0..12 {
                for n in 0..9 {
                    for zoom in [false, true] {
                        let s = screen(
                            Rect::new(0, 0, w, h),
                            Shape { panes: n, focus: 7, zoom, editor_focused: h % 2 == 0, editor_lines: 9 },
                        );
                        for (_, r) in s.panes.iter().chain(&s.strips) {
                            assert!(r.right() <= w && r.bottom() <= h);
                            let _ = pane_text(*r);
                        }
                    }
                }
            }
        }
    }
}
