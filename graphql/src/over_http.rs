//! GraphQL over HTTP (the GraphQL-over-HTTP specification, current draft): which media type answers a
//! request (`Accept` negotiation), GET requests from URL-encoded parameters, which operations GET may run,
//! and the status code and body of a response for each media type. Pure functions: the HTTP server only
//! calls them.

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{Request, Response, ServerError, Variables};
use serde::Serialize;
use std::collections::BTreeMap;

/// A media type the API answers GraphQL requests in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/graphql-response+json`: status codes tell request errors (400) from results (200).
    GraphqlResponseJson,
    /// `application/json`: every well-formed request is answered with 200.
    Json,
}

impl Media {
    /// The `Content-Type` of a response in this media type.
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// The quality (`q`) `accept` gives `ty/subtype`: that of its most specific matching range (0 when none).
fn quality(accept: &str, ty: &str, subtype: &str) -> f32 {
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        let Some((t, s)) = media.split_once('/') else { continue };
        let specificity = match (t, s) {
            _ if t == ty && s == subtype => 2,
            (_, "*") if t == ty => 1,
            ("*", "*") => 0,
            _ => continue,
        };
        if best.is_none_or(|(b, _)| specificity > b) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

/// The media type answering a request with this `Accept` header: the one it ranks highest,
/// `application/graphql-response+json` on a tie or without the header; `None` when it accepts neither
/// (answer `406 Not Acceptable`).
pub fn negotiate(accept: Option<&str>) -> Option<Media> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Media::GraphqlResponseJson);
    };
    let gr = quality(accept, "application", "graphql-response+json");
    let json = quality(accept, "application", "json");
    match (gr, json) {
        (gr, json) if gr <= 0.0 && json <= 0.0 => None,
        (gr, json) if json > gr => Some(Media::Json),
        _ => Some(Media::GraphqlResponseJson),
    }
}

/// Whether a GET with this `Accept` header wants the GraphiQL page: `text/html` ranked above both GraphQL
/// media types (a browser), or, when the URL carries no `query`, accepted at all.
pub fn wants_graphiql(accept: Option<&str>, has_query: bool) -> bool {
    let Some(accept) = accept else { return !has_query };
    let html = quality(accept, "text", "html");
    let graphql =
        quality(accept, "application", "graphql-response+json").max(quality(accept, "application", "json"));
    html > graphql || (!has_query && html > 0.0)
}

/// Whether a URL's query string carries a `query` parameter (a GraphQL request rather than a page).
pub fn has_query_param(query_string: Option<&str>) -> bool {
    query_string.is_some_and(|q| q.split('&').any(|p| p == "query" || p.starts_with("query=")))
}

/// The GraphQL request of a GET's URL-encoded `query`, `operationName`, `variables` and `extensions` (the
/// last two JSON-encoded). `Err`: what is wrong with the parameters (answer 400).
pub fn parse_get(query_string: Option<&str>) -> Result<Request, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query_string.unwrap_or(""))
        .map_err(|e| format!("malformed query string: {e}"))?;
    let one = |name: &str| -> Result<Option<&str>, String> {
        let mut values = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(format!("the `{name}` parameter is given more than once"));
        }
        Ok(first)
    };
    let query = one("query")?.ok_or("a GraphQL GET request needs a `query` parameter")?;
    let mut request = Request::new(query);
    if let Some(name) = one("operationName")?.filter(|n| !n.is_empty()) {
        request = request.operation_name(name);
    }
    if let Some(text) = one("variables")? {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("`variables` is not JSON: {e}"))?;
        if !value.is_object() {
            return Err("`variables` must be a JSON object".into());
        }
        request = request.variables(Variables::from_json(value));
    }
    if let Some(text) = one("extensions")? {
        let value: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| format!("`extensions` must be a JSON object: {e}"))?;
        for (k, v) in value {
            let v = async_graphql::Value::from_json(v).map_err(|e| format!("`extensions`: {e}"))?;
            request.extensions.insert(k, v);
        }
    }
    Ok(request)
}

/// Whether a POST body declared with `content_type` is one the API reads: `application/json` (the media type
/// the specification requires every server to accept), in UTF-8 (a `charset` parameter, when present, must
/// say so). Anything else, or no `Content-Type` at all, is answered 415 with the reason returned here.
pub fn check_request_media(content_type: Option<&str>) -> Result<(), String> {
    let Some(content_type) = content_type else {
        return Err("a POST to /graphql needs `Content-Type: application/json`".to_owned());
    };
    let mut parts = content_type.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(format!(
            "unsupported Content-Type {essence:?}: send the request as `Content-Type: application/json`"
        ));
    }
    for parameter in parts {
        let Some((name, value)) = parameter.split_once('=') else { continue };
        let value = value.trim().trim_matches('"');
        if name.trim().eq_ignore_ascii_case("charset") && !value.eq_ignore_ascii_case("utf-8") {
            return Err(format!("unsupported charset {value:?}: the request body must be UTF-8"));
        }
    }
    Ok(())
}

/// Whether `request` selects a mutation (GET may not run one: answer 405). A document that does not parse,
/// or names no operation it holds, is not a mutation here: executing it reports the error.
pub fn is_mutation(request: &Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else { return false };
    let ty = match (&document.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| op.node.ty)
        }
        (DocumentOperations::Multiple(_), None) => None,
    };
    ty == Some(OperationType::Mutation)
}

/// Marks a response whose request failed before execution (parse, validation, operation selection): it
/// has no `data` entry. Set by the request guard (an entry of the response's extensions), removed by
/// [`encode`].
pub(crate) const REQUEST_ERROR: &str = "medledger.requestError";

/// The body of a response without a `data` entry.
#[derive(Serialize)]
struct RequestErrors<'a> {
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, async_graphql::Value>,
}

/// The status code and JSON body answering `response` in `media`: a request error (no `data`) is 400 in
/// `application/graphql-response+json` and 200 in `application/json`; anything executed is 200.
pub fn encode(mut response: Response, media: Media) -> (u16, Vec<u8>) {
    let request_error = response.extensions.remove(REQUEST_ERROR).is_some();
    if request_error {
        let body = RequestErrors { errors: &response.errors, extensions: &response.extensions };
        let status = if media == Media::GraphqlResponseJson { 400 } else { 200 };
        return (status, serde_json::to_vec(&body).unwrap_or_default());
    }
    (200, serde_json::to_vec(&response).unwrap_or_default())
}

/// A request error's body (no `data` entry) with one coded error: for requests refused before GraphQL
/// sees them (malformed body, too large, wrong method).
pub fn error_body(code: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"errors": [{"message": message, "extensions": {"code": code}}]}))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_media() {
        assert_eq!(check_request_media(Some("application/json")), Ok(()));
        assert_eq!(check_request_media(Some("Application/JSON; charset=UTF-8")), Ok(()));
        assert_eq!(check_request_media(Some("application/json;charset=\"utf-8\"")), Ok(()));
        let missing = check_request_media(None).unwrap_err();
        assert!(missing.contains("needs `Content-Type: application/json`"), "{missing}");
        for other in ["text/plain", "application/graphql", "multipart/form-data; boundary=x", ""] {
            let e = check_request_media(Some(other)).unwrap_err();
            assert!(e.starts_with("unsupported Content-Type"), "{other}: {e}");
        }
        let latin = check_request_media(Some("application/json; charset=latin1")).unwrap_err();
        assert!(latin.contains("must be UTF-8"), "{latin}");
    }

    #[test]
    fn accept_negotiation() {
        use Media::*;
        assert_eq!(negotiate(None), Some(GraphqlResponseJson));
        assert_eq!(negotiate(Some("application/json")), Some(Json));
        assert_eq!(negotiate(Some("application/graphql-response+json")), Some(GraphqlResponseJson));
        assert_eq!(
            negotiate(Some("application/json, application/graphql-response+json")),
            Some(GraphqlResponseJson)
        );
        assert_eq!(negotiate(Some("application/graphql-response+json;q=0.5, application/json")), Some(Json));
        assert_eq!(negotiate(Some("*/*")), Some(GraphqlResponseJson));
        assert_eq!(negotiate(Some("application/*;q=0.2, application/json;q=0")), Some(GraphqlResponseJson));
        assert_eq!(negotiate(Some("text/html")), None);
        assert_eq!(negotiate(Some("application/xml, text/plain;q=0.5")), None);
        assert!(wants_graphiql(
            Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            true
        ));
        assert!(wants_graphiql(Some("*/*"), false));
        assert!(!wants_graphiql(Some("*/*"), true));
        assert!(!wants_graphiql(Some("application/json"), false));
    }

    #[test]
    fn get_parameters() {
        let r =
            parse_get(Some("query=query%20Q(%24a%3AInt)%7Bx%7D&variables=%7B%22a%22%3A1%7D&operationName=Q"))
                .unwrap();
        assert_eq!(r.query, "query Q($a:Int){x}");
        assert_eq!(r.operation_name.as_deref(), Some("Q"));
        assert_eq!(r.variables.into_value().into_json().unwrap(), serde_json::json!({"a": 1}));
        assert!(parse_get(Some("variables=%7B%7D")).unwrap_err().contains("`query`"));
        assert!(parse_get(Some("query=x&variables=%5B7%5D")).unwrap_err().contains("object"));
        assert!(parse_get(Some("query=x&variables=nope")).unwrap_err().contains("JSON"));
        assert!(parse_get(Some("query=x&query=y")).unwrap_err().contains("more than once"));
        assert!(parse_get(Some("query=x&operationName=")).unwrap().operation_name.is_none());
        let r = parse_get(Some("query=x&extensions=%7B%22persistedQuery%22%3A%7B%22version%22%3A1%7D%7D"))
            .unwrap();
        assert_eq!(
            r.extensions["persistedQuery"].clone().into_json().unwrap(),
            serde_json::json!({"version": 1})
        );
        assert!(parse_get(Some("query=x&extensions=%5B%5D"))
            .unwrap_err()
            .contains("`extensions` must be a JSON object"));
    }

    #[test]
    fn mutations_detected() {
        assert!(is_mutation(&Request::new("mutation { x }")));
        assert!(!is_mutation(&Request::new("{ x }")));
        assert!(is_mutation(&Request::new("query A { x } mutation B { y }").operation_name("B")));
        assert!(!is_mutation(&Request::new("query A { x } mutation B { y }").operation_name("A")));
        assert!(!is_mutation(&Request::new("mutation {")));
    }
}
