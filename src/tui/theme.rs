//! Themes: styles by *role* (title, border, focus, muted, error, ok, warn, accent, reasoning…),
//! never by colour name in view code.
//!
//! The four built-in themes are embedded from `themes/*.toml`; user themes in
//! `<config dir>/themes/*.toml` are found too and may `inherits = "NAME"` another theme, setting
//! only the roles they change. Only named and indexed (0–255) colours are accepted: a 256-colour
//! terminal shows them all, truecolor `#rrggbb` it may not.

use anyhow::{Context, Result, bail};
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("high-contrast", include_str!("../../themes/high-contrast.toml")),
    ("mono", include_str!("../../themes/mono.toml")),
];

/// The default theme's name.
pub const DEFAULT: &str = "dark";

/// Resolved styles, one per role.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    pub text: Style,
    pub title: Style,
    pub border: Style,
    pub focus: Style,
    pub muted: Style,
    pub accent: Style,
    pub ok: Style,
    pub warn: Style,
    pub error: Style,
    pub reasoning: Style,
    pub selection: Style,
    pub status: Style,
}

/// A role as written in TOML.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct RoleSpec {
    fg: Option<toml::Value>,
    bg: Option<toml::Value>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    dim: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underlined: bool,
    #[serde(default)]
    reversed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    inherits: Option<String>,
    #[serde(default)]
    roles: BTreeMap<String, RoleSpec>,
}

const ROLES: &[&str] =
    &["text", "title", "border", "focus", "muted", "accent", "ok", "warn", "error", "reasoning", "selection", "status"];

fn color(v: &toml::Value, role: &str) -> Result<Color> {
    match v {
        toml::Value::Integer(i) => match u8::try_from(*i) {
            Ok(i) => Ok(Color::Indexed(i)),
            Err(_) => bail!("role {role}: colour index {i} is not in 0–255"),
        },
        toml::Value::String(s) => {
            let c: Color = s.parse().map_err(|_| anyhow::anyhow!("role {role}: unknown colour {s:?}"))?;
            if matches!(c, Color::Rgb(..)) {
                bail!("role {role}: colour {s:?} is truecolor; use a colour name or an index 0–255");
            }
            Ok(c)
        }
        other => bail!("role {role}: colour must be a name or an index 0–255, not {other}"),
    }
}

fn style(spec: &RoleSpec, role: &str) -> Result<Style> {
    let mut st = Style::default();
    if let Some(fg) = &spec.fg {
        st = st.fg(color(fg, role)?);
    }
    if let Some(bg) = &spec.bg {
        st = st.bg(color(bg, role)?);
    }
    let mods = [
        (spec.bold, Modifier::BOLD),
        (spec.dim, Modifier::DIM),
        (spec.italic, Modifier::ITALIC),
        (spec.underlined, Modifier::UNDERLINED),
        (spec.reversed, Modifier::REVERSED),
    ];
    for (on, m) in mods {
        if on {
            st = st.add_modifier(m);
        }
    }
    Ok(st)
}

impl Theme {
    fn role_mut(&mut self, role: &str) -> Option<&mut Style> {
        Some(match role {
            "text" => &mut self.text,
            "title" => &mut self.title,
            "border" => &mut self.border,
            "focus" => &mut self.focus,
            "muted" => &mut self.muted,
            "accent" => &mut self.accent,
            "ok" => &mut self.ok,
            "warn" => &mut self.warn,
            "error" => &mut self.error,
            "reasoning" => &mut self.reasoning,
            "selection" => &mut self.selection,
            "status" => &mut self.status,
            _ => return None,
        })
    }

    fn blank(name: &str) -> Theme {
        let s = Style::default();
        Theme {
            name: name.to_string(),
            text: s,
            title: s,
            border: s,
            focus: s,
            muted: s,
            accent: s,
            ok: s,
            warn: s,
            error: s,
            reasoning: s,
            selection: s,
            status: s,
        }
    }

    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Option<Theme> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        // The embedded files are tested to parse; a failure here would be a build defect.
        parse(text, &[], name).ok()
    }

    /// The default dark theme (never fails).
    pub fn dark() -> Theme {
        Theme::builtin(DEFAULT).unwrap_or_else(|| Theme::blank(DEFAULT))
    }
}

/// Parses a theme file. `known` holds the themes it may inherit from.
fn parse(text: &str, known: &[Theme], fallback_name: &str) -> Result<Theme> {
    let file: ThemeFile = toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let name = file.name.unwrap_or_else(|| fallback_name.to_string());
    let mut theme = match &file.inherits {
        None => Theme::blank(&name),
        Some(parent) => match known.iter().find(|t| &t.name == parent) {
            Some(t) => t.clone(),
            None => bail!("inherits = {parent:?}: no such theme"),
        },
    };
    theme.name = name;
    for (role, spec) in &file.roles {
        let st = style(spec, role)?;
        match theme.role_mut(role) {
            Some(slot) => *slot = st,
            None => bail!("unknown role {role:?}; roles are: {}", ROLES.join(", ")),
        }
    }
    Ok(theme)
}

/// The built-in themes, then the user's (a user theme with a built-in name replaces it).
/// Problems with user files are returned as messages for the status line, not as failures.
pub fn load_all(user_dir: Option<&Path>) -> (Vec<Theme>, Vec<String>) {
    let mut themes: Vec<Theme> = Vec::new();
    for (name, text) in BUILTIN {
        if let Ok(t) = parse(text, &themes, name) {
            themes.push(t);
        }
    }
    let mut problems = Vec::new();
    let Some(dir) = user_dir else { return (themes, problems) };
    let Ok(entries) = std::fs::read_dir(dir) else { return (themes, problems) };
    let mut paths: Vec<_> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
    paths.sort();
    for path in paths {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let loaded = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))
            .and_then(|text| parse(&text, &themes, &stem).with_context(|| format!("theme {}", path.display())));
        match loaded {
            Ok(t) => match themes.iter_mut().find(|x| x.name == t.name) {
                Some(slot) => *slot = t,
                None => themes.push(t),
            },
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    (themes, problems)
}

/// Which theme to start with: the one asked for, else `mono` under `NO_COLOR`, else dark.
/// An explicit choice wins over `NO_COLOR` (a user's flag is more specific than their env).
pub fn initial(themes: &[Theme], asked: Option<&str>, no_color: bool) -> Result<usize> {
    if let Some(name) = asked {
        return themes.iter().position(|t| t.name == name).ok_or_else(|| {
            let names: Vec<&str> = themes.iter().map(|t| t.name.as_str()).collect();
            anyhow::anyhow!("theme {name:?} not found; available: {}", names.join(", "))
        });
    }
    let want = if no_color { "mono" } else { DEFAULT };
    Ok(themes.iter().position(|t| t.name == want).unwrap_or(0))
}

/// `NO_COLOR` set to a non-empty value (no-color.org).
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_use_only_256_colours() {
        let (themes, problems) = load_all(None);
        assert!(problems.is_empty());
        let names: Vec<&str> = themes.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["dark", "light", "high-contrast", "mono"]);
        for (_, text) in BUILTIN {
            let f: ThemeFile = toml::from_str(text).unwrap();
            for role in ROLES {
                assert!(f.roles.contains_key(*role), "{role} missing in {:?}", f.name);
            }
        }
        let mono = &themes[3];
        for st in [mono.text, mono.title, mono.error, mono.ok, mono.status] {
            assert_eq!((st.fg, st.bg), (None, None), "mono has no colours");
        }
    }

    #[test]
    fn user_theme_inherits_and_rejects_truecolor() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.toml"), "inherits = \"dark\"\n[roles]\nerror = { fg = 196 }\n").unwrap();
        std::fs::write(dir.path().join("bad.toml"), "[roles]\nerror = { fg = \"#ff0000\" }\n").unwrap();
        let (themes, problems) = load_all(Some(dir.path()));
        let mine = themes.iter().find(|t| t.name == "mine").unwrap();
        assert_eq!(mine.error.fg, Some(Color::Indexed(196)));
        assert_eq!(mine.title, Theme::dark().title);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("bad.toml") && problems[0].contains("truecolor"), "{}", problems[0]);
    }

    #[test]
    fn initial_choice() {
        let (themes, _) = load_all(None);
        assert_eq!(themes[initial(&themes, None, true).unwrap()].name, "mono");
        assert_eq!(themes[initial(&themes, None, false).unwrap()].name, "dark");
        assert_eq!(themes[initial(&themes, Some("light"), true).unwrap()].name, "light");
        assert!(initial(&themes, Some("nope"), false).unwrap_err().to_string().contains("high-contrast"));
    }
}
