//! Files passed peer to peer in a contact (over an `RTCDataChannel`; they
//! never touch livecard's servers): what a deployment allows. Both sides'
//! pages check a file against the policy before it is sent and when it is
//! offered; the server only counts files and bytes (`file_sent` events).

use serde::Serialize;

/// The default largest file: 25 MB.
pub const DEFAULT_MAX_BYTES: u64 = 25 * 1_000_000;
/// The largest a deployment may allow: 500 MB.
pub const MAX_MAX_BYTES: u64 = 500 * 1_000_000;
/// The most file types a deployment may list.
pub const MAX_TYPES: usize = 50;

/// The file types allowed by default: documents and pictures.
pub const DEFAULT_TYPES: &[&str] = &[
    "pdf", "png", "jpg", "jpeg", "gif", "webp", "heic", "txt", "csv", "rtf", "doc", "docx", "xls",
    "xlsx", "ppt", "pptx", "odt", "ods", "odp",
];

/// What may be sent: the largest file, and the file name extensions
/// allowed (lower case, without the dot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilePolicy {
    pub max_bytes: u64,
    pub types: Vec<String>,
}

impl Default for FilePolicy {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            types: DEFAULT_TYPES.iter().map(|t| (*t).to_owned()).collect(),
        }
    }
}

/// A file type as a deployment lists it: 1 to 10 of `a-z0-9`.
pub fn valid_type(text: &str) -> bool {
    (1..=10).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

impl FilePolicy {
    /// A policy from settings: a size in megabytes and a list of types.
    pub fn new(max_mb: u64, types: Vec<String>) -> Option<FilePolicy> {
        let max_bytes = max_mb.checked_mul(1_000_000)?;
        ((1..=MAX_MAX_BYTES).contains(&max_bytes)
            && !types.is_empty()
            && types.len() <= MAX_TYPES
            && types.iter().all(|t| valid_type(t)))
        .then_some(FilePolicy { max_bytes, types })
    }

    /// May `bytes` bytes be counted as one file sent?
    pub fn counts(&self, bytes: u64) -> bool {
        (1..=self.max_bytes).contains(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_bounded() {
        let p = FilePolicy::new(5, vec!["pdf".into(), "png".into()]).expect("policy");
        assert_eq!(p.max_bytes, 5_000_000);
        assert!(p.counts(5_000_000));
        assert!(!p.counts(5_000_001));
        assert!(!p.counts(0));
        assert_eq!(FilePolicy::new(0, vec!["pdf".into()]), None);
        assert_eq!(FilePolicy::new(501, vec!["pdf".into()]), None);
        assert_eq!(FilePolicy::new(5, vec![]), None);
        assert_eq!(FilePolicy::new(5, vec![".pdf".into()]), None);
        assert_eq!(FilePolicy::new(5, vec!["PDF".into()]), None);
        assert_eq!(FilePolicy::new(u64::MAX, vec!["pdf".into()]), None);
        assert!(FilePolicy::default().types.iter().all(|t| valid_type(t)));
    }
}
