//! What an upload is, judged by its content (R-ARRANGE-1): PDF, JPEG or PNG recognised by
//! their magic bytes, never by the client's `Content-Type` or file name, at most
//! [`MAX_DOCUMENT_BYTES`]; and the SHA-256 that stands for a document everywhere its
//! content may not go (logs, database, audit log). Pure; does no I/O and knows nothing of
//! engagements or who may upload.

use super::error::DocumentError;
use std::str::FromStr;

/// The most bytes one document may have (10 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;

/// The sentence that names what an upload may be; every type or size refusal uses it.
pub const ACCEPTED_UPLOADS: &str =
    "Upload a PDF, JPEG or PNG file of at most 10 MiB (10,485,760 bytes).";

/// What an upload's content is, judged by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    Pdf,
    Jpeg,
    Png,
}

impl MediaType {
    /// The MIME type stored and served.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Pdf => "application/pdf",
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            MediaType::Pdf => "pdf",
            MediaType::Jpeg => "jpg",
            MediaType::Png => "png",
        }
    }

    /// Recognise PDF (`%PDF-`), PNG (its 8-byte signature) or JPEG (`FF D8 FF`).
    pub fn sniff(bytes: &[u8]) -> Option<MediaType> {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        if bytes.starts_with(b"%PDF-") {
            Some(MediaType::Pdf)
        } else if bytes.starts_with(PNG) {
            Some(MediaType::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(MediaType::Jpeg)
        } else {
            None
        }
    }
}

impl FromStr for MediaType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [MediaType::Pdf, MediaType::Jpeg, MediaType::Png]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or(())
    }
}

/// Check an upload's size and content; returns its media type. Pure.
pub fn check_upload(bytes: &[u8]) -> Result<MediaType, DocumentError> {
    if bytes.is_empty() {
        return Err(DocumentError::Empty);
    }
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge);
    }
    MediaType::sniff(bytes).ok_or(DocumentError::TypeNotAccepted)
}

/// Hex SHA-256 of a document's plaintext.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::audit::hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_judged_by_magic_bytes_only() {
        assert_eq!(check_upload(b"%PDF-1.7\n...").unwrap(), MediaType::Pdf);
        assert_eq!(
            check_upload(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap(),
            MediaType::Png
        );
        assert_eq!(
            check_upload(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]).unwrap(),
            MediaType::Jpeg
        );
        for bad in [
            &b"GIF89a...."[..],
            b"<html>%PDF-",
            b"PK\x03\x04",
            b"\x89PNG",
            &[0xFF, 0xD8],
        ] {
            assert!(matches!(
                check_upload(bad),
                Err(DocumentError::TypeNotAccepted)
            ));
        }
        assert!(matches!(check_upload(b""), Err(DocumentError::Empty)));
        let mut big = b"%PDF-".to_vec();
        big.resize(MAX_DOCUMENT_BYTES, b' ');
        assert!(check_upload(&big).is_ok(), "exactly 10 MiB is allowed");
        big.push(b' ');
        assert!(matches!(check_upload(&big), Err(DocumentError::TooLarge)));
    }
}
