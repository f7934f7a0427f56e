//! Issue 33 (policy half): `@approval("required")` permits allow only once approved.

use std::sync::{Arc, Mutex};

use rex_auth::{
    Action, ApprovalAnswer, ApprovalDecision, ApprovalRequest, Approver, AuthError, Authorizer,
    MemoryAuditSink, Policies, Principal, RequestContext, Resource,
};

const POLICY: &str = r#"
@id("restart-needs-ok") @approval("required") @approvers("oncall")
permit(principal, action == file_system::Action::"delete", resource in file_system::Dir::"/srv");
@id("tmp-free")
permit(principal, action == file_system::Action::"delete", resource in file_system::Dir::"/srv/tmp");
@id("no-keep")
forbid(principal, action, resource == file_system::File::"/srv/keep");
"#;

struct Fixed(ApprovalDecision, Mutex<Vec<String>>);

impl Approver for Fixed {
    fn approve(&self, r: &ApprovalRequest<'_>) -> ApprovalAnswer {
        self.1
            .lock()
            .unwrap()
            .push(format!("{} {}", r.resource, r.approvers.join(",")));
        ApprovalAnswer {
            decision: self.0.clone(),
            approver: Some("alice".into()),
            waited_ms: 1,
            channel: "command",
        }
    }
}

fn auth(approver: Option<Arc<Fixed>>, sink: Arc<MemoryAuditSink>) -> Authorizer {
    let mut b = Authorizer::builder()
        .principal(Principal::user("agent").unwrap())
        .policies(Policies::parse("p.cedar", POLICY).unwrap())
        .audit_sink(sink);
    if let Some(a) = approver {
        b = b.approver(a);
    }
    b.build().unwrap()
}

fn delete(a: &Authorizer, path: &str) -> Result<(), AuthError> {
    a.authorize(
        Action::FsDelete,
        &Resource::file(path).unwrap(),
        &RequestContext::None,
    )
}

#[test]
fn without_an_approver_the_request_is_denied_with_the_reason() {
    let sink = Arc::new(MemoryAuditSink::new());
    let a = auth(None, sink.clone());
    let Err(AuthError::Denied(d)) = delete(&a, "/srv/data") else {
        panic!("not denied")
    };
    assert_eq!(d.reason.as_deref(), Some("approval required"));
    assert_eq!(d.reasons, ["restart-needs-ok"]);
    let rec = sink.take().pop().unwrap();
    assert_eq!(rec.approval, Some(("not asked", None)));
}

#[test]
fn approved_allows_declined_and_timed_out_deny_each_request_asks_again() {
    for (decision, ok, reason) in [
        (ApprovalDecision::Approved, true, None),
        (ApprovalDecision::Declined, false, Some("approval declined")),
        (
            ApprovalDecision::TimedOut,
            false,
            Some("approval timed out"),
        ),
        (
            ApprovalDecision::Failed("x".into()),
            false,
            Some("approval required"),
        ),
    ] {
        let sink = Arc::new(MemoryAuditSink::new());
        let approver = Arc::new(Fixed(decision, Mutex::new(Vec::new())));
        let a = auth(Some(approver.clone()), sink.clone());
        for _ in 0..2 {
            match delete(&a, "/srv/data") {
                Ok(()) => assert!(ok),
                Err(AuthError::Denied(d)) => {
                    assert!(!ok);
                    assert_eq!(d.reason.as_deref(), reason);
                }
                Err(e) => panic!("{e}"),
            }
        }
        // Never cached: asked once per request, with the approvers' text.
        let asked = approver.1.lock().unwrap().clone();
        assert_eq!(asked.len(), 2);
        assert!(asked[0].ends_with(" oncall"), "{asked:?}");
        assert_eq!(
            sink.take()[0].approval.as_ref().unwrap().1.as_deref(),
            Some("alice")
        );
    }
}

#[test]
fn a_plain_permit_makes_approval_unnecessary_and_a_forbid_still_wins() {
    let approver = Arc::new(Fixed(ApprovalDecision::Approved, Mutex::new(Vec::new())));
    let a = auth(Some(approver.clone()), Arc::new(MemoryAuditSink::new()));
    assert!(delete(&a, "/srv/tmp/x").is_ok());
    let Err(AuthError::Denied(d)) = delete(&a, "/srv/keep") else {
        panic!("the forbid must win")
    };
    assert_eq!(d.reason, None);
    assert!(approver.1.lock().unwrap().is_empty(), "nobody was asked");
}

#[test]
fn misused_approval_annotations_are_refused() {
    for text in [
        r#"@approval("maybe") permit(principal, action, resource);"#,
        r#"@approval("required") forbid(principal, action, resource);"#,
        r#"@approvers("oncall") permit(principal, action, resource);"#,
    ] {
        assert!(Policies::parse("p.cedar", text).is_err(), "{text}");
    }
}
