//! The Price List Query API (`pricing`, awsJson1_1: `POST /` with `X-Amz-Target:
//! AWSPriceListService.<Operation>`), served from the price-list documents in
//! `price-list.json` (us-east-1's products, with look-alikes a query must tell apart).
//!
//! Served: GetProducts, as botocore's model `pricing/2017-10-15/service-2.json` gives it:
//! `ServiceCode` required, at most 50 `Filters` of type `TERM_MATCH` (exact match of a
//! product attribute, `productFamily` or `ServiceCode`), `FormatVersion` `aws_v1`, `MaxResults`
//! 1 to 100, `NextToken`; the answer's `PriceList` is a list of JSON documents as strings. As on
//! AWS, the API answers only at its endpoint regions (us-east-1, eu-central-1, ap-south-1):
//! a call signed for another region is refused, as its host name would not resolve there.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{ApiError, Reply};
use crate::providers::cost::price_list;

/// The regions the Price List Query API answers in (botocore `endpoints.json`, `api.pricing`).
const ENDPOINT_REGIONS: &[&str] = &["us-east-1", "eu-central-1", "ap-south-1"];

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError(
        StatusCode::BAD_REQUEST,
        "InvalidParameterException",
        msg.into(),
    )
}

/// The documents served.
fn products() -> &'static [Value] {
    static DOCS: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    DOCS.get_or_init(|| {
        let file: Value = serde_json::from_str(include_str!("price-list.json"))
            .expect("price-list.json is checked by the unit tests");
        file["products"].as_array().cloned().unwrap_or_default()
    })
}

/// One call: `target` is the `X-Amz-Target` header, `region` the signature's region.
pub(super) fn route(target: Option<&str>, region: &str, body: &Value) -> Reply {
    if !ENDPOINT_REGIONS.contains(&region) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "UnrecognizedClientException",
            format!(
                "the Price List Query API has no endpoint in {region}; it answers in {}",
                ENDPOINT_REGIONS.join(", ")
            ),
        ));
    }
    match target.and_then(|t| t.strip_prefix("AWSPriceListService.")) {
        Some("GetProducts") => get_products(body),
        other => Err(ApiError(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!(
                "the emulator has no Price List operation {}",
                other.unwrap_or("(no X-Amz-Target)")
            ),
        )),
    }
}

fn get_products(body: &Value) -> Reply {
    let service = body
        .get("ServiceCode")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("ServiceCode is required"))?;
    if let Some(v) = body.get("FormatVersion").and_then(Value::as_str) {
        if v != "aws_v1" {
            return Err(invalid(format!(
                "FormatVersion {v} is not supported; use aws_v1"
            )));
        }
    }
    let filters = body
        .get("Filters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if filters.len() > 50 {
        return Err(invalid("at most 50 filters"));
    }
    let mut terms = Vec::new();
    for f in &filters {
        let (Some(kind), Some(field), Some(value)) = (
            f.get("Type").and_then(Value::as_str),
            f.get("Field").and_then(Value::as_str),
            f.get("Value").and_then(Value::as_str),
        ) else {
            return Err(invalid("a filter needs Type, Field and Value"));
        };
        if kind != "TERM_MATCH" {
            return Err(invalid(format!(
                "filter type {kind} is not served by the emulator (TERM_MATCH is)"
            )));
        }
        if field.is_empty() || value.is_empty() {
            return Err(invalid(
                "a filter's Field and Value are 1 to 1024 characters",
            ));
        }
        let field = if field.eq_ignore_ascii_case("servicecode") {
            "serviceCode"
        } else {
            field
        };
        terms.push((field.to_string(), value.to_string()));
    }
    let max = match body.get("MaxResults") {
        None => 100,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| invalid("MaxResults must be between 1 and 100"))?
            as usize,
    };
    let start = match body.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(t) => t.parse::<usize>().map_err(|_| {
            ApiError(
                StatusCode::BAD_REQUEST,
                "InvalidNextTokenException",
                format!("invalid NextToken {t}"),
            )
        })?,
    };
    let matching: Vec<&Value> = products()
        .iter()
        .filter(|d| price_list::matches(d, service, &terms))
        .collect();
    let page: Vec<String> = matching
        .iter()
        .skip(start)
        .take(max)
        .map(|d| d.to_string())
        .collect();
    let mut out = json!({"FormatVersion": "aws_v1", "PriceList": page});
    if start + max < matching.len() {
        out["NextToken"] = json!((start + max).to_string());
    }
    Ok((StatusCode::OK, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(field: &str, value: &str) -> Value {
        json!({"Type": "TERM_MATCH", "Field": field, "Value": value})
    }

    #[test]
    fn a_query_pins_one_product_among_look_alikes() {
        let (_, out) = route(
            Some("AWSPriceListService.GetProducts"),
            "us-east-1",
            &json!({"ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "Filters": [
                term("productFamily", "NAT Gateway"), term("usagetype", "NatGateway-Hours"), term("regionCode", "us-east-1")
            ]}),
        )
        .unwrap();
        let list = out["PriceList"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        let o = price_list::offer(list[0].as_str().unwrap()).unwrap();
        assert_eq!(o.usd, 0.045);
    }

    #[test]
    fn pages_follow_max_results_and_next_token() {
        let ask = |token: Option<&str>| {
            let mut b = json!({"ServiceCode": "AmazonMWAA", "MaxResults": 4});
            if let Some(t) = token {
                b["NextToken"] = json!(t);
            }
            route(Some("AWSPriceListService.GetProducts"), "us-east-1", &b)
                .unwrap()
                .1
        };
        let first = ask(None);
        assert_eq!(first["PriceList"].as_array().unwrap().len(), 4);
        let mut seen = 4;
        let mut token = first["NextToken"].as_str().map(str::to_string);
        while let Some(t) = token {
            let next = ask(Some(&t));
            seen += next["PriceList"].as_array().unwrap().len();
            token = next["NextToken"].as_str().map(str::to_string);
        }
        assert_eq!(
            seen, 10,
            "3 sizes × environment, worker, scheduler, and the database"
        );
    }

    #[test]
    fn what_aws_refuses_is_refused() {
        let call = |region: &str, body: Value| {
            route(Some("AWSPriceListService.GetProducts"), region, &body)
                .err()
                .map(|e| e.1)
        };
        assert_eq!(
            call("us-east-1", json!({})),
            Some("InvalidParameterException")
        );
        assert_eq!(
            call(
                "us-east-1",
                json!({"ServiceCode": "AmazonEC2", "MaxResults": 101})
            ),
            Some("InvalidParameterException")
        );
        assert_eq!(
            call(
                "us-east-1",
                json!({"ServiceCode": "AmazonEC2", "NextToken": "x"})
            ),
            Some("InvalidNextTokenException")
        );
        assert_eq!(
            call("eu-west-1", json!({"ServiceCode": "AmazonEC2"})),
            Some("UnrecognizedClientException")
        );
    }

    #[test]
    fn the_documents_agree_with_the_shipped_table() {
        use crate::providers::cost::{meters::Meter, table};
        let t = table::shipped();
        for (id, rate) in &t.regions["us-east-1"] {
            let meter = Meter::parse(id).unwrap();
            let p = meter.product("us-east-1");
            let terms: Vec<(String, String)> = p
                .filters
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            let docs: Vec<String> = products()
                .iter()
                .filter(|d| price_list::matches(d, &p.service_code, &terms))
                .map(|d| d.to_string())
                .collect();
            match price_list::answer(&p, &docs).unwrap() {
                price_list::Answer::Rate(o) => assert!(
                    (o.usd * p.unit.per_price_list_unit() - rate).abs() < 1e-9,
                    "{id}: documents {} × {}, table {rate}",
                    o.usd,
                    p.unit.per_price_list_unit()
                ),
                other => panic!("{id}: {other:?}"),
            }
        }
    }
}
