//! What a request may cost, decided before async-graphql validates or runs it.
//!
//! async-graphql's own depth, complexity and validation passes expand fragment spreads,
//! so a small document whose fragments spread each other twice over costs them
//! exponential time. The guard runs first, on every request (HTTP and websocket):
//! a linear scan of the text bounds its size, tokens and nesting; the parsed document
//! is then measured with each fragment counted once (`cost`). Only a request within
//! every bound reaches validation.

pub mod cost;
pub mod lexical;

use crate::error::Code;
use crate::schema::Limits;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextRequest, NextValidation,
};
use async_graphql::parser::types::{ServiceDocument, TypeKind, TypeSystemDefinition};
use async_graphql::{ErrorExtensionValues, Request, Response, ServerError, ServerResult, ValidationResult};
use cost::{Bounds, PageDefaults};
use std::sync::Arc;

/// A request refused before validation, with the code the caller sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: Code,
    pub message: String,
}

impl Refused {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn into_server_error(self) -> ServerError {
        coded(ServerError::new(self.message, None), self.code)
    }
}

/// `error` with `extensions.code` set to `code` (kept if it already has one).
pub fn coded(mut error: ServerError, code: Code) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code.as_str());
    }
    error
}

/// The admission rules of one schema.
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    pages: PageDefaults,
}

impl Admission {
    /// `sdl` is the schema's SDL: the paged fields and their default pages come from it.
    pub fn new(limits: Limits, sdl: &str) -> Self {
        Self { limits, pages: page_defaults(sdl) }
    }

    fn bounds(&self) -> Bounds {
        let l = &self.limits;
        Bounds {
            max_cost: l.max_complexity as u64,
            max_depth: l.max_depth,
            max_nesting: l.max_nesting,
            max_aliases: l.max_aliases,
            max_directives: l.max_directives,
            max_page: l.max_page,
        }
    }

    /// Parses `request` (once: the document is kept for execution) and measures it.
    pub fn admit(&self, request: &mut Request) -> Result<cost::Measure, Refused> {
        let l = &self.limits;
        if request.query.len() > l.max_query_bytes {
            return Err(Refused::new(
                Code::PayloadTooLarge,
                format!("the query is longer than {} bytes", l.max_query_bytes),
            ));
        }
        let shape = lexical::scan(&request.query, l.max_tokens, l.max_nesting);
        if shape.tokens > l.max_tokens {
            return Err(Refused::new(Code::TooComplex, format!("the query has more than {} tokens", l.max_tokens)));
        }
        if shape.nesting > l.max_nesting {
            return Err(Refused::new(
                Code::TooComplex,
                format!("the query nests brackets more than {} deep", l.max_nesting),
            ));
        }
        let doc = async_graphql::parser::parse_query(&request.query).map_err(|e| {
            // The parser's own message quotes the offending line, which may be the whole query.
            let at =
                e.positions().next().map(|p| format!(" at line {}, column {}", p.line, p.column)).unwrap_or_default();
            let what = match e {
                async_graphql::parser::Error::Syntax { .. } => "syntax error".to_owned(),
                other => short(&other.to_string(), 200),
            };
            Refused::new(Code::ParseFailed, format!("the query does not parse: {what}{at}"))
        })?;
        let measured = cost::measure(&doc, &request.variables, &self.pages, &self.bounds()).map_err(|e| {
            let code = match e {
                cost::Excess::FragmentCycle(_) => Code::ValidationFailed,
                _ => Code::TooComplex,
            };
            Refused::new(code, e.to_string())
        })?;
        request.set_parsed_query(doc);
        Ok(measured)
    }
}

/// Paged fields (a `first` or `last` with a default) and their default page sizes.
fn page_defaults(sdl: &str) -> PageDefaults {
    let mut pages = PageDefaults::new();
    let Ok(ServiceDocument { definitions }) = async_graphql::parser::parse_schema(sdl) else { return pages };
    for definition in definitions {
        let TypeSystemDefinition::Type(ty) = definition else { continue };
        let fields = match &ty.node.kind {
            TypeKind::Object(o) => &o.fields,
            TypeKind::Interface(i) => &i.fields,
            _ => continue,
        };
        for field in fields {
            for arg in &field.node.arguments {
                let paging = matches!(arg.node.name.node.as_str(), "first" | "last");
                let default = arg.node.default_value.as_ref().and_then(|v| match &v.node {
                    async_graphql::Value::Number(n) => n.as_u64(),
                    _ => None,
                });
                if let (true, Some(default)) = (paging, default) {
                    let entry = pages.entry(field.node.name.node.to_string()).or_insert(0);
                    *entry = (*entry).max(usize::try_from(default).unwrap_or(usize::MAX));
                }
            }
        }
    }
    pages
}

fn short(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Validation errors reported per request.
pub const MAX_ERRORS: usize = 10;

/// The guard as an async-graphql extension, so websocket operations pass it too; it
/// also gives validation errors their code.
pub struct Guard(pub Arc<Admission>);

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GuardExtension(self.0.clone()))
    }
}

struct GuardExtension(Arc<Admission>);

#[async_graphql::async_trait::async_trait]
impl Extension for GuardExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        // async-graphql's own request-level errors (an operation name missing, a
        // variable of the wrong type) carry no code; they are the request's mistakes.
        for error in &mut response.errors {
            if error.extensions.as_ref().is_some_and(|e| e.get("code").is_some()) {
                continue;
            }
            if error.path.is_empty() {
                *error = coded(error.clone(), Code::ValidationFailed);
            } else if error.message.starts_with("Failed to parse \"")
                || error.message.contains("(occurred while parsing \"")
            {
                // An argument that passed validation as a variable but does not fit its
                // field (`treeSize: -1` into an unsigned size): bad input, found by the
                // request fuzzer (graphql/tests/fuzz_requests.rs).
                *error = coded(error.clone(), Code::BadInput);
            }
        }
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.0.admit(&mut request).map_err(Refused::into_server_error)?;
        next.run(ctx, request).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        // A document of many wrong fields has one error each: the first few say enough.
        next.run(ctx)
            .await
            .map_err(|errors| errors.into_iter().take(MAX_ERRORS).map(|e| coded(e, Code::ValidationFailed)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paged_fields_are_read_from_the_sdl() {
        let sdl = "type Q { inbox(first: Int! = 20): [Int!]! proof(first: Int!, second: Int!): Int trail(first: Int! = 100): Int }";
        let pages = page_defaults(sdl);
        assert_eq!(pages.get("inbox"), Some(&20));
        assert_eq!(pages.get("trail"), Some(&100));
        assert_eq!(pages.get("proof"), None, "a first without a default is not a page size");
    }

    #[test]
    fn a_syntax_error_does_not_echo_the_query() {
        let admission = Admission::new(Limits::default(), "type QueryRoot { a: Int }");
        let mut request = Request::new(format!("{{ a {} (", "b ".repeat(1_500)));
        let refused = admission.admit(&mut request).unwrap_err();
        assert_eq!(refused.code, Code::ParseFailed);
        assert!(refused.message.len() < 200, "{}", refused.message);
    }

    #[test]
    fn size_tokens_and_bracket_nesting_are_refused_before_parsing() {
        let admission = Admission::new(Limits::default(), "type QueryRoot { a: Int }");
        let limits = Limits::default();
        let long = Request::new(format!("{{ a }} #{}", "x".repeat(limits.max_query_bytes)));
        assert_eq!(admission.admit(&mut { long }).unwrap_err().code, Code::PayloadTooLarge);
        let many = Request::new(format!("{{ {} }}", "a ".repeat(limits.max_tokens)));
        assert_eq!(admission.admit(&mut { many }).unwrap_err().code, Code::TooComplex);
        // Unbalanced on purpose: the parser would recurse this deep before failing.
        let deep = Request::new("{ a(x: ".to_owned() + &"[".repeat(10_000));
        assert_eq!(admission.admit(&mut { deep }).unwrap_err().code, Code::TooComplex);
    }
}
