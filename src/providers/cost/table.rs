//! The dated price table shipped in the repository (`price-table.json`): the rates `plan`
//! uses when the Price List API cannot be reached or has no answer for a meter, and says so,
//! with the table's date.
//!
//! Its shape: `{"date": "YYYY-MM-DD", "source": "...", "currency": "USD", "regions":
//! {"<region>": {"<meter id>": USD per the meter's unit}}}`, meter ids as
//! [`super::meters::Meter::id`] gives them, units as [`super::meters::Meter::unit`] (a
//! million requests for API Gateway, else AWS's own unit).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// The shipped table.
#[derive(Debug, Deserialize)]
pub struct Table {
    /// When its rates were taken from AWS's pricing pages.
    pub date: String,
    /// Where they were taken from.
    pub source: String,
    pub currency: String,
    pub regions: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Table {
    /// The rate of meter `id` in `region`, in the meter's unit.
    pub fn rate(&self, region: &str, id: &str) -> Option<f64> {
        self.regions.get(region)?.get(id).copied()
    }
}

/// The table compiled into the binary.
pub fn shipped() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str(include_str!("price-table.json"))
            .expect("price-table.json is checked by the unit tests")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_reads_and_is_dated() {
        let t = shipped();
        assert_eq!(t.currency, "USD");
        assert!(chrono::NaiveDate::parse_from_str(&t.date, "%Y-%m-%d").is_ok());
        assert!(t.rate("us-east-1", "ec2.nat_gateway").is_some());
    }
}
