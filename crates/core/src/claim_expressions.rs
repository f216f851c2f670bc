//! Acceptance conditions and attribute mappings over upstream claims, written in CEL as in
//! Google's workload identity federation (`attributeCondition` / `attributeMapping`).
//! The upstream claims are bound as `assertion`.

use serde_json::Value;
use std::sync::{Arc, LazyLock};

/// The CEL standard library, built once: building it per evaluation dominated the cost.
static STDLIB: LazyLock<Arc<cel::Env>> = LazyLock::new(|| Arc::new(cel::Env::stdlib()));

/// A CEL expression compiled when the configuration loads.
pub struct Expression {
    source: String,
    program: cel::Program,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expression({:?})", self.source)
    }
}

impl Expression {
    pub fn compile(source: &str) -> Result<Self, String> {
        let program = cel::Program::compile(source).map_err(|e| format!("not a valid CEL expression: {e}"))?;
        let refs = program.references();
        let unknown: Vec<&str> = refs.variables().into_iter().filter(|v| *v != "assertion").collect();
        if !unknown.is_empty() {
            return Err(format!("unknown variable(s) {unknown:?}; only `assertion` (the upstream claims) is defined"));
        }
        Ok(Self { source: source.to_string(), program })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    fn eval(&self, claims: &Value) -> Result<cel::Value, String> {
        let mut ctx = cel::Context::with_env(STDLIB.clone());
        ctx.add_variable("assertion", claims).map_err(|e| format!("claims are not representable in CEL: {e}"))?;
        self.program.execute(&ctx).map_err(|e| format!("evaluation failed: {e}"))
    }

    /// Evaluates a condition; anything but `true` (including an error such as a missing claim)
    /// rejects.
    pub fn check(&self, claims: &Value) -> Result<bool, String> {
        match self.eval(claims)? {
            cel::Value::Bool(b) => Ok(b),
            other => Err(format!("condition returned {:?}, not a bool", other.type_of())),
        }
    }

    /// Evaluates a mapping to a JSON value (strings, numbers, bools, lists, maps).
    pub fn map(&self, claims: &Value) -> Result<Value, String> {
        let v = self.eval(claims)?;
        v.json().map_err(|e| format!("mapping result is not JSON-representable: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn condition_over_claims() {
        let e =
            Expression::compile(r#"assertion.email_verified == true && assertion.organization_id == "00D5g""#).unwrap();
        assert!(e.check(&json!({"email_verified": true, "organization_id": "00D5g"})).unwrap());
        assert!(!e.check(&json!({"email_verified": false, "organization_id": "00D5g"})).unwrap());
        // A missing claim is an error, which the engine treats as a rejection.
        assert!(e.check(&json!({"email_verified": true})).is_err());
    }

    #[test]
    fn mapping_and_compile_errors() {
        let m = Expression::compile("assertion.preferred_username").unwrap();
        assert_eq!(m.map(&json!({"preferred_username": "amy"})).unwrap(), json!("amy"));
        assert!(Expression::compile("assertion.email ==").is_err());
        assert!(Expression::compile("claims.email == 'x'").unwrap_err().contains("unknown variable"));
    }
}
