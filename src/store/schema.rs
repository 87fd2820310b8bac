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
    // 4: running totals for the dashboard and reports (see `stats`). Triggers keep them
    // in step with the rows they count, inside the same transaction, so a dashboard
    // query reads a few thousand totals instead of millions of decisions. Times are
    // bucketed by UTC quarter hour ('YYYY-MM-DDTHH:MM'): every real time-zone offset is a
    // whole number of quarters, so local hours and days are sums of buckets.
    r#"
    CREATE TABLE stats_gate (
        quarter TEXT NOT NULL,
        gate TEXT NOT NULL,
        zone TEXT NOT NULL,
        direction TEXT NOT NULL,
        reason TEXT NOT NULL,
        decisions INTEGER NOT NULL,
        -- granted and not annulled: people who actually went through
        passages INTEGER NOT NULL,
        PRIMARY KEY (quarter, gate, zone, direction, reason)
    ) WITHOUT ROWID;
    CREATE TRIGGER stats_gate_insert AFTER INSERT ON gate_decisions BEGIN
        INSERT INTO stats_gate VALUES (substr(NEW.at, 1, 14) || printf('%02d', CAST(substr(NEW.at, 15, 2) AS INTEGER) / 15 * 15), NEW.gate, NEW.zone, NEW.direction, NEW.reason,
            1, NEW.granted AND NOT NEW.annulled)
        ON CONFLICT DO UPDATE SET decisions = decisions + 1, passages = passages + excluded.passages;
    END;
    CREATE TRIGGER stats_gate_annul AFTER UPDATE OF annulled ON gate_decisions
        WHEN NEW.granted AND NEW.annulled <> OLD.annulled BEGIN
        UPDATE stats_gate SET passages = passages + CASE WHEN NEW.annulled THEN -1 ELSE 1 END
        WHERE quarter = substr(OLD.at, 1, 14) || printf('%02d', CAST(substr(OLD.at, 15, 2) AS INTEGER) / 15 * 15) AND gate = OLD.gate AND zone = OLD.zone
          AND direction = OLD.direction AND reason = OLD.reason;
    END;
    INSERT INTO stats_gate
        SELECT substr(at, 1, 14) || printf('%02d', CAST(substr(at, 15, 2) AS INTEGER) / 15 * 15), gate, zone, direction, reason, count(*), sum(granted AND NOT annulled)
        FROM gate_decisions GROUP BY 1, 2, 3, 4, 5;

    CREATE TABLE stats_registrations (
        quarter TEXT NOT NULL,
        category TEXT NOT NULL,
        source TEXT NOT NULL,
        registered INTEGER NOT NULL,
        PRIMARY KEY (quarter, category, source)
    ) WITHOUT ROWID;
    -- Top countries and companies: dimension is 'country' or 'company'.
    CREATE TABLE stats_attendees (
        dimension TEXT NOT NULL,
        value TEXT NOT NULL,
        attendees INTEGER NOT NULL,
        PRIMARY KEY (dimension, value)
    ) WITHOUT ROWID;
    CREATE TRIGGER stats_attendee_insert AFTER INSERT ON attendees BEGIN
        INSERT INTO stats_registrations VALUES (substr(NEW.created_at, 1, 14) || printf('%02d', CAST(substr(NEW.created_at, 15, 2) AS INTEGER) / 15 * 15), NEW.category, NEW.source, 1)
        ON CONFLICT DO UPDATE SET registered = registered + 1;
        INSERT INTO stats_attendees VALUES ('country', NEW.country, 1), ('company', NEW.company, 1)
        ON CONFLICT DO UPDATE SET attendees = attendees + 1;
    END;
    CREATE TRIGGER stats_attendee_recount AFTER UPDATE OF category, source, created_at ON attendees
        WHEN NEW.category <> OLD.category OR NEW.source <> OLD.source OR NEW.created_at <> OLD.created_at BEGIN
        UPDATE stats_registrations SET registered = registered - 1
        WHERE quarter = substr(OLD.created_at, 1, 14) || printf('%02d', CAST(substr(OLD.created_at, 15, 2) AS INTEGER) / 15 * 15) AND category = OLD.category AND source = OLD.source;
        INSERT INTO stats_registrations VALUES (substr(NEW.created_at, 1, 14) || printf('%02d', CAST(substr(NEW.created_at, 15, 2) AS INTEGER) / 15 * 15), NEW.category, NEW.source, 1)
        ON CONFLICT DO UPDATE SET registered = registered + 1;
    END;
    CREATE TRIGGER stats_attendee_country AFTER UPDATE OF country ON attendees
        WHEN NEW.country <> OLD.country BEGIN
        UPDATE stats_attendees SET attendees = attendees - 1 WHERE dimension = 'country' AND value = OLD.country;
        INSERT INTO stats_attendees VALUES ('country', NEW.country, 1)
        ON CONFLICT DO UPDATE SET attendees = attendees + 1;
    END;
    CREATE TRIGGER stats_attendee_company AFTER UPDATE OF company ON attendees
        WHEN NEW.company <> OLD.company BEGIN
        UPDATE stats_attendees SET attendees = attendees - 1 WHERE dimension = 'company' AND value = OLD.company;
        INSERT INTO stats_attendees VALUES ('company', NEW.company, 1)
        ON CONFLICT DO UPDATE SET attendees = attendees + 1;
    END;
    INSERT INTO stats_registrations
        SELECT substr(created_at, 1, 14) || printf('%02d', CAST(substr(created_at, 15, 2) AS INTEGER) / 15 * 15), category, source, count(*) FROM attendees GROUP BY 1, 2, 3;
    INSERT INTO stats_attendees SELECT 'country', country, count(*) FROM attendees GROUP BY country;
    INSERT INTO stats_attendees SELECT 'company', company, count(*) FROM attendees GROUP BY company;

    -- Badges issued, by the operator who issued them and the holder's category and source;
    -- a serial above 1 is a reprint.
    CREATE TABLE stats_badges (
        quarter TEXT NOT NULL,
        operator TEXT NOT NULL,
        category TEXT NOT NULL,
        source TEXT NOT NULL,
        issued INTEGER NOT NULL,
        reprints INTEGER NOT NULL,
        PRIMARY KEY (quarter, operator, category, source)
    ) WITHOUT ROWID;
    -- A badge can arrive from another station before its holder does: it still counts.
    CREATE TRIGGER stats_badge_insert AFTER INSERT ON badges BEGIN
        INSERT INTO stats_badges VALUES (substr(NEW.issued_at, 1, 14) || printf('%02d', CAST(substr(NEW.issued_at, 15, 2) AS INTEGER) / 15 * 15), NEW.operator,
            coalesce((SELECT category FROM attendees WHERE id = NEW.attendee_id), ''),
            coalesce((SELECT source FROM attendees WHERE id = NEW.attendee_id), ''),
            1, NEW.serial > 1)
        ON CONFLICT DO UPDATE SET issued = issued + 1, reprints = reprints + excluded.reprints;
    END;
    INSERT INTO stats_badges
        SELECT substr(b.issued_at, 1, 14) || printf('%02d', CAST(substr(b.issued_at, 15, 2) AS INTEGER) / 15 * 15), b.operator, coalesce(a.category, ''), coalesce(a.source, ''),
            count(*), sum(b.serial > 1)
        FROM badges b LEFT JOIN attendees a ON a.id = b.attendee_id GROUP BY 1, 2, 3, 4;
    "#,
    // 5: a compact key for search terms. Each attendee gets a station-local integer
    // key (an alias of the rowid, so VACUUM keeps it), and `search_terms` refers to
    // attendees by it instead of by the 36-character id: a dozen terms per attendee, each
    // stored in the table and in its index, made the id most of the bytes a million-row
    // import wrote. The key never leaves the station; the id stays the attendee's name
    // everywhere else. The tables are rebuilt; the triggers on attendees, and the badge
    // trigger that reads them, are created again as migration 4 made them.
    r#"
    DROP TRIGGER stats_badge_insert;
    CREATE TABLE attendees_keyed (
        local_key INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
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
    INSERT INTO attendees_keyed (id, registration_code, name, company, title, category, phone, email, country, id_type, id_masked, id_hash, id_sealed, source, consent, tags, created_at, updated_at, hlc)
        SELECT id, registration_code, name, company, title, category, phone, email, country, id_type, id_masked, id_hash, id_sealed, source, consent, tags, created_at, updated_at, hlc FROM attendees ORDER BY rowid;
    CREATE TABLE search_terms_keyed (
        term TEXT NOT NULL,
        attendee_key INTEGER NOT NULL,
        PRIMARY KEY (term, attendee_key)
    ) WITHOUT ROWID;
    INSERT INTO search_terms_keyed
        SELECT t.term, a.local_key FROM search_terms t JOIN attendees_keyed a ON a.id = t.attendee_id
        ORDER BY 1, 2;
    DROP TABLE search_terms;
    DROP TABLE attendees;
    ALTER TABLE attendees_keyed RENAME TO attendees;
    ALTER TABLE search_terms_keyed RENAME TO search_terms;
    CREATE INDEX attendees_id_hash ON attendees(id_hash) WHERE id_hash IS NOT NULL;
    CREATE INDEX attendees_phone ON attendees(phone) WHERE phone <> '';
    CREATE INDEX search_terms_attendee ON search_terms(attendee_key);
    CREATE TRIGGER stats_attendee_insert AFTER INSERT ON attendees BEGIN
        INSERT INTO stats_registrations VALUES (substr(NEW.created_at, 1, 14) || printf('%02d', CAST(substr(NEW.created_at, 15, 2) AS INTEGER) / 15 * 15), NEW.category, NEW.source, 1)
        ON CONFLICT DO UPDATE SET registered = registered + 1;
        INSERT INTO stats_attendees VALUES ('country', NEW.country, 1), ('company', NEW.company, 1)
        ON CONFLICT DO UPDATE SET attendees = attendees + 1;
    END;
    CREATE TRIGGER stats_attendee_recount AFTER UPDATE OF category, source, created_at ON attendees
        WHEN NEW.category <> OLD.category OR NEW.source <> OLD.source OR NEW.created_at <> OLD.created_at BEGIN
        UPDATE stats_registrations SET registered = registered - 1
        WHERE quarter = substr(OLD.created_at, 1, 14) || printf('%02d', CAST(substr(OLD.created_at, 15, 2) AS INTEGER) / 15 * 15) AND category = OLD.category AND source = OLD.source;
        INSERT INTO stats_registrations VALUES (substr(NEW.created_at, 1, 14) || printf('%02d', CAST(substr(NEW.created_at, 15, 2) AS INTEGER) / 15 * 15), NEW.category, NEW.source, 1)
        ON CONFLICT DO UPDATE SET registered = registered + 1;
    END;
    CREATE TRIGGER stats_attendee_country AFTER UPDATE OF country ON attendees
        WHEN NEW.country <> OLD.country BEGIN
        UPDATE stats_attendees SET attendees = attendees - 1 WHERE dimension = 'country' AND value = OLD.country;
        INSERT INTO stats_attendees VALUES ('country', NEW.country, 1)
        ON CONFLICT DO UPDATE SET attendees = attendees + 1;
    END;
    CREATE TRIGGER stats_attendee_company AFTER UPDATE OF company ON attendees
        WHEN NEW.company <> OLD.company BEGIN
        UPDATE stats_attendees SET attendees = attendees - 1 WHERE dimension = 'company' AND value = OLD.company;
        INSERT INTO stats_attendees VALUES ('company', NEW.company, 1)
        ON CONFLICT DO UPDATE SET attendees = attendees + 1;
    END;
    CREATE TRIGGER stats_badge_insert AFTER INSERT ON badges BEGIN
        INSERT INTO stats_badges VALUES (substr(NEW.issued_at, 1, 14) || printf('%02d', CAST(substr(NEW.issued_at, 15, 2) AS INTEGER) / 15 * 15), NEW.operator,
            coalesce((SELECT category FROM attendees WHERE id = NEW.attendee_id), ''),
            coalesce((SELECT source FROM attendees WHERE id = NEW.attendee_id), ''),
            1, NEW.serial > 1)
        ON CONFLICT DO UPDATE SET issued = issued + 1, reprints = reprints + excluded.reprints;
    END;
    "#,
    // 6: no index of search terms by attendee. Building it again after a million-row
    // import (the terms are written in term order, so it cannot be kept up row by row)
    // took a third of the import; an attendee's old terms are found by primary key
    // instead, worked out again from the stored row (`registration::replace_terms`).
    // And a company's terms (its words and, for a Chinese name, its suffixes: up to nine)
    // are stored once per company, not once per attendee, in `company_terms`; a search
    // goes from them to the attendees by an index on company. They were three quarters of
    // the rows of `search_terms`. Rows stored there by earlier versions stay until their
    // attendee is next written; they name the same company, so a search finds the same.
    r#"
    DROP INDEX search_terms_attendee;
    CREATE TABLE company_terms (
        term TEXT NOT NULL,
        company TEXT NOT NULL,
        PRIMARY KEY (term, company)
    ) WITHOUT ROWID;
    CREATE INDEX attendees_company ON attendees(company);
    "#,
    // 7: wrong PINs in a row, by the name tried (known or not, so a lockout does not tell
    // which names exist). Cleared by a good login. See `operators::login`.
    r#"
    CREATE TABLE login_failures (
        name TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        last_failure_at TEXT NOT NULL
    );
    "#,
    // 8: pulled changes this station could not apply (an event definition from a newer
    // version, say), kept whole so nothing is lost, while the pull goes on past them.
    r#"
    CREATE TABLE sync_set_aside (
        change_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        received_at TEXT NOT NULL,
        error TEXT NOT NULL,
        change TEXT NOT NULL
    );
    "#,
    // 9: the attendee a duplicate was merged into by the organiser (`expo-hub conflicts
    // merge`); search and look-ups lead to that one, gates refuse this one's badges.
    r#"
    ALTER TABLE attendees ADD COLUMN merged_into TEXT;
    "#,
    // 10: a print job's last problem, typed (JSON of `badges::PrintProblem`) so the print
    // queue words it in the operator's language. `last_error` keeps the English text of
    // jobs that failed before; it is not written any more.
    r#"
    ALTER TABLE print_jobs ADD COLUMN last_problem TEXT;
    "#,
    // 11: the holder's Chinese name beside the name, when that is another (a foreign
    // permanent residence card's 史密斯 beside SMITH JOHN MICHAEL); empty for everyone else.
    r#"
    ALTER TABLE attendees ADD COLUMN chinese_name TEXT NOT NULL DEFAULT '';
    "#,
];

pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;
