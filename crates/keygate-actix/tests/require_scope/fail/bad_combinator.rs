use keygate_actix::require_scope;

#[require_scope(some("read:scans"), "admin")]
async fn unknown_combinator_and_two_requirements() -> &'static str {
    "never"
}

#[require_scope(any())]
async fn empty_any() -> &'static str {
    "never"
}

#[require_scope(write)]
async fn unquoted() -> &'static str {
    "never"
}

#[require_scope(42)]
async fn not_a_string() -> &'static str {
    "never"
}

fn main() {}
