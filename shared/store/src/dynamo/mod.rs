//! The DynamoDB implementation of [`super::ItemStore`].
//!
//! One table, laid out as described in [`super`]:
//!
//! | attribute | type | |
//! |---|---|---|
//! | `pk` | S | partition key |
//! | `sk` | S | sort key |
//! | `gsi1pk`, `gsi1sk` | S | keys of the `gsi1` index (projection ALL), only when the item is indexed |
//! | `version` | N | optimistic-locking version |
//! | `ttl` | N | the table's TTL attribute (epoch seconds), only when set |
//! | `data` | S | the record as a JSON document, kept as text so that nothing is lost |
//!
//! DynamoDB deletes expired items up to 48 hours late, so every read filters them out itself.
//! Pagination cursors are opaque: base64url (no padding) of a JSON key position.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, GlobalSecondaryIndex,
    IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
    TimeToLiveStatus, WriteRequest,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::Clock;
use serde::{Deserialize, Serialize};

use super::{Condition, IndexKey, Item, ItemStore, Page, PageRequest, StoreError};

/// Name of the secondary index.
pub const INDEX_NAME: &str = "gsi1";

const PK: &str = "pk";
const SK: &str = "sk";
const GSI1PK: &str = "gsi1pk";
const GSI1SK: &str = "gsi1sk";
const VERSION: &str = "version";
const TTL: &str = "ttl";
const DATA: &str = "data";

/// Items read per Query request at most (DynamoDB also stops at 1 MB).
const MAX_QUERY_BATCH: usize = 1000;
/// BatchWriteItem takes at most 25 requests.
const BATCH_WRITE_MAX: usize = 25;
/// How many times unprocessed batch items are retried before giving up.
const BATCH_WRITE_RETRIES: u32 = 10;

type Attributes = HashMap<String, AttributeValue>;

mod table;
pub use table::create_table;

/// [`super::ItemStore`] on one DynamoDB table (see the module documentation).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Now, for expiry (TTL).
    clock: Clock,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            clock: Clock::system(),
        }
    }

    /// The same store reading now from `clock` (expiry).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

// ----- errors -----

/// A readable message for an SDK error: the service's error code and message, or the transport
/// failure with its causes. Never includes request contents or credentials.
fn sdk_error<E, R>(operation: &str, err: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!(
                "DynamoDB {operation}: {}: {}",
                e.code().unwrap_or("unknown error"),
                e.message().unwrap_or("no message")
            )
        }
        other => format!("DynamoDB {operation}: {}", DisplayErrorContext(other)),
    };
    StoreError::Backend(message)
}

fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend(format!("DynamoDB request could not be built: {err}"))
}

fn conflict_from(pk: &str, sk: &str, old: Option<&Attributes>) -> StoreError {
    let existing = match old.map(from_attributes) {
        Some(Ok(item)) => Some(Box::new(item)),
        Some(Err(e)) => {
            tracing::warn!(pk, sk, error = %e, "conflicting item could not be read");
            None
        }
        None => None,
    };
    StoreError::Conflict {
        pk: pk.to_string(),
        sk: sk.to_string(),
        existing,
    }
}

// ----- item conversion -----

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key_of(pk: &str, sk: &str) -> Attributes {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

fn to_attributes(item: &Item) -> Result<Attributes, StoreError> {
    let data = serde_json::to_string(item.data.as_ref())
        .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", item.pk, item.sk)))?;
    let mut attrs = key_of(&item.pk, &item.sk);
    if let Some(index) = &item.gsi1 {
        attrs.insert(GSI1PK.to_string(), s(&index.pk));
        attrs.insert(GSI1SK.to_string(), s(&index.sk));
    }
    attrs.insert(VERSION.to_string(), n(item.version));
    if let Some(ttl) = item.ttl {
        attrs.insert(TTL.to_string(), n(ttl));
    }
    attrs.insert(DATA.to_string(), AttributeValue::S(data));
    Ok(attrs)
}

fn string_attr<'a>(attrs: &'a Attributes, name: &str) -> Option<&'a str> {
    attrs
        .get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn from_attributes(attrs: &Attributes) -> Result<Item, StoreError> {
    let pk = string_attr(attrs, PK)
        .ok_or_else(|| StoreError::Corrupt("item without a string pk".into()))?;
    let sk = string_attr(attrs, SK)
        .ok_or_else(|| StoreError::Corrupt(format!("{pk}: item without a string sk")))?;
    let corrupt = |what: String| StoreError::Corrupt(format!("{pk}/{sk}: {what}"));
    let number = |name: &str| -> Result<Option<&str>, StoreError> {
        match attrs.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => Ok(Some(v.as_str())),
            Some(_) => Err(corrupt(format!("{name} is not a number"))),
        }
    };
    let version = number(VERSION)?
        .ok_or_else(|| corrupt("no version".into()))?
        .parse::<u64>()
        .map_err(|e| corrupt(format!("version: {e}")))?;
    let ttl = number(TTL)?
        .map(|v| v.parse::<i64>())
        .transpose()
        .map_err(|e| corrupt(format!("ttl: {e}")))?;
    let gsi1 = match (string_attr(attrs, GSI1PK), string_attr(attrs, GSI1SK)) {
        (Some(ipk), Some(isk)) => Some(IndexKey {
            pk: Arc::from(ipk),
            sk: Arc::from(isk),
        }),
        _ => None,
    };
    let data = string_attr(attrs, DATA).ok_or_else(|| corrupt("no data".into()))?;
    let data = serde_json::from_str(data).map_err(|e| corrupt(format!("data: {e}")))?;
    Ok(Item {
        pk: Arc::from(pk),
        sk: Arc::from(sk),
        gsi1,
        version,
        ttl,
        data: std::sync::Arc::new(data),
    })
}

// ----- cursors -----

/// The key position a page stopped at: the table key, plus the index key for index queries.
#[derive(Serialize, Deserialize)]
struct Cursor {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
}

impl Cursor {
    fn after(item: &Item, index: bool) -> Cursor {
        let gsi1 = item.gsi1.as_ref().filter(|_| index);
        Cursor {
            pk: item.pk.to_string(),
            sk: item.sk.to_string(),
            gsi1pk: gsi1.map(|g| g.pk.to_string()),
            gsi1sk: gsi1.map(|g| g.sk.to_string()),
        }
    }

    fn encode(&self) -> Result<String, StoreError> {
        let json = serde_json::to_vec(self)
            .map_err(|e| StoreError::Backend(format!("cursor could not be encoded: {e}")))?;
        Ok(URL_SAFE_NO_PAD.encode(json))
    }

    fn decode(raw: &str) -> Result<Cursor, StoreError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| StoreError::BadCursor)?;
        serde_json::from_slice(&bytes).map_err(|_| StoreError::BadCursor)
    }

    fn into_start_key(self) -> Attributes {
        let mut key = key_of(&self.pk, &self.sk);
        if let (Some(ipk), Some(isk)) = (self.gsi1pk, self.gsi1sk) {
            key.insert(GSI1PK.to_string(), AttributeValue::S(ipk));
            key.insert(GSI1SK.to_string(), AttributeValue::S(isk));
        }
        key
    }
}

/// One Query, before pagination.
struct QuerySpec {
    index: Option<&'static str>,
    key_condition: String,
    names: HashMap<String, String>,
    values: Attributes,
    forward: bool,
}

impl QuerySpec {
    fn new(
        index: bool,
        pk_attr: &str,
        sk_attr: &str,
        pk: &str,
        prefix: &str,
        forward: bool,
    ) -> Self {
        let mut names = HashMap::from([("#pk".to_string(), pk_attr.to_string())]);
        let mut values = HashMap::from([(":pk".to_string(), s(pk))]);
        let mut key_condition = "#pk = :pk".to_string();
        // An empty prefix matches everything; DynamoDB refuses an empty key value anyway.
        if !prefix.is_empty() {
            key_condition.push_str(" AND begins_with(#sk, :prefix)");
            names.insert("#sk".to_string(), sk_attr.to_string());
            values.insert(":prefix".to_string(), s(prefix));
        }
        QuerySpec {
            index: index.then_some(INDEX_NAME),
            key_condition,
            names,
            values,
            forward,
        }
    }
}

impl DynamoStore {
    /// Runs `spec` from `start` and collects up to `limit` live (unexpired) items. One item more
    /// is looked for so that the last page carries no cursor; the cursor resumes right after the
    /// last returned item.
    async fn collect_page(
        &self,
        spec: QuerySpec,
        limit: u32,
        mut start: Option<Attributes>,
    ) -> Result<Page, StoreError> {
        let limit = limit.max(1) as usize;
        let now = self.clock.now().timestamp();
        let mut live: Vec<Item> = Vec::with_capacity(limit.min(MAX_QUERY_BATCH) + 1);
        loop {
            let want = limit
                .saturating_add(1)
                .saturating_sub(live.len())
                .min(MAX_QUERY_BATCH);
            let want = i32::try_from(want).unwrap_or(i32::MAX);
            let response = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(spec.index.map(str::to_string))
                .key_condition_expression(&spec.key_condition)
                .set_expression_attribute_names(Some(spec.names.clone()))
                .set_expression_attribute_values(Some(spec.values.clone()))
                .scan_index_forward(spec.forward)
                // Global secondary indexes cannot be read consistently.
                .set_consistent_read(spec.index.is_none().then_some(true))
                .limit(want)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("Query", &e))?;
            for raw in response.items() {
                let item = from_attributes(raw)?;
                if !item.is_expired(now) {
                    live.push(item);
                    if live.len() > limit {
                        break;
                    }
                }
            }
            if live.len() > limit {
                break;
            }
            match response.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        let more = live.len() > limit;
        live.truncate(limit);
        let next = match live.last() {
            Some(last) if more => Some(Cursor::after(last, spec.index.is_some()).encode()?),
            _ => None,
        };
        Ok(Page { items: live, next })
    }

    /// Deletes the given keys with BatchWriteItem, retrying unprocessed ones with backoff.
    async fn batch_delete(&self, keys: Vec<Attributes>) -> Result<(), StoreError> {
        let mut pending = keys
            .into_iter()
            .map(|key| {
                DeleteRequest::builder()
                    .set_key(Some(key))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(build_error)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut delay = Duration::from_millis(50);
        let mut retries = 0;
        while !pending.is_empty() {
            let response = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|e| sdk_error("BatchWriteItem", &e))?;
            pending = response
                .unprocessed_items
                .and_then(|mut by_table| by_table.remove(&self.table))
                .unwrap_or_default();
            if pending.is_empty() {
                break;
            }
            retries += 1;
            if retries > BATCH_WRITE_RETRIES {
                return Err(StoreError::Backend(format!(
                    "DynamoDB BatchWriteItem: {} deletes still unprocessed after {BATCH_WRITE_RETRIES} retries",
                    pending.len()
                )));
            }
            tokio::time::sleep(jitter(delay)).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        Ok(())
    }
}

/// A random duration between half of `delay` and `delay`.
fn jitter(delay: Duration) -> Duration {
    let half = delay / 2;
    let spread = u64::try_from(half.as_millis()).unwrap_or(u64::MAX).max(1);
    let random = uuid::Uuid::new_v4().as_u64_pair().0 % spread;
    half + Duration::from_millis(random)
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let response = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_of(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", &e))?;
        let now = self.clock.now().timestamp();
        match response.item() {
            Some(attrs) => {
                let item = from_attributes(attrs)?;
                Ok((!item.is_expired(now)).then_some(item))
            }
            None => Ok(None),
        }
    }

    async fn put(&self, mut item: Item, condition: Condition) -> Result<Item, StoreError> {
        if let Condition::Version(expected) = condition {
            item.version = expected.checked_add(1).ok_or_else(|| {
                StoreError::Backend(format!("{}/{}: version overflow", item.pk, item.sk))
            })?;
        }
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attributes(&item)?))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        request = match condition {
            Condition::Always => request,
            Condition::Absent => request
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK),
            Condition::AbsentOrExpired { now } => request
                .condition_expression("attribute_not_exists(#pk) OR #ttl <= :now")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":now", n(now)),
            Condition::Version(expected) => request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(":expected", n(expected)),
        };
        match request.send().await {
            Ok(_) => Ok(item),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    Err(conflict_from(&item.pk, &item.sk, failed.item()))
                }
                _ => Err(sdk_error("PutItem", &err)),
            },
        }
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        let request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_of(pk, sk)));
        let request = match condition {
            Condition::Always => request,
            Condition::Version(expected) => request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(":expected", n(expected))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                ),
            Condition::Absent | Condition::AbsentOrExpired { .. } => {
                return Err(StoreError::Backend(
                    "a delete can only be unconditional or versioned".into(),
                ));
            }
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(failed)) => {
                    Err(conflict_from(pk, sk, failed.item()))
                }
                _ => Err(sdk_error("DeleteItem", &err)),
            },
        }
    }

    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        page: PageRequest<'_>,
    ) -> Result<Page, StoreError> {
        let start = match page.cursor {
            Some(raw) => {
                let cursor = Cursor::decode(raw)?;
                if cursor.pk != pk || !cursor.sk.starts_with(sk_prefix) {
                    return Err(StoreError::BadCursor);
                }
                Some(
                    Cursor {
                        gsi1pk: None,
                        gsi1sk: None,
                        ..cursor
                    }
                    .into_start_key(),
                )
            }
            None => None,
        };
        let spec = QuerySpec::new(false, PK, SK, pk, sk_prefix, !page.descending);
        self.collect_page(spec, page.limit, start).await
    }

    async fn query_index(
        &self,
        gsi_pk: &str,
        gsi_sk_prefix: &str,
        page: PageRequest<'_>,
    ) -> Result<Page, StoreError> {
        let start = match page.cursor {
            Some(raw) => {
                let cursor = Cursor::decode(raw)?;
                let fits = cursor.gsi1pk.as_deref() == Some(gsi_pk)
                    && cursor
                        .gsi1sk
                        .as_deref()
                        .is_some_and(|isk| isk.starts_with(gsi_sk_prefix));
                if !fits {
                    return Err(StoreError::BadCursor);
                }
                Some(cursor.into_start_key())
            }
            None => None,
        };
        // Index queries are always ascending (as in the embedded store).
        let spec = QuerySpec::new(true, GSI1PK, GSI1SK, gsi_pk, gsi_sk_prefix, true);
        self.collect_page(spec, page.limit, start).await
    }

    async fn delete_partition(&self, pk: &str) -> Result<usize, StoreError> {
        let mut deleted = 0;
        let mut start: Option<Attributes> = None;
        loop {
            let response = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .projection_expression("#pk, #sk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(pk))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("Query", &e))?;
            let keys = response
                .items()
                .iter()
                .map(
                    |attrs| match (string_attr(attrs, PK), string_attr(attrs, SK)) {
                        (Some(ipk), Some(isk)) => Ok(key_of(ipk, isk)),
                        _ => Err(StoreError::Corrupt(format!(
                            "{pk}: item without string keys"
                        ))),
                    },
                )
                .collect::<Result<Vec<_>, _>>()?;
            let mut keys = keys.into_iter().peekable();
            while keys.peek().is_some() {
                let chunk: Vec<Attributes> = keys.by_ref().take(BATCH_WRITE_MAX).collect();
                let count = chunk.len();
                self.batch_delete(chunk).await?;
                deleted += count;
            }
            match response.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(deleted),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_round_trip_through_attributes() {
        let item = Item::new(
            "P",
            "S",
            json!({"big": 12345678901234567890u64, "x": [1.5, null]}),
        )
        .with_index("G", "GS")
        .with_ttl(1_700_000_000);
        let attrs = to_attributes(&item).unwrap();
        assert!(matches!(attrs.get(DATA), Some(AttributeValue::S(_))));
        assert_eq!(from_attributes(&attrs).unwrap(), item);
        let plain = Item::new("P", "S2", json!("text"));
        let attrs = to_attributes(&plain).unwrap();
        assert!(!attrs.contains_key(TTL) && !attrs.contains_key(GSI1PK));
        assert_eq!(from_attributes(&attrs).unwrap(), plain);
    }

    #[test]
    fn malformed_items_are_corrupt_not_panics() {
        let mut attrs = to_attributes(&Item::new("P", "S", json!({}))).unwrap();
        attrs.insert(VERSION.into(), AttributeValue::S("x".into()));
        assert!(matches!(
            from_attributes(&attrs),
            Err(StoreError::Corrupt(_))
        ));
        attrs.remove(VERSION);
        assert!(matches!(
            from_attributes(&attrs),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected() {
        let item = Item::new("P", "S", json!({})).with_index("G", "GS");
        let raw = Cursor::after(&item, true).encode().unwrap();
        let cursor = Cursor::decode(&raw).unwrap();
        assert_eq!(cursor.gsi1sk.as_deref(), Some("GS"));
        let key = cursor.into_start_key();
        assert_eq!(key.len(), 4);
        let raw = Cursor::after(&item, false).encode().unwrap();
        assert_eq!(Cursor::decode(&raw).unwrap().into_start_key().len(), 2);
        assert!(matches!(
            Cursor::decode("not-a-cursor!"),
            Err(StoreError::BadCursor)
        ));
        assert!(matches!(
            Cursor::decode(&URL_SAFE_NO_PAD.encode(b"[1]")),
            Err(StoreError::BadCursor)
        ));
    }
}
