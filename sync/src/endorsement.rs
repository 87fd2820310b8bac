//! The organiser authority and the badge-signing keys it endorses.
//!
//! The hub holds the authority: an Ed25519 key it makes when its database is created.
//! A station pins the authority's public key when it enrols. A desk, kiosk or admin
//! station asks the hub to endorse its own signing key (bound to its own station id);
//! the hub signs a [`SigningKeyRecord`] and hands it to every station by sync. Stations
//! trust a key that arrived by sync only with a valid endorsement, so a stolen station
//! credential cannot plant a key. `expo-hub station revoke` publishes a signed
//! revocation of the station's keys the same way; revocation wins over endorsement.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::hlc::{wall_clock_ms, Hlc};
use crate::protocol::{Change, Record, SigningKeyRecord};

/// The `station` of the changes the hub itself makes (endorsements, revocations): not a
/// valid station name or id, so no station can claim it.
pub const HUB_ORIGIN: &str = "@hub";

/// The id a badge token names its signing key by: the first four bytes of the key's
/// SHA-256.
pub fn key_id(public_key: &VerifyingKey) -> u32 {
    let digest = Sha256::digest(public_key.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndorsementError {
    #[error("not an Ed25519 public key")]
    BadKey,
    #[error("the key id does not match the key")]
    KeyIdMismatch,
    #[error("the organiser authority's key is unreadable")]
    BadAuthority,
    #[error("the endorsement is not the organiser authority's signature")]
    BadSignature,
}

/// Parses a hex Ed25519 public key.
pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, EndorsementError> {
    let bytes: [u8; 32] = hex::decode(hex_key)
        .map_err(|_| EndorsementError::BadKey)?
        .try_into()
        .map_err(|_| EndorsementError::BadKey)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| EndorsementError::BadKey)
}

/// What the authority signs: every field of the record but the signature, each
/// length-prefixed so no two records share a message.
fn message(record: &SigningKeyRecord) -> Vec<u8> {
    let mut message = b"expo-kiosk signing key v1".to_vec();
    for part in [
        record.station.as_bytes(),
        &record.key_id.to_be_bytes(),
        record.public_key.as_bytes(),
        &[u8::from(record.revoked)],
    ] {
        message.extend_from_slice(&(part.len() as u64).to_be_bytes());
        message.extend_from_slice(part);
    }
    message
}

/// The organiser authority's signing half, held by the hub.
pub struct Authority {
    key: SigningKey,
}

impl Authority {
    pub fn generate() -> Self {
        Self { key: SigningKey::from_bytes(&rand::random::<[u8; 32]>()) }
    }

    pub fn from_secret_hex(secret: &str) -> Result<Self, EndorsementError> {
        let bytes: [u8; 32] = hex::decode(secret)
            .map_err(|_| EndorsementError::BadAuthority)?
            .try_into()
            .map_err(|_| EndorsementError::BadAuthority)?;
        Ok(Self { key: SigningKey::from_bytes(&bytes) })
    }

    /// The secret, for the hub's database only.
    pub fn secret_hex(&self) -> String {
        hex::encode(self.key.to_bytes())
    }

    /// What stations pin at enrolment.
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// Endorses `public_key` (hex) as the signing key of the station `station_id`.
    pub fn endorse(
        &self,
        station_id: &str,
        public_key: &str,
    ) -> Result<SigningKeyRecord, EndorsementError> {
        let key = parse_public_key(public_key)?;
        Ok(self.sign(SigningKeyRecord {
            station: station_id.to_owned(),
            key_id: key_id(&key),
            public_key: hex::encode(key.as_bytes()),
            revoked: false,
            signature: String::new(),
        }))
    }

    /// The signed revocation of an endorsed key.
    pub fn revoke(&self, endorsed: &SigningKeyRecord) -> SigningKeyRecord {
        self.sign(SigningKeyRecord { revoked: true, ..endorsed.clone() })
    }

    fn sign(&self, mut record: SigningKeyRecord) -> SigningKeyRecord {
        record.signature = hex::encode(self.key.sign(&message(&record)).to_bytes());
        record
    }

    /// A change of the hub itself carrying `record`, for every station to pull.
    pub fn change(record: SigningKeyRecord) -> Change {
        Change {
            id: Uuid::now_v7(),
            station: HUB_ORIGIN.to_owned(),
            hlc: Hlc { wall_ms: wall_clock_ms(), counter: 0, station: HUB_ORIGIN.to_owned() },
            record: Record::SigningKey(record),
            pushed_by: None,
        }
    }
}

/// Checks that `record` is signed by the authority whose public key is `authority`
/// (hex, pinned at enrolment) and that its key id matches its key; returns the key.
pub fn verify(
    authority: &str,
    record: &SigningKeyRecord,
) -> Result<VerifyingKey, EndorsementError> {
    let authority = parse_public_key(authority).map_err(|_| EndorsementError::BadAuthority)?;
    let signature: [u8; 64] = hex::decode(&record.signature)
        .map_err(|_| EndorsementError::BadSignature)?
        .try_into()
        .map_err(|_| EndorsementError::BadSignature)?;
    authority
        .verify(&message(record), &Signature::from_bytes(&signature))
        .map_err(|_| EndorsementError::BadSignature)?;
    let key = parse_public_key(&record.public_key)?;
    if key_id(&key) != record.key_id {
        return Err(EndorsementError::KeyIdMismatch);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn station_key() -> String {
        hex::encode(SigningKey::from_bytes(&[7; 32]).verifying_key().as_bytes())
    }

    #[test]
    fn an_endorsement_verifies_only_against_its_authority_and_unchanged() {
        let authority = Authority::generate();
        let endorsed = authority.endorse("st-desk", &station_key()).unwrap();
        assert!(verify(&authority.public_hex(), &endorsed).is_ok());

        let stranger = Authority::generate();
        assert_eq!(
            verify(&stranger.public_hex(), &endorsed),
            Err(EndorsementError::BadSignature),
            "an attacker's own authority endorses nothing here"
        );
        let moved = SigningKeyRecord { station: "st-other".into(), ..endorsed.clone() };
        assert_eq!(verify(&authority.public_hex(), &moved), Err(EndorsementError::BadSignature));
        let revoked = authority.revoke(&endorsed);
        assert!(verify(&authority.public_hex(), &revoked).is_ok());
        let unrevoked = SigningKeyRecord { revoked: false, ..revoked };
        assert_eq!(
            verify(&authority.public_hex(), &unrevoked),
            Err(EndorsementError::BadSignature)
        );

        let again = Authority::from_secret_hex(&authority.secret_hex()).unwrap();
        assert_eq!(again.public_hex(), authority.public_hex());
        assert_eq!(authority.endorse("st-desk", "zz"), Err(EndorsementError::BadKey));
    }
}
