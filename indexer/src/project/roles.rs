//! `role_members`: the access-control roles of `CredentialRegistry` (`RoleGranted`, `RoleRevoked`), one row
//! per role and account, the latest change winning.

use super::Ev;
use crate::error::IndexerError;
use chrono::{DateTime, Utc};

/// A row of `role_members` (keyed by role ‖ account).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Role {
    pub(super) contract: Vec<u8>,
    pub(super) role: Vec<u8>,
    pub(super) account: Vec<u8>,
    pub(super) active: bool,
    pub(super) changed_by: Vec<u8>,
    pub(super) updated_block: i64,
    pub(super) updated_at: DateTime<Utc>,
}

pub(super) fn fold_role(row: &mut Option<Role>, e: &Ev<'_>) -> Result<(), IndexerError> {
    *row = Some(Role {
        contract: e.address.to_vec(),
        role: e.bytes("role")?,
        account: e.bytes("account")?,
        active: e.event_name == "RoleGranted",
        changed_by: e.bytes("sender")?,
        updated_block: e.block_number,
        updated_at: e.block_time,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::event::fixture::{addr, block_time, fold, hex, word, Log};
    use serde_json::json;

    fn log(event: &'static str, block: i64, sender: u8) -> Log {
        let args =
            json!({"role": hex(&word(0x0e)), "account": hex(&addr(0xa1)), "sender": hex(&addr(sender))});
        Log::new("CredentialRegistry", event, [word(0x0e), addr(0xa1)].concat(), args).at(block)
    }

    /// The latest grant or revocation of a role to an account wins, with who made it and when.
    #[test]
    fn the_latest_change_wins() {
        let cases = [
            ("granted", vec![log("RoleGranted", 1, 0x01)], (true, 0x01, 1)),
            ("revoked", vec![log("RoleGranted", 1, 0x01), log("RoleRevoked", 2, 0x02)], (false, 0x02, 2)),
            (
                "granted again",
                vec![log("RoleGranted", 1, 0x01), log("RoleRevoked", 2, 0x02), log("RoleGranted", 3, 0x03)],
                (true, 0x03, 3),
            ),
        ];
        for (rule, events, (active, by, block)) in cases {
            let want = Role {
                contract: vec![0xc0; 20],
                role: word(0x0e),
                account: addr(0xa1),
                active,
                changed_by: addr(by),
                updated_block: block,
                updated_at: block_time(block),
            };
            assert_eq!(fold(&events).roles[&[word(0x0e), addr(0xa1)].concat()], Some(want), "{rule}");
        }
    }
}
