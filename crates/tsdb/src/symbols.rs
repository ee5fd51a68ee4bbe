//! Interned label strings of the head. Every distinct name and value is stored once and
//! referred to by a `u32`; reference counts let series churn free strings again.

use hashbrown::HashTable;

pub type Sym = u32;

#[derive(Default)]
pub struct SymbolTable {
    strings: Vec<Entry>,
    by_hash: HashTable<Sym>,
    free: Vec<Sym>,
    live: usize,
}

struct Entry {
    s: Box<str>,
    refs: u32,
}

pub fn hash_str(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

impl SymbolTable {
    pub fn lookup(&self, s: &str) -> Option<Sym> {
        let h = hash_str(s);
        self.by_hash
            .find(h, |&id| &*self.strings[id as usize].s == s)
            .copied()
    }

    /// Returns the symbol of `s`, adding one reference.
    pub fn intern(&mut self, s: &str) -> Sym {
        let h = hash_str(s);
        if let Some(&id) = self
            .by_hash
            .find(h, |&id| &*self.strings[id as usize].s == s)
        {
            self.strings[id as usize].refs += 1;
            return id;
        }
        let entry = Entry {
            s: s.into(),
            refs: 1,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.strings[id as usize] = entry;
                id
            }
            None => {
                self.strings.push(entry);
                (self.strings.len() - 1) as Sym
            }
        };
        let strings = &self.strings;
        self.by_hash
            .insert_unique(h, id, |&i| hash_str(&strings[i as usize].s));
        self.live += 1;
        id
    }

    /// Drops one reference; the string is freed when none remain.
    pub fn release(&mut self, id: Sym) {
        let Some(e) = self.strings.get_mut(id as usize) else {
            return;
        };
        if e.refs == 0 {
            return;
        }
        e.refs -= 1;
        if e.refs == 0 {
            let h = hash_str(&e.s);
            if let Ok(entry) = self.by_hash.find_entry(h, |&i| i == id) {
                entry.remove();
            }
            self.strings[id as usize].s = "".into();
            self.free.push(id);
            self.live -= 1;
        }
    }

    pub fn get(&self, id: Sym) -> &str {
        self.strings.get(id as usize).map(|e| &*e.s).unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    pub fn memory_bytes(&self) -> usize {
        self.strings.capacity() * std::mem::size_of::<Entry>()
            + self.strings.iter().map(|e| e.s.len()).sum::<usize>()
            + self.by_hash.capacity() * (std::mem::size_of::<Sym>() + 1)
            + self.free.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intern_release_reuse() {
        let mut t = SymbolTable::default();
        let a = t.intern("a");
        assert_eq!(t.intern("a"), a);
        let b = t.intern("b");
        assert_ne!(a, b);
        t.release(a);
        assert_eq!(t.lookup("a"), Some(a));
        t.release(a);
        assert_eq!(t.lookup("a"), None);
        let c = t.intern("c");
        assert_eq!(c, a, "freed ids are reused");
        assert_eq!(t.get(c), "c");
        assert_eq!(t.len(), 2);
    }
}
