use keygate_actix::require_scope;

#[require_scope]
async fn no_parens() -> &'static str {
    "never"
}

#[require_scope()]
async fn empty_parens() -> &'static str {
    "never"
}

fn main() {}
