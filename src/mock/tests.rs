//! Integration-style tests of the mock server over loopback.
