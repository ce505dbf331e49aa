//! Deals as lists and as writes, pipelines and stages (spec-v2):
//!
//! | route | what | cost, scopes |
//! |---|---|---|
//! | `GET /api/v2/deals` | the company's deals; `ids` (≤ 100), `status` (comma list; deleted only when asked), `updated_since` / `updated_until` (RFC 3339; `update_time` ≥ since, < until), `pipeline_id`, `stage_id`, `owner_id`, `org_id`, `person_id`, `sort_by` (`id`, `update_time`, `add_time`), `sort_direction`, cursor pagination (`limit` ≤ 500) | 10, `deals:read`/`deals:full` |
//! | `PATCH /api/v2/deals/{id}` | [`DealUpdate`]: title, status, pipeline, stage and custom fields, each custom value checked against its field's type; sets `update_time` (and `won_time` / `lost_time` / `stage_change_time` when those change) | 5, `deals:full` |
//! | `GET /api/v2/pipelines`, `GET /api/v2/stages` (`pipeline_id`) | the company's pipelines and stages | 5 each, `deals:read`/`deals:full`/`admin` |
//!
//! Every write is visible to the next `updated_since` read (the simulator clock is the one the
//! rate limits and tokens use). Custom-field values follow the v2 shapes of the migration guide:
//! text `"…"`, numbers, monetary `{"value": 500, "currency": "USD"}` (a bare number takes the
//! deal's currency), enum an option id, set a non-empty array of option ids, date
//! `"YYYY-MM-DD"`; `null` clears.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::wire::pipedrive::model::{
    Deal, DealStatus, DealUpdate, Envelope, FieldDefinition, OptionId, Pipeline, Stage,
};

use super::PipedriveSim;
use super::api::{ApiFailure, Caller, ListQuery, paginate, parse_id};
use super::store::{FieldEntity, Store};
use crate::harness::lock;

type ApiResult<T> = Result<Json<Envelope<T>>, ApiFailure>;

/// Most ids one `ids=` filter takes.
const MAX_IDS: usize = 100;

/// A time as Pipedrive writes it in v2 (RFC 3339, whole seconds, `Z`).
pub fn pipedrive_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Reads a v2 time (RFC 3339) or a v1 one (`YYYY-MM-DD HH:MM:SS`, UTC).
pub fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// Query of `GET /api/v2/deals` (every value as text: bad values are 400s, not rejections).
#[derive(Debug, Default, Deserialize)]
pub struct DealsQuery {
    ids: Option<String>,
    status: Option<String>,
    updated_since: Option<String>,
    updated_until: Option<String>,
    pipeline_id: Option<String>,
    stage_id: Option<String>,
    owner_id: Option<String>,
    org_id: Option<String>,
    person_id: Option<String>,
    sort_by: Option<String>,
    sort_direction: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    /// Accepted and ignored (the simulator always answers every custom field).
    #[allow(dead_code)]
    custom_fields: Option<String>,
    #[allow(dead_code)]
    include_fields: Option<String>,
}

fn id_param(raw: &Option<String>, name: &str) -> Result<Option<u64>, ApiFailure> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .map(Some)
            .ok_or_else(|| ApiFailure::bad_request(&format!("{name} must be a positive integer"))),
    }
}

fn time_param(raw: &Option<String>, name: &str) -> Result<Option<DateTime<Utc>>, ApiFailure> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                ApiFailure::bad_request(&format!(
                    "{name} must be in RFC3339 format, e.g. 2025-01-01T10:20:00Z"
                ))
            }),
    }
}

fn statuses(raw: &Option<String>) -> Result<Option<Vec<DealStatus>>, ApiFailure> {
    let Some(text) = raw.as_deref().filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    text.split(',')
        .map(|s| match s.trim() {
            "open" => Ok(DealStatus::Open),
            "won" => Ok(DealStatus::Won),
            "lost" => Ok(DealStatus::Lost),
            "deleted" => Ok(DealStatus::Deleted),
            _ => Err(ApiFailure::bad_request(
                "status must be open, won, lost or deleted (comma separated)",
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn id_list(raw: &Option<String>) -> Result<Option<Vec<u64>>, ApiFailure> {
    let Some(text) = raw.as_deref().filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    let ids = text
        .split(',')
        .map(|s| s.trim().parse::<u64>().ok().filter(|id| *id > 0))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ApiFailure::bad_request("ids must be comma separated positive integers"))?;
    if ids.len() > MAX_IDS {
        return Err(ApiFailure::bad_request("ids accepts at most 100 ids"));
    }
    Ok(Some(ids))
}

fn status_of(deal: &Deal) -> DealStatus {
    if deal.is_deleted == Some(true) {
        DealStatus::Deleted
    } else {
        deal.status.unwrap_or(DealStatus::Open)
    }
}

/// The filters of one list request, checked.
struct Filter {
    ids: Option<Vec<u64>>,
    statuses: Option<Vec<DealStatus>>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    pipeline: Option<u64>,
    stage: Option<u64>,
    owner: Option<u64>,
    org: Option<u64>,
    person: Option<u64>,
}

impl Filter {
    fn of(query: &DealsQuery) -> Result<Filter, ApiFailure> {
        Ok(Filter {
            ids: id_list(&query.ids)?,
            statuses: statuses(&query.status)?,
            since: time_param(&query.updated_since, "updated_since")?,
            until: time_param(&query.updated_until, "updated_until")?,
            pipeline: id_param(&query.pipeline_id, "pipeline_id")?,
            stage: id_param(&query.stage_id, "stage_id")?,
            owner: id_param(&query.owner_id, "owner_id")?,
            org: id_param(&query.org_id, "org_id")?,
            person: id_param(&query.person_id, "person_id")?,
        })
    }

    fn keeps(&self, deal: &Deal) -> bool {
        let status = status_of(deal);
        let status_ok = match &self.statuses {
            Some(wanted) => wanted.contains(&status),
            None => status != DealStatus::Deleted,
        };
        let updated = deal.update_time.as_deref().and_then(parse_time);
        let since_ok = self
            .since
            .is_none_or(|since| updated.is_some_and(|u| u >= since));
        let until_ok = self
            .until
            .is_none_or(|until| updated.is_some_and(|u| u < until));
        let same = |want: Option<u64>, have: Option<u64>| want.is_none_or(|w| have == Some(w));
        status_ok
            && since_ok
            && until_ok
            && self.ids.as_ref().is_none_or(|ids| ids.contains(&deal.id))
            && same(self.pipeline, deal.pipeline_id)
            && same(self.stage, deal.stage_id)
            && same(self.owner, deal.owner_id)
            && same(self.org, deal.org_id)
            && same(self.person, deal.person_id)
    }
}

/// `GET /api/v2/deals`.
pub async fn list_deals(
    State(sim): State<PipedriveSim>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<DealsQuery>,
) -> ApiResult<Vec<Deal>> {
    let filter = Filter::of(&query)?;
    let mut deals: Vec<Deal> = lock(&sim.inner.store)
        .deals
        .iter()
        .filter(|((company, _), deal)| *company == caller.company_id && filter.keeps(deal))
        .map(|(_, deal)| deal.clone())
        .collect();
    let time = |raw: &Option<String>| raw.as_deref().and_then(parse_time);
    match query.sort_by.as_deref() {
        None | Some("") | Some("id") => deals.sort_by_key(|d| d.id),
        Some("update_time") => deals.sort_by_key(|d| (time(&d.update_time), d.id)),
        Some("add_time") => deals.sort_by_key(|d| (time(&d.add_time), d.id)),
        Some(_) => {
            return Err(ApiFailure::bad_request(
                "sort_by must be id, update_time or add_time",
            ));
        }
    }
    match query.sort_direction.as_deref() {
        None | Some("") | Some("asc") => {}
        Some("desc") => deals.reverse(),
        Some(_) => {
            return Err(ApiFailure::bad_request(
                "sort_direction must be asc or desc",
            ));
        }
    }
    let page = ListQuery::page_of(query.cursor.clone(), query.limit.clone());
    paginate(&deals, &page).map(Json)
}

/// Checks one custom-field value against its definition; answers the value as stored.
fn checked_value(def: &FieldDefinition, value: &Value, currency: &str) -> Result<Value, String> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let name = &def.field_name;
    let option_exists = |id: &Value| {
        def.options.iter().flatten().any(|o| match (&o.id, id) {
            (OptionId::Int(n), Value::Number(v)) => v.as_i64() == Some(*n),
            (OptionId::Text(t), Value::String(v)) => t == v,
            _ => false,
        })
    };
    match def.field_type.as_str() {
        "varchar" | "varchar_auto" | "text" | "phone" => match value {
            Value::String(s) if def.field_type != "varchar" || s.chars().count() <= 255 => {
                Ok(value.clone())
            }
            Value::String(_) => Err(format!("{name}: at most 255 characters")),
            _ => Err(format!("{name}: must be a string")),
        },
        "double" => value
            .is_number()
            .then(|| value.clone())
            .ok_or_else(|| format!("{name}: must be a number")),
        "int" => (value.is_i64() || value.is_u64())
            .then(|| value.clone())
            .ok_or_else(|| format!("{name}: must be an integer")),
        "monetary" => match value {
            Value::Number(_) => Ok(json!({"value": value, "currency": currency})),
            Value::Object(map)
                if map.get("value").is_some_and(Value::is_number)
                    && map
                        .get("currency")
                        .and_then(Value::as_str)
                        .is_some_and(|c| c.len() == 3) =>
            {
                Ok(json!({"value": map["value"], "currency": map["currency"]}))
            }
            _ => Err(format!(
                "{name}: must be a number or {{\"value\": number, \"currency\": \"ISO code\"}}"
            )),
        },
        "enum" => option_exists(value)
            .then(|| value.clone())
            .ok_or_else(|| format!("{name}: {value} is not one of the field's options")),
        "set" => match value {
            Value::Array(ids) if !ids.is_empty() && ids.iter().all(option_exists) => {
                Ok(value.clone())
            }
            Value::Array(ids) if ids.is_empty() => Err(format!(
                "{name}: clear a set with null; an empty array is not supported"
            )),
            _ => Err(format!(
                "{name}: must be an array of the field's option ids"
            )),
        },
        "date" => value
            .as_str()
            .filter(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok())
            .map(|_| value.clone())
            .ok_or_else(|| format!("{name}: must be a date YYYY-MM-DD")),
        other => Err(format!("{name}: a {other} field cannot be set here")),
    }
}

/// Applies `update` to a deal of `company` at `now` (the PATCH and the control API).
pub fn apply_update(
    store: &mut Store,
    company: u64,
    deal_id: u64,
    update: &DealUpdate,
    now: DateTime<Utc>,
) -> Result<Deal, ApiFailure> {
    let definitions = store
        .fields
        .get(&(company, FieldEntity::Deal))
        .cloned()
        .unwrap_or_default();
    let deal = store
        .deals
        .get_mut(&(company, deal_id))
        .filter(|d| status_of(d) != DealStatus::Deleted)
        .ok_or_else(ApiFailure::not_found)?;
    let currency = deal.currency.clone().unwrap_or_else(|| "USD".into());
    let mut values = Vec::new();
    for (key, value) in update.custom_fields.iter().flatten() {
        let def = definitions
            .iter()
            .find(|d| d.is_custom_field && &d.field_code == key)
            .ok_or_else(|| {
                ApiFailure::bad_request(&format!("custom_fields: no deal field {key}"))
            })?;
        let value = checked_value(def, value, &currency)
            .map_err(|e| ApiFailure::bad_request(&format!("custom_fields: {e}")))?;
        values.push((key.clone(), value));
    }
    let stamp = pipedrive_time(now);
    if let Some(title) = &update.title {
        if title.trim().is_empty() {
            return Err(ApiFailure::bad_request("title must not be empty"));
        }
        deal.title = title.clone();
    }
    if let Some(pipeline) = update.pipeline_id {
        deal.pipeline_id = Some(pipeline);
    }
    if let Some(stage) = update.stage_id
        && deal.stage_id != Some(stage)
    {
        deal.stage_id = Some(stage);
        deal.stage_change_time = Some(stamp.clone());
    }
    if let Some(status) = update.status
        && deal.status != Some(status)
    {
        match status {
            DealStatus::Won => deal.won_time = Some(stamp.clone()),
            DealStatus::Lost => deal.lost_time = Some(stamp.clone()),
            DealStatus::Open => {
                deal.won_time = None;
                deal.lost_time = None;
            }
            DealStatus::Deleted | DealStatus::Unknown => {
                return Err(ApiFailure::bad_request("status must be open, won or lost"));
            }
        }
        if status != DealStatus::Open {
            deal.close_time = Some(stamp.clone());
        }
        deal.status = Some(status);
    }
    for (key, value) in values {
        deal.custom_fields.insert(key, value);
    }
    deal.update_time = Some(stamp);
    Ok(deal.clone())
}

/// `PATCH /api/v2/deals/{id}`.
pub async fn patch_deal(
    State(sim): State<PipedriveSim>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Deal> {
    let id = parse_id(&id)?;
    let update: DealUpdate = serde_json::from_slice(&body)
        .map_err(|e| ApiFailure::bad_request(&format!("invalid body: {e}")))?;
    let now = sim.inner.harness.now();
    let mut store = lock(&sim.inner.store);
    apply_update(&mut store, caller.company_id, id, &update, now).map(|d| Json(Envelope::ok(d)))
}

/// Query of the pipeline and stage lists.
#[derive(Debug, Default, Deserialize)]
pub struct StagesQuery {
    pipeline_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /api/v2/pipelines`.
pub async fn pipelines(
    State(sim): State<PipedriveSim>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<StagesQuery>,
) -> ApiResult<Vec<Pipeline>> {
    let list: Vec<Pipeline> = lock(&sim.inner.store)
        .pipelines
        .iter()
        .filter(|((company, _), _)| *company == caller.company_id)
        .map(|(_, p)| p.clone())
        .collect();
    paginate(&list, &ListQuery::page_of(query.cursor, query.limit)).map(Json)
}

/// `GET /api/v2/stages`.
pub async fn stages(
    State(sim): State<PipedriveSim>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<StagesQuery>,
) -> ApiResult<Vec<Stage>> {
    let pipeline = id_param(&query.pipeline_id, "pipeline_id")?;
    let list: Vec<Stage> = lock(&sim.inner.store)
        .stages
        .iter()
        .filter(|((company, _), s)| {
            *company == caller.company_id && pipeline.is_none_or(|p| s.pipeline_id == p)
        })
        .map(|(_, s)| s.clone())
        .collect();
    paginate(&list, &ListQuery::page_of(query.cursor, query.limit)).map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::wire::pipedrive::model::FieldOption;

    fn def(field_type: &str) -> FieldDefinition {
        super::super::store::custom_field(
            FieldEntity::Deal,
            "k",
            "Field",
            field_type,
            Some(vec![FieldOption {
                id: OptionId::Int(7),
                label: "Paid".into(),
                color: None,
            }]),
        )
    }

    #[test]
    fn values_are_checked_by_field_type() {
        let ok = |t: &str, v: Value| checked_value(&def(t), &v, "EUR");
        assert_eq!(
            ok("monetary", json!(12.5)).unwrap(),
            json!({"value": 12.5, "currency": "EUR"})
        );
        assert!(ok("monetary", json!({"value": 1, "currency": "USD"})).is_ok());
        assert!(ok("monetary", json!("12")).is_err());
        assert!(ok("enum", json!(7)).is_ok());
        assert!(ok("enum", json!(8)).is_err());
        assert!(ok("set", json!([])).is_err());
        assert!(ok("date", json!("2026-02-30")).is_err());
        assert!(ok("date", json!("2026-02-28")).is_ok());
        assert!(ok("double", json!("1")).is_err());
        assert!(ok("int", json!(1.5)).is_err());
        assert!(ok("varchar", json!("x".repeat(256))).is_err());
        assert!(ok("text", json!("x".repeat(256))).is_ok());
        assert!(ok("address", json!("Main St")).is_err());
        assert_eq!(ok("enum", Value::Null).unwrap(), Value::Null);
    }

    #[test]
    fn times_read_in_both_versions() {
        assert_eq!(
            parse_time("2026-01-05T09:00:00Z"),
            parse_time("2026-01-05 09:00:00")
        );
        assert!(parse_time("yesterday").is_none());
    }
}
