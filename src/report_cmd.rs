//! `bakeoff report …`: show, diff and merge saved results. This is the face's job because it
//! reads every kind of result file — reports and journals (`report`) as well as `bakeoff load`
//! summaries (`load`) — and the records layer must not import a mode.

use anyhow::Result;
use bakeoff::load::summary as load_summary;
use bakeoff::report::{self, DiffOptions, Format, Report};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `bakeoff report` was asked to do.
#[derive(Clone, Debug)]
pub enum Command {
    Show {
        file: PathBuf,
        format: Format,
    },
    Diff {
        old: PathBuf,
        new: PathBuf,
        options: DiffOptions,
    },
    /// Combine `bakeoff load --shard` summaries exactly.
    Merge {
        files: Vec<PathBuf>,
        format: Format,
        save: Option<PathBuf>,
    },
}

/// A saved report, a session journal, or a `bakeoff load` summary read as a report of its
/// per-model timings, errors and cost.
fn read_any(path: &Path) -> Result<Report> {
    if load_summary::is_load_summary(path) {
        return Ok(load_summary::load(path)?.to_report());
    }
    report::load(path)
}

/// Runs `bakeoff report …`, printing to standard output. Returns the exit status: 0, or 1 when a
/// diff found regressions. Errors (unreadable or invalid files) are for the caller to map to 2.
pub fn run(cmd: Command) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    match cmd {
        Command::Show { file, format } => {
            if load_summary::is_load_summary(&file) {
                // A `bakeoff load` summary: its own document, printed its own way.
                let summary = load_summary::load(&file)?;
                let text = match format {
                    Format::Json => bakeoff::sanitize::to_json_pretty(&summary)? + "\n",
                    Format::Markdown => bakeoff::load::render::render_markdown(&summary),
                    Format::Html => bakeoff::load::render::render_html(&summary),
                    Format::Table => load_summary::render_text(&summary),
                };
                out.write_all(text.as_bytes())?;
                return Ok(0);
            }
            let report = report::load(&file)?;
            out.write_all(report::render(&report, format).as_bytes())?;
            Ok(0)
        }
        Command::Diff { old, new, options } => {
            options.validate()?;
            let d = report::diff(&read_any(&old)?, &read_any(&new)?, &options);
            out.write_all(d.render().as_bytes())?;
            Ok(if d.has_regressions() { 1 } else { 0 })
        }
        Command::Merge { files, format, save } => {
            drop(out);
            bakeoff::load::merge_files(&files, format, save.as_deref())?;
            Ok(0)
        }
    }
}
