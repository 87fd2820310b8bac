//! Station enrolment: one-time codes for the operator, bearer tokens for stations.
//! Both secrets are high-entropy random strings, so the hub stores only their SHA-256
//! (a slow password hash would buy nothing and cost a hash per request).

use rand::Rng;
use sha2::{Digest, Sha256};

use super::origin::HubOrigin;
use super::store::{current_under, HubStore, StationIdentity, StoreError};
use expo_sync::authority::StationRole;
use expo_sync::endorsement::{Authority, EndorsementError};
use expo_sync::protocol::{EnrolResponse, Record, SigningKeyRecord};
use expo_sync::validate::MAX_STATION_ID_BYTES;

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

pub(crate) fn valid_station_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Registers a station in `role` and returns its one-time enrolment code (shown once,
/// stored hashed).
pub async fn add_station<S: HubStore>(
    store: &S,
    name: &str,
    role: StationRole,
) -> Result<String, StoreError> {
    if !valid_station_name(name) {
        return Err(StoreError::InvalidStationName(name.chars().take(80).collect()));
    }
    let code = new_enrolment_code();
    store.add_station(name, role, &secret_hash(&normalise_code(&code))).await?;
    Ok(code)
}

/// Trades a one-time code for a new station credential, bound to `station_id` (the id
/// the station stamps on its changes) when the station gives one.
pub async fn enrol<S: HubStore>(
    store: &S,
    code: &str,
    station_id: Option<&str>,
) -> Result<EnrolResponse, StoreError> {
    if let Some(id) = station_id.filter(|id| id.is_empty() || id.len() > MAX_STATION_ID_BYTES) {
        return Err(StoreError::InvalidStationId(id.chars().take(80).collect()));
    }
    let token = new_station_token();
    let (station, role) = store
        .redeem_enrolment(
            &secret_hash(&normalise_code(code)),
            &secret_hash(&token),
            station_id.map(str::to_owned),
        )
        .await?;
    let authority = store.authority().await?.public_hex();
    Ok(EnrolResponse { station, token, role, authority: Some(authority) })
}

/// Why the hub does not endorse a key.
#[derive(Debug, thiserror::Error)]
pub enum EndorseError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a {0} station signs no badges")]
    SignsNoBadges(StationRole),
    #[error("this station has no role yet: `expo-hub station set-role` first")]
    NoRole,
    #[error("no station id is bound to this credential yet: push once, or enrol again")]
    NoStationId,
    #[error("{0}")]
    BadKey(#[from] EndorsementError),
    #[error("this station already has another signing key endorsed; revoke the station and enrol it again to change keys")]
    OtherKeyEndorsed,
}

/// Endorses the signing key `public_key` (hex) of the calling station and publishes the
/// endorsement for every station to pull. One key per station: asking again for the
/// same key answers the same endorsement, another key is refused, so a stolen
/// credential of a station that already has its key cannot add one of its own.
pub async fn endorse_key<S: HubStore>(
    store: &S,
    caller: &StationIdentity,
    public_key: &str,
) -> Result<SigningKeyRecord, EndorseError> {
    let role = caller.role.ok_or(EndorseError::NoRole)?;
    if !role.signs_badges() {
        return Err(EndorseError::SignsNoBadges(role));
    }
    let station_id = caller.station_id.as_deref().ok_or(EndorseError::NoStationId)?;
    let authority = store.authority().await?;
    let endorsed = authority.endorse(station_id, public_key)?;
    // A revoked key stays revoked; a station re-enrolled after its revocation may have a
    // new key endorsed under the same id.
    let current = endorsed_keys(store, station_id)
        .await?
        .into_iter()
        .find(|key| !key.revoked || key.public_key == endorsed.public_key);
    match current {
        Some(existing) if existing.public_key == endorsed.public_key => return Ok(existing),
        Some(_) => return Err(EndorseError::OtherKeyEndorsed),
        None => {}
    }
    let change = Authority::change(endorsed.clone());
    HubOrigin::store(store, &[change]).await?;
    Ok(endorsed)
}

/// Revokes the station `name` (its credential stops working at once) and publishes the
/// signed revocation of every signing key endorsed for it; returns how many.
pub async fn revoke_station<S: HubStore>(store: &S, name: &str) -> Result<usize, StoreError> {
    let Some(station_id) = store.revoke_station(name).await? else {
        return Ok(0);
    };
    let authority = store.authority().await?;
    let revocations: Vec<_> = endorsed_keys(store, &station_id)
        .await?
        .iter()
        .filter(|key| !key.revoked)
        .map(|key| Authority::change(authority.revoke(key)))
        .collect();
    if !revocations.is_empty() {
        HubOrigin::store(store, &revocations).await?;
    }
    Ok(revocations.len())
}

/// The signing keys endorsed (or revoked) for `station_id`, as the current state holds
/// them: their entity keys are one range, `signing_key:{station_id}:…`.
async fn endorsed_keys<S: HubStore>(
    store: &S,
    station_id: &str,
) -> Result<Vec<SigningKeyRecord>, StoreError> {
    let prefix = format!("signing_key:{station_id}:");
    let records = current_under(store, "signing_key", &prefix, MAX_KEYS_PER_STATION).await?;
    Ok(records
        .into_iter()
        .filter_map(|record| match record {
            Record::SigningKey(key) => Some(key),
            _ => None,
        })
        .collect())
}

/// More keys than one station ever has endorsed (one, unless revoked and re-enrolled
/// under the same id).
const MAX_KEYS_PER_STATION: usize = 64;

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
