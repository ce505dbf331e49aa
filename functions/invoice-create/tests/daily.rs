//! A rep's day against both simulators: another invoice currency only with a rate QuickBooks
//! gives (and the rep confirms), the question before a duplicate, words found anywhere in a name,
//! inactive customers found and reactivated, the choice a taken name offers, and a QuickBooks
//! item made from a Pipedrive product.

mod support;

use pretty_assertions::assert_eq;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use shared::domain::conversion::{Conversion, RateSource, convert};
use shared::domain::draft::InvoiceForm;
use shared::wire::quickbooks::model::{Customer, EmailAddress};
use support::*;

const A: (u64, u64) = (COMPANY_A, USER_A_ADMIN);
const B: (u64, u64) = (COMPANY_B, USER_B_ADMIN);

/// Company A on the US realm (USD home; EUR 1.09, GBP 1.27), deal 2 (GBP) linked to O'Brien &
/// Sons (USD), its products linked to items.
async fn gbp_deal_with_a_usd_customer() -> World {
    let w = world().start().await;
    w.connect(COMPANY_A, USER_A_ADMIN, US_REALM).await;
    w.link_customer(A, 2, "2").await;
    for (product, item) in [(4, "3"), (1, "2")] {
        w.link_item(A, product, item).await;
    }
    w
}

/// The draft's form of deal 2 with a sales tax rate chosen (its 20 % matches none of the US
/// company's rates, so none is pre-selected).
async fn deal2_form(w: &World) -> Value {
    let draft = w.draft(A, 2).await;
    assert!(
        draft["tax_note"].as_str().unwrap().contains("20 %"),
        "{draft:#}"
    );
    let mut form = draft["form"].clone();
    form["txn_tax_code"] = json!("2");
    form
}

#[tokio::test]
async fn another_invoice_currency_needs_a_rate_the_rep_confirmed() {
    let w = gbp_deal_with_a_usd_customer().await;
    let draft = deal2_form(&w).await;
    assert_eq!(draft["currency"], "GBP");
    assert_eq!(draft["deal_currency"], "GBP");
    let form: InvoiceForm = serde_json::from_value(draft).unwrap();

    // Relabelled only (the bug): refused before QuickBooks, and the sentence says why.
    let mut relabelled = form.clone();
    relabelled.currency = "USD".into();
    let (status, problem) = w
        .call_json(
            "POST",
            "/api/deals/2/invoices",
            A,
            Some(&serde_json::to_value(&relabelled).unwrap()),
            Some("fx-relabelled"),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "currency");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("The prices are in GBP")
    );
    assert!(w.quickbooks.invoices(US_REALM).unwrap().is_empty());

    // QuickBooks' rate for the invoice date.
    let date = form.txn_date;
    let (status, rate) = w
        .call_json(
            "GET",
            &format!("/api/quickbooks/exchange-rate?from=GBP&to=USD&date={date}"),
            A,
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{rate}");
    assert_eq!(dec_of(&rate["rate"]), dec!(1.27));
    assert_eq!(rate["source"], "quickbooks");
    assert_eq!(rate["as_of"], json!(date));
    let asked = w
        .quickbooks
        .harness()
        .requests_matching(None, &format!("/v3/company/{US_REALM}/exchangerate"));
    assert_eq!(asked.len(), 1, "one call: USD is the home currency");
    assert!(
        asked[0]
            .query
            .as_deref()
            .unwrap()
            .contains("sourcecurrencycode=GBP")
    );

    // Converted with it: QuickBooks gets a USD invoice with converted prices, and the note says so.
    let conversion = Conversion {
        from: "GBP".into(),
        to: "USD".into(),
        rate: dec!(1.27),
        source: RateSource::Quickbooks,
        as_of: Some(date),
    };
    let converted = convert(&form, &conversion);
    let (status, created) = w
        .call_json(
            "POST",
            "/api/deals/2/invoices",
            A,
            Some(&serde_json::to_value(&converted).unwrap()),
            Some("fx-converted"),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let invoice = w
        .quickbooks
        .invoice(US_REALM, created["invoice"]["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(invoice.currency_ref.unwrap().value, "USD");
    let first = invoice.line.as_ref().unwrap()[0]
        .sales_item_line_detail
        .clone()
        .unwrap();
    // 2 × (900.00 GBP × 1.27 = 1,143.00 USD), less 5 % (the line discount): 2,171.70 including
    // the deal's 20 %, so 1,809.75 net (US sales tax is added on top).
    assert_eq!(
        first.qty.unwrap() * first.unit_price.unwrap(),
        dec!(1809.75)
    );
    assert!(
        invoice
            .private_note
            .unwrap()
            .contains("Prices converted from GBP at 1 GBP = 1.27 USD")
    );
}

#[tokio::test]
async fn cross_rates_and_companies_without_rates() {
    let w = world().start().await;
    w.connect(COMPANY_A, USER_A_ADMIN, US_REALM).await;
    let (status, rate) = w
        .call_json(
            "GET",
            "/api/quickbooks/exchange-rate?from=eur&to=GBP",
            A,
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{rate}");
    // 1.09 / 1.27 (two QuickBooks rates into USD).
    assert_eq!(dec_of(&rate["rate"]), dec!(0.858268));
    let (status, same) = w
        .call_json(
            "GET",
            "/api/quickbooks/exchange-rate?from=USD&to=USD",
            A,
            None,
            None,
        )
        .await;
    assert_eq!((status, dec_of(&same["rate"])), (200, Decimal::ONE));
    let (status, bad) = w
        .call_json(
            "GET",
            "/api/quickbooks/exchange-rate?from=EURO&to=US&date=tomorrow",
            A,
            None,
            None,
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(bad["errors"].as_array().unwrap().len(), 3);
    // Not in the company's currency list: no rate, a sentence.
    let (status, none) = w
        .call_json(
            "GET",
            "/api/quickbooks/exchange-rate?from=JPY&to=USD",
            A,
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["rate"], Value::Null);
    assert!(none["note"].as_str().unwrap().contains("JPY"));

    // The UK company has multi-currency off: no QuickBooks rates at all.
    let uk = world().start().await;
    uk.connect(COMPANY_B, USER_B_ADMIN, GB_REALM).await;
    let (status, none) = uk
        .call_json(
            "GET",
            "/api/quickbooks/exchange-rate?from=EUR&to=GBP",
            B,
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["rate"], Value::Null);
    assert!(
        none["note"]
            .as_str()
            .unwrap()
            .contains("multi-currency is off")
    );
}

#[tokio::test]
async fn the_same_invoice_again_is_asked_about_never_blocked() {
    let w = gbp_deal_with_a_usd_customer().await;
    // Deal 2 in GBP for a GBP customer.
    let gbp = w
        .quickbooks
        .create_customer(
            US_REALM,
            &Customer {
                display_name: Some("Thames Digital Ltd (GBP)".into()),
                currency_ref: Some(shared::wire::quickbooks::model::Ref::new("GBP")),
                ..Customer::default()
            },
        )
        .unwrap();
    w.link_customer(A, 2, gbp.id.as_deref().unwrap()).await;
    let form = deal2_form(&w).await;
    let (status, first) = w
        .call_json(
            "POST",
            "/api/deals/2/invoices",
            A,
            Some(&form),
            Some("dup-1"),
        )
        .await;
    assert_eq!(status, 201, "{first}");
    let (status, asked) = w
        .call_json(
            "POST",
            "/api/deals/2/invoices",
            A,
            Some(&form),
            Some("dup-2"),
        )
        .await;
    assert_eq!(status, 409, "{asked}");
    assert_eq!(
        asked["type"],
        "urn:pipedrive-quickbooks:problem:possible-duplicate"
    );
    let number = first["invoice"]["doc_number"].as_str().unwrap();
    assert_eq!(
        asked["detail"],
        format!(
            "This deal already has open invoice #{number} for {} GBP — create another?",
            shared::domain::money::NumberFormat::english()
                .amount(dec_of(&first["invoice"]["total"]))
        )
    );
    assert_eq!(
        asked["current"]["invoice"]["invoice_id"],
        first["invoice"]["id"]
    );
    assert_eq!(
        w.quickbooks.invoices(US_REALM).unwrap().len(),
        1,
        "nothing sent"
    );
    // The rep confirms, with the same key: created.
    let mut confirmed = form.clone();
    confirmed["confirm_duplicate"] = json!(true);
    let (status, second) = w
        .call_json(
            "POST",
            "/api/deals/2/invoices",
            A,
            Some(&confirmed),
            Some("dup-2"),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(w.quickbooks.invoices(US_REALM).unwrap().len(), 2);
    // A retry of the first create (same key, same body) is its stored answer, not a question.
    let (status, again) = w
        .call_json(
            "POST",
            "/api/deals/2/invoices",
            A,
            Some(&form),
            Some("dup-1"),
        )
        .await;
    assert_eq!(
        (status, &again["invoice"]["id"]),
        (201, &first["invoice"]["id"])
    );
}

#[tokio::test]
async fn words_anywhere_inactive_customers_and_the_choice_a_taken_name_offers() {
    let w = world().start().await;
    w.connect(COMPANY_A, USER_A_ADMIN, US_REALM).await;
    let names = |v: &Value, key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                c["display_name"]
                    .as_str()
                    .or(c["name"].as_str())
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    for (term, expected) in [
        ("Brien", "O'Brien & Sons"),
        ("bird", "Amy's Bird Sanctuary"),
        ("sons o", "O'Brien & Sons"),
    ] {
        let (status, found) = w
            .call_json(
                "GET",
                &format!("/api/quickbooks/customers?search={}", urlencoding(term)),
                A,
                None,
                None,
            )
            .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(names(&found, "customers"), [expected], "{term}");
    }
    let (_, items) = w
        .call_json(
            "GET",
            "/api/quickbooks/items?search=ountain%20rock",
            A,
            None,
            None,
        )
        .await;
    assert_eq!(names(&items, "items"), ["Rock Fountain"]);
    let (_, first) = w
        .call_json("GET", "/api/quickbooks/items", A, None, None)
        .await;
    assert_eq!(
        first["items"].as_array().unwrap().len(),
        5,
        "the active items, by name"
    );

    // An inactive "Lena Vogel": the draft of deal 5 (Lena Vogel) suggests it, marked.
    let inactive = w
        .quickbooks
        .create_customer(
            US_REALM,
            &Customer {
                display_name: Some("Lena Vogel".into()),
                active: Some(false),
                primary_email_addr: Some(EmailAddress {
                    address: Some("lena@vogel.example".into()),
                }),
                ..Customer::default()
            },
        )
        .unwrap();
    let id = inactive.id.clone().unwrap();
    let draft = w.draft(A, 5).await;
    let suggested = &draft["customer"]["suggestions"][0]["customer"];
    assert_eq!(
        (suggested["id"].as_str(), &suggested["active"]),
        (Some(id.as_str()), &json!(false))
    );
    let (_, found) = w
        .call_json(
            "GET",
            "/api/quickbooks/customers?search=vogel",
            A,
            None,
            None,
        )
        .await;
    assert_eq!(found["customers"][0]["active"], false);
    // Creating the name: the choice (reactivate it, or another name).
    let (status, taken) = w
        .call_json(
            "POST",
            "/api/quickbooks/customers",
            A,
            Some(&json!({"deal_id": 5, "display_name": "Lena Vogel", "currency": "EUR"})),
            None,
        )
        .await;
    assert_eq!(status, 409, "{taken}");
    assert_eq!(taken["type"], "urn:pipedrive-quickbooks:problem:name-taken");
    assert_eq!(taken["title"], "Name already used in QuickBooks");
    assert_eq!(taken["current"]["customer"]["id"], id.as_str());
    assert_eq!(taken["current"]["suggested_name"], "Lena Vogel (EUR)");
    assert!(taken["detail"].as_str().unwrap().contains("inactive"));
    // Linking an inactive customer without saying so: refused with what to do.
    let link = |reactivate: Option<bool>| json!({"customer_id": id, "update_customer": false, "reactivate": reactivate});
    let (status, refused) = w
        .call_json(
            "PUT",
            "/api/deals/5/customer-link",
            A,
            Some(&link(None)),
            None,
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Reactivate")
    );
    // Reactivate and link.
    let (status, linked) = w
        .call_json(
            "PUT",
            "/api/deals/5/customer-link",
            A,
            Some(&link(Some(true))),
            None,
        )
        .await;
    assert_eq!(status, 200, "{linked}");
    assert_eq!(linked["customer"]["active"], true);
    let now = w.quickbooks.customers(US_REALM).unwrap();
    let lena = now
        .iter()
        .find(|c| c.id.as_deref() == Some(id.as_str()))
        .unwrap();
    assert_eq!(lena.active, Some(true));
    // Or create under the other name.
    let (status, created) = w
        .call_json(
            "POST",
            "/api/quickbooks/customers",
            A,
            Some(&json!({"deal_id": 5, "display_name": "Lena Vogel (EUR)", "currency": "EUR"})),
            None,
        )
        .await;
    assert_eq!(status, 201, "{created}");
}

fn urlencoding(s: &str) -> String {
    s.replace(' ', "%20").replace('\'', "%27")
}

#[tokio::test]
async fn a_missing_item_is_made_from_the_pipedrive_product_and_linked() {
    let w = world().start().await;
    w.connect(COMPANY_A, USER_A_ADMIN, US_REALM).await;
    // Product 1 "Consulting hour" (code CONS-HR, 19 % tax).
    let (status, form) = w
        .call_json("GET", "/api/products/1/new-item", A, None, None)
        .await;
    assert_eq!(status, 200, "{form}");
    assert_eq!(form["name"], "Consulting hour");
    assert_eq!(form["sku"], "CONS-HR");
    assert_eq!(form["us"], true);
    assert_eq!(form["taxable"], true);
    let accounts: Vec<&str> = form["income_accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        accounts,
        [
            "Landscaping Services",
            "Sales of Product Income",
            "Services"
        ],
        "the active income accounts only"
    );
    let body = json!({
        "name": "Consulting hour", "sku": "CONS-HR", "unit_price": "120",
        "income_account_id": "2", "taxable": true,
    });
    let (status, created) = w
        .call_json("POST", "/api/products/1/item", A, Some(&body), None)
        .await;
    assert_eq!(status, 201, "{created}");
    let item_id = created["item"]["id"].as_str().unwrap().to_string();
    let item = w
        .quickbooks
        .items(US_REALM)
        .unwrap()
        .into_iter()
        .find(|i| i.id.as_deref() == Some(item_id.as_str()))
        .unwrap();
    assert_eq!(item.sku.as_deref(), Some("CONS-HR"));
    assert_eq!(item.unit_price, Some(dec!(120)));
    assert_eq!(item.taxable, Some(true));
    assert_eq!(item.income_account_ref.unwrap().value, "2");
    // Linked: the next draft of deal 1 has it on the Consulting hour line.
    assert_eq!(created["link"]["item_id"], item_id.as_str());
    let draft = w.draft(A, 1).await;
    let line = draft["form"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["product_id"] == 1)
        .unwrap()
        .clone();
    assert_eq!(line["item_id"], item_id.as_str());
    // The same again: the name is taken, the answer offers that item; nothing new.
    let count = w.quickbooks.items(US_REALM).unwrap().len();
    let (status, taken) = w
        .call_json(
            "POST",
            "/api/products/1/item",
            A,
            Some(&json!({"name": "consulting HOUR", "income_account_id": "1"})),
            None,
        )
        .await;
    assert_eq!(status, 409, "{taken}");
    assert_eq!(taken["current"]["item"]["id"], item_id.as_str());
    assert_eq!(w.quickbooks.items(US_REALM).unwrap().len(), count);
    // Bad input is answered field by field; another company's product is not found.
    let (status, bad) = w
        .call_json(
            "POST",
            "/api/products/1/item",
            A,
            Some(&json!({"name": "a:b", "income_account_id": ""})),
            None,
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    let (status, _) = w
        .call_json("GET", "/api/products/999/new-item", A, None, None)
        .await;
    assert_eq!(status, 404);
}
