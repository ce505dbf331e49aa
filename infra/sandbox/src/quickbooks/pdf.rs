//! A minimal, valid PDF 1.4 rendering of an invoice (what `GET /invoice/{id}/pdf` answers):
//! Helvetica text on US Letter pages with a correct cross-reference table.

use std::fmt::Write as _;

use rust_decimal::Decimal;
use shared::wire::quickbooks::model::{Invoice, LineDetailType};

const PAGE_WIDTH: u32 = 612;
const PAGE_HEIGHT: u32 = 792;
const ROWS_PER_PAGE: usize = 38;

/// Escapes text for a PDF string literal in WinAnsiEncoding (Latin-1 characters as octal
/// escapes, `€` mapped, anything else `?`).
fn pdf_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '(' | ')' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            '€' => out.push_str("\\200"),
            '\u{a0}'..='\u{ff}' => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            _ => out.push('?'),
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(3)).collect();
        t.push_str("...");
        t
    }
}

fn money(d: Option<Decimal>) -> String {
    format!("{:.2}", d.unwrap_or_default())
}

/// One text placement.
struct Text {
    x: u32,
    y: u32,
    size: u32,
    bold: bool,
    text: String,
}

fn text(x: u32, y: u32, size: u32, bold: bool, s: impl Into<String>) -> Text {
    Text {
        x,
        y,
        size,
        bold,
        text: s.into(),
    }
}

/// The invoice's pages as lists of text placements.
fn layout(company: &str, inv: &Invoice) -> Vec<Vec<Text>> {
    let currency = inv
        .currency_ref
        .as_ref()
        .map(|c| c.value.clone())
        .unwrap_or_default();
    let doc = inv.doc_number.clone().unwrap_or_default();
    let customer = inv
        .customer_ref
        .as_ref()
        .and_then(|c| c.name.clone())
        .unwrap_or_default();
    let mut rows: Vec<[String; 4]> = Vec::new();
    for line in inv.line.iter().flatten() {
        match line.detail_type {
            LineDetailType::SalesItemLineDetail | LineDetailType::DescriptionOnly => {
                let d = line.sales_item_line_detail.as_ref();
                let desc = line
                    .description
                    .clone()
                    .or_else(|| {
                        d.and_then(|d| d.item_ref.as_ref())
                            .and_then(|r| r.name.clone())
                    })
                    .unwrap_or_default();
                rows.push([
                    truncate(&desc, 48),
                    d.and_then(|d| d.qty)
                        .map(|q| q.normalize().to_string())
                        .unwrap_or_default(),
                    d.and_then(|d| d.unit_price)
                        .map(|p| format!("{:.2}", p))
                        .unwrap_or_default(),
                    money(line.amount),
                ]);
            }
            _ => {}
        }
    }
    let discount: Decimal = inv
        .line
        .iter()
        .flatten()
        .filter(|l| l.detail_type == LineDetailType::DiscountLineDetail)
        .filter_map(|l| l.amount)
        .sum();
    let subtotal = inv
        .line
        .iter()
        .flatten()
        .find(|l| l.detail_type == LineDetailType::SubTotalLineDetail)
        .and_then(|l| l.amount);

    let mut pages: Vec<Vec<Text>> = Vec::new();
    let chunks: Vec<&[[String; 4]]> = if rows.is_empty() {
        vec![&[][..]]
    } else {
        rows.chunks(ROWS_PER_PAGE).collect()
    };
    let page_count = chunks.len();
    for (page_no, chunk) in chunks.into_iter().enumerate() {
        let mut t = Vec::new();
        t.push(text(50, 740, 16, true, company));
        t.push(text(440, 740, 22, true, "INVOICE"));
        t.push(text(50, 712, 11, false, format!("Invoice no. {doc}")));
        t.push(text(
            50,
            697,
            11,
            false,
            format!(
                "Date: {}",
                inv.txn_date.map(|d| d.to_string()).unwrap_or_default()
            ),
        ));
        t.push(text(
            50,
            682,
            11,
            false,
            format!(
                "Due date: {}",
                inv.due_date.map(|d| d.to_string()).unwrap_or_default()
            ),
        ));
        t.push(text(320, 712, 11, true, "Bill to"));
        t.push(text(320, 697, 11, false, truncate(&customer, 45)));
        if let Some(email) = inv.bill_email.as_ref().and_then(|e| e.address.clone()) {
            t.push(text(320, 682, 10, false, truncate(&email, 50)));
        }
        let mut y = 640;
        t.push(text(50, y, 10, true, "Description"));
        t.push(text(350, y, 10, true, "Qty"));
        t.push(text(410, y, 10, true, "Rate"));
        t.push(text(490, y, 10, true, format!("Amount ({currency})")));
        y -= 18;
        for row in chunk {
            t.push(text(50, y, 10, false, row[0].clone()));
            t.push(text(350, y, 10, false, row[1].clone()));
            t.push(text(410, y, 10, false, row[2].clone()));
            t.push(text(490, y, 10, false, row[3].clone()));
            y -= 14;
        }
        if page_no + 1 == page_count {
            y -= 10;
            let mut total_row = |label: &str, value: String, bold: bool| {
                t.push(text(380, y, 11, bold, label.to_string()));
                t.push(text(490, y, 11, bold, value));
                y -= 16;
            };
            total_row("Subtotal", money(subtotal), false);
            if !discount.is_zero() {
                total_row("Discount", format!("-{:.2}", discount), false);
            }
            total_row(
                "Tax",
                money(inv.txn_tax_detail.as_ref().and_then(|t| t.total_tax)),
                false,
            );
            total_row(
                "Total",
                format!("{} {currency}", money(inv.total_amt)),
                true,
            );
            total_row(
                "Balance due",
                format!("{} {currency}", money(inv.balance)),
                true,
            );
            if let Some(memo) = inv.customer_memo.as_ref() {
                t.push(text(50, 80, 10, false, truncate(&memo.value, 90)));
            }
        }
        t.push(text(
            50,
            40,
            8,
            false,
            format!("Page {} of {page_count}", page_no + 1),
        ));
        pages.push(t);
    }
    pages
}

fn content_stream(texts: &[Text]) -> String {
    let mut s = String::new();
    for t in texts {
        let font = if t.bold { "F2" } else { "F1" };
        let _ = writeln!(
            s,
            "BT /{font} {} Tf {} {} Td ({}) Tj ET",
            t.size,
            t.x,
            t.y,
            pdf_text(&t.text)
        );
    }
    s
}

/// Renders the invoice as PDF bytes.
pub fn invoice_pdf(company: &str, inv: &Invoice) -> Vec<u8> {
    let pages = layout(company, inv);
    // Object numbers: 1 catalog, 2 pages, 3 Helvetica, 4 Helvetica-Bold, 5 info, then for each
    // page a page object and its content stream.
    let first_page_obj = 6;
    let mut objects: Vec<String> = Vec::new();
    let kids: Vec<String> = (0..pages.len())
        .map(|i| format!("{} 0 R", first_page_obj + 2 * i))
        .collect();
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    objects.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {} >>",
        kids.join(" "),
        pages.len()
    ));
    objects.push(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
    );
    objects.push(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
            .into(),
    );
    objects.push(format!(
        "<< /Title (Invoice {}) /Producer (sandbox QuickBooks simulator) >>",
        pdf_text(inv.doc_number.as_deref().unwrap_or_default())
    ));
    for (i, page) in pages.iter().enumerate() {
        let content_obj = first_page_obj + 2 * i + 1;
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {content_obj} 0 R >>"
        ));
        let stream = content_stream(page);
        objects.push(format!(
            "<< /Length {} >>\nstream\n{stream}endstream",
            stream.len()
        ));
    }

    let mut out: Vec<u8> = Vec::new();
    out.extend_from_slice(b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n");
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref_at = out.len();
    let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for off in offsets {
        let _ = writeln!(xref, "{off:010} 00000 n ");
    }
    let _ = write!(
        xref,
        "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(xref.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text() {
        assert_eq!(pdf_text(r"a(b)\c"), r"a\(b\)\\c");
        assert_eq!(pdf_text("Café €5 ✓"), r"Caf\351 \2005 ?");
    }

    #[test]
    fn xref_offsets_point_at_objects() {
        let inv = Invoice {
            doc_number: Some("1001".into()),
            ..Invoice::default()
        };
        let pdf = invoice_pdf("Co (test)", &inv);
        assert!(pdf.starts_with(b"%PDF-1.4"));
        let pos = pdf.windows(10).rposition(|w| w == b"startxref\n").unwrap();
        let tail = std::str::from_utf8(&pdf[pos + 10..]).unwrap();
        let startxref: usize = tail.lines().next().unwrap().parse().unwrap();
        let xref = std::str::from_utf8(&pdf[startxref..]).unwrap();
        assert!(xref.starts_with("xref\n"));
        let entries: Vec<&str> = xref
            .lines()
            .skip(3)
            .take_while(|l| l.ends_with(" n "))
            .collect();
        assert_eq!(entries.len(), 7);
        for (i, e) in entries.iter().enumerate() {
            let off: usize = e[..10].parse().unwrap();
            assert!(pdf[off..].starts_with(format!("{} 0 obj", i + 1).as_bytes()));
        }
    }
}
