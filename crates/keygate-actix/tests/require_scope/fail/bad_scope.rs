use keygate_actix::require_scope;

#[require_scope("write items")]
async fn spaces() -> &'static str {
    "never"
}

#[require_scope(any("read:scans", "Admin!", all("ok:fine", "")))]
async fn nested_mistakes() -> &'static str {
    "never"
}

#[require_scope("any(read:scans")]
async fn unclosed_text_form() -> &'static str {
    "never"
}

fn main() {}
