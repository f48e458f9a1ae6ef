//! Rates from AWS's Price List Query API (`pricing:GetProducts`), and the reading of its
//! price-list documents.
//!
//! GetProducts answers `PriceList`, a list of JSON documents as strings, one per product
//! (AWS Billing User Guide, "Using the AWS Price List Query API",
//! <https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-price-list-query-api.html>;
//! botocore `pricing/2017-10-15/service-2.json`):
//! `{"product": {"productFamily", "attributes": {..}, "sku"}, "serviceCode",
//!   "terms": {"OnDemand": {"<sku>.<offerTermCode>": {"priceDimensions":
//!   {"<sku>.<offerTermCode>.<rateCode>": {"unit", "beginRange", "endRange", "description",
//!   "pricePerUnit": {"USD": "0.0456000000"}}}, "effectiveDate", ..}}, "Reserved": {..}},
//!   "version", "publicationDate"}`.
//! The API is served from a few regions only, whatever region the prices are for
//! ([`endpoint_region`]).

use serde_json::Value;

use super::meters::Product;

/// One On-Demand rate read from a price-list document.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub sku: String,
    /// USD per the dimension's unit.
    pub usd: f64,
    /// The dimension's unit as AWS writes it (`Hrs`, `GB-Mo`, ...).
    pub unit: String,
    /// When the rate took effect (the term's `effectiveDate`).
    pub effective_date: String,
}

/// Why a document gave no rate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("a price-list document is not JSON: {0}")]
    NotJson(String),
    #[error("product {sku} has no On-Demand price in USD")]
    NoOnDemandPrice { sku: String },
}

/// The On-Demand rate of one price-list document: its first-tier dimension (`beginRange` 0;
/// tiered prices such as S3 storage's fall as use grows, and the first tier is what a small
/// pipeline pays).
///
/// Errors: the text is not JSON, or the document has no On-Demand USD price.
pub fn offer(document: &str) -> Result<Offer, DocumentError> {
    let doc: Value =
        serde_json::from_str(document).map_err(|e| DocumentError::NotJson(e.to_string()))?;
    let sku = doc
        .pointer("/product/sku")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let missing = || DocumentError::NoOnDemandPrice { sku: sku.clone() };
    let terms = doc
        .pointer("/terms/OnDemand")
        .and_then(Value::as_object)
        .ok_or_else(missing)?;
    let mut best: Option<(f64, Offer)> = None;
    for term in terms.values() {
        let effective_date = term
            .get("effectiveDate")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let dims = term.get("priceDimensions").and_then(Value::as_object);
        for dim in dims.into_iter().flat_map(|d| d.values()) {
            let Some(usd) = dim
                .pointer("/pricePerUnit/USD")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<f64>().ok())
            else {
                continue;
            };
            let begin = dim
                .get("beginRange")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0);
            if best.as_ref().is_none_or(|(b, _)| begin < *b) {
                best = Some((
                    begin,
                    Offer {
                        sku: sku.clone(),
                        usd,
                        unit: dim
                            .get("unit")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        effective_date: effective_date.to_string(),
                    },
                ));
            }
        }
    }
    best.map(|(_, o)| o).ok_or_else(missing)
}

/// Whether a document's product matches every `TERM_MATCH` filter: `productFamily` and
/// `serviceCode` are the product's own fields, any other field one of its attributes; values
/// compare exactly, as the API's term match does.
pub fn matches(document: &Value, service_code: &str, filters: &[(String, String)]) -> bool {
    if document.get("serviceCode").and_then(Value::as_str) != Some(service_code) {
        return false;
    }
    filters.iter().all(|(field, value)| {
        let have = match field.as_str() {
            "productFamily" => document.pointer("/product/productFamily"),
            "serviceCode" => document.get("serviceCode"),
            "sku" => document.pointer("/product/sku"),
            attr => document.pointer(&format!("/product/attributes/{attr}")),
        };
        have.and_then(Value::as_str) == Some(value.as_str())
    })
}

/// The region whose Price List Query API endpoint serves prices for `region`: the API
/// answers in us-east-1, eu-central-1 and ap-south-1 only (AWS Billing User Guide, "Using the
/// AWS Price List Query API": `api.pricing.us-east-1.amazonaws.com`,
/// `api.pricing.eu-central-1.amazonaws.com`, `api.pricing.ap-south-1.amazonaws.com`), each
/// with every region's prices; the nearest one is asked.
pub fn endpoint_region(region: &str) -> &'static str {
    if region.starts_with("eu-")
        || region.starts_with("me-")
        || region.starts_with("af-")
        || region.starts_with("il-")
    {
        "eu-central-1"
    } else if region.starts_with("ap-") {
        "ap-south-1"
    } else {
        "us-east-1"
    }
}

/// What asking the Price List API for a product gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Rate(Offer),
    /// No product matched the filters.
    NoProduct,
    /// Several products matched at different rates: none is chosen.
    Ambiguous(usize),
    /// The product's dimension is in another unit than the meter's.
    OtherUnit(String),
}

/// Reads the answer's documents for `product` into one rate.
pub fn answer(product: &Product, documents: &[String]) -> Result<Answer, DocumentError> {
    let mut offers = Vec::new();
    for d in documents {
        offers.push(offer(d)?);
    }
    offers.dedup_by(|a, b| a.usd == b.usd && a.unit == b.unit);
    Ok(match offers.as_slice() {
        [] => Answer::NoProduct,
        [one] if !product.unit.accepts(&one.unit) => Answer::OtherUnit(one.unit.clone()),
        [one] => Answer::Rate(one.clone()),
        many => Answer::Ambiguous(many.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(sku: &str, dims: Value) -> String {
        json!({
            "product": {"productFamily": "NAT Gateway", "attributes": {"regionCode": "us-east-1", "usagetype": "NatGateway-Hours"}, "sku": sku},
            "serviceCode": "AmazonEC2",
            "terms": {"OnDemand": {format!("{sku}.JRTCKXETXF"): {"priceDimensions": dims, "effectiveDate": "2025-11-01T00:00:00Z", "sku": sku, "offerTermCode": "JRTCKXETXF"}}},
            "version": "20251101000000",
            "publicationDate": "2025-11-01T00:00:00Z"
        })
        .to_string()
    }

    #[test]
    fn the_first_tier_of_an_on_demand_term_is_the_rate() {
        let d = doc(
            "ABC",
            json!({
                "ABC.JRTCKXETXF.2": {"unit": "GB-Mo", "beginRange": "51200", "endRange": "512000", "pricePerUnit": {"USD": "0.0220000000"}},
                "ABC.JRTCKXETXF.1": {"unit": "GB-Mo", "beginRange": "0", "endRange": "51200", "pricePerUnit": {"USD": "0.0230000000"}}
            }),
        );
        let o = offer(&d).unwrap();
        assert_eq!(o.usd, 0.023);
        assert_eq!(o.unit, "GB-Mo");
        assert_eq!(o.sku, "ABC");
        assert_eq!(o.effective_date, "2025-11-01T00:00:00Z");
    }

    #[test]
    fn a_document_without_an_on_demand_usd_price_is_an_error() {
        let d = doc(
            "X",
            json!({"X.1.1": {"unit": "Hrs", "pricePerUnit": {"CNY": "1"}}}),
        );
        assert_eq!(
            offer(&d),
            Err(DocumentError::NoOnDemandPrice { sku: "X".into() })
        );
    }

    #[test]
    fn filters_match_the_family_and_attributes_exactly() {
        let d: Value = serde_json::from_str(&doc("S", json!({}))).unwrap();
        let f = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert!(matches(
            &d,
            "AmazonEC2",
            &[
                f("productFamily", "NAT Gateway"),
                f("regionCode", "us-east-1")
            ]
        ));
        assert!(!matches(&d, "AmazonEC2", &[f("regionCode", "us-east-2")]));
        assert!(!matches(&d, "AmazonVPC", &[]));
        assert!(!matches(
            &d,
            "AmazonEC2",
            &[f("usagetype", "natgateway-hours")]
        ));
    }

    #[test]
    fn the_price_list_endpoint_is_the_nearest_of_three() {
        assert_eq!(endpoint_region("us-west-2"), "us-east-1");
        assert_eq!(endpoint_region("eu-west-1"), "eu-central-1");
        assert_eq!(endpoint_region("ap-southeast-2"), "ap-south-1");
    }
}
