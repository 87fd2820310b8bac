//! Event provisioning: creating the event on its first station, and sharing it with the
//! others through a bundle file (definition, public keys and, for registration stations,
//! the event data key). A station's private signing key never leaves it.

use std::path::Path;

use ed25519_dalek::VerifyingKey;
use expo_sync::protocol::{EventRecord, PublicKeyRecord, SigningKeyRecord};
use expo_sync::{Hlc, Record};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use crate::credential;
use crate::domain::{EventDefinition, EventError};
use crate::operators::{authorize, Operator, OperatorError, Permission};
use crate::privacy::DataKey;
use crate::store::{now_rfc3339, Store, StoreError, Tx};

pub const BUNDLE_FORMAT: &str = "expo-kiosk-event-bundle";
pub const BUNDLE_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("this station already belongs to event {existing:?}; the file is for {offered:?} (use a fresh --data-dir per event)")]
    OtherEvent { existing: String, offered: String },
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("not an event bundle: {0}")]
    BadBundle(String),
    #[error(transparent)]
    Operator(#[from] OperatorError),
    /// Badge tokens carry a category's position: existing categories keep their place and id.
    #[error("category {0:?} must stay in its place: badges carry its position (new categories go at the end)")]
    CategoryMoved(String),
}

pub type Result<T, E = ProvisioningError> = std::result::Result<T, E>;

/// What `event export` writes. JSON, so that a person can read what is being shared.
#[derive(Debug, Serialize, Deserialize)]
pub struct Bundle {
    pub format: String,
    pub version: u32,
    pub event_id: String,
    /// The event definition as TOML text.
    pub definition: String,
    pub public_keys: Vec<PublicKeyRecord>,
    /// Hex of the event data key; present only in bundles for registration stations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_key: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Provisioned {
    pub event_id: String,
    pub station: String,
    /// This station's signing key id, if it signs badges.
    pub key_id: Option<String>,
    pub public_keys: usize,
    pub has_data_key: bool,
}

/// `event init`: makes this station the event's first station. Running it again with the
/// same event id updates the definition (new categories, changed hours) and keeps keys.
pub fn init(store: &mut Store, actor: &Operator, definition_toml: &str) -> Result<Provisioned> {
    authorize(store, actor, Permission::ManageEvent, None, &[])?;
    let definition = EventDefinition::from_toml(definition_toml)?;
    refuse_other_event(store, &definition.event.id)?;
    let files = store.key_files();
    let signing = files.ensure_signing_key()?;
    if files.load_data_key_bytes()?.is_none() {
        files.install_data_key(DataKey::generate().as_slice())?;
    }
    let own_key = public_key_record(store.station_id(), &signing.verifying_key());
    store.write(|tx| {
        install(tx, &definition, std::slice::from_ref(&own_key))?;
        tx.audit(&actor.name, "event_init", None, json!({ "event": definition.event.id }))?;
        emit_event(tx)
    })?;
    store.reload_event()?;
    status(store)
}

/// The admin's in-app edit of the event: installs `definition` in place of the stored one,
/// audits what changed (`event_update`, setting names and ids only) and queues it for the
/// hub, in one transaction. The event id and the existing categories' ids and order are
/// fixed (badge tokens carry them); categories may be appended. Returns what changed;
/// nothing is written when nothing did.
pub fn update_definition(
    store: &mut Store,
    actor: &Operator,
    definition: &EventDefinition,
) -> Result<Vec<String>> {
    authorize(store, actor, Permission::ManageEvent, None, &[])?;
    definition.validate()?;
    let changed = store.write(|tx| {
        let (stored_id, stored_text): (String, String) = tx
            .sql()
            .query_row("SELECT id, definition FROM event", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(StoreError::from)?
            .ok_or(StoreError::NoEvent)?;
        if stored_id != definition.event.id {
            return Err(ProvisioningError::OtherEvent {
                existing: stored_id,
                offered: definition.event.id.clone(),
            });
        }
        let stored = EventDefinition::from_toml(&stored_text)?;
        for (position, category) in stored.categories.iter().enumerate() {
            if definition.categories.get(position).map(|c| &c.id) != Some(&category.id) {
                return Err(ProvisioningError::CategoryMoved(category.id.clone()));
            }
        }
        let changed = changed_parts(&stored, definition);
        if changed.is_empty() {
            return Ok(changed);
        }
        install(tx, definition, &[])?;
        tx.audit(
            &actor.name,
            "event_update",
            None,
            json!({ "event": definition.event.id, "changed": changed }),
        )?;
        emit_event(tx)?;
        Ok(changed)
    })?;
    if !changed.is_empty() {
        store.reload_event()?;
    }
    Ok(changed)
}

/// What differs between two definitions of one event, as setting names and zone or
/// category ids (`zone:hall-1`, `category_added:press`): the audit detail of an edit.
fn changed_parts(old: &EventDefinition, new: &EventDefinition) -> Vec<String> {
    let (before, after) = (&old.event, &new.event);
    let settings = [
        ("name", before.name != after.name || before.name_en != after.name_en),
        ("venue", before.venue != after.venue),
        ("dates", before.start != after.start || before.end != after.end),
        ("timezone", before.timezone != after.timezone),
        ("badge_template", before.badge_template != after.badge_template),
        (
            "reprint_revokes_previous",
            before.reprint_revokes_previous != after.reprint_revokes_previous,
        ),
        ("kiosk_walk_in_category", before.kiosk_walk_in_category != after.kiosk_walk_in_category),
    ];
    let mut changed: Vec<String> = settings
        .iter()
        .filter(|(_, differs)| *differs)
        .map(|(name, _)| (*name).to_owned())
        .collect();
    for zone in &new.zones {
        match old.zone(&zone.id) {
            None => changed.push(format!("zone_added:{}", zone.id)),
            Some(previous) if previous != zone => changed.push(format!("zone:{}", zone.id)),
            Some(_) => {}
        }
    }
    for zone in old.zones.iter().filter(|zone| new.zone(&zone.id).is_none()) {
        changed.push(format!("zone_removed:{}", zone.id));
    }
    for category in &new.categories {
        match old.categories.iter().find(|c| c.id == category.id) {
            None => changed.push(format!("category_added:{}", category.id)),
            Some(previous) if previous != category => {
                changed.push(format!("category:{}", category.id));
            }
            Some(_) => {}
        }
    }
    changed
}

/// `event export`: the bundle other stations import. `with_data_key` adds the secret
/// that lets registration stations recognise the same ID document; gates never need it.
pub fn export(store: &Store, with_data_key: bool) -> Result<Bundle> {
    let event = store.event()?;
    let data_key = if with_data_key {
        let bytes = store.key_files().load_data_key_bytes()?.ok_or_else(|| {
            ProvisioningError::BadBundle("this station holds no event data key to export".into())
        })?;
        Some(hex::encode(bytes.as_slice()))
    } else {
        None
    };
    Ok(Bundle {
        format: BUNDLE_FORMAT.into(),
        version: BUNDLE_VERSION,
        event_id: event.definition.event.id.clone(),
        definition: event.definition.to_toml(),
        public_keys: stored_public_keys(store.conn())?,
        data_key,
    })
}

/// Writes a bundle readable by the owner only: it may hold the event data key.
pub fn write_bundle(bundle: &Bundle, path: &Path) -> Result<()> {
    let err = |e: std::io::Error| ProvisioningError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let text = Zeroizing::new(
        serde_json::to_string_pretty(bundle)
            .map_err(|e| ProvisioningError::BadBundle(e.to_string()))?,
    );
    crate::store::write_private_file(path, text.as_bytes()).map_err(err)
}

pub fn read_bundle(path: &Path) -> Result<Bundle> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        ProvisioningError::File { path: path.display().to_string(), reason: e.to_string() }
    })?);
    let bundle: Bundle =
        serde_json::from_str(&text).map_err(|e| ProvisioningError::BadBundle(e.to_string()))?;
    if bundle.format != BUNDLE_FORMAT {
        return Err(ProvisioningError::BadBundle(format!("format is {:?}", bundle.format)));
    }
    if bundle.version != BUNDLE_VERSION {
        return Err(ProvisioningError::BadBundle(format!(
            "bundle version {} (this program reads {BUNDLE_VERSION})",
            bundle.version
        )));
    }
    Ok(bundle)
}

/// `event import`: joins this station to the event. A station that `signs` badges gets
/// its own signing key; its public key reaches the others by sync or by its own export.
pub fn import(
    store: &mut Store,
    actor: &Operator,
    bundle: &Bundle,
    signs: bool,
) -> Result<Provisioned> {
    authorize(store, actor, Permission::ManageEvent, None, &[])?;
    let definition = EventDefinition::from_toml(&bundle.definition)?;
    if definition.event.id != bundle.event_id {
        return Err(ProvisioningError::BadBundle("event id and definition disagree".into()));
    }
    refuse_other_event(store, &definition.event.id)?;
    for key in &bundle.public_keys {
        parse_public_key(key)?;
    }
    let files = store.key_files();
    if let Some(secret) = &bundle.data_key {
        let secret = Zeroizing::new(
            hex::decode(secret)
                .map_err(|_| ProvisioningError::BadBundle("data key is not hex".into()))?,
        );
        DataKey::from_bytes(&secret).map_err(|e| ProvisioningError::BadBundle(e.to_string()))?;
        files.install_data_key(&secret)?;
    }
    let mut keys = bundle.public_keys.clone();
    if signs {
        let signing = files.ensure_signing_key()?;
        keys.push(public_key_record(store.station_id(), &signing.verifying_key()));
    }
    store.write(|tx| {
        install(tx, &definition, &keys)?;
        tx.audit(
            &actor.name,
            "event_import",
            None,
            json!({ "event": definition.event.id, "public_keys": keys.len() }),
        )?;
        emit_event(tx)
    })?;
    store.reload_event()?;
    status(store)
}

/// Applies an event record pulled from the hub: a newer definition. Its public keys are
/// not trusted: a key that arrives by sync is trusted only with the organiser
/// authority's endorsement ([`apply_signing_key`]). A version older than the one
/// installed (by HLC) changes nothing: an old record replayed must not undo a later
/// edit. Returns whether it was installed.
pub fn apply_remote(tx: &Tx<'_>, record: &EventRecord, hlc: &Hlc) -> Result<bool> {
    if installed_event_hlc(tx.sql())?.is_some_and(|installed| *hlc <= installed) {
        return Ok(false);
    }
    let definition = EventDefinition::from_toml(&record.definition)?;
    let current: Option<String> = tx
        .sql()
        .query_row("SELECT id FROM event", [], |r| r.get(0))
        .optional()
        .map_err(StoreError::from)?;
    if current.as_deref().is_some_and(|id| id != record.event_id) {
        return Err(ProvisioningError::OtherEvent {
            existing: current.unwrap_or_default(),
            offered: record.event_id.clone(),
        });
    }
    install(tx, &definition, &[])?;
    remember_event_hlc(tx, hlc)?;
    Ok(true)
}

/// The `sync_state` entry holding the organiser authority's public key (hex), pinned
/// when this station enrolled with the hub.
const AUTHORITY_KEY: &str = "hub_authority";
/// The `sync_state` entry holding this station's own public key once the authority
/// endorsed it.
const ENDORSED_KEY: &str = "endorsed_key";

/// Pins the organiser authority's public key (hex) the hub gave at enrolment.
pub fn pin_authority(store: &mut Store, authority: &str) -> Result<()> {
    expo_sync::endorsement::parse_public_key(authority)
        .map_err(|e| ProvisioningError::BadBundle(format!("hub authority: {e}")))?;
    store.write(|tx| set_sync_state(tx, AUTHORITY_KEY, authority))
}

/// Applies a signing key endorsed or revoked by the organiser authority: trusted from now
/// on, or no longer (and never again, whatever a bundle or record says). Refused when
/// the signature is not the pinned authority's. Returns whether the trusted keys changed.
pub fn apply_signing_key(tx: &Tx<'_>, record: &SigningKeyRecord) -> Result<bool> {
    let authority = sync_state(tx.sql(), AUTHORITY_KEY)?.ok_or_else(|| {
        ProvisioningError::BadBundle(
            "no organiser authority pinned: enrol this station with the hub again".into(),
        )
    })?;
    let key = expo_sync::endorsement::verify(&authority, record).map_err(|e| {
        ProvisioningError::BadBundle(format!("signing key {:08x}: {e}", record.key_id))
    })?;
    if record.revoked {
        tx.sql()
            .execute(
                "DELETE FROM public_keys WHERE key_id = ?1 AND public_key = ?2",
                params![record.key_id, key.as_bytes().as_slice()],
            )
            .map_err(StoreError::from)?;
        set_sync_state(tx, &revoked_key_entry(record.key_id, &record.public_key), &record.station)?;
        tracing::warn!(key_id = record.key_id, station = record.station, "signing key revoked");
        return Ok(true);
    }
    let record = PublicKeyRecord {
        key_id: record.key_id,
        station: record.station.clone(),
        public_key: record.public_key.clone(),
    };
    install_keys(tx, std::slice::from_ref(&record))?;
    Ok(true)
}

/// This station's own public key (hex) while the authority has not endorsed it; `None`
/// once it has, or when the station signs no badges or pinned no authority.
pub fn unendorsed_key(store: &Store) -> Result<Option<String>> {
    let Some(signing) = store.event().ok().and_then(|event| event.signing_key.as_ref()) else {
        return Ok(None);
    };
    let own = hex::encode(signing.verifying_key().as_bytes());
    if sync_state(store.conn(), AUTHORITY_KEY)?.is_none()
        || sync_state(store.conn(), ENDORSED_KEY)?.as_deref() == Some(own.as_str())
    {
        return Ok(None);
    }
    Ok(Some(own))
}

/// Keeps the endorsement of this station's own key and trusts it like a pulled one.
pub fn keep_endorsement(store: &mut Store, endorsed: &SigningKeyRecord) -> Result<()> {
    store.write(|tx| {
        apply_signing_key(tx, endorsed)?;
        set_sync_state(tx, ENDORSED_KEY, &endorsed.public_key)
    })?;
    store.reload_event()?;
    Ok(())
}

/// The `sync_state` entry that marks a key revoked for good.
fn revoked_key_entry(key_id: u32, public_key: &str) -> String {
    format!("revoked_key:{key_id:08x}:{public_key}")
}

fn sync_state(conn: &rusqlite::Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM sync_state WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .map_err(StoreError::from)?)
}

fn set_sync_state(tx: &Tx<'_>, key: &str, value: &str) -> Result<()> {
    tx.sql()
        .execute(
            "INSERT INTO sync_state (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )
        .map_err(StoreError::from)?;
    Ok(())
}

/// The `sync_state` entry holding the HLC of the event version installed last.
const EVENT_HLC_KEY: &str = "event_hlc";

fn installed_event_hlc(conn: &rusqlite::Connection) -> Result<Option<Hlc>> {
    sync_state(conn, EVENT_HLC_KEY)?
        .map(|t| t.parse().map_err(|_| StoreError::Corrupt(format!("event HLC {t:?}")).into()))
        .transpose()
}

fn remember_event_hlc(tx: &Tx<'_>, hlc: &Hlc) -> Result<()> {
    set_sync_state(tx, EVENT_HLC_KEY, &hlc.to_string())
}

pub fn status(store: &Store) -> Result<Provisioned> {
    let event = store.event()?;
    Ok(Provisioned {
        event_id: event.definition.event.id.clone(),
        station: store.station_id().to_owned(),
        key_id: event
            .signing_key
            .as_ref()
            .map(|k| format!("{:08x}", credential::key_id(&k.verifying_key()))),
        public_keys: event.public_keys.len(),
        has_data_key: event.data_key.is_some(),
    })
}

fn refuse_other_event(store: &Store, offered: &str) -> Result<()> {
    let existing: Option<String> = store
        .conn()
        .query_row("SELECT id FROM event", [], |r| r.get(0))
        .optional()
        .map_err(StoreError::from)?;
    match existing {
        Some(existing) if existing != offered => {
            Err(ProvisioningError::OtherEvent { existing, offered: offered.to_owned() })
        }
        _ => Ok(()),
    }
}

fn install(tx: &Tx<'_>, definition: &EventDefinition, keys: &[PublicKeyRecord]) -> Result<()> {
    let now = now_rfc3339();
    tx.sql()
        .execute(
            "INSERT INTO event (id, definition, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT(id) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at",
            params![definition.event.id, definition.to_toml(), now],
        )
        .map_err(StoreError::from)?;
    install_keys(tx, keys)
}

/// Trusts `keys` from now on, except those the organiser authority revoked.
fn install_keys(tx: &Tx<'_>, keys: &[PublicKeyRecord]) -> Result<()> {
    let now = now_rfc3339();
    for key in keys {
        let bytes = parse_public_key(key)?;
        if sync_state(tx.sql(), &revoked_key_entry(key.key_id, &key.public_key))?.is_some() {
            continue;
        }
        tx.sql()
            .execute(
                "INSERT OR IGNORE INTO public_keys (key_id, public_key, station, added_at) VALUES (?1, ?2, ?3, ?4)",
                params![key.key_id, bytes.as_bytes().as_slice(), key.station, now],
            )
            .map_err(StoreError::from)?;
    }
    Ok(())
}

/// Queues the event (definition and every public key held) so the hub distributes it.
fn emit_event(tx: &mut Tx<'_>) -> Result<()> {
    let (event_id, definition): (String, String) = tx
        .sql()
        .query_row("SELECT id, definition FROM event", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(StoreError::from)?;
    let public_keys = stored_public_keys(tx.sql())?;
    let hlc = tx.tick();
    remember_event_hlc(tx, &hlc)?;
    tx.emit(hlc, Record::Event(EventRecord { event_id, definition, public_keys }))?;
    Ok(())
}

fn stored_public_keys(conn: &rusqlite::Connection) -> Result<Vec<PublicKeyRecord>> {
    let mut stmt = conn
        .prepare("SELECT key_id, station, public_key FROM public_keys ORDER BY key_id")
        .map_err(StoreError::from)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(PublicKeyRecord {
                key_id: r.get(0)?,
                station: r.get(1)?,
                public_key: hex::encode(r.get::<_, Vec<u8>>(2)?),
            })
        })
        .map_err(StoreError::from)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>().map_err(StoreError::from)?)
}

fn public_key_record(station: &str, key: &VerifyingKey) -> PublicKeyRecord {
    PublicKeyRecord {
        key_id: credential::key_id(key),
        station: station.to_owned(),
        public_key: hex::encode(key.as_bytes()),
    }
}

/// Checks that a shared key is a real Ed25519 key and that its id matches it, so a
/// tampered bundle cannot slip in a key under another key's id.
fn parse_public_key(record: &PublicKeyRecord) -> Result<VerifyingKey> {
    let bad = || {
        ProvisioningError::BadBundle(format!(
            "public key {:08x} is not a valid Ed25519 key",
            record.key_id
        ))
    };
    let bytes: [u8; 32] =
        hex::decode(&record.public_key).map_err(|_| bad())?.try_into().map_err(|_| bad())?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad())?;
    if credential::key_id(&key) != record.key_id {
        return Err(ProvisioningError::BadBundle(format!(
            "public key {:08x} does not match its id",
            record.key_id
        )));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{store_with_event, EXAMPLE_EVENT};

    #[test]
    fn init_creates_keys_and_queues_the_event() {
        let (dir, store) = store_with_event();
        let status = status(&store).unwrap();
        assert_eq!(status.event_id, "expo-2026");
        assert!(status.key_id.is_some() && status.has_data_key);
        assert_eq!(status.public_keys, 1);
        assert_eq!(outbox_kinds(&store), ["audit", "event"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("keys/signing.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "private key readable by others");
        }
    }

    fn outbox_kinds(store: &Store) -> Vec<String> {
        store
            .conn()
            .prepare("SELECT kind FROM outbox ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn an_admin_edit_is_installed_audited_and_queued_in_one_go() {
        let (_dir, mut store) = store_with_event();
        let admin = Operator::station_admin(store.station_id());
        let mut edited = store.event().unwrap().definition.clone();
        edited.zones[0].name_en = "Hall One".into();
        edited.categories[1].access[0].to = chrono::NaiveTime::from_hms_opt(18, 30, 0).unwrap();

        let changed = update_definition(&mut store, &admin, &edited).unwrap();
        assert_eq!(changed, ["zone:hall-1", "category:professional_visitor"]);
        assert_eq!(store.event().unwrap().definition, edited, "the store reloaded the edit");
        let (actor, detail): (String, String) = store
            .conn()
            .query_row("SELECT actor, detail FROM audit WHERE action = 'event_update'", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(actor, admin.name);
        let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
        assert_eq!(detail["changed"], json!(["zone:hall-1", "category:professional_visitor"]));
        assert_eq!(outbox_kinds(&store), ["audit", "event", "audit", "event"]);

        assert!(update_definition(&mut store, &admin, &edited).unwrap().is_empty());
        assert_eq!(outbox_kinds(&store).len(), 4, "an edit that changes nothing writes nothing");
    }

    #[test]
    fn an_edit_needs_the_permission_the_same_event_and_fixed_category_positions() {
        let (_dir, mut store) = store_with_event();
        let admin = Operator::station_admin(store.station_id());
        let original = store.event().unwrap().definition.clone();
        let mut renamed = original.clone();
        renamed.event.venue = "新场馆".into();
        let desk =
            Operator { name: "d".into(), role: crate::operators::Role::Desk, categories: vec![] };
        assert!(matches!(
            update_definition(&mut store, &desk, &renamed),
            Err(ProvisioningError::Operator(OperatorError::Forbidden { .. }))
        ));

        let mut other = renamed.clone();
        other.event.id = "other-fair".into();
        assert!(matches!(
            update_definition(&mut store, &admin, &other),
            Err(ProvisioningError::OtherEvent { .. })
        ));

        let mut reordered = renamed.clone();
        reordered.categories.swap(0, 1);
        assert!(matches!(
            update_definition(&mut store, &admin, &reordered),
            Err(ProvisioningError::CategoryMoved(id)) if id == "exhibitor"
        ));
        let mut removed = renamed.clone();
        removed.categories.pop();
        assert!(matches!(
            update_definition(&mut store, &admin, &removed),
            Err(ProvisioningError::CategoryMoved(id)) if id == "staff"
        ));

        let mut backwards = renamed.clone();
        backwards.event.end = backwards.event.start.pred_opt().unwrap();
        assert!(matches!(
            update_definition(&mut store, &admin, &backwards),
            Err(ProvisioningError::Event(EventError::Invalid(_)))
        ));
        assert_eq!(store.event().unwrap().definition, original, "nothing refused was stored");
        // The init's audit entry and event, then the refused edit's audit entry alone.
        assert_eq!(outbox_kinds(&store), ["audit", "event", "audit"]);

        let mut appended = renamed;
        let mut press = appended.categories[3].clone();
        press.id = "press".into();
        press.label_zh = "记者".into();
        appended.categories.push(press);
        appended.zones.retain(|zone| zone.id != "vip-lounge");
        assert_eq!(
            update_definition(&mut store, &admin, &appended).unwrap(),
            ["venue", "zone_removed:vip-lounge", "category_added:press"]
        );
    }

    #[test]
    fn only_an_operator_who_may_manage_the_event_inits_imports_or_updates_it() {
        let (dir, mut first) = store_with_event();
        let kiosk = Operator::kiosk("k1");
        let refused = |result: Result<Provisioned>| {
            matches!(result, Err(ProvisioningError::Operator(OperatorError::Forbidden { .. })))
        };
        assert!(refused(init(&mut first, &kiosk, EXAMPLE_EVENT)));
        let definition = first.event().unwrap().definition.clone();
        assert!(matches!(
            update_definition(&mut first, &kiosk, &definition),
            Err(ProvisioningError::Operator(OperatorError::Forbidden { .. }))
        ));
        let bundle = export(&first, true).unwrap();
        let other_dir = tempfile::tempdir().unwrap();
        let mut other = Store::open(other_dir.path()).unwrap();
        assert!(refused(import(&mut other, &Operator::gate("g1"), &bundle, true)));
        // Nothing installed, and each refusal is in the audit log.
        assert!(matches!(other.event(), Err(StoreError::NoEvent)));
        let refusals = |store: &Store| -> i64 {
            store
                .conn()
                .query_row("SELECT count(*) FROM audit WHERE action = 'refused'", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!((refusals(&first), refusals(&other)), (2, 1));
        drop(dir);
    }

    #[test]
    fn a_gate_gets_public_keys_only_and_a_desk_its_own_key() {
        let (dir, first) = store_with_event();
        let bundle_path = dir.path().join("bundle.json");
        write_bundle(&export(&first, false).unwrap(), &bundle_path).unwrap();
        let text = std::fs::read_to_string(&bundle_path).unwrap();
        assert!(
            !text.contains(&std::fs::read_to_string(dir.path().join("keys/signing.key")).unwrap())
        );
        assert!(!text.contains("data_key"));

        let gate_dir = tempfile::tempdir().unwrap();
        let mut gate = Store::open(gate_dir.path()).unwrap();
        let provisioned = import(
            &mut gate,
            &crate::operators::Operator::admin("t"),
            &read_bundle(&bundle_path).unwrap(),
            false,
        )
        .unwrap();
        assert_eq!(
            (provisioned.key_id, provisioned.public_keys, provisioned.has_data_key),
            (None, 1, false)
        );
        assert!(!gate_dir.path().join("keys/signing.key").exists());

        write_bundle(&export(&first, true).unwrap(), &bundle_path).unwrap();
        let desk_dir = tempfile::tempdir().unwrap();
        let mut desk = Store::open(desk_dir.path()).unwrap();
        let provisioned = import(
            &mut desk,
            &crate::operators::Operator::admin("t"),
            &read_bundle(&bundle_path).unwrap(),
            true,
        )
        .unwrap();
        assert!(provisioned.key_id.is_some() && provisioned.has_data_key);
        assert_eq!(provisioned.public_keys, 2);
        assert_eq!(
            first.key_files().load_data_key_bytes().unwrap().unwrap().as_slice(),
            desk.key_files().load_data_key_bytes().unwrap().unwrap().as_slice()
        );
    }

    #[test]
    fn another_event_and_tampered_bundles_are_refused() {
        let (dir, mut store) = store_with_event();
        let other = EXAMPLE_EVENT.replace("id = \"expo-2026\"", "id = \"other-fair\"");
        assert!(matches!(
            init(&mut store, &crate::operators::Operator::admin("t"), &other),
            Err(ProvisioningError::OtherEvent { .. })
        ));

        let mut bundle = export(&store, false).unwrap();
        bundle.public_keys[0].key_id ^= 1;
        let fresh = tempfile::tempdir().unwrap();
        let mut fresh_store = Store::open(fresh.path()).unwrap();
        assert!(matches!(
            import(&mut fresh_store, &crate::operators::Operator::admin("t"), &bundle, false),
            Err(ProvisioningError::BadBundle(_))
        ));

        let path = dir.path().join("junk.json");
        std::fs::write(&path, "{\"format\": 1}").unwrap();
        assert!(matches!(read_bundle(&path), Err(ProvisioningError::BadBundle(_))));
        std::fs::write(&path, "{\"format\":\"x\",\"version\":1,\"event_id\":\"a\",\"definition\":\"\",\"public_keys\":[]}").unwrap();
        assert!(matches!(read_bundle(&path), Err(ProvisioningError::BadBundle(_))));
    }

    /// A badge template that does not ship is refused by `event init`, bundle import and
    /// sync alike, with the domain's one problem.
    #[test]
    fn an_unknown_badge_template_is_refused_everywhere_with_the_same_problem() {
        use crate::domain::{EventField, EventPlace, EventProblem, EventProblemKind};
        let bad = EXAMPLE_EVENT.replace("\"lanyard-90x130\"", "\"/tmp/mine.toml\"");
        assert_ne!(bad, EXAMPLE_EVENT);
        let expected = vec![EventProblem::new(
            EventPlace::Event,
            EventField::BadgeTemplate,
            EventProblemKind::UnknownTemplate("/tmp/mine.toml".into()),
        )];
        fn refused<T: std::fmt::Debug>(result: Result<T>) -> Vec<EventProblem> {
            match result {
                Err(ProvisioningError::Event(EventError::Invalid(problems))) => problems,
                other => panic!("expected the template's problem, got {other:?}"),
            }
        }

        let fresh = tempfile::tempdir().unwrap();
        let mut fresh_store = Store::open(fresh.path()).unwrap();
        assert_eq!(
            refused(init(&mut fresh_store, &crate::operators::Operator::admin("t"), &bad)),
            expected,
            "event init"
        );

        let (_dir, mut store) = store_with_event();
        let mut bundle = export(&store, false).unwrap();
        bundle.definition = bad.clone();
        assert_eq!(
            refused(import(
                &mut fresh_store,
                &crate::operators::Operator::admin("t"),
                &bundle,
                false
            )),
            expected,
            "bundle"
        );

        let record =
            EventRecord { event_id: "expo-2026".into(), definition: bad, public_keys: Vec::new() };
        let hlc = Hlc { wall_ms: u64::MAX / 2, counter: 0, station: "hub".into() };
        let synced = store.write(|tx| apply_remote(tx, &record, &hlc).map(|_| ()));
        assert_eq!(refused(synced), expected, "sync");
        assert_eq!(store.event().unwrap().definition.event.badge_template, "lanyard-90x130");
    }
}
