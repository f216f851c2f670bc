//! Deciding a request, and explaining the decision.

use super::explain::{ConditionExplanation, Explanation, PolicyExplanation, StatementExplanation};
use super::pattern::{split_arn, Match};
use super::{
    Decision, Effect, Evaluation, Policy, PolicyRef, PolicyScope, Principal, PrincipalSpec, Request, Statement,
    StatementId,
};

type Arn<'a> = Option<[&'a str; 6]>;

/// Decides `request`: an applicable Deny in any policy denies explicitly; else the request is
/// allowed when an identity policy allows it and the session policy, if any, allows it too; else
/// it is denied implicitly. The order of policies and statements does not change the decision.
pub fn evaluate(identity: &[PolicyRef<'_>], session: Option<PolicyRef<'_>>, request: &Request) -> Evaluation {
    let arn = split_arn(&request.resource);
    let mut allow: Option<StatementId> = None;
    for (pi, p) in identity.iter().enumerate() {
        for (si, st) in p.policy.statements.iter().enumerate() {
            // Once something allows, only a Deny can change the outcome.
            if st.effect == Effect::Allow && allow.is_some() {
                continue;
            }
            if st.applies(request, &arn) {
                let id = StatementId { scope: PolicyScope::Identity, policy: pi, statement: si };
                match st.effect {
                    Effect::Deny => return Evaluation { decision: Decision::ExplicitDeny, statement: Some(id) },
                    Effect::Allow => allow = Some(id),
                }
            }
        }
    }
    let mut session_allows = true;
    if let Some(s) = session {
        session_allows = false;
        for (si, st) in s.policy.statements.iter().enumerate() {
            if st.effect == Effect::Allow && session_allows {
                continue;
            }
            if st.applies(request, &arn) {
                match st.effect {
                    Effect::Deny => {
                        let id = StatementId { scope: PolicyScope::Session, policy: 0, statement: si };
                        return Evaluation { decision: Decision::ExplicitDeny, statement: Some(id) };
                    }
                    Effect::Allow => session_allows = true,
                }
            }
        }
    }
    match allow {
        Some(id) if session_allows => Evaluation { decision: Decision::Allow, statement: Some(id) },
        _ => Evaluation { decision: Decision::ImplicitDeny, statement: None },
    }
}

impl Statement {
    fn action_hit(&self, request: &Request) -> Option<usize> {
        self.actions.iter().position(|g| g.matches(&request.action, &request.context) == Match::Yes)
    }

    fn action_applies(&self, request: &Request) -> bool {
        self.action_hit(request).is_some() != self.not_action
    }

    /// `Yes`: the element lets the statement apply; `No`: it does not; `Unresolved`: it does not,
    /// because a policy variable has no value.
    fn resource_outcome(&self, request: &Request, arn: &Arn<'_>) -> (Match, Option<usize>) {
        let Some(patterns) = &self.resources else { return (Match::Yes, None) };
        let mut unresolved = None;
        for (i, p) in patterns.iter().enumerate() {
            match p.matches(arn.as_ref(), &request.context) {
                Match::Yes if self.not_resource => return (Match::No, Some(i)),
                Match::Yes => return (Match::Yes, Some(i)),
                Match::Unresolved if unresolved.is_none() => unresolved = Some(i),
                _ => {}
            }
        }
        match (self.not_resource, unresolved) {
            // An unresolved NotResource entry cannot tell whether the resource is excluded.
            (true, Some(i)) => (Match::Unresolved, Some(i)),
            (true, None) => (Match::Yes, None),
            (false, Some(i)) => (Match::Unresolved, Some(i)),
            (false, None) => (Match::No, None),
        }
    }

    fn principal_applies(&self, request: &Request) -> bool {
        match &self.principal {
            None => true,
            Some((spec, negated)) => spec.matches(request.principal.as_ref()) != *negated,
        }
    }

    pub(super) fn applies(&self, request: &Request, arn: &Arn<'_>) -> bool {
        self.action_applies(request)
            && self.resource_outcome(request, arn).0 == Match::Yes
            && self.principal_applies(request)
            && self.conditions.iter().all(|c| c.holds(&request.context))
    }

    fn label(&self, index: usize) -> String {
        match &self.sid {
            Some(sid) => format!("\"{sid}\""),
            None => format!("Statement[{index}]"),
        }
    }

    fn describe(&self, index: usize, request: &Request, arn: &Arn<'_>) -> StatementExplanation {
        let applies = self.applies(request, arn);
        let mut head = format!("statement {}", self.label(index));
        if self.effect == Effect::Deny {
            head.push_str(" (Deny)");
        }
        let mut matched: Vec<String> = Vec::new();
        let done = |text: String, conditions: Vec<ConditionExplanation>| StatementExplanation {
            index,
            sid: self.sid.clone(),
            effect: self.effect,
            applies,
            text,
            conditions,
        };
        let but = |matched: &[String], failure: String| {
            if matched.is_empty() {
                format!("{head} {failure}")
            } else {
                format!("{head} matches {} but {failure}", matched.join(" and "))
            }
        };

        if let Some((spec, negated)) = &self.principal {
            let who = request.principal.as_ref().map(Principal::to_string).unwrap_or_else(|| "no principal".into());
            if !self.principal_applies(request) {
                let failure = if *negated {
                    format!("does not apply to principal {who}: its NotPrincipal {} names it", spec.describe())
                } else {
                    format!("does not match principal {who}: its Principal is {}", spec.describe())
                };
                return done(format!("{head} {failure}"), Vec::new());
            }
            matched.push(if *negated {
                format!("principal {who} (not in its NotPrincipal)")
            } else {
                format!("principal {who}")
            });
        }

        let action = &request.action;
        match (self.action_hit(request), self.not_action) {
            (None, false) => {
                let failure = format!("does not match action {action}: its Action is {}", list(&self.action_text));
                return done(but(&matched, failure), Vec::new());
            }
            (Some(i), true) => {
                let failure =
                    format!("does not apply to action {action}: its NotAction {} matches it", self.action_text[i]);
                return done(but(&matched, failure), Vec::new());
            }
            (None, true) => matched.push(format!("action {action} (not in its NotAction)")),
            (Some(_), false) => matched.push(format!("action {action}")),
        }

        let resource = &request.resource;
        if let Some(patterns) = &self.resources {
            let (outcome, which) = self.resource_outcome(request, arn);
            let unresolved_note = |i: usize| match patterns[i].unresolved(&request.context) {
                Some(v) => format!(" ({} has no value in the request)", v.raw),
                None => String::new(),
            };
            let failure = match (outcome, self.not_resource) {
                (Match::Yes, false) => {
                    matched.push(format!("resource {resource}"));
                    None
                }
                (Match::Yes, true) => {
                    matched.push(format!("resource {resource} (not in its NotResource)"));
                    None
                }
                (Match::No, false) => {
                    let not_arn = if arn.is_none() { " (which is not an ARN)" } else { "" };
                    Some(format!("its Resource {} does not match {resource}{not_arn}", list(&self.resource_text)))
                }
                (Match::Unresolved, false) => Some(format!(
                    "its Resource {} does not match {resource}{}",
                    list(&self.resource_text),
                    which.map(unresolved_note).unwrap_or_default()
                )),
                (Match::No, true) => {
                    let i = which.unwrap_or(0);
                    Some(format!("its NotResource {} matches {resource}", self.resource_text[i]))
                }
                (Match::Unresolved, true) => {
                    let i = which.unwrap_or(0);
                    Some(format!(
                        "its NotResource {} cannot be decided for {resource}{}",
                        self.resource_text[i],
                        unresolved_note(i)
                    ))
                }
            };
            if let Some(failure) = failure {
                return done(but(&matched, failure), Vec::new());
            }
        }

        let conditions: Vec<ConditionExplanation> = self
            .conditions
            .iter()
            .map(|c| {
                let (holds, text) = c.describe(&request.context);
                ConditionExplanation { operator: c.operator.to_string(), key: c.key.to_string(), holds, text }
            })
            .collect();
        let failed: Vec<&str> = conditions.iter().filter(|c| !c.holds).map(|c| c.text.as_str()).collect();
        let text = if failed.is_empty() {
            let mut parts = matched;
            parts.extend(conditions.iter().map(|c| c.text.clone()));
            format!("{head} matches: {}", parts.join(", "))
        } else {
            format!("{head} matches {} but {}", matched.join(" and "), failed.join("; "))
        };
        done(text, conditions)
    }
}

fn list(items: &[String]) -> String {
    if items.len() == 1 {
        items[0].clone()
    } else {
        format!("[{}]", items.join(", "))
    }
}

impl PrincipalSpec {
    fn matches(&self, principal: Option<&Principal>) -> bool {
        let PrincipalSpec::Some { aws, federated, service, canonical_user } = self else { return true };
        match principal {
            None | Some(Principal::Anonymous) => false,
            Some(Principal::Aws(arn)) => aws.iter().any(|a| aws_principal_matches(a, arn)),
            Some(Principal::Federated(f)) => federated.iter().any(|x| x == f),
            Some(Principal::Service(s)) => service.iter().any(|x| x == s),
            Some(Principal::CanonicalUser(c)) => canonical_user.iter().any(|x| x == c),
        }
    }

    fn describe(&self) -> String {
        let PrincipalSpec::Some { aws, federated, service, canonical_user } = self else { return "*".into() };
        let mut parts = Vec::new();
        for (kind, values) in
            [("AWS", aws), ("Federated", federated), ("Service", service), ("CanonicalUser", canonical_user)]
        {
            parts.extend(values.iter().map(|v| format!("{kind}:{v}")));
        }
        list(&parts)
    }
}

/// An `AWS` principal entry: an exact ARN, or an account (`123456789012` or its
/// `arn:aws:iam::123456789012:root`), which stands for every principal of that account.
fn aws_principal_matches(entry: &str, principal: &str) -> bool {
    if entry == principal {
        return true;
    }
    let account = if entry.len() == 12 && entry.bytes().all(|b| b.is_ascii_digit()) {
        Some(entry)
    } else {
        match split_arn(entry) {
            Some([_, _, "iam", "", account, "root"]) => Some(account),
            _ => None,
        }
    };
    match account {
        Some(account) => principal == account || split_arn(principal).is_some_and(|p| p[4] == account),
        None => false,
    }
}

/// [`evaluate`], with every statement's part in the decision.
pub fn explain(identity: &[PolicyRef<'_>], session: Option<PolicyRef<'_>>, request: &Request) -> Explanation {
    let evaluation = evaluate(identity, session, request);
    let arn = split_arn(&request.resource);
    let describe_policy = |p: &PolicyRef<'_>, scope| PolicyExplanation {
        name: p.name.to_string(),
        scope,
        statements: p.policy.statements.iter().enumerate().map(|(i, st)| st.describe(i, request, &arn)).collect(),
    };
    let mut policies: Vec<PolicyExplanation> =
        identity.iter().map(|p| describe_policy(p, PolicyScope::Identity)).collect();
    if let Some(s) = &session {
        policies.push(describe_policy(s, PolicyScope::Session));
    }

    let name_of = |id: StatementId| -> (&Policy, &str) {
        match id.scope {
            PolicyScope::Identity => (identity[id.policy].policy, identity[id.policy].name),
            PolicyScope::Session => {
                let s = session.expect("a session statement implies a session policy");
                (s.policy, s.name)
            }
        }
    };
    let statement_of = |id: StatementId| {
        let (policy, name) = name_of(id);
        let label = policy.statements[id.statement].label(id.statement);
        let of = match (id.scope, name.is_empty()) {
            (PolicyScope::Identity, true) => String::new(),
            (PolicyScope::Identity, false) => format!(" of policy \"{name}\""),
            (PolicyScope::Session, true) => " of the session policy".into(),
            (PolicyScope::Session, false) => format!(" of session policy \"{name}\""),
        };
        format!("statement {label}{of}")
    };
    let session_allow = session.and_then(|s| {
        s.policy
            .statements
            .iter()
            .position(|st| st.effect == Effect::Allow && st.applies(request, &arn))
            .map(|i| StatementId { scope: PolicyScope::Session, policy: 0, statement: i })
    });
    let identity_allow = identity.iter().enumerate().find_map(|(pi, p)| {
        p.policy
            .statements
            .iter()
            .position(|st| st.effect == Effect::Allow && st.applies(request, &arn))
            .map(|si| StatementId { scope: PolicyScope::Identity, policy: pi, statement: si })
    });
    let what = match &request.principal {
        Some(p) if identity.iter().any(|r| r.policy.kind == super::PolicyKind::Trust) => {
            format!("{} on {} for principal {p}", request.action, request.resource)
        }
        _ => format!("{} on {}", request.action, request.resource),
    };
    let summary = match (evaluation.decision, evaluation.statement) {
        (Decision::Allow, Some(id)) => match session_allow {
            Some(s) => {
                format!("allowed by {}, and the session policy allows it too ({})", statement_of(id), statement_of(s))
            }
            None => format!("allowed by {}", statement_of(id)),
        },
        (Decision::ExplicitDeny, Some(id)) => format!("denied explicitly by {}", statement_of(id)),
        _ => match (identity_allow, session) {
            (Some(id), Some(s)) => {
                let session_name = if s.name.is_empty() {
                    "the session policy".to_string()
                } else {
                    format!("session policy \"{}\"", s.name)
                };
                format!(
                    "denied implicitly: {} allows {what}, but no statement of {session_name} does",
                    statement_of(id)
                )
            }
            _ => format!("denied implicitly: no statement allows {what}"),
        },
    };
    Explanation {
        decision: evaluation.decision,
        statement: evaluation.statement,
        action: request.action.clone(),
        resource: request.resource.clone(),
        principal: request.principal.as_ref().map(Principal::to_string),
        policies,
        summary,
    }
}
