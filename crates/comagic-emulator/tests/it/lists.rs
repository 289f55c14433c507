use serde_json::{json, Value};

use crate::common::{token_only, Api, TOKEN};

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
    let campaigns = api.ok("get.campaigns", token_only()).await;
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
    let sites = api.ok("get.sites", token_only()).await;
    assert_eq!(ids(&sites), vec![201, 202]);
    assert_eq!(sites["data"][0]["domain_name"], "shop.example.ru");
    assert_eq!(
        ids(&api.ok("get.sources", token_only()).await),
        vec![301, 302]
    );
    let tags = api.ok("get.tags", token_only()).await;
    assert_eq!(
        tags["data"],
        json!([{"id": 401, "name": "Leadback", "is_system": false}, {"id": 402, "name": "Чат", "is_system": false}])
    );
    let employees = api.ok("get.employees", token_only()).await;
    assert_eq!(ids(&employees), vec![501, 502]);
    assert_eq!(employees["data"][0]["full_name"], "Смирнова Анна");
    let account = api.ok("get.account", token_only()).await;
    assert_eq!(account["data"][0]["timezone"], "Europe/Moscow");
    assert_eq!(account["data"][0]["name"], "demo");
    refused(
        &api,
        "get.account",
        json!({"limit": 1}),
        "unexpected_parameters",
        "limit",
    )
    .await;
}

/// `method` with `params` and the demo token is refused with -32602 `mnemonic` on `field`.
async fn refused(api: &Api, method: &str, mut params: Value, mnemonic: &str, field: &str) {
    params["access_token"] = json!(TOKEN);
    api.refused(method, params, -32602, mnemonic, Some(field))
        .await;
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

    let cases = [
        (
            json!({"fields": ["id", "colour"]}),
            "unexpected_parameters",
            "fields",
        ),
        (json!({"limit": 10001}), "invalid_parameter_value", "limit"),
        (json!({"offset": -1}), "invalid_parameter_value", "offset"),
        (json!({"page": 1}), "unexpected_parameters", "page"),
    ];
    for (params, mnemonic, field) in cases {
        refused(&api, "get.tags", params, mnemonic, field).await;
    }
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
    let filter = |field: &str, operator: &str| json!({"filter": {"field": field, "operator": operator, "value": 1}});
    let sort = |field: &str| json!({"sort": [{"field": field}]});
    let cases = [
        (
            "get.sites",
            filter("colour", "="),
            "unexpected_parameters",
            "filter.field",
        ),
        (
            "get.sites",
            filter("app_key", "="),
            "filter_prohibited",
            "filter.field",
        ),
        (
            "get.sites",
            filter("id", "~"),
            "invalid_parameter_value",
            "filter.operator",
        ),
        (
            "get.sites",
            sort("colour"),
            "unexpected_parameters",
            "sort.field",
        ),
        ("get.employees", sort("id"), "sort_prohibited", "sort.field"),
    ];
    for (method, params, mnemonic, field) in cases {
        refused(&api, method, params, mnemonic, field).await;
    }
}
