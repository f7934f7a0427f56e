#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Random source text never panics the engine (every outcome is a value or a typed error).

use proptest::prelude::*;
use rex_core::{Limits, RexEngine, ScriptArguments};

fn engine() -> RexEngine {
    RexEngine::builder()
        .limits(Limits {
            max_operations: 20_000,
            ..Limits::default()
        })
        .build()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in ".{0,200}") {
        let out = engine().run(&src, &ScriptArguments::new());
        prop_assert!(out.is_success() || out.error.is_some());
        if let Some(rex_core::RunError::Internal { message }) = &out.error {
            prop_assert!(false, "internal error for {src:?}: {message}");
        }
    }

    #[test]
    fn token_soup_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("let"), Just("x"), Just("="), Just("1"), Just(";"), Just("("), Just(")"),
                Just("{"), Just("}"), Just("["), Just("]"), Just("fn"), Just("f"), Just("import"),
                Just("\"a\""), Just("eval"), Just("print"), Just("debug"), Just("loop"),
                Just("+"), Just("."), Just("#{"), Just(","), Just("try"), Just("catch"),
                Just("throw"), Just("Fn"), Just("call"), Just("return"), Just("while"),
                Just("true"), Just("::"), Just("as"), Just("`"), Just("${"), Just("|"),
            ],
            0..60,
        )
    ) {
        let src = parts.join(" ");
        let out = engine().run(&src, &ScriptArguments::new());
        if let Some(rex_core::RunError::Internal { message }) = &out.error {
            prop_assert!(false, "internal error for {src:?}: {message}");
        }
    }
}
