//! The draft's starting point: lines, discounts, tax mode, tax codes and due date from the deal.

use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;

use super::{CompanySetup, DealDiscountLine, Discount, FormLine, TaxMode};
use crate::DueDateRule;
use pipedrive_wire::model::{Deal, DealDiscount, DealProduct, DiscountType};

impl Discount {
    fn from_pipedrive(kind: Option<DiscountType>, value: Option<Decimal>) -> Option<Self> {
        let value = value.filter(|v| !v.is_zero())?;
        Some(match kind.unwrap_or(DiscountType::Percentage) {
            DiscountType::Percentage => Discount::Percentage(value),
            DiscountType::Amount => Discount::Amount(value),
        })
    }
}

/// Lines from the deal's enabled products; a deal without products gives one line from its
/// value. Items and tax codes are filled in by the caller.
pub fn lines_from_deal(deal: &Deal, products: &[DealProduct]) -> Vec<FormLine> {
    let mut enabled: Vec<&DealProduct> = products.iter().filter(|p| p.is_enabled).collect();
    enabled.sort_by_key(|p| (p.order_nr.unwrap_or(i64::MAX), p.id));
    if enabled.is_empty() {
        let title = deal.title.trim();
        return vec![FormLine {
            product_id: None,
            deal_product_id: None,
            name: if title.is_empty() {
                format!("Deal {}", deal.id)
            } else {
                title.to_string()
            },
            description: None,
            quantity: Decimal::ONE,
            unit_price: deal.value.unwrap_or(Decimal::ZERO),
            discount: None,
            tax_percent: None,
            item_id: None,
            item_name: None,
            tax_code: None,
        }];
    }
    enabled
        .into_iter()
        .map(|p| FormLine {
            product_id: p.product_id,
            deal_product_id: Some(p.id),
            name: p.name.trim().to_string(),
            description: p
                .comments
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            quantity: p.quantity.unwrap_or(Decimal::ONE),
            unit_price: p.item_price.unwrap_or(Decimal::ZERO),
            discount: Discount::from_pipedrive(p.discount_type, p.discount),
            tax_percent: p.tax,
            item_id: None,
            item_name: None,
            tax_code: None,
        })
        .collect()
}

/// The deal's tax method (Pipedrive applies one method to all products of a deal); `None` when
/// the deal has no enabled products.
pub fn tax_mode_of(products: &[DealProduct]) -> TaxMode {
    products
        .iter()
        .filter(|p| p.is_enabled)
        .find_map(|p| p.tax_method)
        .map(TaxMode::from)
        .unwrap_or(TaxMode::None)
}

/// Deal-level discounts for the form.
pub fn discounts_from_deal(discounts: &[DealDiscount]) -> Vec<DealDiscountLine> {
    discounts
        .iter()
        .filter(|d| !d.amount.is_zero())
        .map(|d| DealDiscountLine {
            description: d
                .description
                .clone()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| "Discount".into()),
            discount: match d.discount_type {
                DiscountType::Percentage => Discount::Percentage(d.amount),
                DiscountType::Amount => Discount::Amount(d.amount),
            },
        })
        .collect()
}

/// The default tax code of a line: US → `TAX` when Pipedrive taxes it, else `NON`; elsewhere the
/// code whose rate equals Pipedrive's percentage (`None` when no code matches: the rep chooses).
pub fn default_tax_code(setup: &CompanySetup, mode: TaxMode, line: &FormLine) -> Option<String> {
    let percent = line.tax_percent.unwrap_or(Decimal::ZERO);
    if setup.us {
        return Some(
            if mode != TaxMode::None && percent > Decimal::ZERO {
                "TAX"
            } else {
                "NON"
            }
            .to_string(),
        );
    }
    let percent = if mode == TaxMode::None {
        Decimal::ZERO
    } else {
        percent
    };
    setup.code_for_rate(percent).map(|c| c.id.clone())
}

/// The due date the settings' rule gives (`None`: QuickBooks uses the customer's terms).
pub fn due_date(rule: DueDateRule, issue: NaiveDate) -> Option<NaiveDate> {
    match rule {
        DueDateRule::DaysAfterIssue { days } => issue.checked_add_days(Days::new(u64::from(days))),
        DueDateRule::CustomerTerms => None,
    }
}
