use serde_json::json;

use crate::common::{assert_error, Api, TOKEN};

fn ids(result: &serde_json::Value) -> Vec<i64> {
    result["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn every_list_method_answers_with_seed_data() {
    let api = Api::start().await;
    let campaigns = api
        .ok("get.campaigns", json!({"access_token": TOKEN}))
        .await;
    assert_eq!(ids(&campaigns), vec![-1, 101, 102, 103]);
    assert_eq!(campaigns["metadata"]["total_items"], 4);
    assert_eq!(
        campaigns["data"][1]["site_domain_name"],
        "flowers.example.com"
    );
    assert!(
        campaigns["data"][1].get("static_utm_source").is_none(),
        "only on request"
    );
    let sites = api.ok("get.sites", json!({"access_token": TOKEN})).await;
    assert_eq!(ids(&sites), vec![201, 202]);
    assert_eq!(sites["data"][0]["domain_name"], "shop.example.ru");
    assert_eq!(
        ids(&api.ok("get.sources", json!({"access_token": TOKEN})).await),
        vec![301, 302]
    );
    let tags = api.ok("get.tags", json!({"access_token": TOKEN})).await;
    assert_eq!(
        tags["data"],
        json!([{"id": 401, "name": "Leadback", "is_system": false}, {"id": 402, "name": "Чат", "is_system": false}])
    );
    let employees = api
        .ok("get.employees", json!({"access_token": TOKEN}))
        .await;
    assert_eq!(ids(&employees), vec![501, 502]);
    assert_eq!(employees["data"][0]["full_name"], "Смирнова Анна");
    let account = api.ok("get.account", json!({"access_token": TOKEN})).await;
    assert_eq!(account["data"][0]["timezone"], "Europe/Moscow");
    assert_eq!(account["data"][0]["name"], "demo");
    assert_error(
        &api.err("get.account", json!({"access_token": TOKEN, "limit": 1}))
            .await,
        -32602,
        "unexpected_parameters",
        Some("limit"),
    );
}

#[tokio::test]
async fn paging_and_fields() {
    let api = Api::start().await;
    let page = api
        .ok("get.campaigns", json!({"access_token": TOKEN, "limit": 2, "offset": 1, "fields": ["id", "name", "static_utm_source"]}))
        .await;
    assert_eq!(ids(&page), vec![101, 102]);
    assert_eq!(page["metadata"]["total_items"], 4);
    let row = page["data"][0].as_object().unwrap();
    assert_eq!(
        row.keys().collect::<Vec<_>>(),
        vec!["id", "name", "static_utm_source"]
    );
    assert!(row["static_utm_source"].is_null());

    let past_end = api
        .ok(
            "get.campaigns",
            json!({"access_token": TOKEN, "offset": 10}),
        )
        .await;
    assert_eq!(past_end["data"], json!([]));

    let error = api
        .err(
            "get.tags",
            json!({"access_token": TOKEN, "fields": ["id", "colour"]}),
        )
        .await;
    assert_error(&error, -32602, "unexpected_parameters", Some("fields"));
    let error = api
        .err("get.tags", json!({"access_token": TOKEN, "limit": 10001}))
        .await;
    assert_error(&error, -32602, "invalid_parameter_value", Some("limit"));
    let error = api
        .err("get.tags", json!({"access_token": TOKEN, "offset": -1}))
        .await;
    assert_error(&error, -32602, "invalid_parameter_value", Some("offset"));
    let error = api
        .err("get.tags", json!({"access_token": TOKEN, "page": 1}))
        .await;
    assert_error(&error, -32602, "unexpected_parameters", Some("page"));
}

#[tokio::test]
async fn filter_and_sort() {
    let api = Api::start().await;
    let flowers = api
        .ok("get.sites", json!({"access_token": TOKEN, "filter": {"field": "domain_name", "operator": "like", "value": "%flowers%"}}))
        .await;
    assert_eq!(ids(&flowers), vec![202]);
    let tree = api
        .ok(
            "get.campaigns",
            json!({"access_token": TOKEN, "filter": {"condition": "or", "filters": [
                {"field": "id", "operator": "=", "value": 101},
                {"field": "status", "operator": "=", "value": "inactive"},
            ]}}),
        )
        .await;
    assert_eq!(ids(&tree), vec![101, 103]);
    assert_eq!(tree["metadata"]["total_items"], 2);
    let sorted = api
        .ok(
            "get.employees",
            json!({"access_token": TOKEN, "sort": [{"field": "last_name", "order": "desc"}]}),
        )
        .await;
    assert_eq!(ids(&sorted), vec![501, 502]);
    // a field the method does not have is unexpected; one it has, but not filterable, prohibited
    let error = api
        .err("get.sites", json!({"access_token": TOKEN, "filter": {"field": "colour", "operator": "=", "value": 1}}))
        .await;
    assert_error(
        &error,
        -32602,
        "unexpected_parameters",
        Some("filter.field"),
    );
    let error = api
        .err("get.sites", json!({"access_token": TOKEN, "filter": {"field": "app_key", "operator": "=", "value": "k"}}))
        .await;
    assert_error(&error, -32602, "filter_prohibited", Some("filter.field"));
    let error = api
        .err(
            "get.sites",
            json!({"access_token": TOKEN, "filter": {"field": "id", "operator": "~", "value": 1}}),
        )
        .await;
    assert_error(
        &error,
        -32602,
        "invalid_parameter_value",
        Some("filter.operator"),
    );
    let error = api
        .err(
            "get.sites",
            json!({"access_token": TOKEN, "sort": [{"field": "colour"}]}),
        )
        .await;
    assert_error(&error, -32602, "unexpected_parameters", Some("sort.field"));
    let error = api
        .err(
            "get.employees",
            json!({"access_token": TOKEN, "sort": [{"field": "id"}]}),
        )
        .await;
    assert_error(&error, -32602, "sort_prohibited", Some("sort.field"));
}
