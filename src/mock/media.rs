//! Images and files in mock requests: found in each format's own shape, checked as a real API
//! checks them (base64 that decodes to an image or PDF it takes), counted as input tokens, and
//! described so a demo answer can say what it was shown.
//!
//! A PNG's `tEXt` chunk `Description` is its description (the sample images carry one), else
//! its size (`a 64×64 PNG image`); a PDF's `/Title`, else `a PDF document`.

use base64::Engine;
use serde_json::Value;

use crate::provider::WireFormat;
use crate::provider::attach::MediaType;

/// One image or file a request carried.
#[derive(Clone, Debug, PartialEq)]
pub struct Media {
    pub media_type: Option<MediaType>,
    /// Decoded bytes (0 for a URL).
    pub bytes: usize,
    pub description: String,
}

impl Media {
    /// Input tokens it counts for: a fixed base plus one per KiB (deterministic, and growing with
    /// size as real APIs' counts do).
    pub fn tokens(&self) -> u64 {
        let base = if self.media_type == Some(MediaType::Pdf) { 258 } else { 85 };
        base + self.bytes.div_ceil(1024) as u64
    }
}

/// The images and files of one message (a Gemini `content`), in the format's own shape. `Err`
/// is the 400 a real API would answer.
pub fn in_message(format: WireFormat, message: &Value) -> Result<Vec<Media>, String> {
    let mut out = Vec::new();
    if format == WireFormat::Ollama {
        for image in message.get("images").and_then(Value::as_array).into_iter().flatten() {
            let data = image.as_str().ok_or("images: each image is a base64 string")?;
            out.push(decoded(data, true)?);
        }
        return Ok(out);
    }
    let parts = match format {
        WireFormat::Gemini => message.get("parts"),
        _ => message.get("content"),
    };
    for part in parts.and_then(Value::as_array).into_iter().flatten() {
        let s = |ptr: &str| part.pointer(ptr).and_then(Value::as_str);
        let kind = s("/type").unwrap_or("");
        let found = match (format, kind) {
            (WireFormat::OpenAi, "image_url") => Some(source(s("/image_url/url"), true)?),
            (WireFormat::OpenAi, "file") => Some(source(s("/file/file_data"), false)?),
            (WireFormat::OpenAiResponses, "input_image") => Some(source(s("/image_url"), true)?),
            (WireFormat::OpenAiResponses, "input_file") => Some(source(s("/file_data").or(s("/file_url")), false)?),
            (WireFormat::Anthropic, "image" | "document") => Some(match s("/source/type") {
                Some("base64") => decoded(s("/source/data").ok_or("source.data: Field required")?, kind == "image")?,
                Some("url") => url(s("/source/url").ok_or("source.url: Field required")?)?,
                _ => return Err(format!("{kind}.source.type: expected base64 or url")),
            }),
            (WireFormat::Gemini, _) if part.get("inlineData").is_some() => {
                Some(decoded(s("/inlineData/data").ok_or("inlineData.data is required")?, false)?)
            }
            (WireFormat::Gemini, _) if part.get("fileData").is_some() => {
                Some(url(s("/fileData/fileUri").ok_or("fileData.fileUri is required")?)?)
            }
            _ => None,
        };
        out.extend(found);
    }
    Ok(out)
}

/// A URL or a data URL, as the OpenAI formats give either.
fn source(value: Option<&str>, image: bool) -> Result<Media, String> {
    let value = value.ok_or("an image or file part without its URL or data")?;
    match value.strip_prefix("data:") {
        Some(rest) => {
            let (_, data) =
                rest.split_once(";base64,").ok_or("Invalid data URL: expected data:<type>;base64,<data>")?;
            decoded(data, image)
        }
        None => url(value),
    }
}

fn url(value: &str) -> Result<Media, String> {
    if !(value.starts_with("https://") || value.starts_with("http://")) {
        return Err(format!("Invalid URL: {}", crate::sanitize::one_line(value)));
    }
    Ok(Media { media_type: None, bytes: 0, description: "an image from a URL".into() })
}

fn decoded(data: &str, image: bool) -> Result<Media, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| "Invalid base64 data: the image or file could not be decoded".to_string())?;
    let media = MediaType::sniff(&bytes).ok_or("Could not process image: not a PNG, JPEG, GIF, WebP or PDF")?;
    if image && !media.is_image() {
        return Err("Could not process image: a PDF was sent as an image".into());
    }
    Ok(Media { media_type: Some(media), bytes: bytes.len(), description: describe(media, &bytes) })
}

fn describe(media: MediaType, bytes: &[u8]) -> String {
    match media {
        MediaType::Png => png_text(bytes, "Description").unwrap_or_else(|| match png_size(bytes) {
            Some((w, h)) => format!("a {w}×{h} PNG image"),
            None => "a PNG image".into(),
        }),
        MediaType::Pdf => {
            pdf_title(bytes).map_or_else(|| "a PDF document".into(), |t| format!("a PDF document titled {t}"))
        }
        MediaType::Jpeg => "a JPEG image".into(),
        MediaType::Gif => "a GIF image".into(),
        MediaType::Webp => "a WebP image".into(),
    }
}

/// A PNG `tEXt` chunk's text for `keyword`.
fn png_text(bytes: &[u8], keyword: &str) -> Option<String> {
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().ok()?) as usize;
        let kind = &bytes[at + 4..at + 8];
        let data = bytes.get(at + 8..at + 8 + len)?;
        if kind == b"tEXt"
            && let Some(nul) = data.iter().position(|&b| b == 0)
            && &data[..nul] == keyword.as_bytes()
        {
            return Some(String::from_utf8_lossy(&data[nul + 1..]).into_owned());
        }
        if kind == b"IEND" {
            return None;
        }
        at += 12 + len;
    }
    None
}

fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let ihdr = bytes.get(16..24)?;
    Some((u32::from_be_bytes(ihdr[..4].try_into().ok()?), u32::from_be_bytes(ihdr[4..].try_into().ok()?)))
}

fn pdf_title(bytes: &[u8]) -> Option<String> {
    let at = memchr::memmem::find(bytes, b"/Title (")? + 8;
    let end = at + memchr::memchr(b')', &bytes[at..])?;
    Some(String::from_utf8_lossy(&bytes[at..end]).into_owned()).filter(|t| !t.trim().is_empty())
}

/// What a demo answer says it was shown: `The image shows a red square.` per attachment.
pub fn seen(media: &[Media]) -> String {
    media
        .iter()
        .map(|m| {
            let what = if m.media_type == Some(MediaType::Pdf) { "The document is" } else { "The image shows" };
            format!("{what} {}. ", m.description.trim_end_matches('.'))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A 2×1 PNG with a `Description` text chunk.
    fn png(description: Option<&str>) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = |kind: &[u8], data: &[u8]| {
            b.extend((data.len() as u32).to_be_bytes());
            b.extend(kind);
            b.extend(data);
            b.extend([0, 0, 0, 0]);
        };
        chunk(b"IHDR", &[0, 0, 0, 2, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
        if let Some(d) = description {
            chunk(b"tEXt", &[b"Description\0".as_slice(), d.as_bytes()].concat());
        }
        chunk(b"IEND", &[]);
        b
    }

    #[test]
    fn found_in_every_formats_shape_and_described() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(png(Some("a red square")));
        let data_url = format!("data:image/png;base64,{b64}");
        let cases = [
            (
                WireFormat::OpenAi,
                json!({"content": [{"type": "image_url", "image_url": {"url": data_url}}, {"type": "text", "text": "x"}]}),
            ),
            (WireFormat::OpenAiResponses, json!({"content": [{"type": "input_image", "image_url": data_url}]})),
            (
                WireFormat::Anthropic,
                json!({"content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64}}]}),
            ),
            (
                WireFormat::Gemini,
                json!({"parts": [{"inlineData": {"mimeType": "image/png", "data": b64}}, {"text": "x"}]}),
            ),
            (WireFormat::Ollama, json!({"content": "x", "images": [b64]})),
        ];
        for (f, message) in cases {
            let media = in_message(f, &message).unwrap();
            assert_eq!(media.len(), 1, "{f:?}");
            assert_eq!(media[0].description, "a red square", "{f:?}");
            assert_eq!(seen(&media), "The image shows a red square. ");
        }
        let plain = in_message(WireFormat::OpenAi, &json!({"content": [{"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png(None)))}}]})).unwrap();
        assert_eq!(plain[0].description, "a 2×1 PNG image");
        assert!(plain[0].tokens() > 85);
        let pdf =
            base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4\n1 0 obj << /Title (Q3 report) >>\n%%EOF");
        let doc = in_message(WireFormat::Anthropic, &json!({"content": [{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": pdf}}]})).unwrap();
        assert_eq!(seen(&doc), "The document is a PDF document titled Q3 report. ");
    }

    #[test]
    fn bad_data_is_a_bad_request() {
        let err = |f, m: Value| in_message(f, &m).unwrap_err();
        assert!(err(WireFormat::Ollama, json!({"images": ["!!!"]})).contains("base64"));
        assert!(err(WireFormat::Ollama, json!({"images": ["aGVsbG8="]})).contains("not a PNG"));
        let pdf = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4\n");
        assert!(err(WireFormat::OpenAi, json!({"content": [{"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{pdf}")}}]})).contains("PDF was sent as an image"));
        assert!(
            err(WireFormat::Anthropic, json!({"content": [{"type": "image", "source": {"type": "file"}}]}))
                .contains("base64 or url")
        );
        assert!(
            err(
                WireFormat::OpenAi,
                json!({"content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]})
            )
            .contains("Invalid URL")
        );
    }
}
