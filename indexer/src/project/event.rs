//! One event as the folds read it ([`Ev`]): from a fresh batch (decoded arguments) or read back from
//! `events` for a refold (stored JSON arguments), with accessors that read both forms the same.

use crate::{decode::Args, error::IndexerError};
use alloy::dyn_abi::DynSolValue;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// One event as the projections see it: from a fresh batch, or read back from `events` after a reorg.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ev<'a> {
    pub(crate) block_number: i64,
    pub(crate) log_index: i32,
    pub(crate) block_time: DateTime<Utc>,
    pub(crate) tx_hash: &'a [u8],
    pub(crate) address: &'a [u8],
    pub(crate) contract: &'a str,
    pub(crate) event_name: &'a str,
    pub(crate) entity: &'a [u8],
    pub(crate) episode_id: Option<i64>,
    pub(crate) credential_id: Option<i64>,
    pub(crate) rx_id: Option<&'a [u8]>,
    pub(crate) args: EvArgs<'a>,
}

/// An event's arguments: as decoded from a fresh log, or as stored in `events.args` (JSON, see
/// [`Args::write_json`]) when a reorg reads events back. Both read the same through [`Ev`]'s accessors.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EvArgs<'a> {
    Decoded(&'a Args),
    Stored(&'a Value),
}

/// One argument, in either form.
enum Arg<'a> {
    Decoded(&'a DynSolValue),
    Stored(&'a Value),
}

fn time(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

impl Ev<'_> {
    pub(super) fn bad(&self, name: &str) -> IndexerError {
        IndexerError::Corrupt(format!(
            "{}.{} at block {} log {}: argument {name} missing or malformed",
            self.contract, self.event_name, self.block_number, self.log_index
        ))
    }
    fn arg(&self, name: &str) -> Option<Arg<'_>> {
        match self.args {
            EvArgs::Decoded(a) => a.get(name).map(Arg::Decoded),
            EvArgs::Stored(v) => v.get(name).filter(|v| !v.is_null()).map(Arg::Stored),
        }
    }
    /// A hex argument (address, bytesN) as bytes.
    pub(super) fn bytes(&self, name: &str) -> Result<Vec<u8>, IndexerError> {
        self.opt_bytes(name)?.ok_or_else(|| self.bad(name))
    }
    pub(super) fn opt_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, IndexerError> {
        self.arg(name)
            .map(|v| match v {
                Arg::Decoded(DynSolValue::Address(a)) => Some(a.to_vec()),
                Arg::Decoded(DynSolValue::FixedBytes(w, size)) => Some(w[..*size].to_vec()),
                Arg::Decoded(DynSolValue::Bytes(b)) => Some(b.clone()),
                Arg::Decoded(_) => None,
                Arg::Stored(v) => {
                    v.as_str().and_then(|s| s.strip_prefix("0x")).and_then(|h| alloy::hex::decode(h).ok())
                }
            })
            .map(|b| b.ok_or_else(|| self.bad(name)))
            .transpose()
    }
    /// An address argument; `None` for the zero address (e.g. "any pharmacy").
    pub(super) fn address_or_none(&self, name: &str) -> Result<Option<Vec<u8>>, IndexerError> {
        Ok(Some(self.bytes(name)?).filter(|a| a.iter().any(|b| *b != 0)))
    }
    pub(super) fn int(&self, name: &str) -> Result<i64, IndexerError> {
        self.opt_int(name)?.ok_or_else(|| self.bad(name))
    }
    /// An integer argument of up to 64 bits that fits an `i64` (as its JSON form is a number then).
    pub(super) fn opt_int(&self, name: &str) -> Result<Option<i64>, IndexerError> {
        self.arg(name)
            .map(|v| match v {
                Arg::Decoded(DynSolValue::Uint(u, bits)) if *bits <= 64 => i64::try_from(*u).ok(),
                Arg::Decoded(DynSolValue::Int(i, bits)) if *bits <= 64 => i64::try_from(*i).ok(),
                Arg::Decoded(_) => None,
                Arg::Stored(v) => v.as_i64(),
            })
            .map(|i| i.ok_or_else(|| self.bad(name)))
            .transpose()
    }
    pub(super) fn small(&self, name: &str) -> Result<i16, IndexerError> {
        i16::try_from(self.int(name)?).map_err(|_| self.bad(name))
    }
    pub(super) fn opt_small(&self, name: &str) -> Result<Option<i16>, IndexerError> {
        self.opt_int(name)?.map(|v| i16::try_from(v).map_err(|_| self.bad(name))).transpose()
    }
    pub(super) fn opt_int4(&self, name: &str) -> Result<Option<i32>, IndexerError> {
        self.opt_int(name)?.map(|v| i32::try_from(v).map_err(|_| self.bad(name))).transpose()
    }
    pub(super) fn flag(&self, name: &str) -> Result<bool, IndexerError> {
        self.opt_flag(name)?.ok_or_else(|| self.bad(name))
    }
    pub(super) fn opt_flag(&self, name: &str) -> Result<Option<bool>, IndexerError> {
        self.arg(name)
            .map(|v| match v {
                Arg::Decoded(DynSolValue::Bool(b)) => Some(*b),
                Arg::Decoded(_) => None,
                Arg::Stored(v) => v.as_bool(),
            })
            .map(|b| b.ok_or_else(|| self.bad(name)))
            .transpose()
    }
    pub(super) fn time(&self, name: &str) -> Result<DateTime<Utc>, IndexerError> {
        Ok(time(self.int(name)?))
    }
    pub(super) fn opt_time(&self, name: &str) -> Result<Option<DateTime<Utc>>, IndexerError> {
        Ok(self.opt_int(name)?.map(time))
    }
    /// An unsigned integer of any width as decimal text (`numeric` columns).
    pub(super) fn decimal(&self, name: &str) -> Result<String, IndexerError> {
        match self.arg(name) {
            Some(Arg::Decoded(DynSolValue::Uint(u, _))) => Ok(u.to_string()),
            Some(Arg::Decoded(DynSolValue::Int(i, _))) if !i.is_negative() => Ok(i.to_string()),
            Some(Arg::Stored(Value::Number(n))) if n.is_u64() => Ok(n.to_string()),
            Some(Arg::Stored(Value::String(s))) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(s.clone())
            }
            _ => Err(self.bad(name)),
        }
    }
}

/// Events as the contracts emit them, for the folds' unit tests. Their arguments are in the stored JSON
/// form (the one a refold reads; `decoded_and_stored_arguments_read_the_same` shows a fresh batch reads its
/// decoded values the same).
#[cfg(test)]
pub(super) mod fixture {
    use super::{time, Ev, EvArgs};
    use crate::project::{Fold, History};
    use serde_json::Value;

    /// One rule of a table-driven test: its name, the events after a first one, and how they change the
    /// row the first event made.
    pub(crate) type Case<R> = (&'static str, Vec<Log>, fn(&mut R));

    /// The time of block 0; block `n` is 12 s per block later.
    pub(crate) const T0: i64 = 1_700_000_000;

    /// An event with owned parts; [`Log::ev`] lends it as the folds see it.
    #[derive(Debug, Clone)]
    pub(crate) struct Log {
        pub(crate) block: i64,
        pub(crate) log_index: i32,
        pub(crate) contract: &'static str,
        pub(crate) event: &'static str,
        pub(crate) entity: Vec<u8>,
        pub(crate) episode_id: Option<i64>,
        pub(crate) credential_id: Option<i64>,
        pub(crate) rx_id: Option<Vec<u8>>,
        pub(crate) address: Vec<u8>,
        pub(crate) tx_hash: Vec<u8>,
        pub(crate) args: Value,
    }

    impl Log {
        /// `contract.event` on `entity` (the key `decode` derives), at block 1.
        pub(crate) fn new(contract: &'static str, event: &'static str, entity: Vec<u8>, args: Value) -> Self {
            Self {
                block: 1,
                log_index: 0,
                contract,
                event,
                entity,
                episode_id: None,
                credential_id: None,
                rx_id: None,
                address: vec![0xc0; 20],
                tx_hash: tx_hash(1),
                args,
            }
        }

        /// The same event in block `block`.
        pub(crate) fn at(mut self, block: i64) -> Self {
            self.block = block;
            self.tx_hash = tx_hash(block);
            self
        }

        /// The event as the folds read it.
        pub(crate) fn ev(&self) -> Ev<'_> {
            Ev {
                block_number: self.block,
                log_index: self.log_index,
                block_time: block_time(self.block),
                tx_hash: &self.tx_hash,
                address: &self.address,
                contract: self.contract,
                event_name: self.event,
                entity: &self.entity,
                episode_id: self.episode_id,
                credential_id: self.credential_id,
                rx_id: self.rx_id.as_deref(),
                args: EvArgs::Stored(&self.args),
            }
        }
    }

    /// The time of block `n`.
    pub(crate) fn block_time(n: i64) -> chrono::DateTime<chrono::Utc> {
        time(T0 + 12 * n)
    }

    /// The transaction hash of the events of block `n` (one per block is all the tests need).
    pub(crate) fn tx_hash(n: i64) -> Vec<u8> {
        [[0x7a; 24].as_slice(), &n.to_be_bytes()].concat()
    }

    /// A 20-byte address, every byte `b`.
    pub(crate) fn addr(b: u8) -> Vec<u8> {
        vec![b; 20]
    }

    /// A 32-byte word, every byte `b`.
    pub(crate) fn word(b: u8) -> Vec<u8> {
        vec![b; 32]
    }

    /// Bytes in their stored JSON form.
    pub(crate) fn hex(b: &[u8]) -> Value {
        Value::String(format!("0x{}", alloy::hex::encode(b)))
    }

    /// Folds `logs` in order, as one batch does: every row they move is touched (nothing stored), then each
    /// event applied.
    pub(crate) fn fold(logs: &[Log]) -> Fold {
        let mut f = Fold::default();
        for l in logs {
            f.touch(l.contract, l.event, &l.entity, l.episode_id);
        }
        for l in logs {
            if let Err(e) = f.apply(&l.ev()) {
                panic!("{}.{} does not fold: {e}", l.contract, l.event);
            }
        }
        f
    }

    /// The history rows of `logs`.
    pub(crate) fn history(logs: &[Log]) -> History {
        let mut h = History::default();
        for l in logs {
            if let Err(e) = h.push(&l.ev()) {
                panic!("{}.{} has no history row: {e}", l.contract, l.event);
            }
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Address, B256, I256, U256};

    /// A fresh batch folds decoded values and a refold after a reorg folds their stored JSON: every
    /// accessor must read both the same, or a reorg would change projections it should not touch.
    #[test]
    fn decoded_and_stored_arguments_read_the_same() {
        let values = vec![
            ("account", DynSolValue::Address(Address::repeat_byte(0xab))),
            ("zero", DynSolValue::Address(Address::ZERO)),
            ("rxId", DynSolValue::FixedBytes(B256::repeat_byte(7), 32)),
            ("short", DynSolValue::FixedBytes(B256::repeat_byte(9), 4)),
            ("blob", DynSolValue::Bytes(vec![1, 2, 3])),
            ("small", DynSolValue::Uint(U256::from(7), 8)),
            ("time", DynSolValue::Uint(U256::from(1_700_000_000u64), 40)),
            ("max64", DynSolValue::Uint(U256::from(u64::MAX), 64)),
            ("wide", DynSolValue::Uint(U256::from(u64::MAX) * U256::from(3), 256)),
            ("minus", DynSolValue::Int(I256::try_from(-4i64).expect("small"), 32)),
            ("plus", DynSolValue::Int(I256::try_from(12i64).expect("small"), 64)),
            ("flag", DynSolValue::Bool(true)),
            ("text", DynSolValue::String("x".into())),
        ];
        let names: Vec<String> = values.iter().map(|(n, _)| (*n).to_owned()).collect();
        let args = Args::new(names.clone().into(), values.into_iter().map(|(_, v)| v).collect());
        let mut json = Vec::new();
        args.write_json(&mut json);
        let stored: Value = serde_json::from_slice(&json).expect("valid JSON");
        let ev = |args| Ev {
            block_number: 1,
            log_index: 0,
            block_time: time(0),
            tx_hash: &[],
            address: &[],
            contract: "Prescriptions",
            event_name: "Test",
            entity: &[],
            episode_id: None,
            credential_id: None,
            rx_id: None,
            args,
        };
        let (decoded, stored) = (ev(EvArgs::Decoded(&args)), ev(EvArgs::Stored(&stored)));
        for name in names.iter().map(String::as_str).chain(["missing"]) {
            assert_eq!(decoded.opt_bytes(name).ok(), stored.opt_bytes(name).ok(), "opt_bytes {name}");
            assert_eq!(
                decoded.address_or_none(name).ok(),
                stored.address_or_none(name).ok(),
                "address {name}"
            );
            assert_eq!(decoded.opt_int(name).ok(), stored.opt_int(name).ok(), "opt_int {name}");
            assert_eq!(decoded.opt_small(name).ok(), stored.opt_small(name).ok(), "opt_small {name}");
            assert_eq!(decoded.opt_flag(name).ok(), stored.opt_flag(name).ok(), "opt_flag {name}");
            assert_eq!(decoded.decimal(name).ok(), stored.decimal(name).ok(), "decimal {name}");
        }
        // And they do read something: the comparison above is not between two failures only.
        assert_eq!(decoded.decimal("wide").ok(), Some((U256::from(u64::MAX) * U256::from(3)).to_string()));
        assert_eq!(decoded.opt_int("time").ok(), Some(Some(1_700_000_000)));
        assert_eq!(decoded.address_or_none("zero").ok(), Some(None));
        assert_eq!(decoded.opt_bytes("short").ok(), Some(Some(vec![9; 4])));
    }
}
