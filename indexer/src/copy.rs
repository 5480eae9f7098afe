//! PostgreSQL's binary `COPY … FROM STDIN (FORMAT binary)`: the writer's bulk path into `events`, the
//! history tables and the projections.

use crate::error::IndexerError;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// The type oid of `bytea` (array elements in binary COPY).
const BYTEA_OID: i32 = 17;

/// Rows in PostgreSQL's binary COPY format, one field at a time, in the order of the COPY's columns.
#[derive(Debug)]
pub(crate) struct CopyBuf {
    buf: Vec<u8>,
    rows: u64,
}

fn len32(len: usize) -> [u8; 4] {
    i32::try_from(len).unwrap_or(i32::MAX).to_be_bytes()
}

impl CopyBuf {
    /// An empty COPY stream with room for about `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity + 21);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        Self { buf, rows: 0 }
    }
    /// Starts a row of `fields` fields.
    pub(crate) fn row(&mut self, fields: i16) {
        self.rows += 1;
        self.buf.extend_from_slice(&fields.to_be_bytes());
    }
    pub(crate) fn null(&mut self) {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }
    /// `bytea` (and, as their binary form is their text, `text` and `json`).
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(&len32(v.len()));
        self.buf.extend_from_slice(v);
    }
    pub(crate) fn text(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    pub(crate) fn int8(&mut self, v: i64) {
        self.bytes(&v.to_be_bytes());
    }
    pub(crate) fn int4(&mut self, v: i32) {
        self.bytes(&v.to_be_bytes());
    }
    pub(crate) fn int2(&mut self, v: i16) {
        self.bytes(&v.to_be_bytes());
    }
    pub(crate) fn bool(&mut self, v: bool) {
        self.bytes(&[u8::from(v)]);
    }
    pub(crate) fn time(&mut self, t: DateTime<Utc>) {
        self.int8(t.timestamp_micros().saturating_sub(PG_EPOCH_MICROS));
    }
    /// A non-negative integer given as decimal digits, as `numeric` (base-10000 digit groups).
    pub(crate) fn numeric(&mut self, decimal: &str) {
        let digits = decimal.trim_start_matches('0').as_bytes();
        let groups = digits.len().div_ceil(4);
        let mut words: Vec<i16> = (0..groups)
            .map(|g| {
                // Group g (most significant first) ends `(groups - g - 1) * 4` digits from the right.
                let end = digits.len() - (groups - g - 1) * 4;
                let start = end.saturating_sub(4);
                digits[start..end].iter().fold(0i16, |acc, d| acc * 10 + i16::from(d.wrapping_sub(b'0')))
            })
            .collect();
        while words.last() == Some(&0) {
            words.pop();
        }
        let weight = i16::try_from(groups).unwrap_or(i16::MAX) - 1;
        let mut field = Vec::with_capacity(8 + 2 * words.len());
        field.extend_from_slice(&i16::try_from(words.len()).unwrap_or(i16::MAX).to_be_bytes());
        field.extend_from_slice(&(if words.is_empty() { 0 } else { weight }).to_be_bytes());
        field.extend_from_slice(&0u16.to_be_bytes()); // sign: positive
        field.extend_from_slice(&0i16.to_be_bytes()); // display scale
        for w in words {
            field.extend_from_slice(&w.to_be_bytes());
        }
        self.bytes(&field);
    }
    /// A one-dimensional `bytea[]` without NULLs.
    pub(crate) fn bytea_array<'a>(&mut self, items: impl ExactSizeIterator<Item = &'a [u8]>) {
        let n = items.len();
        let mut field = Vec::with_capacity(20 + n * 24);
        field.extend_from_slice(&i32::from(n > 0).to_be_bytes()); // dimensions
        field.extend_from_slice(&0i32.to_be_bytes()); // no NULLs
        field.extend_from_slice(&BYTEA_OID.to_be_bytes());
        if n > 0 {
            field.extend_from_slice(&len32(n));
            field.extend_from_slice(&1i32.to_be_bytes()); // lower bound
        }
        for item in items {
            field.extend_from_slice(&len32(item.len()));
            field.extend_from_slice(item);
        }
        self.bytes(&field);
    }
    pub(crate) fn opt<T>(&mut self, v: Option<T>, write: impl FnOnce(&mut Self, T)) {
        match v {
            Some(v) => write(self, v),
            None => self.null(),
        }
    }

    /// Sends the rows with `COPY <table_and_columns> FROM STDIN (FORMAT binary)` and checks that all of
    /// them were written.
    pub(crate) async fn send(
        self,
        conn: &mut PgConnection,
        table_and_columns: &str,
    ) -> Result<(), IndexerError> {
        if self.rows == 0 {
            return Ok(());
        }
        let (rows, mut buf) = (self.rows, self.buf);
        buf.extend_from_slice(&(-1i16).to_be_bytes());
        let mut copy =
            conn.copy_in_raw(&format!("COPY {table_and_columns} FROM STDIN (FORMAT binary)")).await?;
        copy.send(buf).await?;
        let written = copy.finish().await?;
        if written != rows {
            return Err(IndexerError::Corrupt(format!(
                "{written} of {rows} rows written by COPY {table_and_columns}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::CopyBuf;

    fn numeric(decimal: &str) -> Vec<u8> {
        let mut b = CopyBuf::new(0);
        b.numeric(decimal);
        b.buf[19..].to_vec()
    }

    #[test]
    fn numerics_are_base_10000_groups() {
        // length 8+2n, ndigits, weight, sign, dscale, digits
        assert_eq!(numeric("0"), [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(numeric("7"), [0, 0, 0, 10, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(numeric("123456"), [0, 0, 0, 12, 0, 2, 0, 1, 0, 0, 0, 0, 0, 12, 13, 128]);
        // 10^8: one group "1" of weight 2, trailing zero groups dropped.
        assert_eq!(numeric("100000000"), [0, 0, 0, 10, 0, 1, 0, 2, 0, 0, 0, 0, 0, 1]);
    }
}
