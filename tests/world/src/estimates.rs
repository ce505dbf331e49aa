//! Estimates on a deal, through the app's routes: the deals the estimate suites start from, a
//! created estimate, the deal's estimates as the panel lists them.

use serde_json::Value;

use crate::world::World;
use crate::{COMPANY_A, COMPANY_B, GB_REALM, US_REALM, USER_A_ADMIN, USER_B_ADMIN, Who};

const A: Who = (COMPANY_A, USER_A_ADMIN);
const B: Who = (COMPANY_B, USER_B_ADMIN);

impl World {
    /// Company B (US realm) with deal 1 ready: customer 3, items linked; its draft's form.
    pub async fn us_deal_ready(&self) -> Value {
        self.connect(COMPANY_B, USER_B_ADMIN, US_REALM).await;
        self.link_customer(B, 1, "3").await;
        self.link_item(B, 1, "4").await;
        self.link_item(B, 2, "2").await;
        self.ready_draft(B, 1).await["form"].clone()
    }

    /// Company A (GB realm, VAT) with deal 2 ready; its draft's form.
    pub async fn gb_deal_ready(&self) -> Value {
        self.connect(COMPANY_A, USER_A_ADMIN, GB_REALM).await;
        self.link_customer(A, 2, "1").await;
        self.link_item(A, 4, "3").await;
        self.link_item(A, 1, "2").await;
        self.ready_draft(A, 2).await["form"].clone()
    }

    /// The estimate `who` creates from `form` on `deal` under `key` (201 asserted): the answer.
    pub async fn create_estimate(&self, who: Who, deal: u64, form: &Value, key: &str) -> Value {
        let path = format!("/api/deals/{deal}/estimates");
        let (status, created) = self
            .call_json("POST", &path, who, Some(form), Some(key))
            .await;
        assert_eq!(status, 201, "{created}");
        created
    }

    /// The deal's estimates as `who` reads them (`GET …/estimates`, 200 asserted).
    pub async fn deal_estimates(&self, who: Who, deal: u64) -> Vec<Value> {
        let path = format!("/api/deals/{deal}/estimates");
        let (status, list) = self.call_json("GET", &path, who, None, None).await;
        assert_eq!(status, 200, "{list}");
        list["estimates"].as_array().cloned().unwrap_or_default()
    }
}
