//! Versioned schema migrations. `PRAGMA user_version` holds the number of migrations
//! applied. Append new migrations; never edit one that has shipped.

pub const MIGRATIONS: &[&str] = &[
    // 1: the core.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE event (id TEXT PRIMARY KEY, definition TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE public_keys (
        key_id INTEGER PRIMARY KEY,
        public_key BLOB NOT NULL,
        station TEXT NOT NULL,
        added_at TEXT NOT NULL
    );
    CREATE TABLE attendees (
        id TEXT PRIMARY KEY,
        registration_code TEXT UNIQUE,
        name TEXT NOT NULL,
        company TEXT NOT NULL,
        title TEXT NOT NULL,
        category TEXT NOT NULL,
        phone TEXT NOT NULL,
        email TEXT NOT NULL,
        country TEXT NOT NULL,
        id_type TEXT,
        id_masked TEXT,
        id_hash TEXT,
        id_sealed BLOB,
        source TEXT NOT NULL,
        consent INTEGER NOT NULL,
        tags TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        hlc TEXT NOT NULL
    );
    CREATE INDEX attendees_id_hash ON attendees(id_hash) WHERE id_hash IS NOT NULL;
    CREATE INDEX attendees_phone ON attendees(phone) WHERE phone <> '';
    CREATE TABLE search_terms (
        term TEXT NOT NULL,
        attendee_id TEXT NOT NULL,
        PRIMARY KEY (term, attendee_id)
    ) WITHOUT ROWID;
    CREATE INDEX search_terms_attendee ON search_terms(attendee_id);
    CREATE TABLE badges (
        attendee_id TEXT NOT NULL,
        serial INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'superseded', 'revoked')),
        reason TEXT,
        issued_at TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        operator TEXT NOT NULL,
        hlc TEXT NOT NULL,
        PRIMARY KEY (attendee_id, serial)
    );
    CREATE UNIQUE INDEX badges_one_active ON badges(attendee_id) WHERE status = 'active';
    CREATE TABLE operators (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        categories TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL
    );
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        attendee_id TEXT,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_attendee ON audit(attendee_id);
    CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        change_id TEXT NOT NULL UNIQUE,
        hlc TEXT NOT NULL,
        kind TEXT NOT NULL,
        entity TEXT NOT NULL,
        change TEXT NOT NULL,
        acked INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX outbox_pending ON outbox(seq) WHERE acked = 0;
    "#,
    // 2: the badge print queue.
    r#"
    CREATE TABLE print_jobs (
        id TEXT PRIMARY KEY,
        attendee_id TEXT NOT NULL,
        badge_serial INTEGER NOT NULL,
        printer TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'printed', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        printer_job TEXT,
        requested_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX print_jobs_open ON print_jobs(status) WHERE status IN ('queued', 'sending', 'sent');
    "#,
    // 3: the gate decision log and sync state.
    r#"
    CREATE TABLE gate_decisions (
        id TEXT PRIMARY KEY,
        attendee_id TEXT,
        badge_serial INTEGER,
        gate TEXT NOT NULL,
        lane TEXT NOT NULL,
        zone TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        granted INTEGER NOT NULL,
        reason TEXT NOT NULL,
        at TEXT NOT NULL,
        annulled INTEGER NOT NULL DEFAULT 0,
        station TEXT NOT NULL
    );
    CREATE INDEX gate_decisions_attendee ON gate_decisions(attendee_id, at);
    CREATE INDEX gate_decisions_at ON gate_decisions(at);
    CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    "#,
];

pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;
