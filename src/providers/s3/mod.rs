//! S3: buckets and objects.

pub mod bucket;
pub mod object;

pub use bucket::{BucketProps, Encryption};
pub use object::{prepare_object, ObjectProps};

use crate::providers::support::Absent;

/// What S3 answers for a bucket or key that is not there.
const GONE_CODES: &[&str] = &["NotFound", "NoSuchBucket", "NoSuchKey", "404"];

/// A bucket or key that is not there, by its error code.
const GONE: Absent = Absent::Codes(GONE_CODES);

/// The same, or any 404 answer (HEAD requests answer without a body, so without a code).
const GONE_OR_404: Absent = Absent::CodesOrHttp404(GONE_CODES);

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    bucket::register(r);
    object::register(r);
}
