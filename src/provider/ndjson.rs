//! STUB — NDJSON framing.
