//! What a request may cost: refused before validation when too big, with a code;
//! standard introspection still passes.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// graphql-js's `getIntrospectionQuery()` with its default options (TypeRef nine `ofType` deep).
pub const INTROSPECTION: &str = r#"
    query IntrospectionQuery {
      __schema {
        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types {
          ...FullType
        }
        directives {
          name
          description
          locations
          args {
            ...InputValue
          }
        }
      }
    }

    fragment FullType on __Type {
      kind
      name
      description
      fields(includeDeprecated: true) {
        name
        description
        args {
          ...InputValue
        }
        type {
          ...TypeRef
        }
        isDeprecated
        deprecationReason
      }
      inputFields {
        ...InputValue
      }
      interfaces {
        ...TypeRef
      }
      enumValues(includeDeprecated: true) {
        name
        description
        isDeprecated
        deprecationReason
      }
      possibleTypes {
        ...TypeRef
      }
    }

    fragment InputValue on __InputValue {
      name
      description
      type { ...TypeRef }
      defaultValue
    }

    fragment TypeRef on __Type {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType {
                    kind
                    name
                    ofType {
                      kind
                      name
                      ofType {
                        kind
                        name
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
"#;

/// `{ ...F0 } fragment F0 on QueryRoot { ...F1 ...F1 } … fragment Fn on QueryRoot { __typename }`.
pub fn doubling(n: usize) -> String {
    let mut q = String::from("{ ...F0 } ");
    for i in 0..n {
        q.push_str(&format!("fragment F{i} on QueryRoot {{ ...F{} ...F{} }} ", i + 1, i + 1));
    }
    q.push_str(&format!("fragment F{n} on QueryRoot {{ __typename }}"));
    q
}

#[tokio::test]
async fn standard_introspection_passes_without_a_key() {
    let w = world();
    let r = w.run(None, INTROSPECTION, Value::Null).await;
    let types = ok(&r)["__schema"]["types"].as_array().expect("types").len();
    assert!(types > 20, "{types} types");
}

#[tokio::test]
async fn fragments_that_double_each_other_are_refused_cheaply_with_a_code() {
    let w = world();
    let started = Instant::now();
    let r = w.run(None, &doubling(22), Value::Null).await;
    let took = started.elapsed();
    assert_eq!(code(&r).as_deref(), Some("QUERY_TOO_COMPLEX"), "{r}");
    assert!(took < Duration::from_millis(50), "refused in {took:?}");
}

#[tokio::test]
async fn typename_counts_against_the_cost() {
    let w = world();
    // 10,001 selections: each alias names one __typename, spread over fragments so
    // the alias bound is not what refuses it.
    let fragment: String = (0..100).map(|i| format!("t{i}: __typename ")).collect();
    let spreads = "...T ".repeat(100);
    let q = format!("{{ {spreads} }} fragment T on QueryRoot {{ {fragment} }}");
    let r = w.run(None, &q, Value::Null).await;
    assert_eq!(code(&r).as_deref(), Some("QUERY_TOO_COMPLEX"), "{r}");
}

#[tokio::test]
async fn many_full_pages_are_refused_before_they_run() {
    let w = world();
    let t = w.tenant(1).await;
    let one =
        |i: usize| format!("a{i}: inbox(first: 200) {{ edges {{ node {{ status lastMessage contactName }} }} }} ");
    let q = format!("{{ {} }}", (0..20).map(one).collect::<String>());
    let r = w.run(Some(&t.owner), &q, Value::Null).await;
    assert_eq!(code(&r).as_deref(), Some("QUERY_TOO_COMPLEX"), "{r}");
    // One full page is fine.
    let r = w.run(Some(&t.owner), &format!("{{ {} }}", one(0)), Value::Null).await;
    ok(&r);
    // A page size given by a variable counts as well.
    let aliased =
        |i: usize| format!("a{i}: inbox(first: $n) {{ edges {{ node {{ status lastMessage contactName }} }} }} ");
    // Ten pages of 200, five selections each: 10 * (1 + 200 * 5) > 10,000.
    let q = format!("query($n: Int!) {{ {} }}", (0..10).map(aliased).collect::<String>());
    let q = q.as_str();
    ok(&w.run(Some(&t.owner), q, json!({ "n": 10 })).await);
    let r = w.run(Some(&t.owner), q, json!({ "n": 200 })).await;
    assert_eq!(code(&r).as_deref(), Some("QUERY_TOO_COMPLEX"), "{r}");
}

#[tokio::test]
async fn parse_and_validation_errors_carry_their_codes() {
    let w = world();
    let r = w.run(None, "{ me { role ", Value::Null).await;
    assert_eq!(code(&r).as_deref(), Some("GRAPHQL_PARSE_FAILED"), "{r}");
    let r = w.run(None, "{ noSuchField }", Value::Null).await;
    assert_eq!(code(&r).as_deref(), Some("GRAPHQL_VALIDATION_FAILED"), "{r}");
    let r = w.run(None, "query a { __typename } query b { __typename }", Value::Null).await;
    assert_eq!(code(&r).as_deref(), Some("GRAPHQL_VALIDATION_FAILED"), "{r}");
    let r = w.run(None, "{ ...A } fragment A on QueryRoot { ...A }", Value::Null).await;
    assert_eq!(code(&r).as_deref(), Some("GRAPHQL_VALIDATION_FAILED"), "{r}");
}

#[tokio::test]
async fn a_large_query_with_a_syntax_error_is_not_echoed() {
    let w = world();
    let q = format!("{{ me {{ role }} }} {}", "x ".repeat(20_000));
    let r = w.run(None, &q, Value::Null).await;
    assert!(code(&r).is_some(), "{r}");
    assert!(r.to_string().len() < 1_000, "{} bytes", r.to_string().len());
}

#[tokio::test]
async fn a_page_size_outside_one_to_the_maximum_is_bad_input() {
    let w = world();
    let t = w.tenant(1).await;
    for first in [0, -1, 201] {
        let q = format!("{{ inbox(first: {first}) {{ edges {{ cursor }} }} }}");
        let r = w.run(Some(&t.owner), &q, Value::Null).await;
        assert_eq!(code(&r).as_deref(), Some("BAD_INPUT"), "first: {first}: {r}");
    }
    let r = w.run(Some(&t.owner), "{ search(text: \"batik\", first: 0) { kind } }", Value::Null).await;
    assert_eq!(code(&r).as_deref(), Some("BAD_INPUT"), "{r}");
    ok(&w.run(Some(&t.owner), "{ inbox(first: 1) { edges { cursor } } }", Value::Null).await);
}
