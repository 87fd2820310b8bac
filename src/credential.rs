//! Badge credentials: the compact signed token printed in a badge's QR code.
//!
//! Layout (version 1), 96 bytes before encoding:
//!
//! | bytes  | field                                                        |
//! |--------|--------------------------------------------------------------|
//! | 0      | version = 1                                                  |
//! | 1..5   | key id: first 4 bytes of SHA-256(public key), big-endian      |
//! | 5..9   | event tag: first 4 bytes of SHA-256(event id)                 |
//! | 9..25  | attendee id (UUID)                                           |
//! | 25..27 | badge serial (u16 BE): 1 on first print, +1 per reprint       |
//! | 27     | category code (the category's position in the event)         |
//! | 28..30 | valid from, days since 2000-01-01 (u16 BE), venue-local date |
//! | 30..32 | valid to (inclusive), same encoding                          |
//! | 32..96 | Ed25519 signature over the domain tag and bytes 0..32        |
//!
//! Text form: `EK1` + unpadded RFC 4648 base32 of the 96 bytes = 157 characters, all in
//! the QR alphanumeric set (QR version 7 at ECC M), and free of the symbols that
//! keyboard-wedge scanners mangle under foreign keyboard layouts.

use chrono::NaiveDate;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::AttendeeId;

pub const TOKEN_PREFIX: &str = "EK1";
const VERSION: u8 = 1;
const BODY_LEN: usize = 32;
const TOKEN_LEN: usize = BODY_LEN + 64;
const SIGNING_DOMAIN: &[u8] = b"expo-kiosk badge v1\0";
/// Longest text worth decoding; anything longer is malformed without further work.
const MAX_TEXT_LEN: usize = 200;

/// What a badge says about its holder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BadgeClaims {
    pub key_id: u32,
    pub event_tag: u32,
    pub attendee: AttendeeId,
    pub serial: u16,
    pub category_code: u8,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
}

/// Why a token is not accepted. The names are the `reason` strings of `verify --json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Invalid {
    #[error("malformed")]
    Malformed,
    #[error("unknown_key")]
    UnknownKey,
    #[error("bad_signature")]
    BadSignature,
    #[error("other_event")]
    OtherEvent,
    #[error("revoked")]
    Revoked,
    #[error("not_yet_valid")]
    NotYetValid,
    #[error("expired")]
    Expired,
}

impl Invalid {
    pub fn as_str(self) -> &'static str {
        match self {
            Invalid::Malformed => "malformed",
            Invalid::UnknownKey => "unknown_key",
            Invalid::BadSignature => "bad_signature",
            Invalid::OtherEvent => "other_event",
            Invalid::Revoked => "revoked",
            Invalid::NotYetValid => "not_yet_valid",
            Invalid::Expired => "expired",
        }
    }
}

pub fn key_id(key: &VerifyingKey) -> u32 {
    let digest = Sha256::digest(key.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

pub fn event_tag(event_id: &str) -> u32 {
    let digest = Sha256::digest(event_id.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

fn epoch() -> NaiveDate {
    // 2000-01-01 is a valid calendar date.
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()
}

fn encode_day(day: NaiveDate) -> u16 {
    let days = (day - epoch()).num_days().clamp(0, i64::from(u16::MAX));
    // Clamped into u16 range just above.
    days as u16
}

fn decode_day(days: u16) -> NaiveDate {
    epoch() + chrono::Days::new(u64::from(days))
}

/// Signs claims with the station key. `claims.key_id` is taken from the key.
pub fn sign(claims: &BadgeClaims, key: &SigningKey) -> String {
    let mut bytes = [0u8; TOKEN_LEN];
    bytes[0] = VERSION;
    bytes[1..5].copy_from_slice(&key_id(&key.verifying_key()).to_be_bytes());
    bytes[5..9].copy_from_slice(&claims.event_tag.to_be_bytes());
    bytes[9..25].copy_from_slice(claims.attendee.0.as_bytes());
    bytes[25..27].copy_from_slice(&claims.serial.to_be_bytes());
    bytes[27] = claims.category_code;
    bytes[28..30].copy_from_slice(&encode_day(claims.valid_from).to_be_bytes());
    bytes[30..32].copy_from_slice(&encode_day(claims.valid_to).to_be_bytes());
    let signature = key.sign(&signed_message(&bytes[..BODY_LEN]));
    bytes[BODY_LEN..].copy_from_slice(&signature.to_bytes());
    format!("{TOKEN_PREFIX}{}", data_encoding::BASE32_NOPAD.encode(&bytes))
}

fn signed_message(body: &[u8]) -> Vec<u8> {
    [SIGNING_DOMAIN, body].concat()
}

/// A token whose layout is well-formed; nothing about it is trusted yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedToken {
    pub claims: BadgeClaims,
    body: [u8; BODY_LEN],
    signature: Signature,
}

/// Parses the text form. Accepts lower case and surrounding white space (scanners add both).
pub fn parse(text: &str) -> Result<ParsedToken, Invalid> {
    let text = text.trim();
    if text.len() > MAX_TEXT_LEN || !text.is_ascii() {
        return Err(Invalid::Malformed);
    }
    let upper = text.to_ascii_uppercase();
    let encoded = upper.strip_prefix(TOKEN_PREFIX).ok_or(Invalid::Malformed)?;
    let bytes =
        data_encoding::BASE32_NOPAD.decode(encoded.as_bytes()).map_err(|_| Invalid::Malformed)?;
    let bytes: [u8; TOKEN_LEN] = bytes.try_into().map_err(|_| Invalid::Malformed)?;
    if bytes[0] != VERSION {
        return Err(Invalid::Malformed);
    }
    let field = |range: std::ops::Range<usize>| &bytes[range];
    let u16_at = |i: usize| u16::from_be_bytes([bytes[i], bytes[i + 1]]);
    let u32_at =
        |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let mut attendee = [0u8; 16];
    attendee.copy_from_slice(field(9..25));
    let claims = BadgeClaims {
        key_id: u32_at(1),
        event_tag: u32_at(5),
        attendee: AttendeeId(Uuid::from_bytes(attendee)),
        serial: u16_at(25),
        category_code: bytes[27],
        valid_from: decode_day(u16_at(28)),
        valid_to: decode_day(u16_at(30)),
    };
    let mut body = [0u8; BODY_LEN];
    body.copy_from_slice(field(0..BODY_LEN));
    let mut signature = [0u8; 64];
    signature.copy_from_slice(field(BODY_LEN..TOKEN_LEN));
    Ok(ParsedToken { claims, body, signature: Signature::from_bytes(&signature) })
}

/// What a verifier knows: this event, its trusted keys, and its revocations.
pub trait Trust {
    fn event_tag(&self) -> u32;
    fn verifying_key(&self, key_id: u32) -> Option<VerifyingKey>;
    fn is_revoked(&self, attendee: AttendeeId, serial: u16) -> bool;
}

/// Verifies a token against what the station trusts, on venue-local date `today`.
///
/// The checks run in an order that gives each kind of tampering its own reason: a
/// token from another event names a key we don't hold (`other_event`), a bit flipped
/// anywhere in the signed body breaks the signature (`bad_signature`).
pub fn verify(text: &str, trust: &impl Trust, today: NaiveDate) -> Result<BadgeClaims, Invalid> {
    let claims = verify_signed(text, trust)?;
    if trust.is_revoked(claims.attendee, claims.serial) {
        return Err(Invalid::Revoked);
    }
    if today < claims.valid_from {
        return Err(Invalid::NotYetValid);
    }
    if today > claims.valid_to {
        return Err(Invalid::Expired);
    }
    Ok(claims)
}

/// The claims of a token this event's key signed, whether or not it is revoked or valid
/// today: whose badge a refused scan was, for the desk's verdict card.
pub fn verify_signed(text: &str, trust: &impl Trust) -> Result<BadgeClaims, Invalid> {
    let token = parse(text)?;
    let claims = token.claims;
    let Some(key) = trust.verifying_key(claims.key_id) else {
        return Err(if claims.event_tag == trust.event_tag() {
            Invalid::UnknownKey
        } else {
            Invalid::OtherEvent
        });
    };
    key.verify(&signed_message(&token.body), &token.signature)
        .map_err(|_| Invalid::BadSignature)?;
    if claims.event_tag != trust.event_tag() {
        return Err(Invalid::OtherEvent);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::OsRng;
    use std::collections::HashSet;

    struct TestTrust {
        event_tag: u32,
        keys: Vec<VerifyingKey>,
        revoked: HashSet<(AttendeeId, u16)>,
    }

    impl Trust for TestTrust {
        fn event_tag(&self) -> u32 {
            self.event_tag
        }
        fn verifying_key(&self, id: u32) -> Option<VerifyingKey> {
            self.keys.iter().copied().find(|k| key_id(k) == id)
        }
        fn is_revoked(&self, attendee: AttendeeId, serial: u16) -> bool {
            self.revoked.contains(&(attendee, serial))
        }
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    fn setup() -> (SigningKey, TestTrust, BadgeClaims) {
        let key = SigningKey::generate(&mut OsRng);
        let trust = TestTrust {
            event_tag: event_tag("expo-2026"),
            keys: vec![key.verifying_key()],
            revoked: HashSet::new(),
        };
        let claims = BadgeClaims {
            key_id: key_id(&key.verifying_key()),
            event_tag: event_tag("expo-2026"),
            attendee: AttendeeId(Uuid::now_v7()),
            serial: 1,
            category_code: 2,
            valid_from: day(24),
            valid_to: day(27),
        };
        (key, trust, claims)
    }

    #[test]
    fn a_signed_token_verifies_and_fits_qr_alphanumeric() {
        let (key, trust, claims) = setup();
        let token = sign(&claims, &key);
        assert_eq!(token.len(), 157);
        assert!(token.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        assert_eq!(verify(&token, &trust, day(25)), Ok(claims.clone()));
        assert_eq!(verify(&format!(" {} \r\n", token.to_lowercase()), &trust, day(25)), Ok(claims));
    }

    #[test]
    fn each_failure_has_its_reason() {
        let (key, mut trust, claims) = setup();
        let token = sign(&claims, &key);
        assert_eq!(verify(&token, &trust, day(23)), Err(Invalid::NotYetValid));
        assert_eq!(verify(&token, &trust, day(28)), Err(Invalid::Expired));

        let other_key = SigningKey::generate(&mut OsRng);
        let forged = sign(&claims, &other_key);
        assert_eq!(verify(&forged, &trust, day(25)), Err(Invalid::UnknownKey));

        let other_event = BadgeClaims { event_tag: event_tag("another-fair"), ..claims.clone() };
        assert_eq!(
            verify(&sign(&other_event, &other_key), &trust, day(25)),
            Err(Invalid::OtherEvent)
        );
        // Signed by a key we trust, but for another event.
        assert_eq!(verify(&sign(&other_event, &key), &trust, day(25)), Err(Invalid::OtherEvent));

        trust.revoked.insert((claims.attendee, 1));
        assert_eq!(verify(&token, &trust, day(25)), Err(Invalid::Revoked));
    }

    #[test]
    fn junk_is_malformed() {
        let (key, trust, claims) = setup();
        let token = sign(&claims, &key);
        let junk = [
            String::new(),
            "EK1".into(),
            token[..100].to_string(),
            format!("{token}AA"),
            "x".repeat(10 * 1024),
            "'; DROP TABLE attendees; --".into(),
            "%s%s%s%n{}{0}".into(),
            "EK1".to_string() + &"8".repeat(154),
            token.replacen("EK1", "EK2", 1),
            "张三".into(),
        ];
        for text in junk {
            assert_eq!(verify(&text, &trust, day(25)), Err(Invalid::Malformed), "{text:.40}");
        }
    }

    proptest! {
        #[test]
        fn round_trip(serial in any::<u16>(), code in any::<u8>(), from in 0u16..20000, len in 0u16..30) {
            let (key, trust, claims) = setup();
            let claims = BadgeClaims {
                serial, category_code: code,
                valid_from: decode_day(from), valid_to: decode_day(from + len), ..claims
            };
            let token = sign(&claims, &key);
            prop_assert_eq!(parse(&token).unwrap().claims, claims.clone());
            prop_assert_eq!(verify(&token, &trust, claims.valid_from), Ok(claims));
        }

        #[test]
        fn any_flipped_bit_is_rejected(bit in 0usize..(TOKEN_LEN * 8)) {
            let (key, trust, claims) = setup();
            let token = sign(&claims, &key);
            let mut bytes = data_encoding::BASE32_NOPAD.decode(&token.as_bytes()[3..]).unwrap();
            bytes[bit / 8] ^= 1 << (bit % 8);
            let tampered = format!("EK1{}", data_encoding::BASE32_NOPAD.encode(&bytes));
            let result = verify(&tampered, &trust, day(25));
            let expected = match bit / 8 {
                0 => Invalid::Malformed,
                1..=4 => Invalid::UnknownKey,
                _ => Invalid::BadSignature,
            };
            prop_assert_eq!(result, Err(expected));
        }

        #[test]
        fn random_text_never_panics(text in ".{0,300}") {
            let (_, trust, _) = setup();
            prop_assert!(verify(&text, &trust, day(25)).is_err());
        }
    }
}
