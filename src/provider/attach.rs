//! Images and files in a prompt: read and identified once, written in each format's own shape.
//!
//! Users write OpenAI's content parts (`{"type": "image_url", "image_url": {"url": …}}`, plus
//! `{"type": "file", "path": …}` for local files), `images = [...]` / `files = [...]` next to a
//! prompt, `--image` / `--file`, or `:attach` in the TUI. A local file is read once, its type
//! found from its first bytes (PNG, JPEG, GIF, WebP, PDF — never from its name), and kept base64
//! encoded; a URL is passed on for the formats that fetch URLs themselves. Each format gets its
//! own part: OpenAI Chat `image_url` / `file`, Responses `input_image` / `input_file`, Anthropic
//! `image` / `document` blocks, Gemini `inlineData` / `fileData`, Ollama `images`. What a format
//! cannot take (a PDF for Ollama, a URL where only data goes, a file over its size limit) is that
//! model's own error ([`check`]), sent before anything goes on the wire.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::WireFormat;

/// The largest file read: above every format's own limit.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// What a file is, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaType {
    Png,
    Jpeg,
    Gif,
    Webp,
    Pdf,
}

impl MediaType {
    pub fn mime(self) -> &'static str {
        match self {
            MediaType::Png => "image/png",
            MediaType::Jpeg => "image/jpeg",
            MediaType::Gif => "image/gif",
            MediaType::Webp => "image/webp",
            MediaType::Pdf => "application/pdf",
        }
    }

    pub fn is_image(self) -> bool {
        self != MediaType::Pdf
    }

    /// The type a file's first bytes say it is.
    pub fn sniff(bytes: &[u8]) -> Option<MediaType> {
        match bytes {
            [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, ..] => Some(MediaType::Png),
            [0xff, 0xd8, 0xff, ..] => Some(MediaType::Jpeg),
            [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(MediaType::Gif),
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some(MediaType::Webp),
            [b'%', b'P', b'D', b'F', b'-', ..] => Some(MediaType::Pdf),
            _ => None,
        }
    }

    fn from_mime(mime: &str) -> Option<MediaType> {
        [MediaType::Png, MediaType::Jpeg, MediaType::Gif, MediaType::Webp, MediaType::Pdf].into_iter().find(|m| {
            m.mime().eq_ignore_ascii_case(mime.trim()) || (mime.trim() == "image/jpg" && *m == MediaType::Jpeg)
        })
    }

    /// A URL's type from its path's extension (for formats that must name it; the server reads
    /// the bytes itself).
    fn from_url(url: &str) -> Option<MediaType> {
        let path = url.split(['?', '#']).next().unwrap_or("");
        let ext = path.rsplit('.').next()?.to_ascii_lowercase();
        match ext.as_str() {
            "png" => Some(MediaType::Png),
            "jpg" | "jpeg" => Some(MediaType::Jpeg),
            "gif" => Some(MediaType::Gif),
            "webp" => Some(MediaType::Webp),
            "pdf" => Some(MediaType::Pdf),
            _ => None,
        }
    }
}

/// An image or a file in a user turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// The file's name, or the URL — what panes and reports show.
    pub name: String,
    /// `None` for a URL whose type is not known here (the server finds out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    /// Given as an image (`image_url`, `--image`) rather than a file.
    pub image: bool,
    /// The local file it was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// An http(s) URL the server fetches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Bytes of the file (0 for a URL).
    #[serde(default)]
    pub bytes: u64,
    /// The content, base64: for files and data URLs. Journals keep the path instead.
    #[serde(skip)]
    pub data: Option<Arc<str>>,
}

impl Attachment {
    /// Reads a local file: its type from its first bytes. `image`: it was given as an image, so
    /// a PDF is refused.
    pub fn from_file(path: &Path, image: bool) -> Result<Attachment, String> {
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(format!(
                "{shown} is {} MiB, over the {} MiB bakeoff reads",
                meta.len() >> 20,
                MAX_FILE_BYTES >> 20
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let media = MediaType::sniff(&bytes)
            .ok_or_else(|| format!("{shown}: not a PNG, JPEG, GIF, WebP or PDF file (by its content)"))?;
        if image && !media.is_image() {
            return Err(format!("{shown} is a PDF, not an image: attach it as a file"));
        }
        let name = path.file_name().map_or_else(|| shown.to_string(), |n| n.to_string_lossy().into_owned());
        Ok(Attachment {
            name,
            media_type: Some(media),
            image: media.is_image(),
            path: Some(path.to_path_buf()),
            url: None,
            bytes: bytes.len() as u64,
            data: Some(base64::engine::general_purpose::STANDARD.encode(&bytes).into()),
        })
    }

    /// An `http(s)` URL, or a `data:` URL (decoded and identified like a file).
    pub fn from_url(url: &str, image: bool) -> Result<Attachment, String> {
        let url = url.trim();
        if let Some(rest) = url.strip_prefix("data:") {
            let (head, data) = rest.split_once(',').ok_or("a data URL without a ',' before its data")?;
            let (mime, base64) = match head.strip_suffix(";base64") {
                Some(m) => (m, true),
                None => (head, false),
            };
            if !base64 {
                return Err("a data URL must be base64 (data:…;base64,…)".into());
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|e| format!("a data URL that is not valid base64: {e}"))?;
            let media = MediaType::sniff(&bytes).ok_or_else(|| {
                format!("a data URL ({}) that is not a PNG, JPEG, GIF, WebP or PDF", super::one_line(mime, 40))
            })?;
            if MediaType::from_mime(mime).is_some_and(|m| m != media) {
                return Err(format!("a data URL that says {} but holds {}", super::one_line(mime, 40), media.mime()));
            }
            return Ok(Attachment {
                name: format!("{} data", media.mime()),
                media_type: Some(media),
                image: media.is_image(),
                path: None,
                url: None,
                bytes: bytes.len() as u64,
                data: Some(data.trim().into()),
            });
        }
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            return Err(format!("{:?}: give an http(s) URL, a data URL or a local file", super::one_line(url, 80)));
        }
        let media = MediaType::from_url(url);
        Ok(Attachment {
            name: url.to_string(),
            media_type: media,
            image: media.map_or(image, MediaType::is_image),
            path: None,
            url: Some(url.to_string()),
            bytes: 0,
            data: None,
        })
    }

    /// As a user names one: an http(s) or data URL, else a local path (relative to `dir`).
    pub fn from_spec(spec: &str, dir: &Path, image: bool) -> Result<Attachment, String> {
        let lower = spec.trim_start().to_ascii_lowercase();
        if ["http://", "https://", "data:"].iter().any(|p| lower.starts_with(p)) {
            Attachment::from_url(spec, image)
        } else {
            Attachment::from_file(&dir.join(spec), image)
        }
    }

    /// Reads a journaled attachment's file again (journals keep the path, not the bytes); `Err`
    /// when it cannot be (its file is gone or changed type; inline data was never kept).
    pub fn reload(&mut self) -> Result<(), String> {
        if self.data.is_some() || self.url.is_some() {
            return Ok(());
        }
        let path =
            self.path.clone().ok_or_else(|| format!("{} was inline data, which journals do not keep", self.name))?;
        *self = Attachment::from_file(&path, self.image)?;
        Ok(())
    }

    /// `data:<mime>;base64,<data>`, when the content is here.
    fn data_url(&self) -> Option<String> {
        Some(format!("data:{};base64,{}", self.media_type?.mime(), self.data.as_deref()?))
    }

    /// What a pane or a table shows: `[image photo.png 41 KiB]`.
    pub fn label(&self) -> String {
        let kind = if self.image { "image" } else { "file" };
        let name = super::one_line(&self.name, 60);
        if self.bytes == 0 {
            format!("[{kind} {name}]")
        } else if self.bytes < 1024 {
            format!("[{kind} {name} {} B]", self.bytes)
        } else if self.bytes < 1 << 20 {
            format!("[{kind} {name} {} KiB]", self.bytes.div_ceil(1024))
        } else {
            format!("[{kind} {name} {:.1} MiB]", self.bytes as f64 / f64::from(1 << 20))
        }
    }

    /// OpenAI Chat Completions: `image_url` (a URL or a data URL) or `file` (a PDF as data).
    pub fn openai_chat(&self) -> Value {
        if self.image {
            let url = self.url.clone().or_else(|| self.data_url()).unwrap_or_default();
            json!({"type": "image_url", "image_url": {"url": url}})
        } else {
            json!({"type": "file", "file": {"filename": self.name, "file_data": self.data_url().unwrap_or_default()}})
        }
    }

    /// OpenAI Responses: `input_image` or `input_file` (data, or a `file_url`).
    pub fn responses(&self) -> Value {
        if self.image {
            let url = self.url.clone().or_else(|| self.data_url()).unwrap_or_default();
            json!({"type": "input_image", "image_url": url})
        } else if let Some(url) = &self.url {
            json!({"type": "input_file", "file_url": url})
        } else {
            json!({"type": "input_file", "filename": self.name, "file_data": self.data_url().unwrap_or_default()})
        }
    }

    /// Anthropic: an `image` or `document` block, its source base64 or a URL.
    pub fn anthropic(&self) -> Value {
        let source = match (&self.url, self.media_type, &self.data) {
            (Some(url), _, _) => json!({"type": "url", "url": url}),
            (None, Some(m), Some(data)) => json!({"type": "base64", "media_type": m.mime(), "data": &**data}),
            _ => json!({}),
        };
        json!({"type": if self.image { "image" } else { "document" }, "source": source})
    }

    /// Gemini: `inlineData` (base64) or `fileData` (a URI, with its type).
    pub fn gemini(&self) -> Value {
        let mime = self.media_type.map_or("", MediaType::mime);
        match (&self.url, &self.data) {
            (Some(url), _) => json!({"fileData": {"mimeType": mime, "fileUri": url}}),
            (None, data) => json!({"inlineData": {"mimeType": mime, "data": data.as_deref().unwrap_or("")}}),
        }
    }

    /// Ollama: the base64 image, for the message's `images`.
    pub fn ollama(&self) -> Value {
        json!(self.data.as_deref().unwrap_or(""))
    }
}

/// Decoded bytes one attachment may have in `format` (the API's documented limits: OpenAI 20 MB
/// per image and 32 MB per file, Anthropic 5 MB per image and 32 MB per request, Gemini 20 MB per
/// request — base64 is a third larger on the wire).
fn limit(format: WireFormat, image: bool) -> u64 {
    const MB: u64 = 1_000_000;
    match (format, image) {
        (WireFormat::OpenAi | WireFormat::OpenAiResponses, true) => 20 * MB,
        (WireFormat::OpenAi | WireFormat::OpenAiResponses, false) => 32 * MB,
        (WireFormat::Anthropic, true) => 5 * MB,
        (WireFormat::Anthropic, false) => 32 * MB * 3 / 4,
        (WireFormat::Gemini, _) => 20 * MB * 3 / 4,
        (WireFormat::Ollama, _) => MAX_FILE_BYTES,
    }
}

/// Whether `format` can take every attachment of `messages`; `Err` names the first that it
/// cannot, and why.
pub fn check(format: WireFormat, messages: &[super::Message]) -> Result<(), String> {
    let api = match format {
        WireFormat::OpenAi => "OpenAI Chat Completions",
        WireFormat::OpenAiResponses => "the OpenAI Responses API",
        WireFormat::Anthropic => "Anthropic Messages",
        WireFormat::Gemini => "Gemini",
        WireFormat::Ollama => "Ollama's native API",
    };
    let mut total = 0u64;
    for a in messages.iter().flat_map(|m| &m.attachments) {
        let name = super::one_line(&a.name, 80);
        if a.url.is_none() && a.data.is_none() {
            return Err(format!("{name} was not loaded (journals keep attachments' paths, not their bytes)"));
        }
        match format {
            WireFormat::Ollama if !a.image => return Err(format!("{api} takes images only, not {name}")),
            WireFormat::Ollama if a.url.is_some() => {
                return Err(format!("{api} takes images as data, not URLs: download {name} and attach the file"));
            }
            WireFormat::OpenAi if !a.image && a.url.is_some() => {
                return Err(format!("{api} takes files as data, not URLs: download {name} and attach the file"));
            }
            WireFormat::Gemini if a.url.is_some() && a.media_type.is_none() => {
                return Err(format!("{api} needs the type of {name}: a URL ending .png, .jpg, .gif, .webp or .pdf"));
            }
            _ => {}
        }
        let max = limit(format, a.image);
        if a.bytes > max {
            return Err(format!(
                "{name} is {:.1} MB, over {api}'s {:.1} MB for {}",
                a.bytes as f64 / 1e6,
                max as f64 / 1e6,
                if a.image { "an image" } else { "a file" }
            ));
        }
        total += a.bytes;
    }
    let request_max = match format {
        WireFormat::Anthropic => Some(32_000_000 * 3 / 4),
        WireFormat::Gemini => Some(20_000_000 * 3 / 4),
        _ => None,
    };
    match request_max {
        Some(max) if total > max => Err(format!(
            "the attachments are {:.1} MB together, over {api}'s {:.1} MB per request",
            total as f64 / 1e6,
            max as f64 / 1e6
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The smallest PNG: a 1×1 transparent pixel.
    pub(crate) const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00,
        0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d,
        0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn types_come_from_content_not_names() {
        assert_eq!(MediaType::sniff(PNG), Some(MediaType::Png));
        assert_eq!(MediaType::sniff(b"\xff\xd8\xff\xe0rest"), Some(MediaType::Jpeg));
        assert_eq!(MediaType::sniff(b"GIF89a..."), Some(MediaType::Gif));
        assert_eq!(MediaType::sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(MediaType::Webp));
        assert_eq!(MediaType::sniff(b"%PDF-1.7\n"), Some(MediaType::Pdf));
        assert_eq!(MediaType::sniff(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(MediaType::sniff(b""), None);

        let dir = tempfile::tempdir().unwrap();
        let disguised = dir.path().join("photo.pdf");
        std::fs::write(&disguised, PNG).unwrap();
        let a = Attachment::from_file(&disguised, false).unwrap();
        assert_eq!((a.media_type, a.image, a.bytes), (Some(MediaType::Png), true, PNG.len() as u64));
        let text = dir.path().join("notes.png");
        std::fs::write(&text, "hello").unwrap();
        assert!(Attachment::from_file(&text, true).unwrap_err().contains("notes.png: not a PNG"));
        let missing = Attachment::from_file(&dir.path().join("gone.png"), true).unwrap_err();
        assert!(missing.contains("gone.png"), "{missing}");
        let pdf = dir.path().join("doc.pdf");
        std::fs::write(&pdf, "%PDF-1.4\n%%EOF\n").unwrap();
        assert!(Attachment::from_file(&pdf, true).unwrap_err().contains("not an image"));
        assert!(!Attachment::from_file(&pdf, false).unwrap().image);
    }

    #[test]
    fn urls_and_data_urls() {
        let data = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(PNG));
        let a = Attachment::from_url(&data, true).unwrap();
        assert_eq!((a.media_type, a.bytes, a.url.as_deref()), (Some(MediaType::Png), PNG.len() as u64, None));
        assert_eq!(a.data_url().as_deref(), Some(data.as_str()));
        assert!(
            Attachment::from_url("data:image/jpeg;base64,iVBORw0KGgo=", true).unwrap_err().contains("says image/jpeg")
        );
        assert!(Attachment::from_url("data:image/png,abc", true).unwrap_err().contains("base64"));
        assert!(Attachment::from_url("data:image/png;base64,!!!", true).unwrap_err().contains("not valid base64"));
        let u = Attachment::from_url("https://example.com/cat.JPG?x=1", true).unwrap();
        assert_eq!((u.media_type, u.image), (Some(MediaType::Jpeg), true));
        assert_eq!(Attachment::from_url("https://example.com/get?id=3", true).unwrap().media_type, None);
        assert!(Attachment::from_url("ftp://x/y.png", true).is_err());
        assert!(Attachment::from_url("/etc/passwd", true).is_err());
    }

    #[test]
    fn every_format_gets_its_own_part() {
        let data = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(PNG));
        let img = Attachment::from_url(&data, true).unwrap();
        let b64 = img.data.as_deref().unwrap().to_string();
        assert_eq!(img.openai_chat(), json!({"type": "image_url", "image_url": {"url": data}}));
        assert_eq!(img.responses(), json!({"type": "input_image", "image_url": data}));
        assert_eq!(
            img.anthropic(),
            json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64}})
        );
        assert_eq!(img.gemini(), json!({"inlineData": {"mimeType": "image/png", "data": b64}}));
        assert_eq!(img.ollama(), json!(b64));

        let url = Attachment::from_url("https://example.com/a.pdf", false).unwrap();
        assert_eq!(url.responses(), json!({"type": "input_file", "file_url": "https://example.com/a.pdf"}));
        assert_eq!(
            url.anthropic(),
            json!({"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}})
        );
        assert_eq!(
            url.gemini(),
            json!({"fileData": {"mimeType": "application/pdf", "fileUri": "https://example.com/a.pdf"}})
        );
    }

    #[test]
    fn what_a_format_cannot_take_is_its_own_error() {
        let dir = tempfile::tempdir().unwrap();
        let pdf = dir.path().join("doc.pdf");
        std::fs::write(&pdf, "%PDF-1.4\n%%EOF\n").unwrap();
        let with = |a: Attachment| {
            let mut m = super::super::Message::user("x");
            m.attachments.push(a);
            vec![m]
        };
        let doc = with(Attachment::from_file(&pdf, false).unwrap());
        assert!(check(WireFormat::Ollama, &doc).unwrap_err().contains("images only, not doc.pdf"));
        for f in [WireFormat::OpenAi, WireFormat::OpenAiResponses, WireFormat::Anthropic, WireFormat::Gemini] {
            assert_eq!(check(f, &doc), Ok(()), "{f:?}");
        }
        let url = with(Attachment::from_url("https://x/cat.png", true).unwrap());
        assert!(check(WireFormat::Ollama, &url).unwrap_err().contains("not URLs"));
        let pdf_url = with(Attachment::from_url("https://x/a.pdf", false).unwrap());
        assert!(check(WireFormat::OpenAi, &pdf_url).unwrap_err().contains("not URLs"));
        let untyped = with(Attachment::from_url("https://x/get?id=1", true).unwrap());
        assert!(check(WireFormat::Gemini, &untyped).unwrap_err().contains("needs the type"));
        let mut big = Attachment::from_file(&pdf, false).unwrap();
        big.image = true;
        big.bytes = 6_000_000;
        let err = check(WireFormat::Anthropic, &with(big.clone())).unwrap_err();
        assert!(err.contains("doc.pdf is 6.0 MB, over Anthropic Messages's 5.0 MB for an image"), "{err}");
        assert_eq!(check(WireFormat::OpenAi, &with(big)), Ok(()));
        let mut unloaded = Attachment::from_file(&pdf, false).unwrap();
        unloaded.data = None;
        assert!(check(WireFormat::OpenAi, &with(unloaded)).unwrap_err().contains("not loaded"));
    }
}
