use keygate_actix::require_scope;

#[require_scope("write:items")]
struct Handler;

fn main() {}
