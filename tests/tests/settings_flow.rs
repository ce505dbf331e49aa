//! The settings function over HTTP against both simulators: defaults, save and read back, the
//! field catalog (including a custom field added in Pipedrive), invalid mappings, concurrent
//! saves, tenant isolation, and the QuickBooks reference data.

use std::sync::Arc;

use sandbox::pipedrive::FieldEntity as SimEntity;
use sandbox::pipedrive::NewCustomField;
use sandbox::pipedrive::seed::{DEAL_PRIORITY_FIELD_A, ORG_TAX_ID_FIELD_A, ORG_TAX_ID_FIELD_B};
use serde_json::{Value, json};
use test_world::*;

/// The install and settings functions served together, three users installed through Pipedrive.
struct Settings {
    world: World,
}

impl Settings {
    async fn start() -> Settings {
        let world = World::builder()
            .serving(|app| {
                shared::web::http::finish(
                    install::router(app.clone()).merge(settings::router(app.clone())),
                )
            })
            .start()
            .await;
        for (company, user) in [
            (COMPANY_A, USER_A_ADMIN),
            (COMPANY_A, USER_A_MEMBER),
            (COMPANY_B, USER_B_ADMIN),
        ] {
            assert_eq!(world.pipedrive_install(company, user).await.status(), 302);
        }
        Settings { world }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        company: u64,
        user: u64,
        body: Option<Value>,
    ) -> (u16, Value) {
        let who = (company, user);
        let answer = self
            .world
            .call(method, path, who, body.as_ref(), None)
            .await;
        (answer.status, answer.json)
    }
}

fn mapping_with(doc: &Value, slot: &str, entity: &str, key: &str) -> Value {
    let mut doc = doc.clone();
    doc["settings"]["mapping"][slot] = json!({"entity": entity, "key": key});
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_save_and_read_back() {
    let s = Settings::start().await;
    let (status, doc) = s
        .call("GET", "/api/settings", COMPANY_A, USER_A_MEMBER, None)
        .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(
        doc["settings"]["mapping"]["to"],
        json!({"entity": "organization", "key": "name"})
    );
    assert_eq!(
        doc["settings"]["mapping"]["address"],
        json!({"entity": "organization", "key": "address"})
    );
    assert_eq!(
        doc["settings"]["mapping"]["email"],
        json!({"entity": "person", "key": "emails"})
    );
    assert_eq!(
        doc["settings"]["due_date"],
        json!({"kind": "days_after_issue", "days": 14})
    );

    let mut changed = mapping_with(&doc, "tax_id", "organization", ORG_TAX_ID_FIELD_A);
    changed["settings"]["due_date"] = json!({"kind": "days_after_issue", "days": 7});
    changed["settings"]["access"] = json!("connected_user_only");
    let (status, saved) = s
        .call(
            "PUT",
            "/api/settings",
            COMPANY_A,
            USER_A_ADMIN,
            Some(changed.clone()),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"], doc["version"].as_u64().unwrap() + 1);
    let (_, read) = s
        .call("GET", "/api/settings", COMPANY_A, USER_A_MEMBER, None)
        .await;
    assert_eq!(read["settings"], changed["settings"]);

    // A member who is not a Pipedrive admin cannot change them.
    let (status, problem) = s
        .call(
            "PUT",
            "/api/settings",
            COMPANY_A,
            USER_A_MEMBER,
            Some(read.clone()),
        )
        .await;
    assert_eq!(status, 403, "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_lists_real_fields_including_a_new_custom_field() {
    let s = Settings::start().await;
    let (status, catalog) = s
        .call(
            "GET",
            "/api/settings/fields",
            COMPANY_A,
            USER_A_MEMBER,
            None,
        )
        .await;
    assert_eq!(status, 200, "{catalog}");
    let fields = catalog["fields"].as_array().unwrap();
    let find = |fields: &[Value], entity: &str, key: &str| {
        fields
            .iter()
            .find(|f| f["entity"] == entity && f["key"] == key)
            .cloned()
    };
    let address = find(fields, "organization", "address").expect("org address");
    assert_eq!(address["field_type"], "address");
    assert_eq!(address["fits"], json!(["address"]));
    let tax = find(fields, "organization", ORG_TAX_ID_FIELD_A).expect("custom tax id field");
    assert_eq!(tax["custom"], true);
    assert!(
        find(fields, "organization", ORG_TAX_ID_FIELD_B).is_none(),
        "only our company's fields"
    );

    let added = s
        .world
        .pipedrive
        .add_custom_field(
            COMPANY_A,
            SimEntity::Person,
            NewCustomField {
                field_name: "Billing email".into(),
                field_type: "varchar".into(),
                options: vec![],
                field_code: None,
            },
        )
        .unwrap();
    let (_, fresh) = s
        .call(
            "GET",
            "/api/settings/fields?fresh=true",
            COMPANY_A,
            USER_A_MEMBER,
            None,
        )
        .await;
    let new = find(
        fresh["fields"].as_array().unwrap(),
        "person",
        &added.field_code,
    )
    .expect("new custom field");
    assert_eq!(new["name"], "Billing email");
    assert!(new["fits"].as_array().unwrap().contains(&json!("email")));

    // …and a mapping may point at it at once.
    let (_, doc) = s
        .call("GET", "/api/settings", COMPANY_A, USER_A_ADMIN, None)
        .await;
    let changed = mapping_with(&doc, "email", "person", &added.field_code);
    let (status, body) = s
        .call(
            "PUT",
            "/api/settings",
            COMPANY_A,
            USER_A_ADMIN,
            Some(changed),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, _) = s
        .call(
            "GET",
            "/api/settings/fields?fresh=maybe",
            COMPANY_A,
            USER_A_MEMBER,
            None,
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_mappings_are_422_listing_every_field() {
    let s = Settings::start().await;
    let (_, doc) = s
        .call("GET", "/api/settings", COMPANY_A, USER_A_ADMIN, None)
        .await;
    let mut bad = mapping_with(&doc, "email", "deal", "value");
    bad = mapping_with(&bad, "address", "person", "no_such_field");
    bad = mapping_with(&bad, "to", "deal", DEAL_PRIORITY_FIELD_A);
    let before = s.world.profile(COMPANY_A).await;
    let (status, problem) = s
        .call("PUT", "/api/settings", COMPANY_A, USER_A_ADMIN, Some(bad))
        .await;
    assert_eq!(status, 422, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec![
            "settings.mapping.to",
            "settings.mapping.address",
            "settings.mapping.email"
        ]
    );
    assert!(
        problem["errors"][2]["message"]
            .as_str()
            .unwrap()
            .contains("monetary"),
        "{problem}"
    );
    let after = s.world.profile(COMPANY_A).await;
    assert_eq!(before.settings, after.settings);
    assert_eq!(before.version, after.version);

    // Wrong types and unknown keys in the document itself.
    let mut wrong = doc.clone();
    wrong["settings"]["update_customer"] = json!("yes");
    let (status, _) = s
        .call("PUT", "/api/settings", COMPANY_A, USER_A_ADMIN, Some(wrong))
        .await;
    assert_eq!(status, 422);
    let mut unknown = doc.clone();
    unknown["settings"]["mapping"]["fax"] = json!({"entity": "person", "key": "phones"});
    let (status, _) = s
        .call(
            "PUT",
            "/api/settings",
            COMPANY_A,
            USER_A_ADMIN,
            Some(unknown),
        )
        .await;
    assert_eq!(status, 422);
    let mut range = doc.clone();
    range["settings"]["due_date"] = json!({"kind": "days_after_issue", "days": 366});
    let (status, problem) = s
        .call("PUT", "/api/settings", COMPANY_A, USER_A_ADMIN, Some(range))
        .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (422, Some("settings.due_date.days"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_admins_saving_at_once_one_wins_the_other_gets_409() {
    let s = Arc::new(Settings::start().await);
    let (_, doc) = s
        .call("GET", "/api/settings", COMPANY_A, USER_A_ADMIN, None)
        .await;
    let first = {
        let mut d = doc.clone();
        d["settings"]["due_date"] = json!({"kind": "days_after_issue", "days": 10});
        d
    };
    let second = {
        let mut d = doc.clone();
        d["settings"]["due_date"] = json!({"kind": "customer_terms"});
        d
    };
    let (a, b) = tokio::join!(
        s.call("PUT", "/api/settings", COMPANY_A, USER_A_ADMIN, Some(first)),
        s.call(
            "PUT",
            "/api/settings",
            COMPANY_A,
            USER_A_ADMIN,
            Some(second)
        ),
    );
    let mut statuses = vec![a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, vec![200, 409], "{a:?} {b:?}");
    let (winner, loser) = if a.0 == 200 { (a.1, b.1) } else { (b.1, a.1) };
    assert_eq!(
        loser["current"]["settings"], winner["settings"],
        "the 409 carries what won"
    );
    assert_eq!(loser["current"]["version"], winner["version"]);
    let (_, now) = s
        .call("GET", "/api/settings", COMPANY_A, USER_A_MEMBER, None)
        .await;
    assert_eq!(now["settings"], winner["settings"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_companys_settings_are_never_visible_or_writable() {
    let s = Settings::start().await;
    let (_, a_doc) = s
        .call("GET", "/api/settings", COMPANY_A, USER_A_ADMIN, None)
        .await;
    let mut a_changed = a_doc.clone();
    a_changed["settings"]["note_on_paid"] = json!(true);
    assert_eq!(
        s.call(
            "PUT",
            "/api/settings",
            COMPANY_A,
            USER_A_ADMIN,
            Some(a_changed)
        )
        .await
        .0,
        200
    );

    // Company B sees its own defaults, and its save (even one naming A's version) changes only B.
    let (_, b_doc) = s
        .call("GET", "/api/settings", COMPANY_B, USER_B_ADMIN, None)
        .await;
    assert_eq!(b_doc["settings"]["note_on_paid"], false);
    let mut b_changed = b_doc.clone();
    b_changed["settings"]["due_date"] = json!({"kind": "days_after_issue", "days": 30});
    assert_eq!(
        s.call(
            "PUT",
            "/api/settings",
            COMPANY_B,
            USER_B_ADMIN,
            Some(b_changed)
        )
        .await
        .0,
        200
    );
    let (_, a_now) = s
        .call("GET", "/api/settings", COMPANY_A, USER_A_ADMIN, None)
        .await;
    assert_eq!(a_now["settings"]["note_on_paid"], true);
    assert_eq!(a_now["settings"]["due_date"], a_doc["settings"]["due_date"]);
    // B cannot point a mapping at A's custom field: it does not exist for B.
    let (_, b_doc) = s
        .call("GET", "/api/settings", COMPANY_B, USER_B_ADMIN, None)
        .await;
    let crossing = mapping_with(&b_doc, "tax_id", "organization", ORG_TAX_ID_FIELD_A);
    assert_eq!(
        s.call(
            "PUT",
            "/api/settings",
            COMPANY_B,
            USER_B_ADMIN,
            Some(crossing)
        )
        .await
        .0,
        422
    );
    // A user of a company that never installed the app gets nothing.
    let (status, _) = s.call("GET", "/api/settings", 999, 1, None).await;
    assert_eq!(status, 403);
    let (status, _) = s.call("GET", "/api/settings/fields", 999, 1, None).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_data_for_a_us_and_a_non_us_company() {
    let s = Settings::start().await;
    let (status, problem) = s
        .call(
            "GET",
            "/api/quickbooks/reference",
            COMPANY_A,
            USER_A_MEMBER,
            None,
        )
        .await;
    assert_eq!(status, 409, "not connected yet: {problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Connect QuickBooks")
    );

    assert_eq!(
        s.world
            .quickbooks_connect(COMPANY_A, USER_A_ADMIN, US_REALM)
            .await
            .0,
        200
    );
    assert_eq!(
        s.world
            .quickbooks_connect(COMPANY_B, USER_B_ADMIN, GB_REALM)
            .await
            .0,
        200
    );
    s.world.quickbooks.harness().clear_log();

    let (status, us) = s
        .call(
            "GET",
            "/api/quickbooks/reference",
            COMPANY_A,
            USER_A_MEMBER,
            None,
        )
        .await;
    assert_eq!(status, 200, "{us}");
    assert_eq!(us["us_tax_model"], true);
    assert_eq!(us["home_currency"], "USD");
    assert_eq!(us["multi_currency"], true);
    assert!(us["currencies"].as_array().unwrap().len() > 1, "{us}");
    assert!(
        us["tax_codes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "TAX" || c["group"] == true),
        "{us}"
    );
    assert!(!us["terms"].as_array().unwrap().is_empty());
    let calls = s
        .world
        .quickbooks
        .harness()
        .requests_matching(Some("GET"), "/v3/company/")
        .len();
    assert_eq!(
        calls, 5,
        "preferences, company info, tax codes, terms, currencies"
    );

    let (status, gb) = s
        .call(
            "GET",
            "/api/quickbooks/reference",
            COMPANY_B,
            USER_B_ADMIN,
            None,
        )
        .await;
    assert_eq!(status, 200, "{gb}");
    assert_eq!(gb["us_tax_model"], false);
    assert_eq!(gb["home_currency"], "GBP");
    assert_eq!(gb["multi_currency"], false);
    assert_eq!(gb["currencies"], json!(["GBP"]));
    assert_eq!(gb["custom_txn_numbers"], true);
    assert!(!gb["tax_codes"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_made_while_the_page_was_open_does_not_block_the_save() {
    let s = Settings::start().await;
    let (_, doc) = s
        .call("GET", "/api/settings", COMPANY_A, USER_A_ADMIN, None)
        .await;
    // Someone connects QuickBooks: the company record changes, the settings do not.
    assert_eq!(
        s.world
            .quickbooks_connect(COMPANY_A, USER_A_ADMIN, US_REALM)
            .await
            .0,
        200
    );
    let mut changed = doc.clone();
    changed["settings"]["note_on_paid"] = json!(true);
    let (status, saved) = s
        .call(
            "PUT",
            "/api/settings",
            COMPANY_A,
            USER_A_ADMIN,
            Some(changed),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"], doc["version"].as_u64().unwrap() + 1);
    let profile = s.world.profile(COMPANY_A).await;
    assert!(
        profile.connected_realm().is_some(),
        "the connection survived the save"
    );
    assert!(profile.settings.note_on_paid);
}

/// The locale reaches the app from Pipedrive's `users/me` (at install, and read again when the
/// record has none): `/api/me` answers it with the number format every page and message uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_answers_the_users_pipedrive_locale_and_its_number_format() {
    let s = Settings::start().await;
    let (status, me) = s
        .call("GET", "/api/me", COMPANY_A, USER_A_ADMIN, None)
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["locale"], "de_DE", "Anna Admin's users/me locale");
    assert_eq!(
        me["number_format"],
        json!({"locale": "de_DE", "decimal": ",", "group": ".", "min_grouping_digits": 1})
    );
    let (_, dana) = s
        .call("GET", "/api/me", COMPANY_B, USER_B_ADMIN, None)
        .await;
    assert_eq!(dana["number_format"]["decimal"], ".");
    // An install recorded before the app kept the locale: read from users/me, then kept.
    let records = &s.world.app.records;
    let company = shared::domain::CompanyId(COMPANY_A);
    let user = shared::domain::UserId(USER_A_MEMBER);
    let mut install = records
        .get_user_install(company, user)
        .await
        .unwrap()
        .unwrap();
    install.locale = None;
    records.put_user_install(&install).await.unwrap();
    s.world.pipedrive.harness().clear_log();
    let (status, me) = s
        .call("GET", "/api/me", COMPANY_A, USER_A_MEMBER, None)
        .await;
    assert_eq!((status, &me["locale"]), (200, &json!("de_DE")), "{me}");
    let asked = s
        .world
        .pipedrive
        .harness()
        .requests_matching(Some("GET"), "/api/v1/users/me");
    assert_eq!(asked.len(), 1);
    let kept = records
        .get_user_install(company, user)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.locale.unwrap().locale, "de_DE");
    let (status, _) = s
        .call("GET", "/api/me", COMPANY_A, USER_A_MEMBER, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        s.world
            .pipedrive
            .harness()
            .requests_matching(Some("GET"), "/api/v1/users/me")
            .len(),
        1,
        "read once, then kept"
    );
}

/// A wrong number of days is answered with that field's sentence (never the JSON parser's
/// text), and an empty one is an error, not 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_days_are_answered_with_the_fields_sentence() {
    let s = Settings::start().await;
    let (_, doc) = s
        .call("GET", "/api/settings", COMPANY_A, USER_A_ADMIN, None)
        .await;
    for (days, expected) in [
        (json!(-5), "a whole number from 0 to 365"),
        (json!(400), "a whole number from 0 to 365"),
        (Value::Null, "Enter the number of days"),
        (json!(""), "Enter the number of days"),
    ] {
        let mut bad = doc.clone();
        bad["settings"]["due_date"] = json!({"kind": "days_after_issue", "days": days});
        let (status, problem) = s
            .call("PUT", "/api/settings", COMPANY_A, USER_A_ADMIN, Some(bad))
            .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["errors"][0]["field"], "settings.due_date.days");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{days}: {message}");
        assert!(!problem.to_string().contains("expected u16"), "{problem}");
    }
}
