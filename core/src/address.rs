//! Ethereum addresses as people and files write them, EIP-55 checked: a mixed-case address must carry its
//! checksum (a mistyped one is refused, as wallets and viem refuse it, with the checksummed form it should
//! have had); all-lowercase or all-uppercase hex digits carry no checksum and are accepted.
//!
//! [`parse_address`] is the one parser every surface uses: the GraphQL `Address` scalar, the vault's HTTP
//! parameters, the command line's arguments (as a clap `value_parser`) and the files it reads (through
//! [`deserialize`] and [`deserialize_option`] in serde's `deserialize_with`).

use crate::error::AddressError;
use alloy::primitives::Address;
use serde::{Deserialize, Deserializer};

/// Parses `0x` (or `0X`) and 40 hex digits, surrounding whitespace ignored; a mixed-case address must carry
/// its EIP-55 checksum.
pub fn parse_address(text: &str) -> Result<Address, AddressError> {
    let text = text.trim();
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).ok_or(AddressError::Prefix)?;
    if digits.len() != 40 {
        return Err(AddressError::Length(digits.len()));
    }
    let mut bytes = [0u8; 20];
    alloy::hex::decode_to_slice(digits, &mut bytes).map_err(|_| AddressError::NotHex)?;
    let address = Address::from(bytes);
    let mixed =
        digits.bytes().any(|b| b.is_ascii_lowercase()) && digits.bytes().any(|b| b.is_ascii_uppercase());
    if mixed {
        let expected = address.to_checksum(None);
        if expected[2..] != *digits {
            return Err(AddressError::Checksum { given: text.to_owned(), expected });
        }
    }
    Ok(address)
}

/// serde `deserialize_with` for an address field of a file: [`parse_address`]'s rules.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_address(&text).map_err(serde::de::Error::custom)
}

/// serde `deserialize_with` for an optional address field (`null` or absent: `None`; pair it with
/// `#[serde(default)]`).
pub fn deserialize_option<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Address>, D::Error> {
    Option::<String>::deserialize(deserializer)?
        .map(|text| parse_address(&text).map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKSUMMED: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

    #[test]
    fn checksummed_lowercase_and_uppercase_are_accepted() {
        let a = parse_address(CHECKSUMMED).unwrap();
        assert_eq!(parse_address(&CHECKSUMMED.to_lowercase()).unwrap(), a);
        assert_eq!(parse_address(&format!("0x{}", CHECKSUMMED[2..].to_uppercase())).unwrap(), a);
        assert_eq!(parse_address(&format!(" {CHECKSUMMED}\n")).unwrap(), a);
    }

    #[test]
    fn a_wrong_checksum_is_refused_with_the_expected_form() {
        let e = parse_address("0x5FbDB2315678afecb367f032d93F642f64180aA3").unwrap_err();
        assert_eq!(
            e,
            AddressError::Checksum {
                given: "0x5FbDB2315678afecb367f032d93F642f64180aA3".into(),
                expected: CHECKSUMMED.into()
            }
        );
        assert!(e.to_string().contains(&format!("expected {CHECKSUMMED}")), "{e}");
    }

    #[test]
    fn malformed_addresses_say_what_is_wrong() {
        assert_eq!(parse_address(&CHECKSUMMED[2..]), Err(AddressError::Prefix));
        assert_eq!(parse_address("0x5fbd"), Err(AddressError::Length(4)));
        assert_eq!(parse_address(&format!("0x{}", "g".repeat(40))), Err(AddressError::NotHex));
    }

    #[test]
    fn file_fields_are_checked() {
        #[derive(Deserialize)]
        struct F {
            #[serde(deserialize_with = "deserialize")]
            a: Address,
            #[serde(default, deserialize_with = "deserialize_option")]
            b: Option<Address>,
        }
        let f: F = serde_json::from_str(&format!(r#"{{"a": "{CHECKSUMMED}"}}"#)).unwrap();
        assert_eq!((f.a.to_checksum(None).as_str(), f.b), (CHECKSUMMED, None));
        let e = serde_json::from_str::<F>(&format!(
            r#"{{"a": "{CHECKSUMMED}", "b": "0x5FbDB2315678afecb367f032d93F642f64180aA3"}}"#
        ))
        .err()
        .unwrap();
        assert!(e.to_string().contains(&format!("expected {CHECKSUMMED}")), "{e}");
    }
}
