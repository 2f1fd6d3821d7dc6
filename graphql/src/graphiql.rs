//! GraphiQL at `GET /graphql`, for developers. Its code comes from unpkg.com at exact
//! versions, each file checked by the browser against its SHA-384 (Subresource
//! Integrity), so the page needs the internet; the console at `/` does not use it. The
//! page's own inline style and script are allowed by their SHA-256 alone, and its
//! Content-Security-Policy names no origin but unpkg.com and this server.
//!
//! To move to other versions: `npm pack <package>@<version>`, then for each file
//! `openssl dgst -sha384 -binary <file> | openssl base64 -A`; unpkg serves
//! `https://unpkg.com/<package>@<version>/<path>` byte for byte from that tarball.
//! The tests recompute the inline hashes, so an edit to the style or script that
//! forgets the policy fails them.

use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};

macro_rules! style {
    () => {
        "body { height: 100%; margin: 0; width: 100%; overflow: hidden; } #graphiql { height: 100vh; }"
    };
}

// A key goes in GraphiQL's headers editor as {"Authorization": "Bearer …"}: GraphiQL
// sends it with every request and in the websocket's `connection_init`.
macro_rules! script {
    () => {
        "const url = (path, ws) => { const u = new URL(path, window.location.origin); \
         if (ws) u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:'; return u.toString(); };\n\
         ReactDOM.createRoot(document.getElementById('graphiql')).render(React.createElement(GraphiQL, {\n\
         fetcher: GraphiQL.createFetcher({ url: url('/graphql'), subscriptionUrl: url('/graphql', true) }),\n\
         defaultEditorToolsVisibility: true }));"
    };
}

#[cfg(test)]
const STYLE: &str = style!();
#[cfg(test)]
const SCRIPT: &str = script!();

/// The page. Each `integrity` is the SHA-384 of that file in its npm tarball (react and
/// react-dom 18.3.1, graphiql 4.1.2).
const PAGE: &str = concat!(
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
    "<meta name=\"robots\" content=\"noindex\">\n",
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
    "<title>Laras GraphQL (GraphiQL)</title>\n",
    "<style>",
    style!(),
    "</style>\n",
    "<link rel=\"stylesheet\" href=\"https://unpkg.com/graphiql@4.1.2/graphiql.min.css\"\n",
    "  integrity=\"sha384-1el1QShFBnnXTx9x/Cprg82hZWKt0ry29OAYIXt05swbi0KcZDFoj0CWguMpopJr\" crossorigin=\"anonymous\">\n",
    "<script src=\"https://unpkg.com/react@18.3.1/umd/react.production.min.js\"\n",
    "  integrity=\"sha384-DGyLxAyjq0f9SPpVevD6IgztCFlnMF6oW/XQGmfe+IsZ8TqEiDrcHkMLKI6fiB/Z\" crossorigin=\"anonymous\"></script>\n",
    "<script src=\"https://unpkg.com/react-dom@18.3.1/umd/react-dom.production.min.js\"\n",
    "  integrity=\"sha384-gTGxhz21lVGYNMcdJOyq01Edg0jhn/c22nsx0kyqP0TxaV5WVdsSH1fSDUf5YJj1\" crossorigin=\"anonymous\"></script>\n",
    "</head>\n<body>\n",
    "<div id=\"graphiql\">Loading GraphiQL from unpkg.com: it needs the internet (the console at / does not).</div>\n",
    "<script src=\"https://unpkg.com/graphiql@4.1.2/graphiql.min.js\"\n",
    "  integrity=\"sha384-9XdHu7ajgGJziD4J1zNBKQ842Q/+zZfDv+ib1eMhZWBH6hPAs806x+Jbcf0yNO6B\" crossorigin=\"anonymous\"></script>\n",
    "<script>",
    script!(),
    "</script>\n</body>\n</html>\n"
);

/// Only unpkg.com's files and the page's own inline style and script run; GraphiQL talks
/// to this server alone (`connect-src 'self'` covers its websocket too, CSP level 3).
/// CodeMirror sets inline styles
/// through the DOM, which `style-src` does not govern, so no 'unsafe-inline' is needed.
pub const CONTENT_SECURITY_POLICY: &str = concat!(
    "default-src 'none'; ",
    "script-src https://unpkg.com 'sha256-K1SSmGrMKj4YtANtBBvgqP90/yv7KnXjSOgZzto+Ymg='; ",
    "style-src https://unpkg.com 'sha256-EMyyimZl6bN+nNC/JNPbsNK/Ax/r86Rx8UFQFdHgxN4='; ",
    "img-src 'self' data:; font-src https://unpkg.com data:; ",
    "connect-src 'self'; ",
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
);

pub fn page() -> Response {
    let mut response = Html(PAGE).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use sha2::{Digest, Sha256};

    fn csp_hash(inline: &str) -> String {
        format!("'sha256-{}'", STANDARD.encode(Sha256::digest(inline.as_bytes())))
    }

    #[test]
    fn the_policy_allows_exactly_the_pages_inline_style_and_script() {
        assert!(CONTENT_SECURITY_POLICY.contains(&csp_hash(SCRIPT)), "script hash: {}", csp_hash(SCRIPT));
        assert!(CONTENT_SECURITY_POLICY.contains(&csp_hash(STYLE)), "style hash: {}", csp_hash(STYLE));
        assert!(
            PAGE.contains(&format!("<script>{SCRIPT}</script>")) && PAGE.contains(&format!("<style>{STYLE}</style>"))
        );
    }

    #[test]
    fn every_asset_is_pinned_with_integrity_and_comes_from_unpkg() {
        let assets: Vec<&str> = PAGE.split("https://").skip(1).collect();
        assert_eq!(assets.len(), 4, "react, react-dom, graphiql's script and stylesheet");
        for asset in assets {
            let (url, rest) = asset.split_once('"').unwrap_or((asset, ""));
            assert!(url.starts_with("unpkg.com/"), "{url}");
            let package = url.trim_start_matches("unpkg.com/").split('/').next().unwrap_or_default();
            let version = package.rsplit_once('@').map(|(_, v)| v).unwrap_or_default();
            assert!(
                version.split('.').count() == 3 && version.split('.').all(|n| n.parse::<u32>().is_ok()),
                "{url} names an exact version"
            );
            let attributes = rest.split('>').next().unwrap_or_default();
            assert!(attributes.contains("integrity=\"sha384-"), "{url} has an integrity hash");
            assert!(attributes.contains("crossorigin=\"anonymous\""), "{url} is fetched without credentials");
        }
    }
}
