//! Secret key files of a station: its Ed25519 signing key and the event's data key.
//! Hex text, readable by the owner only; never copied into the database or a log.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

use super::{Result, StoreError};
use crate::privacy::{DataKey, DATA_KEY_LEN};

pub struct KeyFiles {
    dir: PathBuf,
}

impl KeyFiles {
    pub fn new(data_dir: &Path) -> Self {
        Self { dir: data_dir.join("keys") }
    }

    pub fn signing_key_path(&self) -> PathBuf {
        self.dir.join("signing.key")
    }

    pub fn data_key_path(&self) -> PathBuf {
        self.dir.join("event-data.key")
    }

    pub fn load_signing_key(&self) -> Result<Option<SigningKey>> {
        let Some(bytes) = read_secret(&self.signing_key_path(), 32)? else { return Ok(None) };
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&bytes);
        Ok(Some(SigningKey::from_bytes(&seed)))
    }

    /// Creates this station's signing key if it has none. Returns the key either way.
    pub fn ensure_signing_key(&self) -> Result<SigningKey> {
        if let Some(key) = self.load_signing_key()? {
            return Ok(key);
        }
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        write_secret(&self.signing_key_path(), key.as_bytes())?;
        Ok(key)
    }

    pub fn load_data_key(&self) -> Result<Option<DataKey>> {
        let Some(bytes) = read_secret(&self.data_key_path(), DATA_KEY_LEN)? else {
            return Ok(None);
        };
        DataKey::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| StoreError::KeyFile { path: self.data_key_path(), reason: e.to_string() })
    }

    pub fn load_data_key_bytes(&self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        read_secret(&self.data_key_path(), DATA_KEY_LEN)
    }

    /// Installs the event data key; refuses to replace a different one (that would make
    /// every sealed ID number on this station unreadable).
    pub fn install_data_key(&self, secret: &[u8]) -> Result<()> {
        if let Some(existing) = self.load_data_key_bytes()? {
            if existing.as_slice() == secret {
                return Ok(());
            }
            return Err(StoreError::KeyFile {
                path: self.data_key_path(),
                reason: "this station already holds a different event data key".into(),
            });
        }
        write_secret(&self.data_key_path(), secret)
    }
}

fn read_secret(path: &Path, len: usize) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => Zeroizing::new(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::KeyFile { path: path.to_owned(), reason: e.to_string() }),
    };
    let bytes = hex::decode(text.trim()).map_err(|_| StoreError::KeyFile {
        path: path.to_owned(),
        reason: "not hex text".into(),
    })?;
    if bytes.len() != len {
        return Err(StoreError::KeyFile {
            path: path.to_owned(),
            reason: format!("expected {len} bytes, found {}", bytes.len()),
        });
    }
    Ok(Some(Zeroizing::new(bytes)))
}

fn write_secret(path: &Path, secret: &[u8]) -> Result<()> {
    let err =
        |e: std::io::Error| StoreError::KeyFile { path: path.to_owned(), reason: e.to_string() };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(err)?;
    file.write_all(Zeroizing::new(hex::encode(secret)).as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_key_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::new(dir.path());
        let key = files.ensure_signing_key().unwrap();
        assert_eq!(files.ensure_signing_key().unwrap().to_bytes(), key.to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(files.signing_key_path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_different_data_key_is_refused_and_a_corrupt_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::new(dir.path());
        files.install_data_key(&[1; 32]).unwrap();
        files.install_data_key(&[1; 32]).unwrap();
        assert!(files.install_data_key(&[2; 32]).is_err());
        std::fs::write(files.signing_key_path(), "zz").unwrap();
        assert!(files.load_signing_key().is_err());
    }
}
