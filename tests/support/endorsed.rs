//! What a station's sync worker writes when another signing station's changes arrive
//! through the hub: that station's changes, and its key as the hub's organiser authority
//! endorsed it (the only way a key from sync is trusted).

use expo_kiosk::station_sync::StoreOutbox;
use expo_sync::endorsement::Authority;
use expo_sync::station::StationOutbox;

/// Pins a fresh organiser authority at `here`, then applies everything `other` has made,
/// with `other`'s signing key endorsed by that authority, through `here`'s own connection.
pub fn apply_with_endorsed_key(other: &StoreOutbox, here: &StoreOutbox) {
    let organiser = Authority::generate();
    expo_kiosk::provisioning::pin_authority(&mut here.store(), &organiser.public_hex()).unwrap();
    let other_key = {
        let store = other.store();
        let key = store.event().unwrap().signing_key.as_ref().unwrap().verifying_key();
        organiser.endorse(store.station_id(), &hex::encode(key.as_bytes())).unwrap()
    };
    let mut changes = other.pending(1000).unwrap();
    changes.push(Authority::change(other_key));
    here.apply_remote(&changes, 1).unwrap();
}
