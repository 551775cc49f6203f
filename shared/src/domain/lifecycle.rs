//! How data leaves: an admin's soft delete of a ticket and its restore within the grace
//! period (after which the ticket is purged: docs/data-lifecycle.md).

use chrono::Duration;

use super::caller::Caller;
use super::ids::Timestamp;
use super::refusal::Refusal;
use super::rules::Change;
use super::ticket::{Deletion, Field, Ticket};

/// Days a deleted ticket can be restored before it is purged (`DELETE_GRACE_DAYS`).
pub const DELETE_GRACE_DAYS_DEFAULT: u32 = 7;

/// The ticket fields a deletion or a restore writes.
pub const DELETION_FIELDS: &[Field] = &[Field::Deletion, Field::UpdatedAt, Field::ChangedBy];

fn admins_only(caller: &Caller, what: &'static str) -> Result<(), Refusal> {
    if caller.admin {
        Ok(())
    } else {
        Err(Refusal::Forbidden(what))
    }
}

/// An admin deletes the ticket: hidden at once, purged `grace` after `at` unless restored.
/// Deleting a deleted ticket changes nothing.
pub fn plan_delete(
    ticket: &Ticket,
    caller: &Caller,
    at: &Timestamp,
    grace: Duration,
) -> Result<Option<Change>, Refusal> {
    admins_only(caller, "only members of the admins group delete tickets")?;
    if ticket.is_deleted() {
        return Ok(None);
    }
    let purge_after = at
        .time()
        .map(|t| Timestamp::at(t + grace))
        .unwrap_or_else(|| at.clone());
    let deletion = Deletion {
        deleted_at: at.clone(),
        deleted_by: caller.sub.clone(),
        purge_after,
    };
    Ok(Some(with_deletion(ticket, Some(deletion), caller, at)))
}

/// The change that sets (or clears) the ticket's deletion, made by `caller` at `at`.
fn with_deletion(
    ticket: &Ticket,
    deletion: Option<Deletion>,
    caller: &Caller,
    at: &Timestamp,
) -> Change {
    let mut after = ticket.clone();
    after.deletion = deletion;
    after.updated_at = at.clone();
    Change::new(after, DELETION_FIELDS, Vec::new(), &caller.sub)
}

/// An admin brings a deleted ticket back as it was, before its purge is due; once it is due
/// the ticket is gone (even if the purge has not run yet). A ticket that is not deleted
/// changes nothing.
pub fn plan_restore(
    ticket: &Ticket,
    caller: &Caller,
    at: &Timestamp,
) -> Result<Option<Change>, Refusal> {
    admins_only(caller, "only members of the admins group restore tickets")?;
    let Some(deletion) = &ticket.deletion else {
        return Ok(None);
    };
    if purge_due(&deletion.purge_after, at) {
        return Err(Refusal::Purged);
    }
    Ok(Some(with_deletion(ticket, None, caller, at)))
}

/// Whether the purge of a ticket deleted until `purge_after` is due at `now`.
pub fn purge_due(purge_after: &Timestamp, now: &Timestamp) -> bool {
    match (purge_after.time(), now.time()) {
        (Some(p), Some(n)) => n >= p,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::caller::Role;
    use crate::domain::fixtures::{agent, alice, at, ticket};
    use crate::domain::Status;

    fn admin() -> Caller {
        let mut c = Caller::new("root", Role::Customer);
        c.admin = true;
        c
    }

    const AT: &str = "2026-11-26T10:00:00.000Z";

    #[test]
    fn an_admin_deletes_until_the_grace_ends_and_restores_as_it_was() {
        let t = ticket(Status::Open);
        let deleted = plan_delete(&t, &admin(), &at(AT), Duration::days(7))
            .unwrap()
            .unwrap();
        let d = deleted.after.deletion.clone().unwrap();
        assert_eq!(d.purge_after.as_str(), "2026-12-03T10:00:00.000Z");
        assert_eq!(d.deleted_by.as_str(), "root");
        assert_eq!(deleted.fields, DELETION_FIELDS);
        assert!(deleted.threads.is_empty());
        assert!(!deleted.after.visible_to(&agent()), "nobody sees it");
        assert!(!deleted.after.visible_to(&alice()));
        assert_eq!(
            plan_delete(&deleted.after, &admin(), &at(AT), Duration::days(7)),
            Ok(None),
            "deleting twice changes nothing"
        );
        let day_before = at("2026-12-03T09:59:59.999Z");
        let restored = plan_restore(&deleted.after, &admin(), &day_before)
            .unwrap()
            .unwrap();
        assert_eq!(restored.after.deletion, None);
        let mut same = restored.after.clone();
        same.updated_at = t.updated_at.clone();
        same.changed_by = t.changed_by.clone();
        assert_eq!(same, t, "restored intact");
        assert_eq!(plan_restore(&t, &admin(), &at(AT)), Ok(None));
    }

    #[test]
    fn a_due_purge_cannot_be_undone_and_only_admins_delete() {
        let t = ticket(Status::Open);
        let deleted = plan_delete(&t, &admin(), &at(AT), Duration::days(7))
            .unwrap()
            .unwrap()
            .after;
        let due = at("2026-12-03T10:00:00.000Z");
        assert_eq!(plan_restore(&deleted, &admin(), &due), Err(Refusal::Purged));
        for caller in [agent(), alice()] {
            assert!(matches!(
                plan_delete(&t, &caller, &at(AT), Duration::days(7)),
                Err(Refusal::Forbidden(_))
            ));
            assert!(matches!(
                plan_restore(&deleted, &caller, &at(AT)),
                Err(Refusal::Forbidden(_))
            ));
        }
    }
}
