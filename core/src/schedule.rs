//! The bundled controlled-substance table (`core/data/controlled_substances.tsv`): the US DEA schedule of an
//! RxNorm code, so that the schedule a prescriber declares on chain (`RxTerms.schedule`, which the contracts
//! cannot check: the drug is only inside the salted content hash) is checked where the drug is visible.
//! `medledger rx new` refuses to build a prescription whose declared schedule differs from the table's;
//! `rx verify` and the API's `verifyPrescription` report the mismatch to the pharmacy. Issue 19, point 1.

use std::{collections::HashMap, sync::OnceLock};

/// The table as bundled: `rxcui<TAB>schedule<TAB>name` lines, `#` comments, a `# version<TAB>…` line.
const TABLE: &str = include_str!("../data/controlled_substances.tsv");

/// The parsed table.
#[derive(Debug)]
struct Table {
    version: String,
    schedules: HashMap<String, (u8, String)>,
}

fn table() -> &'static Table {
    static PARSED: OnceLock<Table> = OnceLock::new();
    PARSED.get_or_init(|| {
        let mut version = String::new();
        let mut schedules = HashMap::new();
        for line in TABLE.lines() {
            if let Some(v) = line.strip_prefix("# version\t") {
                v.trim().clone_into(&mut version);
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let mut cols = line.split('\t');
            // The table is compiled in and checked by a unit test: a malformed line is a build defect.
            if let (Some(code), Some(schedule), Some(name)) = (cols.next(), cols.next(), cols.next()) {
                if let Ok(s) = schedule.parse::<u8>() {
                    schedules.insert(code.to_owned(), (s, name.to_owned()));
                }
            }
        }
        Table { version, schedules }
    })
}

/// The table's version (printed with every check, so a verdict names the table that gave it).
pub fn table_version() -> &'static str {
    &table().version
}

/// The DEA schedule (2..5) of an RxNorm code, with the drug's name in the table; `None` when the table does
/// not list it (treated as not controlled).
pub fn schedule_of(rxcui: &str) -> Option<(u8, &'static str)> {
    table().schedules.get(rxcui).map(|(s, n)| (*s, n.as_str()))
}

/// A declared schedule that differs from the table's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleMismatch {
    /// The RxNorm code.
    pub rxcui: String,
    /// The schedule declared in the prescription (0 = not controlled).
    pub declared: u8,
    /// The table's schedule (0 = not listed).
    pub expected: u8,
    /// The reason, in a sentence that names the table version.
    pub message: String,
}

/// The contract's schedule number in words: "not controlled", "schedule II", ….
pub fn schedule_name(schedule: u8) -> String {
    match schedule {
        0 => "not controlled".to_owned(),
        2 => "schedule II".to_owned(),
        3 => "schedule III".to_owned(),
        4 => "schedule IV".to_owned(),
        5 => "schedule V".to_owned(),
        n => format!("invalid schedule {n}"),
    }
}

/// A credential's schedules bit set (bit n = schedule n, as the CredentialRegistry stores it) in words, with
/// the bitmap as the revert data carries it: "schedules III, IV, V (bitmap 0b00111000)".
pub fn schedules_held(bits: u8) -> String {
    const ROMAN: [&str; 8] = ["0", "I", "II", "III", "IV", "V", "6", "7"];
    let held: Vec<&str> = (0..8).filter(|n| (bits >> n) & 1 == 1).map(|n| ROMAN[n]).collect();
    match held.as_slice() {
        [] => format!("no schedule (bitmap {bits:#010b})"),
        [one] => format!("schedule {one} only (bitmap {bits:#010b})"),
        many => format!("schedules {} (bitmap {bits:#010b})", many.join(", ")),
    }
}

/// The sentence for a prescriber whose credential no longer holds `schedule` (the contract's
/// `Prescriptions__PrescriberLacksSchedule`): the same from the decoded revert and from the off-chain check.
pub fn prescriber_lacks_schedule(prescriber: impl std::fmt::Display, schedule: u8, held: u8) -> String {
    format!(
        "the prescriber {prescriber} no longer holds {}: its credential holds {}",
        schedule_name(schedule),
        schedules_held(held)
    )
}

/// The sentence for a pharmacy whose registration lacks `schedule` (the contract's
/// `Prescriptions__PharmacyLacksSchedule`): the same from the decoded revert and from the off-chain check.
pub fn pharmacy_lacks_schedule(pharmacy: impl std::fmt::Display, schedule: u8, held: u8) -> String {
    format!(
        "pharmacy {pharmacy} is not registered for {}: its registration holds {}",
        schedule_name(schedule),
        schedules_held(held)
    )
}

/// Checks a declared schedule against the table.
///
/// # Errors
/// [`ScheduleMismatch`] when the table gives another schedule for `rxcui` (a listed drug declared as not
/// controlled or under another schedule, or an unlisted drug declared as controlled).
pub fn check_declared(rxcui: &str, declared: u8) -> Result<(), ScheduleMismatch> {
    let (expected, drug) = schedule_of(rxcui).map_or((0, None), |(s, n)| (s, Some(n)));
    if expected == declared {
        return Ok(());
    }
    let what = drug.map_or_else(|| format!("RxNorm {rxcui}"), |d| format!("RxNorm {rxcui} ({d})"));
    Err(ScheduleMismatch {
        rxcui: rxcui.to_owned(),
        declared,
        expected,
        message: format!(
            "{what} is {} in the controlled-substance table {}, but the prescription declares it {}",
            schedule_name(expected),
            table_version(),
            schedule_name(declared)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_table_parses_with_a_version() {
        assert_eq!(table_version(), "2026-12-04.1");
        let lines = TABLE.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).count();
        assert_eq!(table().schedules.len(), lines, "every data line parses");
        assert!(table().schedules.values().all(|(s, _)| (2..=5).contains(s)));
    }

    #[test]
    fn declared_schedules_are_checked_against_the_table() {
        assert_eq!(schedule_of("1049621"), Some((2, "oxycodone hydrochloride 5 MG Oral Tablet")));
        assert!(check_declared("1049621", 2).is_ok());
        assert!(check_declared("314076", 0).is_ok(), "lisinopril is not controlled");
        let m = check_declared("1049621", 0).unwrap_err();
        assert_eq!((m.declared, m.expected), (0, 2));
        assert!(m.message.contains("oxycodone") && m.message.contains("2026-12-04.1"), "{}", m.message);
        assert!(m.message.contains("declares it not controlled"), "{}", m.message);
        let m = check_declared("314076", 4).unwrap_err();
        assert_eq!((m.declared, m.expected), (4, 0));
        assert!(check_declared("596", 5).is_err());
    }

    #[test]
    fn schedules_held_names_every_bit_with_the_bitmap() {
        assert_eq!(schedules_held(0b0011_1100), "schedules II, III, IV, V (bitmap 0b00111100)");
        assert_eq!(schedules_held(0b0011_1000), "schedules III, IV, V (bitmap 0b00111000)");
        assert_eq!(schedules_held(0b0000_0100), "schedule II only (bitmap 0b00000100)");
        assert_eq!(schedules_held(0), "no schedule (bitmap 0b00000000)");
        assert_eq!(schedule_name(2), "schedule II");
        assert_eq!(schedule_name(7), "invalid schedule 7");
    }
}
