//! Mimetypes on the way out and in: what a document is announced as, whether a sticker is WebP,
//! and what a received file is when WhatsApp leaves its mimetype out.

const GENERIC: &str = "application/octet-stream";

/// The mimetype a document is sent with: the caller's when it says something, otherwise the one
/// its file name implies, otherwise the generic binary type. Recipients pick the viewer by it.
pub fn document_mimetype(file_name: &str, given: &str) -> String {
    let given = given.trim();
    if !given.is_empty() && !given.eq_ignore_ascii_case(GENERIC) {
        return given.to_ascii_lowercase();
    }
    mime_guess::from_path(file_name)
        .first_raw()
        .unwrap_or(GENERIC)
        .to_string()
}

/// WhatsApp only shows WebP stickers; anything else arrives as a broken bubble.
pub fn is_webp(bytes: &[u8]) -> bool {
    bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP"
}

/// The mimetype of a received file of `kind`, from the message or WhatsApp's default for it.
pub fn inbound_mimetype(kind: &str, given: Option<&str>) -> String {
    match given.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => match kind {
            "image" => "image/jpeg",
            "video" => "video/mp4",
            "audio" => "audio/ogg; codecs=opus",
            "sticker" => "image/webp",
            _ => GENERIC,
        }
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_specific_mimetype_wins_over_the_file_name() {
        assert_eq!(document_mimetype("report.pdf", "text/plain"), "text/plain");
        assert_eq!(
            document_mimetype("x.bin", "Application/PDF"),
            "application/pdf"
        );
    }

    #[test]
    fn a_generic_or_missing_mimetype_is_guessed_from_the_name() {
        assert_eq!(
            document_mimetype("report.pdf", "application/octet-stream"),
            "application/pdf"
        );
        assert_eq!(document_mimetype("notes.txt", ""), "text/plain");
        assert_eq!(document_mimetype("no-extension", ""), GENERIC);
    }

    #[test]
    fn webp_is_recognised_by_its_header() {
        let mut webp = b"RIFF\x10\x00\x00\x00WEBPVP8 ".to_vec();
        assert!(is_webp(&webp));
        webp[8] = b'X';
        assert!(!is_webp(&webp));
        assert!(!is_webp(b"\x89PNG\r\n\x1a\n\0\0\0\0"));
        assert!(!is_webp(b"RIFF"));
    }

    #[test]
    fn received_files_without_a_mimetype_get_whatsapps_default() {
        assert_eq!(inbound_mimetype("image", None), "image/jpeg");
        assert_eq!(inbound_mimetype("sticker", Some(" ")), "image/webp");
        assert_eq!(inbound_mimetype("document", None), GENERIC);
        assert_eq!(inbound_mimetype("image", Some("image/png")), "image/png");
    }
}
