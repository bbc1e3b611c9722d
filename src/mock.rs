//! STUB — the mock server.
