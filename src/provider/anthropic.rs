//! STUB — replaced by the decoder work.
use super::{ChatRequest, Decoder, Delta, HttpRequest};

pub fn build_request(base_url: &str, _api_key: Option<&str>, _req: &ChatRequest) -> HttpRequest {
    HttpRequest { url: base_url.to_string(), headers: vec![], body: vec![] }
}

pub fn error_message(_body: &[u8]) -> Option<String> {
    None
}

#[derive(Default)]
pub struct AnthropicDecoder;

impl Decoder for AnthropicDecoder {
    fn feed(&mut self, _bytes: &[u8], _out: &mut Vec<Delta>) {}
    fn finish(&mut self, _out: &mut Vec<Delta>) {}
}
