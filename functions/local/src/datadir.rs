//! The data directory of `livecard up`:
//!
//! - `store.sqlite`: the embedded DynamoDB-compatible store;
//! - `secrets.json`: card signing keys, the session key and the visitor key,
//!   generated on first start (mode 0600);
//! - `admin.key`: the first admin API key, for the CLI (mode 0600).

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use livecard_app::Secrets;
use livecard_core::card::Keyring;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const SECRETS_FILE: &str = "secrets.json";
pub const ADMIN_KEY_FILE: &str = "admin.key";
pub const STORE_FILE: &str = "store.sqlite";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsFile {
    /// Which card key signs new cards.
    card_signing_key: String,
    /// Every card key that verifies (base64), by key id.
    card_keys: BTreeMap<String, String>,
    session_key: String,
    visitor_key: String,
    /// `whsec_…`: the company presence system signs its pushes with it.
    #[serde(default)]
    presence_webhook_secret: Option<String>,
}

pub struct DataDir {
    pub path: PathBuf,
}

impl DataDir {
    /// Opens the data directory, creating it when it does not exist.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if path.exists() && !path.is_dir() {
            bail!("the data directory {} is not a directory", path.display());
        }
        fs::create_dir_all(path)
            .with_context(|| format!("cannot create the data directory {}", path.display()))?;
        let probe = path.join(".write-test");
        fs::write(&probe, b"ok")
            .with_context(|| format!("the data directory {} is not writable", path.display()))?;
        let _ = fs::remove_file(&probe);
        Ok(Self {
            path: path.to_owned(),
        })
    }

    pub fn store_path(&self) -> PathBuf {
        self.path.join(STORE_FILE)
    }

    pub fn admin_key_path(&self) -> PathBuf {
        self.path.join(ADMIN_KEY_FILE)
    }

    /// Loads the secrets, generating them on first start. Returns whether
    /// they were new (a first start).
    pub fn secrets(&self) -> anyhow::Result<(Secrets, bool)> {
        let file = self.path.join(SECRETS_FILE);
        if file.exists() {
            let text = fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let mut parsed: SecretsFile = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not valid; restore it from a backup, or move the data directory away to start afresh",
                    file.display()
                )
            })?;
            if parsed.presence_webhook_secret.is_none() {
                // Written before the presence webhook existed: add its secret.
                let key = crate::ports::random_bytes::<32>()?;
                parsed.presence_webhook_secret = Some(livecard_core::webhook::encode_secret(&key));
                write_private(&file, serde_json::to_string_pretty(&parsed)?.as_bytes())?;
            }
            return Ok((
                to_secrets(parsed).with_context(|| format!("{} is not valid", file.display()))?,
                false,
            ));
        }
        if self.store_path().exists() {
            bail!(
                "{} is missing but the store exists: card links and sessions cannot be verified without it; \
                 restore it from a backup, or move the data directory away to start afresh",
                file.display()
            );
        }
        let key = || -> anyhow::Result<String> {
            Ok(STANDARD.encode(crate::ports::random_bytes::<32>()?))
        };
        let fresh = SecretsFile {
            card_signing_key: "k1".into(),
            card_keys: BTreeMap::from([("k1".to_owned(), key()?)]),
            session_key: key()?,
            visitor_key: key()?,
            presence_webhook_secret: Some(livecard_core::webhook::encode_secret(
                &crate::ports::random_bytes::<32>()?,
            )),
        };
        let text = serde_json::to_string_pretty(&fresh)?;
        write_private(&file, text.as_bytes())?;
        Ok((to_secrets(fresh)?, true))
    }

    /// Writes the admin key for the CLI to find.
    pub fn write_admin_key(&self, key: &str) -> anyhow::Result<()> {
        write_private(&self.admin_key_path(), format!("{key}\n").as_bytes())
    }

    pub fn read_admin_key(&self) -> Option<String> {
        fs::read_to_string(self.admin_key_path())
            .ok()
            .map(|k| k.trim().to_owned())
    }
}

fn to_secrets(file: SecretsFile) -> anyhow::Result<Secrets> {
    let decode = |name: &str, text: &str| {
        STANDARD
            .decode(text)
            .with_context(|| format!("{name} is not base64"))
    };
    let mut keys = Vec::new();
    for (kid, text) in &file.card_keys {
        keys.push((kid.clone(), decode(&format!("card key {kid}"), text)?));
    }
    let cards = Keyring::new(&file.card_signing_key, keys)?;
    let session_key = decode("session_key", &file.session_key)?;
    let visitor_key = decode("visitor_key", &file.visitor_key)?;
    if session_key.len() < 32 || visitor_key.len() < 32 {
        bail!("session_key and visitor_key must be at least 32 bytes");
    }
    let presence_webhook_key = file
        .presence_webhook_secret
        .as_deref()
        .and_then(livecard_core::webhook::decode_secret)
        .context(
            "presence_webhook_secret must be whsec_ followed by base64 of at least 24 bytes",
        )?;
    Ok(Secrets {
        cards,
        session_key,
        visitor_key,
        presence_webhook_key,
    })
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
