//! STUB — SSE framing.
