//! The company's account: install, the pages, connect, settings, the create form's links —
//! and, at the end, unlink, disconnect, uninstall and the purge.

use serde_json::json;

use super::*;

async fn install_user(ctx: &Ctx<'_>, company: u64, user: u64) -> Result<(), String> {
    let w = ctx.world;
    let authorize = format!(
        "{}/oauth/authorize?client_id={}&redirect_uri={}&auto=1&company_id={company}&user_id={user}",
        w.pd_url,
        w.keys.pipedrive_client_id,
        url::form_urlencoded::byte_serialize(
            format!("{}/oauth/pipedrive/callback", w.front).as_bytes()
        )
        .collect::<String>()
    );
    let consent = w.request("GET", &authorize, None, None, None).await?;
    let callback = location(&consent)?;
    let done = w.request("GET", &callback, None, None, None).await?;
    expect(&format!("install callback for user {user}"), &done, 302)
}

pub(super) async fn install(ctx: &Ctx<'_>) -> Result<(), String> {
    for (company, user) in [A_ADMIN, A_MEMBER, B_ADMIN] {
        install_user(ctx, company, user).await?;
    }
    Ok(())
}

pub(super) async fn pages(ctx: &Ctx<'_>) -> Result<(), String> {
    let w = ctx.world;
    let token = w.token(COMPANY_A, USER_A_ADMIN)?;
    for page in ["panel", "modal", "settings", "invoices", "bulk"] {
        let query = format!(
            "resource=deal&view=details&selectedIds={DEAL_A}&companyId={COMPANY_A}&userId={USER_A_ADMIN}&token={token}"
        );
        let answer = w
            .request("GET", &format!("/ui/{page}?{query}"), None, None, None)
            .await?;
        expect(&format!("/ui/{page}"), &answer, 200)?;
        if !answer.header("content-type").starts_with("text/html") {
            return Err(format!("/ui/{page} is {}", answer.header("content-type")));
        }
    }
    let css = w
        .request("GET", "/ui/assets/app.css", None, None, None)
        .await?;
    expect("/ui/assets/app.css", &css, 200)
}

async fn connect_company(ctx: &Ctx<'_>, who: (u64, u64), realm: &str) -> Result<(), String> {
    let w = ctx.world;
    let answer = call(ctx, "POST", "/api/quickbooks/connect", who, None, 200).await?;
    let authorize = answer.json["authorize_url"]
        .as_str()
        .ok_or("no authorize_url")?;
    let consent = w
        .request(
            "GET",
            &format!("{authorize}&realm_id={realm}"),
            None,
            None,
            None,
        )
        .await?;
    let callback = location(&consent)?;
    let page = w.request("GET", &callback, None, None, None).await?;
    expect("QuickBooks callback", &page, 200)?;
    let state = call(ctx, "GET", "/api/connection", who, None, 200).await?;
    if state.json["state"] != "connected" || state.json["realm_id"] != realm {
        return Err(format!("the connection is {}", state.json));
    }
    Ok(())
}

pub(super) async fn connect(ctx: &Ctx<'_>) -> Result<(), String> {
    connect_company(ctx, A_ADMIN, REALM_A).await?;
    connect_company(ctx, B_ADMIN, REALM_B).await
}

pub(super) async fn settings(ctx: &Ctx<'_>) -> Result<(), String> {
    let current = call(ctx, "GET", "/api/settings", A_MEMBER, None, 200).await?;
    call(ctx, "GET", "/api/settings/fields", A_ADMIN, None, 200).await?;
    an_hour_passes(ctx).await?;
    call(ctx, "GET", "/api/quickbooks/reference", A_ADMIN, None, 200).await?;
    let mut doc = json!({"version": current.json["version"], "settings": current.json["settings"]});
    doc["settings"]["due_date"] = json!({"kind": "days_after_issue", "days": 14});
    let saved = call(ctx, "PUT", "/api/settings", A_ADMIN, Some(&doc), 200).await?;
    if saved.json["settings"]["due_date"]["days"] != 14 {
        return Err(format!("the saved settings are {}", saved.json));
    }
    Ok(())
}

pub(super) async fn draft(ctx: &Ctx<'_>) -> Result<(), String> {
    let w = ctx.world;
    an_hour_passes(ctx).await?;
    call(
        ctx,
        "GET",
        "/api/quickbooks/customers?search=A",
        A_ADMIN,
        None,
        200,
    )
    .await?;
    let link = json!({"customer_id": "1", "update_customer": false});
    call(
        ctx,
        "PUT",
        &format!("/api/deals/{DEAL_A}/customer-link"),
        A_ADMIN,
        Some(&link),
        200,
    )
    .await?;
    let draft = call(
        ctx,
        "GET",
        &format!("/api/deals/{DEAL_A}/draft"),
        A_ADMIN,
        None,
        200,
    )
    .await?;
    // Link each of the deal's products to a QuickBooks service item.
    let items = call(
        ctx,
        "GET",
        "/api/quickbooks/items?search=S",
        A_ADMIN,
        None,
        200,
    )
    .await?;
    let item = items.json["items"][0]["id"]
        .as_str()
        .ok_or_else(|| format!("no item starts with S: {}", items.json))?;
    for line in draft.json["form"]["lines"].as_array().into_iter().flatten() {
        let Some(product) = line["product_id"].as_u64() else {
            continue;
        };
        call(
            ctx,
            "PUT",
            &format!("/api/products/{product}/item-link"),
            A_ADMIN,
            Some(&json!({"item_id": item})),
            200,
        )
        .await?;
    }
    // Company B creates its customer from its deal (once, whatever the retries).
    let body = json!({"deal_id": DEAL_B, "display_name": "Rehearsal Freight Ltd", "email": "ap@rehearsal-freight.example"});
    let created = w
        .api(
            "POST",
            "/api/quickbooks/customers",
            B_ADMIN,
            Some(&body),
            Some("rehearsal-customer-b"),
        )
        .await?;
    expect("POST /api/quickbooks/customers", &created, 201)
}

pub(super) async fn leave(ctx: &Ctx<'_>) -> Result<(), String> {
    let w = ctx.world;
    call(
        ctx,
        "DELETE",
        &format!("/api/deals/{DEAL_A}/customer-link"),
        A_ADMIN,
        None,
        200,
    )
    .await?;
    call(
        ctx,
        "POST",
        "/api/quickbooks/disconnect",
        A_ADMIN,
        None,
        200,
    )
    .await?;
    for user in [USER_A_MEMBER, USER_A_ADMIN] {
        let status =
            w.pd.fire_uninstall(COMPANY_A, user)
                .await
                .map_err(|e| e.to_string())?;
        ctx.record.event("Pipedrive uninstall callback", 1);
        if status != 200 {
            return Err(format!(
                "the uninstall callback for user {user} answered {status}"
            ));
        }
    }
    let key = format!("COMPANY#{COMPANY_A}");
    let left: Vec<_> = w
        .scan(&ctx.table)
        .await?
        .into_iter()
        .filter(|(pk, sk, item)| {
            pk.contains(&key)
                || sk.contains(&key)
                || item.contains(&format!("\"company_id\": N(\"{COMPANY_A}\")"))
        })
        .collect();
    if !left.is_empty() {
        return Err(format!(
            "after the uninstall, items of company {COMPANY_A} remain: {left:?}"
        ));
    }
    let secrets = w.secret_names(&format!("{}/", ctx.secret_prefix)).await?;
    if secrets
        .iter()
        .any(|s| s.ends_with(&format!("/company/{COMPANY_A}")))
    {
        return Err(format!(
            "after the uninstall, company {COMPANY_A}'s secret remains: {secrets:?}"
        ));
    }
    if !secrets
        .iter()
        .any(|s| s.ends_with(&format!("/company/{COMPANY_B}")))
    {
        return Err(format!(
            "company {COMPANY_B}'s secret went too: {secrets:?}"
        ));
    }
    Ok(())
}
