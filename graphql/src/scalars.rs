//! Custom scalars: `Address`, `Bytes32` and `BigInt`.

use alloy::primitives::U256;
use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use std::fmt;

/// Parses `0x`-prefixed hex of exactly `N` bytes, any case.
fn parse_hex<const N: usize>(text: &str, what: &str) -> Result<[u8; N], String> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .ok_or_else(|| format!("{what} must start with 0x"))?;
    if digits.len() != 2 * N {
        return Err(format!("{what} must be 0x followed by {} hex digits, got {}", 2 * N, digits.len()));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out).map_err(|_| format!("{what} contains a non-hex character"))?;
    Ok(out)
}

/// A 20-byte Ethereum address: `0x` and 40 hex digits; on input a mixed-case address must carry its EIP-55
/// checksum (all-lowercase or all-uppercase digits carry none and are accepted); EIP-55 checksummed on
/// output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub [u8; 20]);

/// A 32-byte value (hash, id): `0x` and 64 hex digits, any case on input, lowercase on output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bytes32(pub [u8; 32]);

/// An unsigned integer of up to 256 bits as a decimal string (e.g. `"1000000000000000000000"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BigInt(pub U256);

impl Address {
    /// From stored bytes; `None` unless exactly 20 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

impl Bytes32 {
    /// From stored bytes; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&alloy::primitives::Address::from(self.0).to_checksum(None))
    }
}

impl fmt::Display for Bytes32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl std::str::FromStr for Address {
    type Err = String;
    /// [`medledger_core::parse_address`]'s rules, the same everywhere an address enters.
    fn from_str(s: &str) -> Result<Self, String> {
        medledger_core::parse_address(s).map(|a| Self(a.0 .0)).map_err(|e| e.to_string())
    }
}

impl std::str::FromStr for Bytes32 {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_hex::<32>(s.trim(), "a 32-byte value").map(Self)
    }
}

impl std::str::FromStr for BigInt {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 78 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err("a BigInt must be a non-negative decimal string of at most 78 digits".into());
        }
        U256::from_str_radix(s, 10).map(Self).map_err(|_| "the BigInt does not fit in 256 bits".into())
    }
}

fn string_input(value: &Value, scalar: &str) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(format!("{scalar} must be a string, got {}", other)),
    }
}

/// Accepts `0x` + 40 hex digits, EIP-55 checksummed when mixed-case; returns EIP-55 checksummed addresses.
#[Scalar(name = "Address")]
impl ScalarType for Address {
    fn parse(value: Value) -> InputValueResult<Self> {
        let s = string_input(&value, "Address").map_err(InputValueError::custom)?;
        s.parse().map_err(InputValueError::custom)
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_string())
    }
}

/// A 32-byte value as `0x` + 64 hex digits (any case on input, lowercase on output).
#[Scalar(name = "Bytes32")]
impl ScalarType for Bytes32 {
    fn parse(value: Value) -> InputValueResult<Self> {
        let s = string_input(&value, "Bytes32").map_err(InputValueError::custom)?;
        s.parse().map_err(InputValueError::custom)
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_string())
    }
}

/// An unsigned integer up to 2^256 - 1, as a decimal string.
#[Scalar(name = "BigInt")]
impl ScalarType for BigInt {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => s.parse().map_err(InputValueError::custom),
            Value::Number(n) => n
                .as_u64()
                .map(|v| Self(U256::from(v)))
                .ok_or_else(|| InputValueError::custom("a BigInt must be a non-negative integer")),
            other => Err(InputValueError::custom(format!("BigInt must be a decimal string, got {other}"))),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// The scalars are stored as `bytea` (`Address`, `Bytes32`) and numerics read as text (`BigInt`): rows hold
/// them typed, so a stored value of the wrong length fails the row's decoding instead of each resolver.
mod sql {
    use super::{Address, BigInt, Bytes32};
    use sqlx::encode::IsNull;
    use sqlx::error::BoxDynError;
    use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
    use sqlx::{Decode, Encode, Postgres, Type};

    macro_rules! bytea {
        ($ty:ty, $what:literal) => {
            impl Type<Postgres> for $ty {
                fn type_info() -> PgTypeInfo {
                    <Vec<u8> as Type<Postgres>>::type_info()
                }
                fn compatible(ty: &PgTypeInfo) -> bool {
                    <Vec<u8> as Type<Postgres>>::compatible(ty)
                }
            }
            impl PgHasArrayType for $ty {
                fn array_type_info() -> PgTypeInfo {
                    <Vec<u8> as PgHasArrayType>::array_type_info()
                }
            }
            impl<'r> Decode<'r, Postgres> for $ty {
                fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
                    let bytes = <&[u8] as Decode<Postgres>>::decode(value)?;
                    let array =
                        bytes.try_into().map_err(|_| format!(concat!($what, " of {} bytes"), bytes.len()))?;
                    Ok(Self(array))
                }
            }
            impl Encode<'_, Postgres> for $ty {
                fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
                    <&[u8] as Encode<Postgres>>::encode(self.0.as_slice(), buf)
                }
            }
        };
    }
    bytea!(Address, "an address");
    bytea!(Bytes32, "a 32-byte value");

    impl Type<Postgres> for BigInt {
        fn type_info() -> PgTypeInfo {
            <String as Type<Postgres>>::type_info()
        }
        fn compatible(ty: &PgTypeInfo) -> bool {
            <String as Type<Postgres>>::compatible(ty)
        }
    }
    impl<'r> Decode<'r, Postgres> for BigInt {
        fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
            Ok(<&str as Decode<Postgres>>::decode(value)?.parse()?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_any_case_checksummed_out() {
        let a: Address = "0x5fbdb2315678afecb367f032d93f642f64180aa3".parse().unwrap();
        let b: Address = "0x5FBDB2315678AFECB367F032D93F642F64180AA3".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "0x5FbDB2315678afecb367f032d93F642f64180aa3");
        let c: Address = "0x5FbDB2315678afecb367f032d93F642f64180aa3".parse().unwrap();
        assert_eq!(a, c);
    }

    #[test]
    fn wrong_checksum_refused_with_the_expected_one() {
        let e = "0x5FbDB2315678afecb367f032d93F642f64180aA3".parse::<Address>().unwrap_err();
        assert!(
            e.contains("EIP-55") && e.contains("expected 0x5FbDB2315678afecb367f032d93F642f64180aa3"),
            "{e}"
        );
    }

    #[test]
    fn malformed_rejected_with_reason() {
        assert!("5fbdb2315678afecb367f032d93f642f64180aa3".parse::<Address>().unwrap_err().contains("0x"));
        assert!("0x5fbd".parse::<Address>().unwrap_err().contains("40 hex digits"));
        let bad = format!("0x{}", "g".repeat(64));
        assert!(bad.parse::<Bytes32>().unwrap_err().contains("non-hex"));
        assert!("-1".parse::<BigInt>().is_err());
        assert!("1".repeat(79).parse::<BigInt>().is_err());
        assert_eq!(
            "115792089237316195423570985008687907853269984665640564039457584007913129639935"
                .parse::<BigInt>()
                .unwrap()
                .0,
            U256::MAX
        );
        assert!("115792089237316195423570985008687907853269984665640564039457584007913129639936"
            .parse::<BigInt>()
            .is_err());
    }
}
