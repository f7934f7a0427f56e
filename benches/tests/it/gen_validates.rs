//! The generated benchmark policy sets validate (a benchmark of an empty set measures nothing).
#![allow(clippy::unwrap_used, clippy::panic)]

#[test]
fn generated_policy_sets_validate() {
    for (n, conditional) in [10usize, 100, 1000]
        .into_iter()
        .flat_map(|n| [(n, false), (n, true)])
    {
        let text = rex_benches::policy_set_with(n, conditional);
        let set = rex_auth::Policies::parse("bench.cedar", &text)
            .unwrap_or_else(|e| panic!("n={n}: {}", e.render()));
        assert_eq!(set.len(), n);
    }
}
