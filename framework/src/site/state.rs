//! A map from a type to one value of it: how apps keep their own state on the site (a session
//! store, a signer) and their own values on a request (the session, the user) without the core
//! knowing their types.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

/// Type ids are already hashes: hashing them again is wasted work on every lookup.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Map = HashMap<TypeId, Box<dyn Any + Send + Sync>, BuildHasherDefault<IdHasher>>;

/// One value per type, set while the site is assembled and read-only after.
#[derive(Default)]
pub(crate) struct TypeMap(Map);

impl TypeMap {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.0.insert(TypeId::of::<T>(), Box::new(value));
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.0.get(&TypeId::of::<T>()).and_then(|v| v.downcast_ref())
    }

    pub(crate) fn get_mut<T: Send + Sync + 'static>(&mut self) -> Option<&mut T> {
        self.0.get_mut(&TypeId::of::<T>()).and_then(|v| v.downcast_mut())
    }

    /// Takes in every value of `other`, replacing those of the same types.
    pub(crate) fn extend(&mut self, other: TypeMap) {
        self.0.extend(other.0);
    }
}

/// Values apps give to other apps, any number per type (see
/// [`App::contribute`](crate::App::contribute)), in install order.
#[derive(Default)]
pub(crate) struct Contributions(Vec<(TypeId, Box<dyn Any + Send + Sync>)>);

impl Contributions {
    pub(crate) fn push<T: Send + Sync + 'static>(&mut self, value: T) {
        self.0.push((TypeId::of::<T>(), Box::new(value)));
    }

    pub(crate) fn append(&mut self, other: &mut Contributions) {
        self.0.append(&mut other.0);
    }

    /// Every value of type `T`, in the order they were given.
    pub(crate) fn of<T: Send + Sync + 'static>(&self) -> impl Iterator<Item = &T> {
        self.0.iter().filter(|(id, _)| *id == TypeId::of::<T>()).filter_map(|(_, v)| v.downcast_ref::<T>())
    }
}

/// One value per type that several owners of one request set and read through `&self` (the
/// middleware, the view, and the error page of a view that failed).
#[derive(Default)]
pub(crate) struct SharedTypeMap(Mutex<Map>);

impl SharedTypeMap {
    fn lock(&self) -> std::sync::MutexGuard<'_, Map> {
        // A panic while the map was locked cannot leave it half-changed: inserts are whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn insert<T: Send + Sync + 'static>(&self, value: T) {
        self.lock().insert(TypeId::of::<T>(), Box::new(value));
    }

    pub(crate) fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.lock().get(&TypeId::of::<T>()).and_then(|v| v.downcast_ref::<T>()).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_type() {
        let mut map = TypeMap::default();
        map.insert(3u32);
        map.insert("text");
        map.insert(4u32);
        assert_eq!(map.get::<u32>(), Some(&4));
        *map.get_mut::<u32>().unwrap() += 1;
        assert_eq!(map.get::<u32>(), Some(&5));
        assert_eq!(map.get::<&str>(), Some(&"text"));
        assert!(map.get::<u64>().is_none());
        let mut more = TypeMap::default();
        more.insert(5u32);
        map.extend(more);
        assert_eq!(map.get::<u32>(), Some(&5));

        let mut given = Contributions::default();
        given.push(1u8);
        given.push("other");
        given.push(2u8);
        assert_eq!(given.of::<u8>().copied().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(given.of::<u16>().count(), 0);

        let shared = SharedTypeMap::default();
        shared.insert(String::from("a"));
        assert_eq!(shared.get::<String>().as_deref(), Some("a"));
        assert!(shared.get::<u8>().is_none());
    }
}
