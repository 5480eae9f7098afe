//! The decoder that turns a raw log into an [`EventRow`], with the contracts' committed ABIs
//! ([`medledger_core::ABIS`]).

use crate::error::IndexerError;
use alloy::{
    dyn_abi::{DynSolEvent, DynSolValue, Specifier},
    json_abi::{Event, JsonAbi},
    primitives::{Address, B256},
    rpc::types::Log,
};
use medledger_core::{Contracts, ABIS};
use std::{collections::HashMap, io::Write, sync::Arc};

/// One decoded log, ready to be written.
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub(crate) block_number: u64,
    pub(crate) block_hash: B256,
    pub(crate) tx_hash: B256,
    pub(crate) tx_index: u64,
    pub(crate) log_index: u64,
    pub(crate) contract: &'static str,
    pub(crate) address: Address,
    pub(crate) event_name: String,
    pub(crate) entity: Vec<u8>,
    pub(crate) accounts: Vec<Address>,
    pub(crate) rx_id: Option<B256>,
    pub(crate) episode_id: Option<i64>,
    pub(crate) credential_id: Option<i64>,
    pub(crate) args: Args,
}

/// A decoded log's arguments: the values in declaration order, with their names (shared by every log
/// of the event). The projections read them as they are; `events.args` gets them as JSON
/// ([`Args::write_json`]).
#[derive(Debug, Clone)]
pub(crate) struct Args {
    names: Arc<[String]>,
    values: Vec<DynSolValue>,
}

impl Args {
    /// The values of an event's arguments (`names`, in declaration order).
    pub(crate) fn new(names: Arc<[String]>, values: Vec<DynSolValue>) -> Self {
        Self { names, values }
    }

    /// The argument called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&DynSolValue> {
        self.names.iter().position(|n| n == name).map(|at| &self.values[at])
    }

    /// Appends the arguments as a JSON object by name: addresses and bytes as 0x-hex strings, integers up
    /// to 64 bits as numbers, wider ones as decimal strings.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (name, value)) in self.names.iter().zip(&self.values).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_str(name, out);
            out.push(b':');
            write_json_value(value, out);
        }
        out.push(b'}');
    }
}

/// An ABI event with its types resolved once (resolving parses every type and hashes the signature).
#[derive(Debug)]
struct KnownEvent {
    abi: Event,
    resolved: DynSolEvent,
    /// The argument names, shared by every decoded log's [`Args`] instead of copied into each: an input
    /// that is a struct (e.g. `PrescriptionIssued.terms`) is flattened into its fields, so the projections
    /// and `events.args` see `terms.validUntil` as `validUntil`; a field named like a top-level input
    /// (the indexed `patient`) is kept once.
    names: Arc<[String]>,
    /// Per input: `None` to keep its value, or which of its struct fields to keep.
    flatten: Vec<Option<Vec<bool>>>,
}

/// The flattened argument names of an event and, per input, which struct fields are kept.
fn flattened_names(e: &Event) -> (Arc<[String]>, Vec<Option<Vec<bool>>>) {
    let top: Vec<&str> = e.inputs.iter().map(|i| i.name.as_str()).collect();
    let mut names = Vec::new();
    let mut flatten = Vec::new();
    for input in &e.inputs {
        if input.ty == "tuple" && !input.components.is_empty() {
            let keep: Vec<bool> = input.components.iter().map(|c| !top.contains(&c.name.as_str())).collect();
            for (c, k) in input.components.iter().zip(&keep) {
                if *k {
                    names.push(c.name.clone());
                }
            }
            flatten.push(Some(keep));
        } else {
            names.push(input.name.clone());
            flatten.push(None);
        }
    }
    (names.into(), flatten)
}

/// Maps (address, topic0) of the tracked contracts to their ABI events.
#[derive(Debug)]
pub(crate) struct Decoder {
    by_address: HashMap<Address, (&'static str, HashMap<B256, KnownEvent>)>,
}

impl Decoder {
    /// Builds the decoder for the four contracts of a deployment.
    pub(crate) fn new(contracts: &Contracts) -> Self {
        let addresses = contracts.all();
        let mut by_address = HashMap::new();
        for ((name, json), address) in ABIS.iter().zip(addresses) {
            // The ABIs are compiled in and checked by a unit test: a parse failure is a build defect.
            #[allow(clippy::expect_used)]
            let abi: JsonAbi = serde_json::from_str(json).expect("committed ABI is valid JSON ABI");
            // As above: every committed event's types are valid Solidity types.
            #[allow(clippy::expect_used)]
            let events = abi
                .events()
                .map(|e| {
                    let resolved = e.resolve().expect("committed ABI event resolves");
                    let (names, flatten) = flattened_names(e);
                    (e.selector(), KnownEvent { abi: e.clone(), resolved, names, flatten })
                })
                .collect();
            by_address.insert(address, (*name, events));
        }
        Self { by_address }
    }

    /// Decodes the logs of a range or block, in order; the first that fails is the error.
    pub(crate) fn decode_all(&self, logs: &[Log]) -> Result<Vec<EventRow>, IndexerError> {
        logs.iter().map(|l| self.decode(l)).collect()
    }

    /// Decodes a log of a tracked contract; unknown or undecodable logs are errors, never skipped.
    pub(crate) fn decode(&self, log: &Log) -> Result<EventRow, IndexerError> {
        let malformed = |what: &str| {
            IndexerError::Rpc(crate::error::RpcError {
                method: "eth_getLogs",
                kind: crate::error::RpcErrorKind::Malformed,
                message: format!("log without {what}"),
            })
        };
        let block_number = log.block_number.ok_or_else(|| malformed("blockNumber"))?;
        let block_hash = log.block_hash.ok_or_else(|| malformed("blockHash"))?;
        let tx_hash = log.transaction_hash.ok_or_else(|| malformed("transactionHash"))?;
        let tx_index = log.transaction_index.ok_or_else(|| malformed("transactionIndex"))?;
        let log_index = log.log_index.ok_or_else(|| malformed("logIndex"))?;
        let address = log.address();
        let Some((contract, events)) = self.by_address.get(&address) else {
            // The filter names the tracked addresses: a node that answers with others is misbehaving.
            return Err(IndexerError::Rpc(crate::error::RpcError {
                method: "eth_getLogs",
                kind: crate::error::RpcErrorKind::Malformed,
                message: format!("log from untracked address {address}"),
            }));
        };
        let topic0 = log.topics().first().copied();
        let Some(known) = topic0.and_then(|t| events.get(&t)) else {
            return Err(IndexerError::UnknownEvent {
                contract,
                address: address.to_string(),
                topic0: topic0.map_or_else(|| "none".to_owned(), |t| t.to_string()),
                block: block_number,
                log_index,
            });
        };
        let event = &known.abi;
        let undecodable = |reason: String| IndexerError::Undecodable {
            contract,
            event: event.name.clone(),
            block: block_number,
            log_index,
            reason,
        };
        let decoded = known
            .resolved
            .decode_log_parts(log.topics().iter().copied(), log.data().data.as_ref())
            .map_err(|e| undecodable(e.to_string()))?;
        let mut indexed = decoded.indexed.into_iter();
        let mut body = decoded.body.into_iter();
        let mut accounts = Vec::new();
        // The arguments in declaration order (`event.inputs`), structs flattened ([`KnownEvent::names`]).
        let mut values: Vec<DynSolValue> = Vec::with_capacity(known.names.len());
        for (input, flatten) in event.inputs.iter().zip(&known.flatten) {
            let value = if input.indexed { indexed.next() } else { body.next() }
                .ok_or_else(|| undecodable(format!("missing value for {}", input.name)))?;
            collect_addresses(&value, &mut accounts);
            match (flatten, value) {
                (None, value) => values.push(value),
                // A struct decodes as a tuple, or as a named struct when its ABI gives the internal type.
                (
                    Some(keep),
                    DynSolValue::Tuple(fields) | DynSolValue::CustomStruct { tuple: fields, .. },
                ) if fields.len() == keep.len() => {
                    values.extend(fields.into_iter().zip(keep).filter(|(_, k)| **k).map(|(v, _)| v));
                }
                (Some(_), _) => {
                    return Err(undecodable(format!("{} is not the expected struct", input.name)))
                }
            }
        }
        accounts.dedup();
        let args = Args::new(Arc::clone(&known.names), values);
        let word = |name: &str| match args.get(name) {
            Some(DynSolValue::FixedBytes(w, 32)) => Some(*w),
            _ => None,
        };
        let uint = |name: &str| match args.get(name) {
            Some(DynSolValue::Uint(u, _)) => u64::try_from(*u).ok().and_then(|v| i64::try_from(v).ok()),
            _ => None,
        };
        let addr = |name: &str| match args.get(name) {
            Some(DynSolValue::Address(a)) => Some(*a),
            _ => None,
        };
        let rx_id = if *contract == "Prescriptions" { word("rxId") } else { None };
        let episode_id = if *contract == "RecordAnchors" { uint("episodeId") } else { None };
        let credential_id = if *contract == "CredentialRegistry" { uint("id") } else { None };
        let entity = entity_key(contract, &event.name, &addr, &word, &uint);
        Ok(EventRow {
            block_number,
            block_hash,
            tx_hash,
            tx_index,
            log_index,
            contract,
            address,
            event_name: event.name.clone(),
            entity,
            accounts,
            rx_id,
            episode_id,
            credential_id,
            args,
        })
    }
}

/// The key of the projection row an event folds into (see [`crate::store`]); empty when none.
fn entity_key(
    contract: &str,
    event: &str,
    addr: &dyn Fn(&str) -> Option<Address>,
    word: &dyn Fn(&str) -> Option<B256>,
    uint: &dyn Fn(&str) -> Option<i64>,
) -> Vec<u8> {
    let mut key = Vec::new();
    match (contract, event) {
        ("CredentialRegistry", "RoleGranted" | "RoleRevoked") => {
            key.extend(word("role").unwrap_or_default());
            key.extend(addr("account").unwrap_or_default());
        }
        ("CredentialRegistry", e) if e.starts_with("Credential") => {
            key.extend(addr("account").unwrap_or_default());
        }
        ("ConsentRegistry", _) => {
            if let (Some(p), Some(g)) = (addr("patient"), addr("grantee")) {
                key.extend(p);
                key.extend(g);
            }
        }
        ("RecordAnchors", "RecordAnchored" | "RecordVisibilityChanged") => {
            if let (Some(ep), Some(ix)) = (uint("episodeId"), uint("index")) {
                key.extend(ep.to_be_bytes());
                key.extend(ix.to_be_bytes());
            }
        }
        ("RecordAnchors", _) => {
            if let Some(ep) = uint("episodeId") {
                key.extend(ep.to_be_bytes());
            }
        }
        ("Prescriptions", _) => {
            key.extend(word("rxId").unwrap_or_default());
        }
        _ => {}
    }
    key
}

fn collect_addresses(value: &DynSolValue, out: &mut Vec<Address>) {
    match value {
        DynSolValue::Address(a) if !a.is_zero() && !out.contains(a) => out.push(*a),
        // A struct argument (e.g. `PrescriptionIssued`'s terms, whose designated pharmacy is an account of the
        // event) decodes as a tuple, or as a named struct when the ABI gives its internal type.
        DynSolValue::Array(v)
        | DynSolValue::FixedArray(v)
        | DynSolValue::Tuple(v)
        | DynSolValue::CustomStruct { tuple: v, .. } => {
            v.iter().for_each(|x| collect_addresses(x, out));
        }
        _ => {}
    }
}

fn write_json_str(v: &str, out: &mut Vec<u8>) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

fn write_json_hex(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"\"0x");
    out.extend_from_slice(alloy::hex::encode(bytes).as_bytes());
    out.push(b'"');
}

/// JSON form of an ABI value: hex strings for addresses and bytes, numbers up to 64 bits, decimal strings
/// beyond.
fn write_json_value(value: &DynSolValue, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    match value {
        DynSolValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        DynSolValue::Uint(u, bits) => {
            let _ = match u64::try_from(*u) {
                Ok(v) if *bits <= 64 => write!(out, "{v}"),
                _ => write!(out, "\"{u}\""),
            };
        }
        DynSolValue::Int(i, bits) => {
            let _ = match i64::try_from(*i) {
                Ok(v) if *bits <= 64 => write!(out, "{v}"),
                _ => write!(out, "\"{i}\""),
            };
        }
        DynSolValue::FixedBytes(w, size) => write_json_hex(&w[..*size], out),
        DynSolValue::Address(a) => write_json_hex(a.as_slice(), out),
        DynSolValue::Function(f) => write_json_hex(f.as_slice(), out),
        DynSolValue::Bytes(b) => write_json_hex(b, out),
        DynSolValue::String(s) => write_json_str(s, out),
        DynSolValue::Array(v) | DynSolValue::FixedArray(v) | DynSolValue::Tuple(v) => {
            out.push(b'[');
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_value(x, out);
            }
            out.push(b']');
        }
        #[allow(unreachable_patterns)]
        _ => out.extend_from_slice(b"null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn json(value: &DynSolValue) -> Value {
        let mut out = Vec::new();
        write_json_value(value, &mut out);
        serde_json::from_slice(&out).expect("valid JSON")
    }

    #[test]
    fn addresses_are_collected_inside_structs() {
        let (a, b, c) = (Address::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3));
        let terms = DynSolValue::CustomStruct {
            name: "RxTerms".into(),
            prop_names: vec!["patient".into(), "pharmacy".into(), "none".into()],
            tuple: vec![
                DynSolValue::Address(b),
                DynSolValue::Address(c),
                DynSolValue::Address(Address::ZERO),
            ],
        };
        let mut out = vec![a];
        collect_addresses(&terms, &mut out);
        collect_addresses(
            &DynSolValue::Tuple(vec![DynSolValue::Address(c), DynSolValue::Address(a)]),
            &mut out,
        );
        assert_eq!(out, vec![a, b, c], "every nonzero address once, struct fields included");
    }

    #[test]
    fn values_become_json() {
        let big = alloy::primitives::U256::from(u64::MAX) * alloy::primitives::U256::from(10);
        assert_eq!(json(&DynSolValue::Uint(big, 256)), Value::String("184467440737095516150".into()));
        assert_eq!(json(&DynSolValue::Uint(alloy::primitives::U256::from(7), 40)), Value::from(7));
        assert_eq!(
            json(&DynSolValue::FixedBytes(B256::repeat_byte(1), 8)),
            Value::String("0x0101010101010101".into())
        );
        let minus = alloy::primitives::I256::try_from(-5i64).expect("small");
        assert_eq!(json(&DynSolValue::Int(minus, 64)), Value::from(-5));
        assert_eq!(
            json(&DynSolValue::Tuple(vec![
                DynSolValue::Bool(true),
                DynSolValue::String("a\"b".into()),
                DynSolValue::Address(Address::repeat_byte(0xab)),
            ])),
            serde_json::json!([true, "a\"b", format!("0x{}", "ab".repeat(20))])
        );
        let args = Args::new(
            vec!["rxId".to_owned(), "quantity".to_owned()].into(),
            vec![
                DynSolValue::FixedBytes(B256::ZERO, 32),
                DynSolValue::Uint(alloy::primitives::U256::from(3), 32),
            ],
        );
        let mut out = Vec::new();
        args.write_json(&mut out);
        let parsed: Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(parsed, serde_json::json!({"rxId": format!("0x{}", "00".repeat(32)), "quantity": 3}));
        assert!(matches!(args.get("quantity"), Some(DynSolValue::Uint(..))));
        assert!(args.get("missing").is_none());
    }
}
