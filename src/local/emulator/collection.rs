//! One kind of resource as a service keeps it: a map from id to [`Item`] that answers the
//! questions every emulated API asks the same way — is this name taken, does this id exist, what
//! is there, may it go — and moves states that AWS changes on its own (CREATING → ACTIVE,
//! DELETING → gone) once their delay has passed. A [`Kind`] gives the service's words for it.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{conflict, not_found, ApiError};

/// A resource: its body as the service keeps it (what create sent, plus what the service adds),
/// its state, and the state change in flight, if any.
///
/// The JSON of a collection of items is the emulator's state file format; a field added here
/// needs `#[serde(default)]` so older state files still load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Item {
    pub body: Value,
    pub state: String,
    /// RFC 3339 with milliseconds, the form MSK and MSK Connect return as `creationTime`.
    pub created: String,
    /// When `next_state` takes over (milliseconds since the epoch); 0: no change in flight.
    settles_at_ms: u128,
    /// What `state` becomes at `settles_at_ms`; `None` means the item is then gone.
    next_state: Option<String>,
}

impl Item {
    /// Starts a change: the item is `state` now and `next` (gone, if `None`) after `delay`.
    fn change(&mut self, state: &str, next: Option<&str>, delay: Duration) {
        self.state = state.into();
        self.settles_at_ms = now_ms() + delay.as_millis();
        self.next_state = next.map(str::to_string);
    }
}

/// What a service calls one kind of resource, and how that kind moves between states.
///
/// The defaults are the commonest case: unique by a `name` field, CREATING then ACTIVE, DELETING
/// then gone, with MSK's and MSK Connect's error shapes (a taken name is a 409
/// `ConflictException`, an unknown id a 404 `NotFoundException`: aws-sdk-kafka 1.134
/// `src/operation/create_cluster_v2.rs`, aws-sdk-kafkaconnect 1.125
/// `src/operation/create_connector.rs`). A kind says only how it differs.
pub(super) trait Kind {
    /// How messages name the resource, capitalised: "Cluster", "Custom plugin".
    const NOUN: &'static str;
    /// The create body's field a second resource may not repeat; `None`: the id is the name.
    const NAME_FIELD: Option<&'static str> = Some("name");
    /// The state a new resource starts in and leaves for [`Kind::STABLE`] after the delay;
    /// `None`: it is created in its stable state (configurations, worker configurations).
    const CREATING: Option<&'static str> = Some("CREATING");
    /// The state it rests in when nothing is in flight: ACTIVE, RUNNING, AVAILABLE.
    const STABLE: &'static str = "ACTIVE";
    /// Whether a delete shows DELETING for the delay before the resource is gone; if not,
    /// it is gone at once.
    const DELETING: bool = true;

    /// The answer to a create whose name is taken.
    fn conflict(name: &str) -> ApiError {
        conflict(format!(
            "A {} with name {name} already exists",
            Self::NOUN.to_lowercase()
        ))
    }

    /// The answer to a call naming an id that does not exist.
    fn not_found(id: &str) -> ApiError {
        not_found(&format!("{} {id}", Self::NOUN))
    }

    /// The answer to a delete of a resource another one still uses.
    fn in_use() -> ApiError {
        conflict(format!("the {} is in use", Self::NOUN.to_lowercase()))
    }
}

/// The resources of one [`Kind`], by id (an ARN, or a name where the API addresses them by name).
///
/// Serialises as the bare map, so the state file is the same as before collections existed.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub(super) struct Collection<K> {
    items: BTreeMap<String, Item>,
    #[serde(skip)]
    kind: PhantomData<K>,
}

// By hand: derived impls would ask the marker type `K` to be `Default`, `Clone` and `Debug`.
impl<K> std::fmt::Debug for Collection<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.items.fmt(f)
    }
}

impl<K> Default for Collection<K> {
    fn default() -> Self {
        Collection {
            items: BTreeMap::new(),
            kind: PhantomData,
        }
    }
}

impl<K> Clone for Collection<K> {
    fn clone(&self) -> Self {
        Collection {
            items: self.items.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: Kind> Collection<K> {
    /// Refuses a create whose name another resource of this kind has (before the service
    /// validates the rest of the request, which is the order AWS checks in).
    pub fn ensure_free(&self, name: &str) -> Result<(), ApiError> {
        let taken = match K::NAME_FIELD {
            Some(field) => self
                .items
                .values()
                .any(|i| i.body.get(field).and_then(Value::as_str) == Some(name)),
            None => self.items.contains_key(name),
        };
        if taken {
            Err(K::conflict(name))
        } else {
            Ok(())
        }
    }

    /// Adds a resource in its first state ([`Kind::CREATING`], settling after `delay`).
    pub fn create(&mut self, id: String, body: Value, delay: Duration) -> &Item {
        let mut item = Item {
            body,
            state: K::STABLE.into(),
            created: iso_now(),
            settles_at_ms: 0,
            next_state: None,
        };
        if let Some(creating) = K::CREATING {
            item.change(creating, Some(K::STABLE), delay);
        }
        match self.items.entry(id) {
            Entry::Occupied(mut slot) => {
                slot.insert(item);
                slot.into_mut()
            }
            Entry::Vacant(slot) => slot.insert(item),
        }
    }

    /// Adds a resource that is `first` now and `then` after `delay` (an operation whose kind
    /// of change decides its states: PAUSE_IN_PROGRESS → PAUSE_COMPLETE).
    pub fn create_in(
        &mut self,
        id: String,
        body: Value,
        first: &str,
        then: &str,
        delay: Duration,
    ) -> &Item {
        self.create(id.clone(), body, delay);
        let item = self.items.get_mut(&id).expect("just created");
        item.change(first, Some(then), delay);
        item
    }

    /// The resource `id`, or the service's not-found error.
    pub fn get(&self, id: &str) -> Result<&Item, ApiError> {
        self.items.get(id).ok_or_else(|| K::not_found(id))
    }

    /// Whether `id` exists (in any state, DELETING included).
    pub fn contains(&self, id: &str) -> bool {
        self.items.contains_key(id)
    }

    /// Every resource, by id (ids sort as strings, which is the emulator's list order; no
    /// list call of the emulator pages).
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Item)> {
        self.items.iter()
    }

    /// Every id, in list order.
    pub fn ids(&self) -> impl Iterator<Item = &String> {
        self.items.keys()
    }

    /// Whether any resource's body holds `id` at the JSON `pointer`: how a delete-if-unused
    /// rule asks what may use a resource, and how tag calls find a resource by its ARN.
    pub fn any_names(&self, pointer: &str, id: &str) -> bool {
        self.items
            .values()
            .any(|i| i.body.pointer(pointer).and_then(Value::as_str) == Some(id))
    }

    /// Applies `change` to `id` and, if it succeeds, puts the resource in UPDATING until the
    /// delay has passed. `change` checks the service's preconditions first: an error leaves
    /// the state as it was.
    pub fn update<T>(
        &mut self,
        id: &str,
        delay: Duration,
        change: impl FnOnce(&mut Item) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.update_to(id, delay, "UPDATING", K::STABLE, change)
    }

    /// [`Collection::update`] through other states: `now` until the delay has passed, then
    /// `then` (PAUSING → PAUSED, RESUMING → RUNNING).
    pub fn update_to<T>(
        &mut self,
        id: &str,
        delay: Duration,
        now: &str,
        then: &str,
        change: impl FnOnce(&mut Item) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let item = self.items.get_mut(id).ok_or_else(|| K::not_found(id))?;
        let out = change(item)?;
        item.change(now, Some(then), delay);
        Ok(out)
    }

    /// Makes `id`, still being created, settle in `failed` instead of its stable state (a
    /// create the service accepted and then gave up on), after `edit` has recorded why in its
    /// body.
    pub fn fail_after_create(
        &mut self,
        id: &str,
        failed: &str,
        edit: impl FnOnce(&mut Value),
    ) -> Result<(), ApiError> {
        let item = self.items.get_mut(id).ok_or_else(|| K::not_found(id))?;
        edit(&mut item.body);
        item.next_state = Some(failed.into());
        Ok(())
    }

    /// Edits `id` in place with no state change (a new configuration revision).
    pub fn edit<T>(&mut self, id: &str, edit: impl FnOnce(&mut Item) -> T) -> Result<T, ApiError> {
        let item = self.items.get_mut(id).ok_or_else(|| K::not_found(id))?;
        Ok(edit(item))
    }

    /// Deletes `id`: DELETING for the delay, or gone at once (see [`Kind::DELETING`]). Answers
    /// the resource as it was asked to go.
    pub fn delete(&mut self, id: &str, delay: Duration) -> Result<Item, ApiError> {
        if K::DELETING {
            let item = self.items.get_mut(id).ok_or_else(|| K::not_found(id))?;
            item.change("DELETING", None, delay);
            Ok(item.clone())
        } else {
            self.items.remove(id).ok_or_else(|| K::not_found(id))
        }
    }

    /// [`Collection::delete`], refused with [`Kind::in_use`] while `used`. The use is checked
    /// before the id, so a delete of an unknown id that something names is refused, not 404.
    pub fn delete_unused(
        &mut self,
        id: &str,
        used: bool,
        delay: Duration,
    ) -> Result<Item, ApiError> {
        if used {
            return Err(K::in_use());
        }
        self.delete(id, delay)
    }

    /// Removes every resource whose id satisfies `gone` at once (a cluster's topics go with it).
    pub fn drop_where(&mut self, gone: impl Fn(&str) -> bool) {
        self.items.retain(|id, _| !gone(id));
    }

    /// Completes the state changes that are due at `now_ms`.
    pub fn settle(&mut self, now_ms: u128) {
        self.items.retain(|_, item| {
            if item.settles_at_ms == 0 || item.settles_at_ms > now_ms {
                return true;
            }
            match item.next_state.take() {
                Some(state) => {
                    item.state = state;
                    item.settles_at_ms = 0;
                    true
                }
                None => false,
            }
        });
    }
}

pub(super) fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

pub(super) fn iso_now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// The RFC 3339 time `delay` from now: when a change started now completes (an operation's
/// `endTime`, shown once it has).
pub(super) fn iso_in(delay: Duration) -> String {
    humantime::format_rfc3339_millis(SystemTime::now() + delay).to_string()
}
