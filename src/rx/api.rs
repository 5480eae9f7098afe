//! Asking the GraphQL API whether a pharmacy may dispense a prescription (`verifyPrescription`).

use super::{error::RxError, ticket::Ticket};
use alloy::primitives::Address;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

const QUERY: &str = "query($id: Bytes32!, $contentHash: Bytes32!, $pharmacy: Address!, $at: DateTime) { \
    verifyPrescription(id: $id, contentHash: $contentHash, pharmacy: $pharmacy, at: $at) { \
    valid failures { reason message } at asOf contentHashProven quantityAvailable scheduleTable } }";

/// The API's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// Nothing prevents the pharmacy from dispensing now.
    pub valid: bool,
    /// Every reason it fails.
    pub failures: Vec<Failure>,
    /// The moment evaluated.
    pub at: String,
    /// The latest indexed block's time.
    pub as_of: String,
    /// Whether the content hash was proven against the stored terms.
    pub content_hash_proven: bool,
    /// Units the pharmacy may dispense now.
    pub quantity_available: i64,
    /// The controlled-substance table the API checked the declared schedule against (`None`: not checked).
    #[serde(default)]
    pub schedule_table: Option<String>,
}

/// The reason the API gives for a declared schedule the controlled-substance table contradicts.
pub const SCHEDULE_MISMATCH: &str = "SCHEDULE_MISMATCH";

/// One reason a prescription may not be dispensed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Failure {
    /// The machine-readable reason (`UNKNOWN_PRESCRIPTION`, `EXPIRED`, …).
    pub reason: String,
    /// What exactly is wrong.
    pub message: String,
}

/// The GraphQL endpoint for `url`: `/graphql` is appended to a bare origin.
fn endpoint(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    match trimmed.split_once("://") {
        Some((_, rest)) if !rest.contains('/') => format!("{trimmed}/graphql"),
        _ => trimmed.to_owned(),
    }
}

/// Asks the API at `api_url` whether `pharmacy` may dispense `ticket` (now, or at `at`). Only the content hash
/// is sent: the clinical content stays with the pharmacy, which checks the declared schedule itself.
pub async fn verify(
    api_url: &str,
    ticket: &Ticket,
    pharmacy: Address,
    at: Option<DateTime<Utc>>,
) -> Result<Verdict, RxError> {
    #[derive(Deserialize)]
    struct Response {
        data: Option<Data>,
        #[serde(default)]
        errors: Vec<GqlError>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        verify_prescription: Verdict,
    }
    #[derive(Deserialize)]
    struct GqlError {
        message: String,
    }

    let url = endpoint(api_url);
    let body = json!({
        "query": QUERY,
        "variables": {
            "id": ticket.rx_id(),
            "contentHash": ticket.content_hash(),
            "pharmacy": pharmacy,
            "at": at.map(|t| t.to_rfc3339()),
        }
    });
    let response = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| RxError::Api(format!("{url}: {e}")))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| RxError::Api(format!("{url}: {e}")))?;
    let parsed: Response = serde_json::from_str(&text).map_err(|_| {
        RxError::Api(format!(
            "{url}: HTTP {status}, not a GraphQL answer: {}",
            text.chars().take(200).collect::<String>()
        ))
    })?;
    if !parsed.errors.is_empty() {
        let messages: Vec<_> = parsed.errors.into_iter().map(|e| e.message).collect();
        return Err(RxError::Api(format!("{url}: {}", messages.join("; "))));
    }
    parsed
        .data
        .map(|d| d.verify_prescription)
        .ok_or_else(|| RxError::Api(format!("{url}: HTTP {status}, no data")))
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn endpoint_appends_graphql_to_an_origin_only() {
        assert_eq!(endpoint("http://127.0.0.1:4000"), "http://127.0.0.1:4000/graphql");
        assert_eq!(endpoint("http://127.0.0.1:4000/"), "http://127.0.0.1:4000/graphql");
        assert_eq!(endpoint("http://h/graphql"), "http://h/graphql");
        assert_eq!(endpoint("https://h/api/v1/graphql/"), "https://h/api/v1/graphql");
    }
}
