//! Release builds link the code a cold start runs first (`infra/hot-text`).
fn main() {
    hot_text::link(&["quickbooks-webhook"]);
}
