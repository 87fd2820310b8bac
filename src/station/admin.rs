//! The admin's requests about people: the audit log, operators and the CSV import.

use std::path::Path;

use super::{AuditRow, Failure, Response, Worker};
use crate::domain::AttendeeId;
use crate::operators::{self, OperatorChange, Permission, Role};
use crate::registration::import::{self, ImportOptions};
use crate::registration::{self, lookup};

impl Worker {
    /// The newest audit entries, optionally about one attendee (id or registration code).
    pub(super) fn audit(&self, attendee: Option<&str>, limit: u32) -> Result<Response, Failure> {
        let operator = self.acting()?;
        let conn = self.store.conn();
        let attendee = match attendee.map(str::trim).filter(|a| !a.is_empty()) {
            Some(text) => Some(AttendeeId(registration::resolve(conn, text)?.id)),
            None => None,
        };
        let entries = lookup::audit_log(conn, operator, attendee, limit)?;
        let mut rows = Vec::with_capacity(entries.len());
        for record in entries {
            let attendee = match record.attendee_id {
                Some(id) => {
                    lookup::attendee(conn, operator, AttendeeId(id))?.map(|attendee| attendee.name)
                }
                None => None,
            };
            rows.push(AuditRow { record, attendee });
        }
        Ok(Response::Audit(rows))
    }

    pub(super) fn operators(&self) -> Result<Response, Failure> {
        self.operator(Permission::ManageOperators)?;
        Ok(Response::Operators(operators::list_all(&self.store)?))
    }

    pub(super) fn change_operator(
        &mut self,
        name: &str,
        change: &OperatorChange,
    ) -> Result<Response, Failure> {
        let admin = self.operator(Permission::ManageOperators)?;
        Ok(Response::OperatorChanged(operators::change(&mut self.store, &admin, name, change)?))
    }

    pub(super) fn add_operator(
        &mut self,
        name: &str,
        role: Role,
        pin: &str,
    ) -> Result<Response, Failure> {
        let admin = self.operator(Permission::ManageOperators)?;
        Ok(Response::OperatorAdded(operators::add(&mut self.store, &admin, name, role, pin, &[])?))
    }

    pub(super) fn import(&mut self, path: &Path, skip_invalid: bool) -> Result<Response, Failure> {
        let admin = self.operator(Permission::Import)?;
        let bytes = std::fs::read(path)
            .map_err(|e| Failure::unavailable(format!("{}: {e}", path.display())))?;
        let options = ImportOptions { dry_run: false, skip_invalid };
        Ok(Response::Imported(import::import_csv(&mut self.store, &admin, &bytes, options)?))
    }
}
