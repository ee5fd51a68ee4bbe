//! The per-target series cache that keeps the scrape loop cheap.
//!
//! Most of a target's series look the same in every scrape, so the work of turning a
//! sample line into the label set storage gets (unescaping, adding the target's labels,
//! metric relabeling, limits) is done once per series and remembered under the line's
//! series text (metric name and label block exactly as written). A later scrape that
//! sees the same text hashes it, finds the entry and reuses the shared label set; it
//! allocates nothing per sample.
//!
//! Texts are kept in an arena in the order they were first seen. Exposers write their
//! series in the same order every time, so the entry after the previous sample's is
//! tried first: when it matches, the sample costs one string comparison on memory read
//! in sequence, with no hashing and no probe of the hash index.
//!
//! Label sets live in [`Slot`]s, one per distinct final label set, since two texts can
//! end up as one series (labels in another order, or a label that relabeling drops).
//! A slot remembers the scrape generation that last appended it: that detects a second
//! sample for the series in one body, tells whether the series is new since the last
//! successful scrape, and — compared with the previous generation — which series
//! disappeared and need a staleness marker, without building any per-scrape set.
//!
//! Entries and slots unseen for more than [`KEEP_GENERATIONS`] scrapes are evicted, so
//! the cache is bounded by what the target exposed in its last few scrapes.

use hashbrown::HashTable;
use pharos_model::Labels;
use std::sync::Arc;
use xxhash_rust::xxh3::xxh3_64;

/// Scrapes an entry outlives its last sighting. More than one, so a series that skips a
/// scrape (a flapping exporter, one failed scrape) does not pay the slow path again.
pub const KEEP_GENERATIONS: u64 = 3;

/// A slot index marking a series text whose samples are dropped (metric relabeling
/// dropped it, or it has no metric name).
const DROPPED: u32 = u32::MAX;

/// The hash of a series text.
#[inline]
fn text_hash(text: &str) -> u64 {
    xxh3_64(text.as_bytes())
}

/// The hash of a final label set, to find the slot of an equal set reached by another text.
fn labels_hash(labels: &Labels) -> u64 {
    let mut h = 0u64;
    for l in labels.iter() {
        h = xxhash_rust::xxh3::xxh3_64_with_seed(l.name.as_bytes(), h);
        h = xxhash_rust::xxh3::xxh3_64_with_seed(l.value.as_bytes(), h.rotate_left(29));
    }
    h
}

struct TextEntry {
    hash: u64,
    /// Empty for a free arena entry (a sample's series text never is).
    text: Box<str>,
    slot: u32,
    seen: u64,
}

/// One series as storage gets it, and what the recent scrapes did with it.
pub struct Slot {
    pub labels: Arc<Labels>,
    hash: u64,
    /// The last scrape that saw a text of this series (for eviction).
    seen: u64,
    /// The last scrape that appended a sample of this series.
    appended: u64,
    /// Whether that sample is subject to staleness (no explicit timestamp, or
    /// `track_timestamps_staleness`).
    tracked: bool,
    /// `appended` and `tracked` before the current scrape, restored if it fails.
    undo: (u64, bool),
}

/// What the cache knows about a series text.
pub enum Lookup {
    /// Seen before: its samples are dropped.
    Dropped,
    /// Seen before: the slot of its series.
    Slot(u32),
    /// Not cached: the caller works the labels out and calls [`SeriesCache::insert`].
    Miss,
}

/// How appending one sample to a slot went.
pub struct Appended {
    /// The series already had a sample in this scrape; this one is not stored.
    pub duplicate: bool,
    /// The series had no sample in the last successful scrape.
    pub added: bool,
}

/// A target's series cache; see the module documentation.
#[derive(Default)]
pub struct SeriesCache {
    /// Arena of texts, in order of first sighting.
    texts: Vec<TextEntry>,
    /// Hash of a text → its arena index.
    text_index: HashTable<u32>,
    free_texts: Vec<u32>,
    /// The arena index after the last text looked up or inserted: the likely next one.
    cursor: usize,
    by_labels: HashTable<u32>,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    /// The current (or, between scrapes, the last) scrape's generation; starts at 1 so
    /// that 0 means "never".
    generation: u64,
    /// The generation of the last successful scrape.
    last_ok: u64,
    /// Distinct texts and slots seen in the current scrape; when they equal the table
    /// sizes nothing can be due for eviction and the sweep is skipped.
    texts_seen: usize,
    slots_seen: usize,
}

impl std::fmt::Debug for SeriesCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeriesCache")
            .field("texts", &self.text_index.len())
            .field("series", &(self.slots.len() - self.free.len()))
            .field("generation", &self.generation)
            .finish()
    }
}

impl SeriesCache {
    /// Starts a scrape.
    pub fn begin(&mut self) {
        self.generation += 1;
        self.texts_seen = 0;
        self.slots_seen = 0;
        self.cursor = 0;
    }

    /// Forgets how texts map to series (the labels depend on a configuration that may
    /// have changed) but keeps the series and their staleness state.
    pub fn forget_texts(&mut self) {
        self.texts.clear();
        self.text_index.clear();
        self.free_texts.clear();
        self.cursor = 0;
    }

    /// Number of cached texts, for tests.
    pub fn texts_len(&self) -> usize {
        self.text_index.len()
    }

    #[inline]
    pub fn lookup(&mut self, text: &str) -> Lookup {
        let guess = self.cursor;
        let at = match self.texts.get(guess) {
            Some(e) if *e.text == *text => guess,
            _ => {
                let hash = text_hash(text);
                let texts = &self.texts;
                let found = self.text_index.find(hash, |&i| {
                    texts
                        .get(i as usize)
                        .is_some_and(|e| e.hash == hash && *e.text == *text)
                });
                match found {
                    Some(&i) => i as usize,
                    None => return Lookup::Miss,
                }
            }
        };
        self.cursor = at + 1;
        let generation = self.generation;
        let Some(e) = self.texts.get_mut(at) else {
            return Lookup::Miss;
        };
        if e.seen != generation {
            e.seen = generation;
            self.texts_seen += 1;
        }
        if e.slot == DROPPED {
            Lookup::Dropped
        } else {
            Lookup::Slot(e.slot)
        }
    }

    /// Remembers a text's outcome: `None` for dropped, else its final labels. Returns the
    /// slot, shared with any other text that produced the same labels.
    pub fn insert(&mut self, text: &str, labels: Option<Labels>) -> Option<u32> {
        let slot = labels.map(|l| self.slot_for(l));
        let hash = text_hash(text);
        let entry = TextEntry {
            hash,
            text: text.into(),
            slot: slot.unwrap_or(DROPPED),
            seen: self.generation,
        };
        let at = match self.free_texts.pop() {
            Some(i) => {
                self.texts[i as usize] = entry;
                i as usize
            }
            None => {
                self.texts.push(entry);
                self.texts.len() - 1
            }
        };
        let texts = &self.texts;
        self.text_index.insert_unique(hash, at as u32, |&i| {
            texts.get(i as usize).map_or(0, |e| e.hash)
        });
        self.cursor = at + 1;
        self.texts_seen += 1;
        slot
    }

    fn slot_for(&mut self, labels: Labels) -> u32 {
        let hash = labels_hash(&labels);
        let slots = &self.slots;
        let found = self.by_labels.find(hash, |&i| {
            slots[i as usize]
                .as_ref()
                .is_some_and(|s| s.hash == hash && *s.labels == labels)
        });
        if let Some(&i) = found {
            return i;
        }
        let slot = Slot {
            labels: Arc::new(labels),
            hash,
            seen: 0,
            appended: 0,
            tracked: false,
            undo: (0, false),
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.by_labels.insert_unique(hash, i, |&j| {
            slots[j as usize].as_ref().map_or(0, |s| s.hash)
        });
        i
    }

    /// The labels of a slot from [`SeriesCache::lookup`] or [`SeriesCache::insert`].
    #[inline]
    pub fn labels(&self, slot: u32) -> Option<&Arc<Labels>> {
        self.slots
            .get(slot as usize)
            .and_then(Option::as_ref)
            .map(|s| &s.labels)
    }

    /// Records a sample of the slot's series in the current scrape.
    #[inline]
    pub fn append(&mut self, slot: u32, tracked: bool) -> Appended {
        let generation = self.generation;
        let Some(s) = self.slots.get_mut(slot as usize).and_then(Option::as_mut) else {
            return Appended {
                duplicate: true,
                added: false,
            };
        };
        if s.seen != generation {
            s.seen = generation;
            self.slots_seen += 1;
        }
        if s.appended == generation {
            return Appended {
                duplicate: true,
                added: false,
            };
        }
        let added = s.appended != self.last_ok || self.last_ok == 0;
        s.undo = (s.appended, s.tracked);
        s.appended = generation;
        s.tracked = tracked;
        Appended {
            duplicate: false,
            added,
        }
    }

    /// Ends a scrape. A failed one is undone (as if it had appended nothing). Calls
    /// `stale` with the labels of every tracked series the previous scrape appended and
    /// this one did not, then evicts what has not been seen for a while.
    pub fn finish(&mut self, ok: bool, mut stale: impl FnMut(&Arc<Labels>)) {
        let generation = self.generation;
        let previous = generation.saturating_sub(1);
        for s in self.slots.iter_mut().flatten() {
            if !ok && s.appended == generation {
                (s.appended, s.tracked) = s.undo;
            }
            if s.appended == previous && s.tracked && previous != 0 {
                stale(&s.labels);
            }
        }
        if ok {
            self.last_ok = generation;
        }
        self.evict();
    }

    /// Calls `f` with the labels of every tracked series of the last scrape, and
    /// forgets them: what a target that goes away leaves behind.
    pub fn drain_last(&mut self, mut f: impl FnMut(Arc<Labels>)) {
        let generation = self.generation;
        for s in self.slots.drain(..).flatten() {
            if s.appended == generation && s.tracked && generation != 0 {
                f(s.labels);
            }
        }
        self.forget_texts();
        self.by_labels.clear();
        self.free.clear();
    }

    fn evict(&mut self) {
        let cutoff = self.generation.saturating_sub(KEEP_GENERATIONS);
        if self.texts_seen < self.text_index.len() {
            self.evict_texts(|e, _| e.seen < cutoff);
        }
        let live = self.slots.len() - self.free.len();
        if self.slots_seen >= live {
            return;
        }
        let mut freed = false;
        for (i, entry) in self.slots.iter_mut().enumerate() {
            // A slot is kept while it was seen recently or is still the previous
            // scrape's series (its staleness marker is due on the next scrape).
            let due = entry
                .as_ref()
                .is_some_and(|s| s.seen < cutoff && s.appended < cutoff);
            if !due {
                continue;
            }
            if let Some(s) = entry.take() {
                if let Ok(found) = self.by_labels.find_entry(s.hash, |&j| j as usize == i) {
                    found.remove();
                }
                self.free.push(i as u32);
                freed = true;
            }
        }
        // A text seen more recently than its series (its scrape failed between the
        // lookup and the append) must not outlive the slot, whose index gets reused.
        if freed {
            self.evict_texts(|e, slots| {
                e.slot != DROPPED && slots.get(e.slot as usize).is_none_or(Option::is_none)
            });
        }
    }

    /// Frees the arena entries `due` picks, and their index entries.
    fn evict_texts(&mut self, due: impl Fn(&TextEntry, &[Option<Slot>]) -> bool) {
        for (i, e) in self.texts.iter_mut().enumerate() {
            if e.text.is_empty() || !due(e, &self.slots) {
                continue;
            }
            if let Ok(found) = self.text_index.find_entry(e.hash, |&j| j as usize == i) {
                found.remove();
            }
            e.text = Box::default();
            e.slot = DROPPED;
            self.free_texts.push(i as u32);
        }
    }
}
