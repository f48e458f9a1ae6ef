//! The providers: one module per AWS service, one file per resource kind in it (its props
//! type, its registration and its provider), the simulated provider of `sim.*` kinds, and the
//! [`Registry`] that yields each kind with its provider. Providers implement the engine's
//! [`Provider`] contract through the typed layer ([`typed::TypedProvider`]), which converts the
//! engine's JSON to each kind's props in one place; [`support`] holds what they share ("not
//! found" answers, a service's status as progress, composite ids).

pub mod apigateway;
pub mod cost;
pub mod ec2;
pub mod elbv2;
pub mod emrserverless;
pub mod iam;
pub mod kinesis;
pub mod msk;
pub mod mskconnect;
pub mod mwaa;
pub mod preflight;
pub mod s3;
pub mod sim;
pub mod ssm;
pub mod support;
pub mod typed;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clients::aws::Clients;
use crate::engine::provider::{Cx, Provider, ProviderError};
use crate::kind::{KindInfo, Kinds};
use crate::providers::typed::{typed, TypedProvider};

/// What a provider is built with: the shared AWS clients and the stack's root directory (the
/// base of the relative paths in props: key files, plugin artifacts, worker units).
pub struct ProviderEnv {
    pub clients: Arc<Clients>,
    pub root: PathBuf,
}

/// Builds a kind's provider from its static description and the environment.
pub type MakeProvider = Box<dyn Fn(KindInfo, &ProviderEnv) -> Arc<dyn Provider> + Send + Sync>;

/// Every kind pinctl knows, each registered once with the function that builds its provider,
/// so a kind without a provider cannot exist.
pub struct Registry {
    entries: Vec<(KindInfo, MakeProvider)>,
}

impl Registry {
    /// All kinds: the AWS services' and the simulated ones.
    pub fn all() -> Self {
        let mut r = Registry {
            entries: Vec::new(),
        };
        iam::register(&mut r);
        s3::register(&mut r);
        ec2::register(&mut r);
        elbv2::register(&mut r);
        msk::register(&mut r);
        mskconnect::register(&mut r);
        apigateway::register(&mut r);
        kinesis::register(&mut r);
        mwaa::register(&mut r);
        emrserverless::register(&mut r);
        ssm::register(&mut r);
        sim::register(&mut r);
        r
    }

    /// Adds a kind. Panics when the name is already registered: two modules claiming one kind
    /// is a bug caught by the first test that builds the registry.
    pub fn add(
        &mut self,
        info: KindInfo,
        make: impl Fn(KindInfo, &ProviderEnv) -> Arc<dyn Provider> + Send + Sync + 'static,
    ) {
        assert!(
            self.entries.iter().all(|(i, _)| i.name != info.name),
            "resource kind `{}` registered twice",
            info.name
        );
        self.entries.push((info, Box::new(make)));
    }

    /// Adds a kind whose provider is a [`TypedProvider`] built from the environment; the
    /// engine sees it through the typed layer's adapter, which holds `info`.
    pub fn add_typed<P: TypedProvider>(&mut self, info: KindInfo, make: fn(&ProviderEnv) -> P) {
        self.add(info, move |info, env| typed(info, make(env)));
    }

    /// The catalog of kinds, for loading and checking stacks.
    pub fn kinds(&self) -> Kinds {
        Kinds::new(self.entries.iter().map(|(i, _)| i.clone()))
    }

    /// A provider for every kind, built over one set of AWS clients; `root` is the stack's
    /// directory.
    pub fn providers(&self, root: &Path) -> BTreeMap<String, Arc<dyn Provider>> {
        let env = ProviderEnv {
            clients: Arc::new(Clients::new()),
            root: root.to_path_buf(),
        };
        self.entries
            .iter()
            .map(|(info, make)| (info.name.to_string(), make(info.clone(), &env)))
            .collect()
    }
}

/// Whether tags read from a service mark the resource as this stack's `cx.resource`. While
/// resuming its own interrupted creation, an untagged resource of the expected name is taken as
/// the one that creation made before it could tag it.
pub fn owned_by(tags: &std::collections::BTreeMap<String, String>, cx: &Cx) -> bool {
    cx.tags().iter().all(|(k, v)| tags.get(k) == Some(v))
        || (cx.resuming && !tags.contains_key("pinctl:stack"))
}

/// A resource exists under the name the stack wants but belongs to something else.
pub fn not_ours(what: &str, name: &str) -> ProviderError {
    ProviderError::NotOwned {
        what: what.into(),
        name: name.into(),
    }
}
