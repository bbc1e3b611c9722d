//! `bakeoff load` command-line arguments (clap). Kept here so `src/cli.rs` only names them.

use super::plan::{Arrival, parse_duration};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug, Clone)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  \
        bakeoff load --demo --concurrency 32 --requests 500\n  \
        bakeoff load --models openai:gpt-4o-mini --rate 5 --arrival poisson --duration 2m --slo ttft=800ms,latency=10s\n  \
        bakeoff load --models gw --cases cases.jsonl --rate 50 --duration 10m --shard $JOB_COMPLETION_INDEX/8 --report shard.json\n  \
        bakeoff report merge shard-*.json\n\n\
        Exit status: 0 every request succeeded, 1 some failed (or were cancelled), 2 usage or configuration errors."
)]
pub struct LoadArgs {
    #[command(subcommand)]
    pub command: Option<LoadCommand>,

    /// Models to load: configured names or PRESET:MODEL_ID, comma separated; requests go round-robin.
    #[arg(long, value_delimiter = ',', value_name = "A,B,…")]
    pub models: Vec<String>,

    /// Use the built-in demo models (in-process mock server; no keys, no network).
    #[arg(long)]
    pub demo: bool,

    /// The prompt every request sends.
    #[arg(long, short, value_name = "TEXT", conflicts_with = "cases")]
    pub prompt: Option<String>,

    /// A case file (.jsonl, .toml, .csv): the request mix, cycled round-robin.
    #[arg(long, value_name = "FILE")]
    pub cases: Option<PathBuf>,

    /// System prompt (with --prompt).
    #[arg(long, value_name = "TEXT")]
    pub system: Option<String>,

    /// Maximum output tokens per request (overrides the config).
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,

    /// Closed loop: keep C requests open (1..=100000; no more than --requests). With --rate: the most requests open at once.
    #[arg(long, short = 'c', value_name = "C")]
    pub concurrency: Option<u32>,

    /// Open loop: start R requests per second (at most 1000000), however the server keeps up.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,

    /// Open-loop arrivals: evenly spaced or a Poisson process.
    #[arg(long, value_enum, default_value = "constant")]
    pub arrival: Arrival,

    /// Grow concurrency or rate linearly to the target over this time (e.g. 30s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub ramp: Option<Duration>,

    /// Stop after N requests (over all shards).
    #[arg(long, short = 'n', value_name = "N")]
    pub requests: Option<u64>,

    /// Stop starting requests after this long (e.g. 60s, 5m).
    #[arg(long, short = 'd', value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// After --duration, let open requests finish for this long before cancelling them.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub grace: Duration,

    /// Service-level objective for goodput, e.g. ttft=500ms,latency=10s (keys: ttfb, ttft, latency).
    #[arg(long, value_name = "BOUNDS")]
    pub slo: Option<String>,

    /// Run part i (0-based) of N of the load: budget, concurrency and rate are divided.
    #[arg(long, value_name = "i/N")]
    pub shard: Option<String>,

    /// Seed for Poisson arrivals (default: random).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Print the summary as JSON (schema: schemas/load-summary.schema.json).
    #[arg(long)]
    pub json: bool,

    /// Write one JSON line per request to FILE.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Save the summary as a versioned load report (JSON, written atomically).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    #[command(flatten)]
    pub record: crate::history::RecordArgs,

    /// No live view even on a terminal: a progress line on stderr every 2 s.
    #[arg(long)]
    pub no_tui: bool,

    /// Colour theme of the live view: dark, light, high-contrast, mono, or a file name in
    /// <config dir>/themes (`t` cycles them; NO_COLOR picks mono).
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,

    /// Run the closed-loop workers on N threads of their own, each with a single-threaded runtime
    /// [default: the shared runtime, one thread per core, work-stealing].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum LoadCommand {
    /// Same as `bakeoff report merge` (kept so older scripts still work).
    #[command(hide = true)]
    Merge(MergeArgs),
    /// Print a saved load summary.
    Show(ShowArgs),
}

#[derive(Args, Debug, Clone)]
pub struct MergeArgs {
    /// Load summaries to merge (`bakeoff load --report FILE` or `--json` output), one per shard.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the merged summary as JSON (the same as `--format json`).
    #[arg(long)]
    pub json: bool,
    /// Output format: table, markdown, json or html.
    #[arg(long, default_value = "table", value_name = "FORMAT")]
    pub format: crate::report::Format,
    /// Save the merged summary (atomically).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct ShowArgs {
    /// A load summary.
    pub file: PathBuf,
    /// Print it as JSON.
    #[arg(long)]
    pub json: bool,
}
