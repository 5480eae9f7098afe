//! The contracts' custom errors, decoded from revert data into sentences.

use alloy::{primitives::U256, sol_types::SolInterface};
use chrono::DateTime;
use medledger_core::bindings::{
    ConsentRegistry::ConsentRegistryErrors as Consent, CredentialRegistry::CredentialRegistryErrors as Cred,
    Prescriptions::PrescriptionsErrors as Rx,
};
use medledger_core::schedule;

fn time(t: U256) -> String {
    u64::try_from(t).map_or_else(|_| t.to_string(), time_text)
}

/// A unix time as RFC 3339 (the number itself when out of range).
pub fn time_text(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .map_or_else(|| secs.to_string(), |d| d.to_rfc3339())
}

pub use medledger_core::schedule::schedule_name;

/// The CredentialRegistry role a hash names.
fn role_name(role: alloy::primitives::B256) -> String {
    use alloy::primitives::keccak256;
    if role.is_zero() {
        "admin".into()
    } else if role == keccak256("REGISTRAR_ROLE") {
        "registrar".into()
    } else if role == keccak256("REVIEWER_ROLE") {
        "reviewer".into()
    } else {
        role.to_string()
    }
}

fn kind(k: u8) -> &'static str {
    match k {
        1 => "prescriber",
        2 => "pharmacy",
        _ => "credential",
    }
}

/// A sentence for revert data of the medledger contracts, or `None` if it is none of their errors.
pub fn explain_revert(data: &[u8]) -> Option<String> {
    if let Ok(e) = Rx::abi_decode(data) {
        return Some(explain_prescriptions(e));
    }
    if let Ok(e) = Cred::abi_decode(data) {
        return Some(match e {
            Cred::CredentialRegistry__NotRegistered(e) => format!("{} has no credential", e.account),
            Cred::CredentialRegistry__NotActive(e) => {
                format!(
                    "{} is not an active {} (no credential, suspended, expired or revoked)",
                    e.account,
                    kind(e.kind)
                )
            }
            Cred::CredentialRegistry__CredentialRevoked(e) => {
                format!("the credential {} of {} is revoked", e.id, e.account)
            }
            Cred::CredentialRegistry__ZeroAccount(_) => "the account is the zero address".into(),
            Cred::CredentialRegistry__AlreadyRegistered(e) => {
                format!("{} already holds credential #{}: renew or change it instead", e.account, e.id)
            }
            Cred::CredentialRegistry__InvalidKind(e) => {
                format!("{} is not a credential kind (prescriber or pharmacy)", e.kind)
            }
            Cred::CredentialRegistry__ZeroLicenseHash(e) => {
                format!("the license hash of {} is empty", e.account)
            }
            Cred::CredentialRegistry__ZeroJurisdiction(e) => {
                format!("the jurisdiction of {} is empty", e.account)
            }
            Cred::CredentialRegistry__InvalidExpiry(e) => format!(
                "the expiry {} of {}'s credential is not in the future (chain time {})",
                time(U256::from(e.expiresAt.to::<u64>())),
                e.account,
                time(e.currentTime)
            ),
            Cred::CredentialRegistry__InvalidSchedules(e) => format!(
                "schedules {:#010b} are not valid for a {} ({}): only bits 2 to 5 (schedules II to V)",
                e.schedules,
                kind(e.kind),
                e.account
            ),
            Cred::CredentialRegistry__InvalidStatus(e) => format!(
                "the credential of {} is {}: that change does not apply",
                e.account,
                ["active", "suspended", "revoked"]
                    .get(usize::from(e.status))
                    .copied()
                    .unwrap_or("in no known state")
            ),
            Cred::CredentialRegistry__RegistrarAlreadyProposed(e) => {
                format!("{} already is a registrar or has a pending proposal", e.account)
            }
            Cred::CredentialRegistry__RegistrarNeedsProposal(e) => format!(
                "{} can be made a registrar only by a proposal, then an appointment once the admin delay has passed",
                e.account
            ),
            Cred::CredentialRegistry__RegistrarNotReady(e) => format!(
                "{} can be appointed registrar from {} (chain time {})",
                e.account,
                time(U256::from(e.readyAt.to::<u64>())),
                time(e.currentTime)
            ),
            Cred::AccessControlUnauthorizedAccount(e) => {
                format!("{} lacks the {} role this needs", e.account, role_name(e.neededRole))
            }
            Cred::AccessControlEnforcedDefaultAdminDelay(e) => {
                format!("the admin transfer is not ready: it waits until {}", time(U256::from(e.schedule.to::<u64>())))
            }
            Cred::AccessControlEnforcedDefaultAdminRules(_) => {
                "the admin role changes only by a delayed transfer (begin, then accept)".into()
            }
            Cred::AccessControlInvalidDefaultAdmin(e) => {
                format!("{} is not the pending admin", e.defaultAdmin)
            }
            Cred::AccessControlBadConfirmation(_) => "only the account itself may renounce its role".into(),
            Cred::SafeCastOverflowedUintDowncast(e) => {
                format!("{} does not fit in {} bits", e.value, e.bits)
            }
        });
    }
    if let Ok(e) = Consent::abi_decode(data) {
        return Some(match e {
            Consent::ConsentRegistry__NoConsent(e) => {
                format!("no consent: patient {} has not granted {} access", e.patient, e.grantee)
            }
            Consent::ConsentRegistry__InvalidGrantee(e) => format!(
                "{} cannot be granted access by {} (the zero address or the patient herself)",
                e.grantee, e.patient
            ),
            Consent::ConsentRegistry__InvalidScopes(e) => format!(
                "scopes {:#010b} are not valid: choose at least one of read, write, prescribe",
                e.scopes
            ),
            Consent::ConsentRegistry__InvalidExpiry(e) => format!(
                "the expiry {} is not in the future (chain time {})",
                time(U256::from(e.expiresAt.to::<u64>())),
                time(e.currentTime)
            ),
            Consent::ConsentRegistry__SignatureExpired(e) => {
                format!("the signature expired at {} (chain time {})", time(e.deadline), time(e.currentTime))
            }
            Consent::ConsentRegistry__InvalidSignature(e) => format!(
                "invalid signature: it is not {}'s signature over these terms (or its nonce was used or burnt)",
                e.patient
            ),
            Consent::ConsentRegistry__SignatureSuperseded(e) => format!(
                "the signature of {} is superseded: {} changed {}'s access directly at {}",
                time(U256::from(e.signedAt.to::<u64>())),
                e.patient,
                e.grantee,
                time(U256::from(e.directChangeAt.to::<u64>()))
            ),
            Consent::ConsentRegistry__SignedInFuture(e) => format!(
                "the signature claims {}, after the chain's time {}",
                time(U256::from(e.signedAt.to::<u64>())),
                time(e.currentTime)
            ),
            Consent::ConsentRegistry__InvalidNonce(e) => format!(
                "nonce {} cannot replace {} for {}: it must be larger, by a bounded step",
                e.newNonce, e.currentNonce, e.patient
            ),
            Consent::ConsentRegistry__InvalidEmergencyDuration(e) => {
                format!("emergency access of {} s is not allowed (1 s to {} s)", e.duration, e.maxDuration)
            }
            Consent::ConsentRegistry__JustificationMissing(e) => format!(
                "emergency access needs a reason code and the hash of a written justification (reason {}, hash {})",
                e.reasonCode, e.justificationHash
            ),
            Consent::ConsentRegistry__EmergencyAccessAlreadyOpen(e) => format!(
                "{}'s emergency access to {}'s records is already open until {}: it cannot be extended by opening it again",
                e.grantee,
                e.patient,
                time(U256::from(e.emergencyUntil.to::<u64>()))
            ),
            Consent::ConsentRegistry__EmergencyAccessCooldown(e) => format!(
                "{} cannot open emergency access to {}'s records again before {} (7 days after the previous one ended)",
                e.grantee,
                e.patient,
                time(e.availableAt)
            ),
            Consent::ConsentRegistry__EmergencyAccessBlocked(e) => {
                format!("patient {} has blocked {} from emergency access to her records", e.patient, e.grantee)
            }
            Consent::ConsentRegistry__NoEmergencyAccess(e) => {
                format!("{} has no open emergency access to {}'s records", e.grantee, e.patient)
            }
            Consent::ConsentRegistry__NoEmergencyUse(e) => {
                format!("{} never had emergency access to {}'s records: there is nothing to flag", e.grantee, e.patient)
            }
            Consent::ConsentRegistry__NotPatientOrGrantee(e) => {
                format!("{} is neither the patient {} nor the grantee {}", e.caller, e.patient, e.grantee)
            }
            Consent::ConsentRegistry__NotReviewer(e) => {
                format!("{} is not a reviewer: only a reviewer may flag an emergency access", e.caller)
            }
            Consent::ConsentRegistry__ZeroFindingCode(_) => "a flag needs a non-zero finding code".into(),
            Consent::ConsentRegistry__BlockUnchanged(e) => format!(
                "{} is already {} {}'s emergency-access block list",
                e.grantee,
                if e.blocked { "on" } else { "off" },
                e.patient
            ),
            Consent::InvalidShortString(_) | Consent::StringTooLong(_) => {
                "the contract's EIP-712 domain name is malformed (a deployment error)".into()
            }
        });
    }
    None
}

fn explain_prescriptions(e: Rx) -> String {
    match e {
        Rx::Prescriptions__CallerNotPrescriber(e) => format!(
            "the sender {} is not the prescriber {}: sign with the prescriber's key, or relay a signature",
            e.caller, e.prescriber
        ),
        Rx::Prescriptions__InvalidSignature(e) => {
            format!("invalid signature: it is not {}'s signature over prescription {}", e.prescriber, e.rxId)
        }
        Rx::Prescriptions__ZeroPatient(_) => "the patient is the zero address".into(),
        Rx::Prescriptions__InvalidFills(e) => {
            format!("{} fills are not allowed ({}: 1 to {})", e.fills, schedule_name(e.schedule), e.maxFills)
        }
        Rx::Prescriptions__ZeroQuantityPerFill(_) => "the quantity per fill is 0".into(),
        Rx::Prescriptions__InvalidFillWindow(e) => format!(
            "the first fill ({}) is not before the end of validity ({})",
            time(U256::from(e.earliestFillAt)),
            time(U256::from(e.validUntil))
        ),
        Rx::Prescriptions__ValidUntilPassed(e) => format!(
            "the prescription expired at {} (chain time {})",
            time(U256::from(e.validUntil)),
            time(e.currentTime)
        ),
        Rx::Prescriptions__InvalidSchedule(e) => {
            format!("{} is not a valid schedule (0 or 2..5)", e.schedule)
        }
        Rx::Prescriptions__ValidityTooLong(e) => format!(
            "a {} prescription may be valid until {} at the latest, not {}",
            schedule_name(e.schedule),
            time(e.maxValidUntil),
            time(U256::from(e.validUntil))
        ),
        Rx::Prescriptions__ScheduleNotAuthorized(e) => format!(
            "prescriber {} is not authorised for {} drugs (authorised schedules bitmap {:#010b})",
            e.prescriber,
            schedule_name(e.schedule),
            e.authorizedSchedules
        ),
        Rx::Prescriptions__ConsentMissing(e) => format!(
            "no consent: patient {} has not granted PRESCRIBE to {} (or it expired or was revoked)",
            e.patient, e.prescriber
        ),
        Rx::Prescriptions__AlreadyIssued(e) => format!("prescription {} is already issued", e.rxId),
        Rx::Prescriptions__UnknownPrescription(e) => {
            format!("unknown prescription {}: not issued on this chain", e.rxId)
        }
        Rx::Prescriptions__PrescriptionCancelled(e) => {
            format!("prescription {} was cancelled (by its prescriber, its patient or a registrar)", e.rxId)
        }
        Rx::Prescriptions__NotIssuingPrescriber(e) => {
            format!("{} is not the prescriber who issued prescription {}", e.caller, e.rxId)
        }
        Rx::Prescriptions__NotPatient(e) => {
            format!("{} is not the patient of prescription {}", e.caller, e.rxId)
        }
        Rx::Prescriptions__PharmacyUnchanged(e) => {
            format!("prescription {} already designates pharmacy {}", e.rxId, e.pharmacy)
        }
        Rx::Prescriptions__PrescriptionExpired(e) => format!(
            "prescription {} expired at {} (chain time {})",
            e.rxId,
            time(U256::from(e.validUntil)),
            time(e.currentTime)
        ),
        Rx::Prescriptions__WrongPharmacy(e) => format!(
            "prescription {} designates pharmacy #{}, not this pharmacy (#{})",
            e.rxId, e.designatedPharmacyId, e.callerPharmacyId
        ),
        Rx::Prescriptions__ZeroQuantity(e) => {
            format!("a dispense of prescription {} must be at least 1 unit", e.rxId)
        }
        Rx::Prescriptions__QuantityExceeded(e) => format!(
            "{} units requested but only {} remain in this fill of prescription {}",
            e.requested, e.remaining, e.rxId
        ),
        Rx::Prescriptions__NoFillsRemaining(e) => {
            format!("all {} fills of prescription {} have been dispensed", e.fills, e.rxId)
        }
        Rx::Prescriptions__TooEarly(e) => format!(
            "the next fill of prescription {} is allowed from {} (chain time {})",
            e.rxId,
            time(U256::from(e.nextFillAt)),
            time(e.currentTime)
        ),
        Rx::Prescriptions__StaleDispense(e) => format!(
            "prescription {} now has {} units dispensed, not the {} this dispense was built on: a retried or \
             raced dispense (nothing was counted twice); check the dispenses before sending again",
            e.rxId, e.totalDispensed, e.dispensedBefore
        ),
        Rx::Prescriptions__PrescriberInactive(e) => format!(
            "the prescriber {} of {} is no longer active (revoked, suspended or expired): its prescriptions \
             may not be dispensed",
            e.prescriber, e.rxId
        ),
        Rx::Prescriptions__PrescriberLacksSchedule(e) => {
            schedule::prescriber_lacks_schedule(e.prescriber, e.schedule, e.schedules)
        }
        Rx::Prescriptions__PharmacyLacksSchedule(e) => {
            schedule::pharmacy_lacks_schedule(e.pharmacy, e.schedule, e.schedules)
        }
        Rx::Prescriptions__DeadlinePassed(e) => format!(
            "the signed terms had to be issued before {} (now {})",
            time(U256::from(e.deadline)),
            time(e.currentTime)
        ),
        Rx::Prescriptions__NonceInvalidated(e) => format!(
            "the prescriber {} withdrew signatures with nonces below {} (this one: {})",
            e.prescriber, e.nonceFloor, e.nonce
        ),
        Rx::Prescriptions__AlreadyTransferred(e) => format!(
            "prescription {} was already transferred once between pharmacies (21 CFR 1306.08(e), 1306.25)",
            e.rxId
        ),
        Rx::Prescriptions__TransferAfterFill(e) => format!(
            "schedule II prescription {} may be transferred only before it is filled (21 CFR 1306.08(e))",
            e.rxId
        ),
        Rx::Prescriptions__WrittenInFuture(e) => format!(
            "the date written {} is after the chain's time {}",
            time(U256::from(e.dateWritten)),
            time(e.currentTime)
        ),
        Rx::Prescriptions__InvalidNonceFloor(e) => format!(
            "prescriber {}'s nonce floor is {}: a new floor must be above it by at most 4294967295, not {}",
            e.prescriber, e.currentFloor, e.newFloor
        ),
        Rx::Prescriptions__InvalidDaysSupply(e) => format!(
            "a {} prescription needs a days' supply (got {})",
            schedule_name(e.schedule),
            e.daysSupply
        ),
        Rx::Prescriptions__SupplyBeyondNinetyDays(e) => format!(
            "a schedule II supply must end by {} (90 days after the date written, 21 CFR 1306.12(b)); \
             {} days from {} ends later",
            time(e.maxSupplyEnd),
            e.daysSupply,
            time(U256::from(e.earliestFillAt))
        ),
        Rx::Prescriptions__FillIntervalTooShort(e) => format!(
            "{} refills must be at least {} seconds apart (3/4 of the days' supply), not {}",
            schedule_name(e.schedule),
            e.requiredInterval,
            e.minFillInterval
        ),
        Rx::Prescriptions__LongTermCareNotApplicable(e) => format!(
            "long-term care (60-day partial fills, 21 CFR 1306.13(b)) applies to schedule II only, not {}",
            schedule_name(e.schedule)
        ),
        Rx::Prescriptions__PharmacyRequired(e) => {
            format!("a {} prescription must name its pharmacy", schedule_name(e.schedule))
        }
        Rx::Prescriptions__NotRegistrar(e) => format!(
            "{} is not a registrar of the CredentialRegistry: only a registrar may void prescription {}",
            e.caller, e.rxId
        ),
        Rx::Prescriptions__ShortSupplyNotApplicable(e) => format!(
            "a short-supply partial fill opens a schedule II fill with less than its quantity; prescription {} \
             is {} or its fill is already open",
            e.rxId,
            schedule_name(e.schedule)
        ),
        // OpenZeppelin's ShortStrings errors, raised only by the constructor (the EIP-712 domain name).
        Rx::InvalidShortString(_) | Rx::StringTooLong(_) => {
            "the contract's EIP-712 domain name is malformed (a deployment error)".into()
        }
    }
}
