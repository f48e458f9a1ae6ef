//! The typed provider layer: a kind's provider works on its own props type, and one adapter,
//! [`Typed`], implements the engine's [`Provider`] contract for it, converting the engine's
//! JSON to props and back in one place (after pulumi-go-provider's `infer.CustomResource`,
//! where inputs are typed structs and (de)serialisation is the framework's job).
//!
//! What the adapter does with each conversion:
//! - props to create, update or adopt with: a bad conversion is [`ProviderError::Invalid`],
//!   naming the kind;
//! - `recorded` props (what the engine last applied, secrets replaced by their digests; `null`
//!   when [`Provider::is_deleted`]'s default reads without them): converted when they can be,
//!   `None` otherwise, so each provider decides what it falls back to;
//! - live props a read reports: serialised back to JSON (`null` where the provider has none).

use std::sync::Arc;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::engine::provider::{Cx, Found, Live, Poll, Provider, ProviderError};
use crate::kind::KindInfo;

/// What a read found: the live props (the kind's props as the service reports them) and the
/// outputs.
#[derive(Debug, Clone)]
pub struct Observed<P> {
    /// `None` when the provider cannot say (it reports what was recorded, and nothing was):
    /// reported to the engine as `null`.
    pub props: Option<P>,
    pub outputs: Map<String, Value>,
}

impl<P> Observed<P> {
    /// Live `props` with their `outputs`.
    pub fn new(props: P, outputs: Map<String, Value>) -> Self {
        Observed {
            props: Some(props),
            outputs,
        }
    }
}

/// A provider of one kind over its props type. The rules of the engine's [`Provider`]
/// contract hold unchanged (non-blocking, idempotent, "already gone" is success); only the
/// props are typed. The kind's [`KindInfo`] is the registry's, not the provider's: register it
/// with [`crate::providers::Registry::add_typed`] (or wrap it with [`typed`]).
#[async_trait]
pub trait TypedProvider: Send + Sync + 'static {
    /// The kind's props, as the stack writes them.
    type Props: DeserializeOwned + Serialize + Send + Sync;

    /// The live resource, or `None` when it no longer exists. `recorded` are the props last
    /// applied, when there are any and they convert.
    async fn read(
        &self,
        cx: &Cx,
        physical_id: &str,
        recorded: Option<&Self::Props>,
    ) -> Result<Option<Observed<Self::Props>>, ProviderError>;

    /// Finds a resource an interrupted run created with `cx.token`, if any.
    async fn adopt(&self, cx: &Cx, props: &Self::Props) -> Result<Option<String>, ProviderError> {
        let _ = (cx, props);
        Ok(None)
    }

    /// Starts the creation and returns the physical id.
    async fn create(&self, cx: &Cx, props: &Self::Props) -> Result<String, ProviderError>;

    /// Whether a create or update has finished; `Ready` carries the outputs.
    async fn poll(&self, cx: &Cx, physical_id: &str) -> Result<Poll, ProviderError>;

    /// Changes in place the fields listed in `changed`; `old` are the recorded props when they
    /// convert. Optional: a kind without it declares [`KindInfo::no_update`], so the plan
    /// replaces it on any change and never calls it (the adapter refuses it too).
    async fn update(
        &self,
        cx: &Cx,
        physical_id: &str,
        old: Option<&Self::Props>,
        new: &Self::Props,
        changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let _ = (cx, physical_id, old, new, changed);
        Err(ProviderError::Unsupported(
            "this kind cannot be updated in place".into(),
        ))
    }

    /// Starts the deletion; a resource already gone is not an error. `recorded` are the props
    /// it was last applied with, when they convert.
    async fn delete(
        &self,
        cx: &Cx,
        physical_id: &str,
        recorded: Option<&Self::Props>,
    ) -> Result<(), ProviderError>;

    /// Whether the deletion has finished.
    async fn is_deleted(&self, cx: &Cx, physical_id: &str) -> Result<bool, ProviderError> {
        Ok(self.read(cx, physical_id, None).await?.is_none())
    }

    /// The physical id of the resource `props` describe, when the props alone determine it
    /// (a part of another resource: `cluster|topic`, `role:policy`, `api/stage`), so the
    /// default [`TypedProvider::find`] can look it up by reading it.
    fn id_of(&self, props: &Self::Props) -> Option<String> {
        let _ = props;
        None
    }

    /// Live resources under the name `props` give, or with the stack's tags for `cx.resource`
    /// (see [`Provider::find`]). The default: the resource [`TypedProvider::id_of`] names, if
    /// it exists; else this kind cannot be looked up.
    async fn find(&self, cx: &Cx, props: &Self::Props) -> Result<Vec<Found>, ProviderError> {
        let Some(id) = self.id_of(props) else {
            return Err(ProviderError::Unsupported(
                "a part of another resource, with no name or tags of its own to look by".into(),
            ));
        };
        Ok(match self.read(cx, &id, Some(props)).await? {
            Some(_) => vec![Found::named(id.clone(), id)],
            None => Vec::new(),
        })
    }
}

/// The engine's [`Provider`] over a [`TypedProvider`] of the kind `info` describes.
pub struct Typed<T> {
    pub info: KindInfo,
    pub provider: T,
}

/// A typed provider of the kind `info` describes, as the engine's.
pub fn typed<T: TypedProvider>(info: KindInfo, provider: T) -> Arc<dyn Provider> {
    Arc::new(Typed { info, provider })
}

impl<T: TypedProvider> Typed<T> {
    /// Props the operation needs: a bad conversion is invalid props of this kind.
    fn props(&self, v: &Value) -> Result<T::Props, ProviderError> {
        serde_json::from_value(v.clone())
            .map_err(|e| ProviderError::Invalid(format!("{}: {e}", self.info.name)))
    }

    /// Recorded props, when there are any and they convert.
    fn recorded(v: &Value) -> Option<T::Props> {
        serde_json::from_value(v.clone()).ok()
    }
}

#[async_trait]
impl<T: TypedProvider> Provider for Typed<T> {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        cx: &Cx,
        physical_id: &str,
        recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        let recorded = Self::recorded(recorded);
        Ok(self
            .provider
            .read(cx, physical_id, recorded.as_ref())
            .await?
            .map(|o| Live {
                props: o
                    .props
                    .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
                    .unwrap_or(Value::Null),
                outputs: o.outputs,
            }))
    }

    async fn adopt(&self, cx: &Cx, props: &Value) -> Result<Option<String>, ProviderError> {
        // Props that do not convert never reached the service (`create` converts them first),
        // so nothing was made: a stack applied with bad props still comes down once fixed.
        let Ok(props) = self.props(props) else {
            return Ok(None);
        };
        self.provider.adopt(cx, &props).await
    }

    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let props = self.props(props)?;
        self.provider.create(cx, &props).await
    }

    async fn poll(&self, cx: &Cx, physical_id: &str) -> Result<Poll, ProviderError> {
        self.provider.poll(cx, physical_id).await
    }

    async fn update(
        &self,
        cx: &Cx,
        physical_id: &str,
        old: &Value,
        new: &Value,
        changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        if !self.info.updates {
            return Err(ProviderError::Unsupported(format!(
                "`{}` cannot be updated in place",
                self.info.name
            )));
        }
        let new = self.props(new)?;
        let old = Self::recorded(old);
        self.provider
            .update(cx, physical_id, old.as_ref(), &new, changed)
            .await
    }

    async fn delete(
        &self,
        cx: &Cx,
        physical_id: &str,
        recorded: &Value,
    ) -> Result<(), ProviderError> {
        let recorded = Self::recorded(recorded);
        self.provider
            .delete(cx, physical_id, recorded.as_ref())
            .await
    }

    async fn is_deleted(&self, cx: &Cx, physical_id: &str) -> Result<bool, ProviderError> {
        self.provider.is_deleted(cx, physical_id).await
    }

    async fn find(&self, cx: &Cx, props: &Value) -> Result<Vec<Found>, ProviderError> {
        // Props that do not convert (values known only once other resources exist) cannot be
        // looked up by.
        let props = self.props(props)?;
        self.provider.find(cx, &props).await
    }
}

/// The recorded props an update needs to compare against: missing or unconvertible recorded
/// props are invalid for a kind whose update cannot do without them.
pub fn required<'a, P>(old: Option<&'a P>, kind: &str) -> Result<&'a P, ProviderError> {
    old.ok_or_else(|| {
        ProviderError::Invalid(format!(
            "{kind}: the recorded props do not convert; the update needs them"
        ))
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Props {
        name: String,
    }

    struct Echo;

    #[async_trait]
    impl TypedProvider for Echo {
        type Props = Props;
        async fn read(
            &self,
            _cx: &Cx,
            id: &str,
            recorded: Option<&Props>,
        ) -> Result<Option<Observed<Props>>, ProviderError> {
            Ok((id != "gone").then(|| Observed {
                props: recorded.cloned(),
                outputs: Map::new(),
            }))
        }
        async fn create(&self, _cx: &Cx, props: &Props) -> Result<String, ProviderError> {
            Ok(props.name.clone())
        }
        async fn poll(&self, _cx: &Cx, _id: &str) -> Result<Poll, ProviderError> {
            Ok(Poll::Ready(Map::new()))
        }
        async fn delete(
            &self,
            _cx: &Cx,
            _id: &str,
            _recorded: Option<&Props>,
        ) -> Result<(), ProviderError> {
            Ok(())
        }
    }

    fn cx() -> Cx {
        Cx {
            stack: "s".into(),
            env: "e".into(),
            resource: "r".into(),
            token: "t".into(),
            resuming: false,
        }
    }

    #[tokio::test]
    async fn props_convert_once_and_a_bad_conversion_names_the_kind() {
        let p = Typed {
            info: KindInfo::new("test.echo", "echo"),
            provider: Echo,
        };
        assert_eq!(p.create(&cx(), &json!({"name": "a"})).await.unwrap(), "a");
        let err = p.create(&cx(), &json!({"nom": "a"})).await.unwrap_err();
        assert!(matches!(&err, ProviderError::Invalid(m) if m.starts_with("test.echo: ")));
        let err = p
            .update(&cx(), "a", &Value::Null, &json!({"name": "a"}), &[])
            .await
            .unwrap_err();
        assert!(matches!(&err, ProviderError::Unsupported(m) if m.contains("in place")));
        let fixed = Typed {
            info: KindInfo::new("test.echo", "echo").no_update(),
            provider: Echo,
        };
        let err = fixed
            .update(&cx(), "a", &Value::Null, &json!({"name": "a"}), &[])
            .await
            .unwrap_err();
        assert!(matches!(&err, ProviderError::Unsupported(m) if m.contains("`test.echo`")));
    }

    #[tokio::test]
    async fn recorded_props_that_do_not_convert_read_as_null() {
        let p = Typed {
            info: KindInfo::new("test.echo", "echo"),
            provider: Echo,
        };
        let live = p.read(&cx(), "a", &json!({"name": "a"})).await.unwrap();
        assert_eq!(live.unwrap().props, json!({"name": "a"}));
        let live = p.read(&cx(), "a", &Value::Null).await.unwrap();
        assert_eq!(live.unwrap().props, Value::Null);
        assert!(p.is_deleted(&cx(), "gone").await.unwrap());
        assert!(!p.is_deleted(&cx(), "a").await.unwrap());
    }
}
