//! Target `scopes`: [`keygate::Scope::parse`], [`keygate::ScopeSet::parse`],
//! [`keygate::ScopeSet::from_resource_map`], [`keygate::Requirement::parse`] and
//! [`keygate::ScopeRule::parse`].
//!
//! Input: text (invalid UTF-8 replaced). The whole is parsed as a scope, a requirement
//! and a rule; its lines as a scope set; its `resource=action action` lines as a
//! per-resource map.

use std::collections::BTreeMap;

use keygate::{AuthError, Requirement, Scope, ScopeRule, ScopeSet};

/// Parses the input every way and checks: whatever parses prints and parses back to
/// an equal value (a scope keeps its spelling, a requirement prints canonically and
/// that print is a fixed point); JSON round-trips; a set holds each scope it was
/// parsed from and grants it; the scopes a requirement names meet it and nothing
/// less than an empty set fails it; errors never carry more than a short quote.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_scope(&text);
    check_requirement(&text);
    let lines: Vec<&str> = text.lines().collect();
    for line in &lines {
        check_scope(line);
    }
    check_set(&lines);
    check_resource_map(&lines);
    if let [a, b, ..] = lines.as_slice() {
        check_grants(a, b);
    }
}

/// An error quotes at most 64 bytes of the input (each escaped as at most 10
/// characters, `\u{10ffff}`), plus the reason.
fn check_error(err: &keygate::scope::ScopeError) {
    assert!(err.to_string().chars().count() <= 64 * 10 + 200, "{err}");
    assert!(!err.reason().is_empty());
}

fn check_scope(s: &str) {
    let scope = match Scope::parse(s) {
        Ok(scope) => scope,
        Err(e) => {
            check_error(&e);
            assert!(serde_json::from_value::<Scope>(s.into()).is_err());
            return;
        }
    };
    assert_eq!(scope.as_str(), s);
    assert_eq!(scope.to_string(), s);
    assert_eq!(Scope::parse(&scope.to_string()).as_ref(), Ok(&scope));
    let json = serde_json::to_string(&scope).expect("serialises");
    assert_eq!(
        serde_json::from_str::<Scope>(&json).ok().as_ref(),
        Some(&scope)
    );
    // `action:resource` by meaning, `*` for any.
    let meaning = format!(
        "{}:{}",
        scope.action().unwrap_or("*"),
        scope.resource().unwrap_or("*")
    );
    // (A bare action of the longest length has no longer spelling that parses.)
    if meaning.len() <= 128 {
        let again = Scope::parse(&meaning);
        assert_eq!(again.as_ref(), Ok(&scope), "{s:?} means {meaning}");
    }
    assert!(scope.grants(&scope));
    assert!(Scope::parse("*").is_ok_and(|all| all.grants(&scope)));
    if let Some(resource) = scope.resource() {
        let rebuilt = Scope::for_resource(resource, scope.action().unwrap_or("*"));
        assert_eq!(rebuilt.as_ref(), Ok(&scope));
    }
}

fn check_requirement(s: &str) {
    let requirement = match Requirement::parse(s) {
        Ok(r) => r,
        Err(e) => {
            check_error(&e);
            assert!(ScopeRule::parse(s).is_err());
            return;
        }
    };
    let printed = requirement.to_string();
    let again = Requirement::parse(&printed);
    assert_eq!(
        again.as_ref(),
        Ok(&requirement),
        "{s:?} printed as {printed:?}"
    );
    assert_eq!(
        again.map(|r| r.to_string()).as_deref(),
        Ok(printed.as_str())
    );

    let named: ScopeSet = requirement.scopes().into_iter().cloned().collect();
    assert!(named.satisfies(&requirement), "{printed}");
    assert!(!ScopeSet::new().satisfies(&requirement), "{printed}");
    assert!(ScopeSet::parse(["*"]).is_ok_and(|all| all.satisfies(&requirement)));

    let rule = ScopeRule::parse(s);
    assert!(rule.is_ok());
    if let Ok(rule) = rule {
        assert_eq!(rule.check(None, "GET", "/"), Err(AuthError::MissingKey));
    }
}

fn check_set(lines: &[&str]) {
    let set = match ScopeSet::parse(lines) {
        Ok(set) => set,
        Err(e) => {
            check_error(&e);
            assert!(lines.iter().any(|l| Scope::parse(l).is_err()));
            return;
        }
    };
    assert!(set.len() <= lines.len());
    for line in lines {
        let scope = Scope::parse(line);
        assert!(scope.as_ref().is_ok_and(|s| set.grants(s)), "{line:?}");
        // The set holds a scope equal to each line (the first spelling of it).
        assert!(scope.is_ok_and(|s| set.iter().any(|held| *held == s)));
    }
    let strings = set.to_strings();
    assert_eq!(ScopeSet::parse(&strings).as_ref(), Ok(&set));
    for (i, a) in set.iter().enumerate() {
        for b in set.iter().skip(i + 1) {
            assert_ne!(a, b, "a set holds no two equal scopes");
        }
    }
    let json = serde_json::to_string(&set).expect("serialises");
    assert_eq!(
        serde_json::from_str::<ScopeSet>(&json).ok().as_ref(),
        Some(&set)
    );
    assert!(set.covers(&set));
    let mut extended = set.clone();
    extended.extend(&set);
    assert_eq!(extended, set);
}

fn check_resource_map(lines: &[&str]) {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in lines {
        if let Some((resource, actions)) = line.split_once('=') {
            map.entry(resource.to_owned())
                .or_default()
                .extend(actions.split(' ').map(str::to_owned));
        }
    }
    match ScopeSet::from_resource_map(&map) {
        Ok(set) => {
            for (resource, actions) in &map {
                for action in actions {
                    let scope = Scope::parse(&format!("{action}:{resource}"));
                    assert!(scope.is_ok_and(|s| set.grants(&s)), "{action}:{resource}");
                }
            }
        }
        Err(e) => check_error(&e),
    }
}

/// `a` grants `b` exactly when each part of `a` is `*` or the same as `b`'s.
fn check_grants(a: &str, b: &str) {
    let (Ok(a), Ok(b)) = (Scope::parse(a), Scope::parse(b)) else {
        return;
    };
    let part = |mine: Option<&str>, theirs: Option<&str>| mine.is_none() || mine == theirs;
    let expected = part(a.action(), b.action()) && part(a.resource(), b.resource());
    assert_eq!(a.grants(&b), expected, "{a} grants {b}?");
    assert_eq!(a == b, a.grants(&b) && b.grants(&a), "{a} == {b}?");
}
