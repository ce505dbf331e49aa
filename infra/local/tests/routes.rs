//! The three lists of routes agree: what the functions serve (and so the local server), what
//! template.yaml wires in API Gateway, and what infra/openapi.yaml describes.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};

use shared::config::Env;

const TEMPLATE: &str = include_str!("../../../template.yaml");
const OPENAPI: &str = include_str!("../../openapi.yaml");

type RouteSet = BTreeSet<(String, String)>;

/// `Method:` / `Path:` pairs of the template's HttpApi events.
fn template_routes() -> RouteSet {
    let mut out = RouteSet::new();
    let mut method: Option<String> = None;
    for line in TEMPLATE.lines() {
        let t = line.trim();
        if let Some(m) = t.strip_prefix("Method: ") {
            method = Some(m.trim().to_ascii_uppercase());
        } else if let Some(p) = t.strip_prefix("Path: ")
            && let Some(m) = method.take()
        {
            out.insert((m, p.trim().to_string()));
        }
    }
    out
}

/// Path keys (2 spaces in under `paths:`) and their method keys (4 spaces in).
fn openapi_routes() -> RouteSet {
    let mut out = RouteSet::new();
    let mut in_paths = false;
    let mut path: Option<String> = None;
    for line in OPENAPI.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_paths = line.starts_with("paths:");
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(rest) = line.strip_prefix("  ")
            && !rest.starts_with(' ')
            && rest.trim_end().ends_with(':')
        {
            path = Some(
                rest.trim_end()
                    .trim_end_matches(':')
                    .trim_matches('"')
                    .to_string(),
            );
        } else if let Some(rest) = line.strip_prefix("    ")
            && !rest.starts_with(' ')
        {
            let key = rest.trim_end().trim_end_matches(':');
            if ["get", "put", "post", "delete", "patch"].contains(&key)
                && let Some(p) = &path
            {
                out.insert((key.to_ascii_uppercase(), p.clone()));
            }
        }
    }
    out
}

fn function_routes() -> RouteSet {
    local::function_routes()
        .into_iter()
        .map(|(_, r)| (r.method.to_string(), r.path.to_string()))
        .collect()
}

#[test]
fn template_wires_exactly_the_functions_routes() {
    let template = template_routes();
    assert!(!template.is_empty(), "no routes parsed from template.yaml");
    assert_eq!(template, function_routes());
}

#[test]
fn openapi_describes_exactly_the_functions_routes() {
    let documented = openapi_routes();
    assert!(!documented.is_empty(), "no routes parsed from openapi.yaml");
    assert_eq!(documented, function_routes());
}

#[tokio::test]
async fn the_local_server_serves_every_route() {
    let server = local::start(&Env::default(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("starts");
    let client = shared::clients::outbound::plain_client();
    let all = local::function_routes()
        .into_iter()
        .map(|(_, r)| r)
        .chain(local::LOCAL_ONLY_ROUTES.iter().copied());
    for route in all {
        let path = route.path.replace(['{', '}'], "");
        let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
        let response = client
            .request(method, format!("{}{}", server.url(), path))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(
            !(status == 404 && body.contains("no such route")) && status != 405,
            "{} {} is not served: {status} {body}",
            route.method,
            route.path
        );
    }
}

/// The README's "Where each route lives" rows: (method, path, file, handler).
fn readme_rows() -> Vec<(String, String, String, String)> {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("### Where each route lives")
        .nth(1)
        .and_then(|s| s.split("\n#").next())
        .unwrap_or_default();
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`'))
                .collect();
            let [route, file, handler] = cells.as_slice() else {
                return None;
            };
            let (method, path) = route.split_once(' ')?;
            ["GET", "PUT", "POST", "DELETE", "PATCH"]
                .contains(&method)
                .then(|| {
                    (
                        method.into(),
                        path.into(),
                        file.to_string(),
                        handler.to_string(),
                    )
                })
        })
        .collect()
}

#[test]
fn readme_names_the_file_and_handler_of_every_route() {
    let rows = readme_rows();
    let listed: RouteSet = rows
        .iter()
        .map(|(m, p, ..)| (m.clone(), p.clone()))
        .collect();
    assert_eq!(
        listed.len(),
        rows.len(),
        "a route is listed twice in the README"
    );
    assert_eq!(
        listed,
        function_routes(),
        "README table vs the functions' routes"
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let owner: std::collections::BTreeMap<(String, String), &str> = local::function_routes()
        .into_iter()
        .map(|(name, r)| ((r.method.to_string(), r.path.to_string()), name))
        .collect();
    for (method, path, file, handler) in &rows {
        let function = owner[&(method.clone(), path.clone())];
        assert!(
            file.starts_with(&format!("functions/{function}/src/")),
            "{method} {path} is served by {function}, but the README names {file}"
        );
        let source = std::fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("{method} {path}: {file}: {e}"));
        assert!(
            source.contains(&format!("async fn {handler}(")),
            "{method} {path}: {file} defines no `async fn {handler}(`"
        );
    }
}
