//! The query endpoint over HTTP: escaping, operators, pagination edges and 4001 rejections; the
//! app-side builder's output is accepted by the simulator's parser.

mod quickbooks_support;

use quickbooks_support::*;
use reqwest::StatusCode;
use sandbox::quickbooks::US_REALM;
use serde_json::{Value, json};
use shared::wire::quickbooks::model::Customer;
use shared::wire::quickbooks::query::Query;

fn names(body: &Value, entity: &str) -> Vec<String> {
    body["QueryResponse"][entity]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    c["DisplayName"]
                        .as_str()
                        .or(c["Name"].as_str())
                        .unwrap_or_default()
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn filters_escaping_and_operators() {
    let qbo = Qbo::start().await;
    let token = qbo.sim.issue_tokens(US_REALM).unwrap().access_token;

    let (status, body) = qbo
        .query(
            &token,
            US_REALM,
            r"select * from Customer where DisplayName = 'O\'Brien & Sons'",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(names(&body, "Customer"), ["O'Brien & Sons"]);

    // The app-side builder's escaping round-trips through the simulator's parser.
    let tricky = r"50% off \ sale 'today'";
    qbo.sim
        .create_customer(
            US_REALM,
            &Customer {
                display_name: Some(tricky.into()),
                ..Customer::default()
            },
        )
        .unwrap();
    for built in [
        Query::select("Customer")
            .eq("DisplayName", "O'Brien & Sons")
            .build(),
        Query::select("Customer").eq("DisplayName", tricky).build(),
        Query::select("Customer")
            .starts_with("DisplayName", r"50% off \ sale")
            .build(),
    ] {
        let (status, body) = qbo.query(&token, US_REALM, &built).await;
        assert_eq!(status, StatusCode::OK, "{built}: {body}");
        assert_eq!(names(&body, "Customer").len(), 1, "{built}: {body}");
    }
    let (_, body) = qbo
        .query(
            &token,
            US_REALM,
            &Query::select("Customer")
                .eq("DisplayName", "Nobody")
                .build(),
        )
        .await;
    assert_eq!(
        body["QueryResponse"],
        json!({}),
        "no match: the entity key is absent"
    );

    let (_, body) = qbo
        .query(
            &token,
            US_REALM,
            "select * from Customer where DisplayName LIKE 'Acme%' ORDERBY DisplayName DESC",
        )
        .await;
    assert_eq!(names(&body, "Customer"), ["Acme GmbH (EUR)", "Acme Corp"]);
    let (_, body) = qbo
        .query(
            &token,
            US_REALM,
            "SELECT * FROM Customer WHERE Id IN ('1','2')",
        )
        .await;
    assert_eq!(
        names(&body, "Customer"),
        ["Amy's Bird Sanctuary", "O'Brien & Sons"]
    );
    let (_, body) = qbo
        .query(&token, US_REALM, "select * from Item where Active = false")
        .await;
    assert_eq!(names(&body, "Item"), ["Legacy Support"]);
    let (_, body) = qbo
        .query(&token, US_REALM, "select * from Term where Name = 'Net 15'")
        .await;
    assert_eq!(body["QueryResponse"]["Term"][0]["DueDays"], 15);
    let (_, body) = qbo
        .query(&token, US_REALM, "select count(*) from Customer")
        .await;
    assert_eq!(body["QueryResponse"], json!({"totalCount": 5}));
    let (_, body) = qbo
        .query(
            &token,
            US_REALM,
            "select * from TaxRate where Name = 'California'",
        )
        .await;
    assert_eq!(body["QueryResponse"]["TaxRate"][0]["RateValue"], json!(8.0));

    // POST with an application/text body.
    let response = qbo
        .http
        .post(qbo.url(&format!("/v3/company/{US_REALM}/query?minorversion=75")))
        .bearer_auth(&token)
        .header("content-type", "application/text")
        .body("select * from Customer where DisplayName LIKE '%sons'")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(names(&body, "Customer"), ["O'Brien & Sons"]);
}

#[tokio::test]
async fn pagination_edges() {
    let qbo = Qbo::start().await;
    let token = qbo.sim.issue_tokens(US_REALM).unwrap().access_token;
    for i in 0..12 {
        qbo.sim
            .create_customer(
                US_REALM,
                &Customer {
                    display_name: Some(format!("Page Customer {i:02}")),
                    ..Customer::default()
                },
            )
            .unwrap();
    }
    let page = |start: u32, max: u32| {
        format!(
            "select * from Customer where DisplayName LIKE 'Page%' ORDERBY DisplayName STARTPOSITION {start} MAXRESULTS {max}"
        )
    };
    let (_, body) = qbo.query(&token, US_REALM, &page(1, 5)).await;
    assert_eq!(names(&body, "Customer").len(), 5);
    assert_eq!(body["QueryResponse"]["startPosition"], 1);
    assert_eq!(body["QueryResponse"]["maxResults"], 5);
    let (_, body) = qbo.query(&token, US_REALM, &page(11, 5)).await;
    assert_eq!(
        names(&body, "Customer"),
        ["Page Customer 10", "Page Customer 11"]
    );
    assert_eq!(body["QueryResponse"]["startPosition"], 11);
    assert_eq!(body["QueryResponse"]["maxResults"], 2);
    let (status, body) = qbo.query(&token, US_REALM, &page(13, 5)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["QueryResponse"],
        json!({}),
        "beyond the end: empty, no entity key"
    );
    let (status, body) = qbo
        .query(&token, US_REALM, "select * from Customer MAXRESULTS 1000")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&body, "Customer").len(), 16);
    let (status, body) = qbo
        .query(&token, US_REALM, "select * from Customer MAXRESULTS 1001")
        .await;
    assert_eq!(
        (status, fault_code(&body)),
        (StatusCode::BAD_REQUEST, "4001")
    );
    let (status, body) = qbo
        .query(&token, US_REALM, "select * from Customer STARTPOSITION 0")
        .await;
    assert_eq!(
        (status, fault_code(&body)),
        (StatusCode::BAD_REQUEST, "4001")
    );
    // Default page size is 100.
    let (_, body) = qbo.query(&token, US_REALM, "select * from Customer").await;
    assert_eq!(body["QueryResponse"]["maxResults"], 16);
}

#[tokio::test]
async fn unsupported_statements_are_4001() {
    let qbo = Qbo::start().await;
    let token = qbo.sim.issue_tokens(US_REALM).unwrap().access_token;
    for bad in [
        "select * from Customer where Id = '1' OR Id = '2'",
        "select * from Customer, Invoice",
        "select * from Customer c join Invoice i on c.Id = i.CustomerRef",
        "select * from Vendor",
        "select DisplayName from Customer",
        "select * from Customer where Notes = 'x'",
        "select * from Customer group by Active",
        "select * from Customer where DisplayName = 'unterminated",
        "select * from Invoice where TotalAmt != '0'",
    ] {
        let (status, body) = qbo.query(&token, US_REALM, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(fault_code(&body), "4001", "{bad}: {body}");
        assert_eq!(body["Fault"]["type"], "ValidationFault");
    }
}

/// `Id IN (…)` with the default order is written straight from the entities (the sync's and the
/// refresh's query); the same statement through the general path (an `ORDERBY Id` forces it)
/// answers exactly the same rows, keys and page fields, for every page.
#[tokio::test]
async fn id_queries_answer_the_same_on_both_paths() {
    let qbo = Qbo::start().await;
    let token = qbo.sim.issue_tokens(US_REALM).unwrap().access_token;
    let mut ids: Vec<String> = Vec::new();
    for i in 0..7 {
        let customer = qbo
            .sim
            .create_customer(
                US_REALM,
                &Customer {
                    display_name: Some(format!("Id Path Customer {i}")),
                    ..Customer::default()
                },
            )
            .unwrap();
        ids.push(customer.id.clone().unwrap());
    }
    let quoted: Vec<String> = ids
        .iter()
        .chain(["999999".to_string()].iter())
        .map(|id| format!("'{id}'"))
        .collect();
    let list = quoted.join(", ");
    for (start, max) in [(1, 1000), (1, 3), (3, 3), (7, 5), (9, 5)] {
        let fast = format!(
            "select * from Customer where Id IN ({list}) STARTPOSITION {start} MAXRESULTS {max}"
        );
        let general = format!(
            "select * from Customer where Id IN ({list}) ORDERBY Id STARTPOSITION {start} MAXRESULTS {max}"
        );
        let (s1, a) = qbo.query(&token, US_REALM, &fast).await;
        let (s2, b) = qbo.query(&token, US_REALM, &general).await;
        assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
        assert_eq!(a["QueryResponse"], b["QueryResponse"], "page {start}/{max}");
        assert!(a["time"].is_string());
    }
    let (_, one) = qbo
        .query(
            &token,
            US_REALM,
            &format!("select * from Customer where Id = '{}'", ids[2]),
        )
        .await;
    assert_eq!(names(&one, "Customer"), ["Id Path Customer 2"]);
    assert_eq!(one["QueryResponse"]["totalCount"], 1);
}
