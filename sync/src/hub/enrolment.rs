//! Station enrolment: one-time codes for the operator, bearer tokens for stations.
//! Both secrets are high-entropy random strings, so the hub stores only their SHA-256
//! (a slow password hash would buy nothing and cost a hash per request).

use rand::Rng;
use sha2::{Digest, Sha256};

use super::store::{HubStore, StoreError};
use crate::protocol::EnrolResponse;

/// Letters and digits that cannot be misread for one another when typed from a screen.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Three groups of four characters: 60 bits.
const CODE_GROUPS: usize = 3;
const CODE_GROUP_LEN: usize = 4;

pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A fresh code such as `K7QM-2XHD-9PTA`.
pub fn new_enrolment_code() -> String {
    let mut rng = rand::thread_rng();
    let groups: Vec<String> = (0..CODE_GROUPS)
        .map(|_| {
            (0..CODE_GROUP_LEN)
                .map(|_| char::from(CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())]))
                .collect()
        })
        .collect();
    groups.join("-")
}

/// Case, spaces and dashes do not matter when a code is typed back.
pub fn normalise_code(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

fn new_station_token() -> String {
    hex::encode(rand::thread_rng().gen::<[u8; 32]>())
}

fn valid_station_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Registers a station and returns its one-time enrolment code (shown once, stored hashed).
pub async fn add_station<S: HubStore>(store: &S, name: &str) -> Result<String, StoreError> {
    if !valid_station_name(name) {
        return Err(StoreError::InvalidStationName(name.chars().take(80).collect()));
    }
    let code = new_enrolment_code();
    store.add_station(name, &secret_hash(&normalise_code(&code))).await?;
    Ok(code)
}

/// Trades a one-time code for a new station credential.
pub async fn enrol<S: HubStore>(store: &S, code: &str) -> Result<EnrolResponse, StoreError> {
    let token = new_station_token();
    let station =
        store.redeem_enrolment(&secret_hash(&normalise_code(code)), &secret_hash(&token)).await?;
    Ok(EnrolResponse { station, token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_back_codes_match() {
        let code = new_enrolment_code();
        assert_eq!(code.len(), CODE_GROUPS * (CODE_GROUP_LEN + 1) - 1);
        let typed = format!(" {} ", code.to_lowercase().replace('-', " "));
        assert_eq!(secret_hash(&normalise_code(&typed)), secret_hash(&normalise_code(&code)));
    }

    #[test]
    fn station_names() {
        assert!(valid_station_name("desk-1.hall_b"));
        for bad in ["", "a b", "désk", &"x".repeat(65)] {
            assert!(!valid_station_name(bad), "{bad}");
        }
    }
}
