//! Invoices: the create form, create with a double submit, list, send, PDF, open, refresh,
//! activity, customer invoices, links, void, delete.

use serde_json::{Value, json};

use super::*;

/// The create form of deal A, ready to post.
pub(super) async fn form(ctx: &Ctx<'_>) -> Result<Value, String> {
    let draft = call(
        ctx,
        "GET",
        &format!("/api/deals/{DEAL_A}/draft"),
        A_ADMIN,
        None,
        200,
    )
    .await?;
    if draft.json["problems"] != json!([]) {
        return Err(format!(
            "the draft has problems: {}",
            draft.json["problems"]
        ));
    }
    Ok(draft.json["form"].clone())
}

/// Another invoice of deal A (the journey's later ones have the first one's customer and total, so
/// the rep answers the "possible duplicate" question up front, as the page does on "create
/// another").
pub(super) async fn create(ctx: &Ctx<'_>, key: &str) -> Result<String, String> {
    let mut form = form(ctx).await?;
    form["confirm_duplicate"] = json!(true);
    let path = format!("/api/deals/{DEAL_A}/invoices");
    let answer = ctx
        .world
        .api("POST", &path, A_ADMIN, Some(&form), Some(key))
        .await?;
    expect("POST invoices", &answer, 201)?;
    answer.json["invoice"]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no invoice id in {}", answer.json))
}

/// Creates an invoice with a double submit: two requests with the same key at once. Both
/// answer the one invoice; QuickBooks has exactly one more.
pub(super) async fn create_twice(ctx: &Ctx<'_>) -> Result<String, String> {
    let w = ctx.world;
    let before = w.qb.invoices(REALM_A).map_err(|e| e.to_string())?.len();
    let form = form(ctx).await?;
    let path = format!("/api/deals/{DEAL_A}/invoices");
    let (first, second) = tokio::join!(
        w.api(
            "POST",
            &path,
            A_ADMIN,
            Some(&form),
            Some("rehearsal-create-1")
        ),
        w.api(
            "POST",
            &path,
            A_ADMIN,
            Some(&form),
            Some("rehearsal-create-1")
        ),
    );
    let (first, second) = (first?, second?);
    let mut ids = Vec::new();
    for answer in [&first, &second] {
        if !matches!(answer.status, 200 | 201) {
            return Err(format!(
                "a submit answered {} {}",
                answer.status,
                answer.text()
            ));
        }
        ids.push(
            answer.json["invoice"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    if ids[0].is_empty() || ids[0] != ids[1] {
        return Err(format!("the two submits answered invoices {ids:?}"));
    }
    let after = w.qb.invoices(REALM_A).map_err(|e| e.to_string())?.len();
    if after != before + 1 {
        return Err(format!("QuickBooks went from {before} to {after} invoices"));
    }
    super::rules::no_preparation_left(ctx, DEAL_A).await?;
    Ok(ids.remove(0))
}

pub(super) async fn follow(ctx: &Ctx<'_>, invoice: &str) -> Result<(), String> {
    let w = ctx.world;
    let base = format!("/api/deals/{DEAL_A}/invoices");
    let list = call(ctx, "GET", &base, A_MEMBER, None, 200).await?;
    if !list.json["invoices"]
        .as_array()
        .is_some_and(|l| l.iter().any(|i| i["invoice_id"] == invoice))
    {
        return Err(format!("the list lacks {invoice}: {}", list.json));
    }
    call(
        ctx,
        "POST",
        &format!("{base}/{invoice}/send"),
        A_ADMIN,
        Some(&json!({"to": "billing@example.com"})),
        200,
    )
    .await?;
    let pdf = call(
        ctx,
        "GET",
        &format!("{base}/{invoice}/pdf"),
        A_ADMIN,
        None,
        200,
    )
    .await?;
    if pdf.header("content-type") != "application/pdf" || !pdf.bytes.starts_with(b"%PDF-") {
        return Err(format!(
            "the PDF is {} starting {:?}",
            pdf.header("content-type"),
            &pdf.bytes[..pdf.bytes.len().min(8)]
        ));
    }
    let company =
        w.qb.config()
            .realms
            .iter()
            .find(|r| r.realm_id == REALM_A)
            .map(|r| r.company_name.clone())
            .unwrap_or_default();
    let original = sandbox::quickbooks::invoice_pdf(
        &company,
        &w.qb.invoice(REALM_A, invoice).map_err(|e| e.to_string())?,
    );
    if pdf.bytes != original {
        return Err(format!(
            "the PDF through API Gateway ({} bytes) differs from QuickBooks' ({} bytes): the base64 round trip broke it",
            pdf.bytes.len(),
            original.len()
        ));
    }
    ctx.record.event(
        &format!(
            "binary body ({} bytes, base64 through the front)",
            pdf.bytes.len()
        ),
        1,
    );
    let open = call(
        ctx,
        "GET",
        &format!("{base}/{invoice}/open"),
        A_ADMIN,
        None,
        200,
    )
    .await?;
    if !open.json["url"]
        .as_str()
        .is_some_and(|u| u.contains(invoice))
    {
        return Err(format!("open answered {}", open.json));
    }
    Ok(())
}

/// Deal A's list, as the panel reads it.
pub(super) async fn deal_list(ctx: &Ctx<'_>) -> Result<Answer, String> {
    call(
        ctx,
        "GET",
        &format!("/api/deals/{DEAL_A}/invoices"),
        A_ADMIN,
        None,
        200,
    )
    .await
}

pub(super) async fn status_of(ctx: &Ctx<'_>, invoice: &str) -> Result<String, String> {
    let list = deal_list(ctx).await?;
    list.json["invoices"]
        .as_array()
        .and_then(|l| l.iter().find(|i| i["invoice_id"] == invoice))
        .and_then(|i| i["status"].as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("{invoice} is not listed: {}", list.json))
}

pub(super) async fn deal_views(ctx: &Ctx<'_>) -> Result<(), String> {
    let w = ctx.world;
    let base = format!("/api/deals/{DEAL_A}");
    an_hour_passes(ctx).await?;
    call(
        ctx,
        "POST",
        &format!("{base}/invoices/refresh"),
        A_ADMIN,
        None,
        200,
    )
    .await?;
    call(ctx, "GET", &format!("{base}/activity"), A_ADMIN, None, 200).await?;
    let theirs = call(
        ctx,
        "GET",
        &format!("{base}/customer-invoices"),
        A_ADMIN,
        None,
        200,
    )
    .await?;
    // One of the customer's invoices, taken off the deal and linked to it again.
    let one = theirs.json["invoices"][0]["invoice_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("the customer has no invoice: {}", theirs.json))?;
    call(
        ctx,
        "DELETE",
        &format!("{base}/invoice-links/{one}"),
        A_ADMIN,
        None,
        200,
    )
    .await?;
    let linked = w
        .api(
            "PUT",
            &format!("{base}/invoice-links/{one}"),
            A_ADMIN,
            None,
            None,
        )
        .await?;
    expect("PUT invoice-link", &linked, 201)
}

pub(super) async fn void_and_delete(ctx: &Ctx<'_>) -> Result<(), String> {
    let confirm = json!({"confirm": true});
    let base = format!("/api/deals/{DEAL_A}/invoices");
    let to_void = create(ctx, "rehearsal-create-3").await?;
    call(
        ctx,
        "POST",
        &format!("{base}/{to_void}/void"),
        A_ADMIN,
        Some(&confirm),
        200,
    )
    .await?;
    let to_delete = create(ctx, "rehearsal-create-4").await?;
    call(
        ctx,
        "POST",
        &format!("{base}/{to_delete}/delete"),
        A_ADMIN,
        Some(&confirm),
        200,
    )
    .await?;
    for (id, status) in [(&to_void, "voided"), (&to_delete, "deleted")] {
        let now = status_of(ctx, id).await?;
        if now != status {
            return Err(format!("{id} is {now}, expected {status}"));
        }
    }
    Ok(())
}

/// The rep's helpers around the form: who they are (`/api/me`), QuickBooks' exchange rate, and a
/// missing QuickBooks item made from a Pipedrive product (company A's product 1, on no invoice of
/// the journey) and linked.
pub(super) async fn helpers(ctx: &Ctx<'_>) -> Result<(), String> {
    call(ctx, "GET", "/api/me", A_MEMBER, None, 200).await?;
    call(
        ctx,
        "GET",
        "/api/quickbooks/exchange-rate?from=GBP&to=USD",
        A_ADMIN,
        None,
        200,
    )
    .await?;
    let form = call(ctx, "GET", "/api/products/1/new-item", A_ADMIN, None, 200).await?;
    let account = form.json["income_account_id"]
        .as_str()
        .ok_or_else(|| format!("the new-item form has no income account: {}", form.json))?;
    let body = json!({
        "name": "Rehearsal consulting hour",
        "unit_price": "120",
        "income_account_id": account,
    });
    let created = call(
        ctx,
        "POST",
        "/api/products/1/item",
        A_ADMIN,
        Some(&body),
        201,
    )
    .await?;
    if created.json["link"]["item_id"] != created.json["item"]["id"] {
        return Err(format!("the created item is not linked: {}", created.json));
    }
    Ok(())
}
