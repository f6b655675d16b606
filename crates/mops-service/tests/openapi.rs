//! The committed OpenAPI document (docs/openapi.json) is the one the code
//! generates, and the server answers it at /api/openapi.json.
//!
//! After changing the API, regenerate the committed copy with
//! `MOPS_UPDATE_OPENAPI=1 scripts/test -p mops-service --test openapi`.

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

fn generated() -> String {
    let mut json = mops_service::api::openapi().to_pretty_json().expect("the document serialises");
    json.push('\n');
    json
}

#[test]
fn the_committed_openapi_document_is_current() {
    let path = committed_path();
    let generated = generated();
    if std::env::var_os("MOPS_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is not what the code generates; regenerate it with \
         `MOPS_UPDATE_OPENAPI=1 scripts/test -p mops-service --test openapi` and commit it"
    );
}

#[test]
fn the_document_describes_the_api() {
    let doc: serde_json::Value = serde_json::from_str(&generated()).expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in [
        ("/api/v1/calls", &["get", "post"][..]),
        ("/api/v1/calls/{id}", &["get", "put"]),
        ("/api/v1/calls/{id}/phase", &["post"]),
        ("/api/v1/calls/{id}/funnel", &["get"]),
        ("/api/v1/calls/{id}/ideas", &["get", "post"]),
        ("/api/v1/calls/{id}/decisions", &["get"]),
        ("/api/v1/calls/{id}/meetings", &["get"]),
        ("/api/v1/ideas/{id}", &["get"]),
        ("/api/v1/ideas/{id}/events", &["get"]),
        ("/api/v1/ideas/{id}/commands", &["post"]),
        ("/api/v1/outbox", &["get"]),
        ("/api/v1/outbox/{id}", &["get"]),
        ("/api/v1/outbox/{id}/preview", &["get"]),
        ("/api/v1/outbox/{id}/retry", &["post"]),
    ] {
        for method in methods {
            let op = &paths[path][*method];
            assert!(op.is_object(), "{method} {path} is documented");
            assert_eq!(op["security"][0]["bearer"], serde_json::json!([]), "{method} {path} needs the token");
            let responses = op["responses"].as_object().expect("responses");
            assert!(responses.contains_key("401"), "{method} {path} documents 401");
            // Every write with a body documents what a bad body answers.
            if *method != "get" && !path.ends_with("/retry") {
                for status in ["400", "415", "422"] {
                    assert!(responses.contains_key(status), "{method} {path} documents {status}");
                }
            }
        }
    }
    // Writes to an existing object document If-Match, 412 and 428.
    for (path, method) in
        [("/api/v1/calls/{id}", "put"), ("/api/v1/calls/{id}/phase", "post"), ("/api/v1/ideas/{id}/commands", "post")]
    {
        let op = &paths[path][method];
        let headers: Vec<_> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "header")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(headers.contains(&"If-Match") && headers.contains(&"Idempotency-Key"), "{method} {path}: {headers:?}");
        for status in ["409", "412", "428"] {
            assert!(op["responses"][status].is_object(), "{method} {path} documents {status}");
        }
        assert_eq!(
            op["responses"]["412"]["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
    }
}
