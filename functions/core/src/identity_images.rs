//! Identity images a deployment chose to keep: sealed with AES-256-GCM
//! under its identity-image key before they reach the store, bound to their
//! session and upload (a sealed image copied to another session or record
//! does not open), kept for the deployment's retention and erased with the
//! visitor's other data. By default no deployment keeps any: the stills go
//! from the visitor's browser to the advisor's over the data link and
//! nowhere else (`docs/protocol.md`, Identity check).
//!
//! Pure: the host supplies the key and a fresh random nonce per image.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

/// The largest image kept, in bytes: a full-resolution camera still as
/// JPEG is well below it, and it fits a Lambda request in base64.
pub const MAX_IMAGE_BYTES: usize = 4 * 1024 * 1024;
/// The most images kept per identity check (the document, its back, the
/// face, one more).
pub const MAX_IMAGES_PER_CHECK: usize = 4;
/// The key's length: AES-256.
pub const KEY_LEN: usize = 32;
/// The nonce's length; it leads the sealed bytes.
pub const NONCE_LEN: usize = 12;

/// What an image shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageKind {
    Document,
    Face,
}

impl ImageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageKind::Document => "document",
            ImageKind::Face => "face",
        }
    }

    pub fn parse(text: &str) -> Option<ImageKind> {
        match text {
            "document" => Some(ImageKind::Document),
            "face" => Some(ImageKind::Face),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("an identity image is a JPEG of at most 4 MiB")]
    NotAnImage,
    #[error("the image does not open with this key for this record")]
    Sealed,
}

/// Is `bytes` a JPEG (its start-of-image and a marker) of an accepted size?
/// Only what the pages capture is kept; nothing else passes for an image.
pub fn check_image(bytes: &[u8]) -> Result<(), ImageError> {
    if bytes.len() < 4 || bytes.len() > MAX_IMAGE_BYTES || bytes[..3] != [0xFF, 0xD8, 0xFF] {
        return Err(ImageError::NotAnImage);
    }
    Ok(())
}

/// The sealing key from a deployment's key material (at least 32 bytes of
/// it, as generated: random bytes, or 64 random letters and digits read as
/// base64): its SHA-256.
pub fn key_from(material: &[u8]) -> Option<[u8; KEY_LEN]> {
    use sha2::Digest;
    (material.len() >= KEY_LEN).then(|| sha2::Sha256::digest(material).into())
}

/// What binds a sealed image to its record.
fn aad(session: &str, upload: &str) -> Vec<u8> {
    format!("livecard identity image v1|{session}|{upload}").into_bytes()
}

/// Seals `image` (checked with [`check_image`]) for session `session`,
/// record `upload`: the nonce, then the ciphertext with its tag.
pub fn seal(
    key: &[u8; KEY_LEN],
    nonce: [u8; NONCE_LEN],
    session: &str,
    upload: &str,
    image: &[u8],
) -> Result<Vec<u8>, ImageError> {
    check_image(image)?;
    let cipher = Aes256Gcm::new(key.into());
    let aad = aad(session, upload);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: image,
                aad: &aad,
            },
        )
        .map_err(|_| ImageError::NotAnImage)?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens what [`seal`] made for the same session and record.
pub fn open(
    key: &[u8; KEY_LEN],
    session: &str,
    upload: &str,
    sealed: &[u8],
) -> Result<Vec<u8>, ImageError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(ImageError::Sealed);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let aad = aad(session, upload);
    Aes256Gcm::new(key.into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: &aad,
            },
        )
        .map_err(|_| ImageError::Sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9];

    #[test]
    fn sealed_images_open_only_with_their_key_session_and_record() {
        let key = [7u8; KEY_LEN];
        let sealed = seal(&key, [1; NONCE_LEN], "s1", "u1", JPEG).expect("sealed");
        assert_ne!(
            &sealed[NONCE_LEN..NONCE_LEN + JPEG.len()],
            JPEG,
            "not in the clear"
        );
        assert_eq!(open(&key, "s1", "u1", &sealed), Ok(JPEG.to_vec()));
        assert_eq!(
            open(&[8; KEY_LEN], "s1", "u1", &sealed),
            Err(ImageError::Sealed)
        );
        assert_eq!(open(&key, "s2", "u1", &sealed), Err(ImageError::Sealed));
        assert_eq!(open(&key, "s1", "u2", &sealed), Err(ImageError::Sealed));
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(open(&key, "s1", "u1", &tampered), Err(ImageError::Sealed));
        assert_eq!(
            open(&key, "s1", "u1", &sealed[..10]),
            Err(ImageError::Sealed)
        );
        // A fresh nonce, a different sealing of the same image.
        assert_ne!(seal(&key, [2; NONCE_LEN], "s1", "u1", JPEG), Ok(sealed));
        assert_eq!(
            seal(&key, [2; NONCE_LEN], "s1", "u1", b"<svg>"),
            Err(ImageError::NotAnImage)
        );
    }

    #[test]
    fn only_jpegs_of_an_accepted_size_are_images() {
        assert_eq!(check_image(JPEG), Ok(()));
        assert_eq!(
            check_image(b"\x89PNG\r\n\x1a\n"),
            Err(ImageError::NotAnImage)
        );
        assert_eq!(check_image(b"<svg"), Err(ImageError::NotAnImage));
        assert_eq!(check_image(&[0xFF, 0xD8]), Err(ImageError::NotAnImage));
        let mut huge = JPEG.to_vec();
        huge.resize(MAX_IMAGE_BYTES + 1, 0);
        assert_eq!(check_image(&huge), Err(ImageError::NotAnImage));
        assert_eq!(ImageKind::parse("face"), Some(ImageKind::Face));
        assert_eq!(ImageKind::parse("selfie"), None);
        assert!(key_from(&[1; 31]).is_none(), "too little key material");
        assert_ne!(key_from(&[1; 32]), key_from(&[1; 48]));
    }
}
