//! bakeoff: compare LLMs side by side on your own prompts, with true timings.
//!
//! The library holds everything but argument parsing, so integration tests drive the same code
//! the binary runs.

pub mod batch;
pub mod cases;
#[cfg(test)]
mod child_test;
pub mod config;
pub mod demo;
pub mod embedder;
pub mod engine;
pub mod eval;
pub mod evaluator_spec;
pub mod event;
pub mod fd_limit;
pub mod files;
pub mod footprint;
pub mod format;
pub mod headless;
pub mod history;
mod http1;
pub mod load;
pub mod metrics;
pub mod mock;
pub mod panics;
pub mod pricing;
pub mod provider;
pub mod redact;
pub mod report;
pub mod sanitize;
pub mod session;
pub mod signals;
pub mod tokens;
pub mod tui;
