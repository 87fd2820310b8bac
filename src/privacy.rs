//! Protection of ID document numbers at rest and in transit.
//!
//! One 32-byte secret per event (the *data key*) is created by `event init` and
//! shared with the event's desks through the event bundle. Two sub-keys derive from it:
//! - a lookup key: HMAC-SHA-256 of the normalised number, so stations and the hub can
//!   find exact matches and duplicates without the number;
//! - a sealing key: XChaCha20-Poly1305, so the number itself is stored encrypted.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::domain::IdDocument;

pub const DATA_KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("the event data key must be {DATA_KEY_LEN} bytes")]
    BadKeyLength,
    #[error("a sealed ID number could not be opened (wrong event data key or corrupt data)")]
    Unseal,
}

/// The event's data key with its two derived sub-keys.
pub struct DataKey {
    lookup: Zeroizing<[u8; 32]>,
    sealing: Zeroizing<[u8; 32]>,
}

impl DataKey {
    pub fn generate() -> Zeroizing<[u8; DATA_KEY_LEN]> {
        let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        key
    }

    pub fn from_bytes(secret: &[u8]) -> Result<Self, PrivacyError> {
        if secret.len() != DATA_KEY_LEN {
            return Err(PrivacyError::BadKeyLength);
        }
        Ok(Self { lookup: derive(secret, b"id-lookup"), sealing: derive(secret, b"id-sealing") })
    }

    /// Keyed hash of a document: type and number, so a passport and an ID card that
    /// happen to share digits never collide.
    pub fn lookup_hash(&self, doc: &IdDocument) -> String {
        let mut mac = hmac_with(self.lookup.as_ref());
        mac.update(doc.id_type.id().as_bytes());
        mac.update(b"\0");
        mac.update(doc.number().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// `nonce || ciphertext` of the number.
    pub fn seal(&self, doc: &IdDocument) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new(self.sealing.as_ref().into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption only fails for plaintexts beyond the AEAD's 256 GiB limit.
        let ciphertext =
            cipher.encrypt(XNonce::from_slice(&nonce), doc.number().as_bytes()).unwrap_or_default();
        [nonce.as_slice(), &ciphertext].concat()
    }

    pub fn unseal(&self, sealed: &[u8]) -> Result<Zeroizing<String>, PrivacyError> {
        if sealed.len() < 24 {
            return Err(PrivacyError::Unseal);
        }
        let (nonce, ciphertext) = sealed.split_at(24);
        let cipher = XChaCha20Poly1305::new(self.sealing.as_ref().into());
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| PrivacyError::Unseal)?;
        String::from_utf8(plain).map(Zeroizing::new).map_err(|_| PrivacyError::Unseal)
    }
}

fn hmac_with(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

fn derive(secret: &[u8], label: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut mac = hmac_with(secret);
    mac.update(label);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::IdType;
    use chrono::NaiveDate;

    fn doc(ty: IdType, n: &str) -> IdDocument {
        IdDocument::parse(ty, n, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()).unwrap()
    }

    #[test]
    fn seal_round_trips_and_hash_is_stable_per_key() {
        let secret = DataKey::generate();
        let key = DataKey::from_bytes(secret.as_ref()).unwrap();
        let id = doc(IdType::ResidentId, "110101202311012176");
        let sealed = key.seal(&id);
        assert!(!sealed.windows(8).any(|w| w == b"11010120"));
        assert_eq!(key.unseal(&sealed).unwrap().as_str(), "110101202311012176");
        assert_eq!(key.lookup_hash(&id), key.lookup_hash(&id));

        let other = DataKey::from_bytes(DataKey::generate().as_ref()).unwrap();
        assert_ne!(other.lookup_hash(&id), key.lookup_hash(&id));
        assert!(other.unseal(&sealed).is_err());
        assert!(key.unseal(&sealed[..10]).is_err());
    }

    #[test]
    fn document_type_is_part_of_the_hash() {
        let key = DataKey::from_bytes(&[7; 32]).unwrap();
        assert_ne!(
            key.lookup_hash(&doc(IdType::Passport, "12345678")),
            key.lookup_hash(&doc(IdType::TaiwanPermit, "12345678"))
        );
        assert!(DataKey::from_bytes(&[1; 5]).is_err());
    }
}
