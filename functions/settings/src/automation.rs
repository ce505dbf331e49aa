//! The settings of invoicing without a modal: the rules and the field write-back, checked and
//! completed against the company's Pipedrive when an admin saves them.
//!
//! - Rules keep the id and start time they were first saved with (a resave never re-arms them:
//!   `domain::rules::stamped`); each names a pipeline and stage the company has.
//! - Each mapped figure names a custom deal field whose type can hold it (monetary or number
//!   for amounts, text for the number, date or text for the payment date, an enum with the
//!   options Open, Overdue, Partially paid and Paid — or text — for the status); one field per
//!   figure. The field's type and the status options' ids are kept with the mapping, so the
//!   write-back needs no catalog read.

use serde::Serialize;
use shared::app::App;
use shared::app::tokens::{CallError, pipedrive_api_error};
use shared::domain::figures::{Figure, WriteBack, status_options};
use shared::domain::rules::{Rule, Trigger, check_rules, stamped};
use shared::domain::{FieldEntity, Settings};
use shared::web::auth::Tenant;
use shared::web::error::{ApiError, FieldError};
use shared::wire::pipedrive::model::{Pipeline, Stage};

use crate::catalog::Catalog;

/// A pipeline with its stages, as the settings page lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PipelineView {
    pub id: u64,
    pub name: String,
    pub stages: Vec<StageView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageView {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pipelines {
    pub pipelines: Vec<PipelineView>,
}

fn pd_error(error: CallError<shared::clients::pipedrive::PipedriveError>, doing: &str) -> ApiError {
    match error {
        CallError::Token(failure) => failure.into(),
        CallError::Call(e) => pipedrive_api_error(e, doing),
    }
}

/// The company's pipelines and their stages (two list calls, at once), in Pipedrive's order.
pub async fn load_pipelines(app: &App, tenant: Tenant) -> Result<Pipelines, ApiError> {
    let pipedrive = app.pipedrive_of(tenant);
    let (pipelines, stages) = futures::join!(pipedrive.pipelines(), pipedrive.stages());
    let mut pipelines: Vec<Pipeline> = pipelines
        .map_err(|e| pd_error(e, "reading the pipelines"))?
        .into_iter()
        .filter(|p| !p.is_deleted)
        .collect();
    let mut stages: Vec<Stage> = stages
        .map_err(|e| pd_error(e, "reading the stages"))?
        .into_iter()
        .filter(|s| !s.is_deleted)
        .collect();
    pipelines.sort_by_key(|p| (p.order_nr, p.id));
    stages.sort_by_key(|s| (s.order_nr, s.id));
    Ok(Pipelines {
        pipelines: pipelines
            .into_iter()
            .map(|p| PipelineView {
                stages: stages
                    .iter()
                    .filter(|s| s.pipeline_id == p.id)
                    .map(|s| StageView {
                        id: s.id,
                        name: s.name.clone(),
                    })
                    .collect(),
                id: p.id,
                name: p.name,
            })
            .collect(),
    })
}

/// The rules' pipelines and stages exist (and each stage is in its pipeline).
fn check_rule_targets(rules: &[Rule], known: &Pipelines) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let (pipeline_id, stage_id) = match rule.trigger {
            Trigger::Won { pipeline_id } => (pipeline_id, None),
            Trigger::Stage {
                pipeline_id,
                stage_id,
            } => (Some(pipeline_id), Some(stage_id)),
        };
        let pipeline = pipeline_id.map(|id| known.pipelines.iter().find(|p| p.id == id));
        let message = match (pipeline, stage_id) {
            (Some(None), _) => {
                Some("That pipeline is not in your Pipedrive company (any more). Choose another.")
            }
            (Some(Some(p)), Some(stage)) if !p.stages.iter().any(|s| s.id == stage) => {
                Some("That stage is not in the chosen pipeline (any more). Choose another.")
            }
            _ => None,
        };
        if let Some(message) = message {
            errors.push(FieldError::new(
                format!("settings.rules[{i}].trigger"),
                message,
            ));
        }
    }
    errors
}

/// Fills in each mapped field's type and the status options from the catalog; every problem
/// at once.
pub fn complete_write_back(write_back: &mut WriteBack, catalog: &Catalog) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut used: Vec<(String, Figure)> = Vec::new();
    for figure in Figure::ALL {
        let path = format!("settings.write_back.{}", figure.key());
        let Some(mapped) = write_back.get_mut(figure).as_mut() else {
            continue;
        };
        let found = catalog
            .fields
            .iter()
            .find(|f| f.entity == FieldEntity::Deal && f.custom && f.key == mapped.key);
        let Some(field) = found else {
            // The submitted key is not echoed (it may be anything a client sent).
            errors.push(FieldError::new(path, "There is no such custom deal field in your Pipedrive company (any more). Choose one of its custom deal fields."));
            continue;
        };
        if !figure.fits(&field.field_type) {
            errors.push(FieldError::new(path, format!(
                "The deal field \"{}\" is a {} field and cannot hold the {}. Choose a field of type {}.",
                field.name, field.field_type, figure.words(), figure.field_types().join(", ")
            )));
            continue;
        }
        if let Some((_, other)) = used.iter().find(|(k, _)| *k == field.key) {
            errors.push(FieldError::new(
                path,
                format!(
                    "The deal field \"{}\" already holds the {}: give each figure its own field.",
                    field.name,
                    other.words()
                ),
            ));
            continue;
        }
        used.push((field.key.clone(), figure));
        mapped.field_type = field.field_type.clone();
        mapped.options.clear();
        if figure == Figure::Status && field.field_type == "enum" {
            let options: Vec<(serde_json::Value, String)> = field
                .options
                .iter()
                .map(|o| (o.id.clone(), o.label.clone()))
                .collect();
            match status_options(&options) {
                Ok(found) => mapped.options = found,
                Err(missing) => errors.push(FieldError::new(path, format!(
                    "The deal field \"{}\" needs the options {} (it lacks {}). Add them in Pipedrive, or choose a text field.",
                    field.name, "Open, Overdue, Partially paid and Paid", missing.join(", ")
                ))),
            }
        }
    }
    errors
}

/// Completes the submitted rules and write-back against what is stored and the company's
/// Pipedrive (pipelines only when a rule names one).
pub async fn complete(
    app: &App,
    tenant: Tenant,
    stored: &Settings,
    submitted: &mut Settings,
    catalog: &Catalog,
) -> Result<(), ApiError> {
    submitted.rules = stamped(&submitted.rules, &stored.rules, app.clock.now(), || {
        uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
    });
    let mut errors: Vec<FieldError> = check_rules(&submitted.rules)
        .into_iter()
        .map(|(field, message)| FieldError::new(field, message))
        .collect();
    let names_pipeline = submitted.rules.iter().any(|r| {
        matches!(
            r.trigger,
            Trigger::Stage { .. }
                | Trigger::Won {
                    pipeline_id: Some(_)
                }
        )
    });
    if names_pipeline {
        let known = load_pipelines(app, tenant).await?;
        errors.extend(check_rule_targets(&submitted.rules, &known));
    }
    errors.extend(complete_write_back(&mut submitted.write_back, catalog));
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::unprocessable(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{CatalogField, CatalogOption, figures_of, fits};
    use shared::domain::figures::MappedField;

    fn field(key: &str, name: &str, field_type: &str, options: &[(i64, &str)]) -> CatalogField {
        CatalogField {
            entity: FieldEntity::Deal,
            key: key.into(),
            name: name.into(),
            field_type: field_type.into(),
            custom: true,
            fits: fits(FieldEntity::Deal, key, field_type),
            figures: figures_of(FieldEntity::Deal, true, field_type),
            options: options
                .iter()
                .map(|(id, label)| CatalogOption {
                    id: serde_json::json!(id),
                    label: (*label).into(),
                })
                .collect(),
        }
    }

    fn catalog() -> Catalog {
        Catalog {
            fields: vec![
                field(
                    "s",
                    "Invoice status",
                    "enum",
                    &[
                        (1, "Open"),
                        (2, "Overdue"),
                        (3, "Partially paid"),
                        (4, "Paid"),
                    ],
                ),
                field("e", "Stage label", "enum", &[(1, "Open")]),
                field("m", "Invoiced", "monetary", &[]),
                field("t", "Note", "varchar", &[]),
            ],
            pipelines: Vec::new(),
        }
    }

    #[test]
    fn mapped_fields_are_checked_and_completed() {
        let mut write_back = WriteBack {
            status: Some(MappedField::new("s", "")),
            invoiced: Some(MappedField::new("m", "")),
            last_number: Some(MappedField::new("t", "")),
            ..WriteBack::default()
        };
        assert_eq!(complete_write_back(&mut write_back, &catalog()), Vec::new());
        let status = write_back.status.as_ref().unwrap();
        assert_eq!(status.field_type, "enum");
        assert_eq!(status.options["Partially paid"], serde_json::json!(3));
        assert_eq!(write_back.invoiced.as_ref().unwrap().field_type, "monetary");

        let mut wrong = WriteBack {
            status: Some(MappedField::new("e", "")),
            invoiced: Some(MappedField::new("t", "")),
            paid: Some(MappedField::new("m", "")),
            outstanding: Some(MappedField::new("m", "")),
            last_number: Some(MappedField::new("nope", "")),
            last_payment_date: None,
        };
        let errors = complete_write_back(&mut wrong, &catalog());
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "settings.write_back.status",
                "settings.write_back.invoiced",
                "settings.write_back.outstanding",
                "settings.write_back.last_number"
            ]
        );
        assert!(
            errors[0]
                .message
                .contains("lacks Overdue, Partially paid, Paid"),
            "{errors:?}"
        );
        assert!(
            errors[1].message.contains("is a varchar field"),
            "{errors:?}"
        );
        assert!(
            errors[2].message.contains("already holds the amount paid"),
            "{errors:?}"
        );
    }

    #[test]
    fn rules_name_pipelines_and_stages_that_exist() {
        let known = Pipelines {
            pipelines: vec![PipelineView {
                id: 1,
                name: "Sales".into(),
                stages: vec![StageView {
                    id: 2,
                    name: "Proposal".into(),
                }],
            }],
        };
        let rule = |trigger| Rule {
            id: "r".into(),
            trigger,
            action: shared::domain::rules::RuleAction::Create,
            created_at: None,
        };
        let rules = [
            rule(Trigger::Won { pipeline_id: None }),
            rule(Trigger::Won {
                pipeline_id: Some(9),
            }),
            rule(Trigger::Stage {
                pipeline_id: 1,
                stage_id: 2,
            }),
            rule(Trigger::Stage {
                pipeline_id: 1,
                stage_id: 3,
            }),
        ];
        let errors = check_rule_targets(&rules, &known);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["settings.rules[1].trigger", "settings.rules[3].trigger"]
        );
    }
}
