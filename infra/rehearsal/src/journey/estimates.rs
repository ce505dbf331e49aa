//! Estimates: one made from deal A's draft (exactly once, with a double submit), listed, sent,
//! downloaded, accepted for the customer, made into the deal's invoice (once, with a double
//! submit; that invoice then voided), deleted.

use serde_json::json;
use shared::wire::quickbooks::model::TxnStatus;

use super::*;

pub(super) async fn estimates(ctx: &Ctx<'_>) -> Result<(), String> {
    let w = ctx.world;
    let base = format!("/api/deals/{DEAL_A}/estimates");
    let form = super::invoices::form(ctx).await?;
    let (first, second) = tokio::join!(
        w.api(
            "POST",
            &base,
            A_ADMIN,
            Some(&form),
            Some("rehearsal-estimate-1")
        ),
        w.api(
            "POST",
            &base,
            A_ADMIN,
            Some(&form),
            Some("rehearsal-estimate-1")
        ),
    );
    let (first, second) = (first?, second?);
    expect("POST estimates", &first, 201)?;
    expect("POST estimates (the double submit)", &second, 201)?;
    let id = first.json["estimate"]["estimate_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no estimate id in {}", first.json))?;
    if second.json != first.json {
        return Err(format!(
            "two answers for one key: {} / {}",
            first.json, second.json
        ));
    }
    let made = w.qb.estimates(REALM_A).map_err(|e| e.to_string())?.len();
    if made != 1 {
        return Err(format!("QuickBooks has {made} estimates after one create"));
    }
    let list = call(ctx, "GET", &base, A_MEMBER, None, 200).await?;
    if list.json["estimates"][0]["id"] != json!(id) {
        return Err(format!("the list lacks {id}: {}", list.json));
    }
    let to = json!({"to": "billing@example.com"});
    call(
        ctx,
        "POST",
        &format!("{base}/{id}/send"),
        A_ADMIN,
        Some(&to),
        200,
    )
    .await?;
    let pdf = call(ctx, "GET", &format!("{base}/{id}/pdf"), A_ADMIN, None, 200).await?;
    if !pdf.bytes.starts_with(b"%PDF-") {
        return Err(format!(
            "the estimate's PDF is {}",
            pdf.header("content-type")
        ));
    }
    let accepted = json!({"answer": "accepted", "accepted_by": "Rehearsal"});
    let answer = call(
        ctx,
        "POST",
        &format!("{base}/{id}/answer"),
        A_ADMIN,
        Some(&accepted),
        200,
    )
    .await?;
    if answer.json["estimate"]["status"] != "accepted" {
        return Err(format!("accepting answered {}", answer.json));
    }
    let confirm = json!({"confirm": true});
    // The accepted estimate becomes the deal's invoice (LinkedTxn: QuickBooks closes it), once
    // under a double submit; that invoice is voided again, so the deal is as the later steps
    // expect it (no unpaid invoice).
    let convert = format!("{base}/{id}/invoice");
    let (first, second) = tokio::join!(
        w.api("POST", &convert, A_ADMIN, None, Some("rehearsal-convert-1")),
        w.api("POST", &convert, A_ADMIN, None, Some("rehearsal-convert-1")),
    );
    let (first, second) = (first?, second?);
    expect("POST estimates/{id}/invoice", &first, 201)?;
    expect(
        "POST estimates/{id}/invoice (the double submit)",
        &second,
        201,
    )?;
    if second.json != first.json {
        return Err(format!(
            "two answers for one conversion key: {} / {}",
            first.json, second.json
        ));
    }
    let invoice = first.json["invoice"]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no invoice id in {}", first.json))?;
    let closed = w.qb.estimate(REALM_A, &id).map_err(|e| e.to_string())?;
    if closed.txn_status != Some(TxnStatus::Closed) {
        return Err(format!("the converted estimate is {:?}", closed.txn_status));
    }
    call(
        ctx,
        "POST",
        &format!("/api/deals/{DEAL_A}/invoices/{invoice}/void"),
        A_ADMIN,
        Some(&confirm),
        200,
    )
    .await?;
    call(
        ctx,
        "POST",
        &format!("{base}/{id}/delete"),
        A_ADMIN,
        Some(&confirm),
        200,
    )
    .await?;
    ctx.record.event(
        "estimate created once, sent, accepted, invoiced once, deleted",
        1,
    );
    Ok(())
}
