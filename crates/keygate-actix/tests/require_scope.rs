//! UI tests of `#[require_scope]`: what compiles, and the errors of what does not.

#[test]
fn require_scope_ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/require_scope/pass/*.rs");
    t.compile_fail("tests/require_scope/fail/*.rs");
}
