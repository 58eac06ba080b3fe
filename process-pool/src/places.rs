//! The output of `try_map`: values placed by input position, in whatever
//! order their chunks finish, and handed over as a plain `Vec<R>` once
//! every place is filled. Each value is written once, where it ends up,
//! and the `Vec` is the same allocation: no `Option` per value, no pass
//! to take the values out of their `Option`s. A bit per place says which
//! are filled, so that only those are ever read or dropped.

use std::mem::{ManuallyDrop, MaybeUninit};

/// Places `0..len` for values of type `R`, each filled or not.
pub(crate) struct Places<R> {
    values: Vec<MaybeUninit<R>>,
    /// Bit `i % 64` of word `i / 64`: place `i` holds a value.
    filled: Vec<u64>,
}

impl<R> Places<R> {
    /// No places yet, room for `capacity` without reallocating.
    pub fn with_capacity(capacity: usize) -> Self {
        Places {
            values: Vec::with_capacity(capacity),
            filled: Vec::new(),
        }
    }

    /// Makes places up to `len` (unfilled); costs no writes to them.
    pub fn grow(&mut self, len: usize) {
        if len > self.values.len() {
            self.values.reserve(len - self.values.len());
            // SAFETY: the capacity is there (reserved above), and a
            // `MaybeUninit` needs no initialising.
            unsafe { self.values.set_len(len) };
            self.filled.resize(len.div_ceil(64), 0);
        }
    }

    fn is_filled(&self, index: usize) -> bool {
        self.filled
            .get(index / 64)
            .is_some_and(|w| w & (1 << (index % 64)) != 0)
    }

    /// Puts `value` in place `index`, dropping any value there before.
    pub fn set(&mut self, index: usize, value: R) {
        let mut value = Some(value);
        let _ = self.fill(index..index + 1, |_| Ok::<_, ()>(value.take()));
    }

    /// Fills places `range` in order with what `next` gives for each: a
    /// value, `None` (the place is left as it is), or an error, which
    /// stops the filling (the places before it stay filled). A value
    /// already in a place is dropped. The bits are kept in a register and
    /// stored once per 64 places: this is the loop `try_map` decodes in.
    #[inline(always)]
    pub fn fill<E>(
        &mut self,
        range: std::ops::Range<usize>,
        mut next: impl FnMut(usize) -> Result<Option<R>, E>,
    ) -> Result<(), E> {
        self.grow(range.end);
        let mut word = range.start / 64;
        let mut bits = self.filled.get(word).copied().unwrap_or(0);
        let mut result = Ok(());
        for index in range {
            if index / 64 != word {
                self.filled[word] = bits;
                word = index / 64;
                bits = self.filled[word];
            }
            let value = match next(index) {
                Ok(Some(value)) => value,
                Ok(None) => continue,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let bit = 1u64 << (index % 64);
            if bits & bit != 0 {
                // SAFETY: the bit says the place holds a value; it is
                // overwritten right below, so it is dropped exactly once.
                unsafe { self.values[index].assume_init_drop() };
            }
            self.values[index].write(value);
            bits |= bit;
        }
        if let Some(w) = self.filled.get_mut(word) {
            *w = bits;
        }
        result
    }

    /// Fills places `range` in order with what `next` gives, up to the
    /// first `None`; whether every place got a value. The places before
    /// that `None` are filled and the rest of `range` is left empty, any
    /// values in them dropped. This is the loop `try_map` decodes a run of
    /// `Ok` values in: one value written per place, no branch on the bits
    /// (they are set a word at a time afterwards).
    #[inline(always)]
    pub fn fill_run(
        &mut self,
        range: std::ops::Range<usize>,
        mut next: impl FnMut() -> Option<R>,
    ) -> bool {
        self.grow(range.end);
        if std::mem::needs_drop::<R>() {
            // Rare (a chunk run again): what is there now is dropped first.
            range.clone().for_each(|index| self.clear(index));
        }
        let mut filled = 0;
        for place in &mut self.values[range.clone()] {
            let Some(value) = next() else { break };
            place.write(value);
            filled += 1;
        }
        self.mark(range.start..range.start + filled);
        filled == range.len()
    }

    /// Sets the bits of places `range`, a word at a time.
    fn mark(&mut self, range: std::ops::Range<usize>) {
        let mut at = range.start;
        while at < range.end {
            let (word, low) = (at / 64, at % 64);
            let high = (range.end - word * 64).min(64);
            self.filled[word] |= (u64::MAX >> (64 - (high - low))) << low;
            at = word * 64 + high;
        }
    }

    /// Empties place `index` (dropping its value), if it is in range.
    pub fn clear(&mut self, index: usize) {
        if self.is_filled(index) {
            self.filled[index / 64] &= !(1 << (index % 64));
            // SAFETY: the bit said the place holds a value; it is taken
            // down first, so the value is dropped exactly once.
            unsafe { self.values[index].assume_init_drop() };
        }
    }

    /// The first unfilled place below `len`, if any (`len` may be past
    /// the places made: those count as unfilled). A word at a time.
    pub fn first_unfilled(&self, len: usize) -> Option<usize> {
        let made = len.min(self.values.len());
        let gap = self.filled.iter().enumerate().find_map(|(w, &bits)| {
            (bits != u64::MAX).then(|| w * 64 + (!bits).trailing_zeros() as usize)
        });
        match gap {
            Some(at) if at < made => Some(at),
            _ => (made < len).then_some(made),
        }
    }

    /// The values, if every place is filled; else `self` back.
    pub fn into_vec(self) -> Result<Vec<R>, Self> {
        if self.first_unfilled(self.values.len()).is_some() {
            return Err(self);
        }
        let mut this = ManuallyDrop::new(self);
        // The bits are dropped here; `this` holds nothing else to drop.
        drop(std::mem::take(&mut this.filled));
        let mut values = ManuallyDrop::new(std::mem::take(&mut this.values));
        let (ptr, len, cap) = (values.as_mut_ptr(), values.len(), values.capacity());
        // SAFETY: every one of the `len` places holds a value (no bit below
        // `len` is down), and `MaybeUninit<R>` has the layout of `R`, so
        // this is the same allocation read as the `Vec<R>` it now is; the
        // old `Vec` is not dropped (ManuallyDrop).
        Ok(unsafe { Vec::from_raw_parts(ptr.cast::<R>(), len, cap) })
    }
}

impl<R> Drop for Places<R> {
    fn drop(&mut self) {
        if std::mem::needs_drop::<R>() {
            for index in 0..self.values.len() {
                self.clear(index);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Counts its drops.
    struct Counted(Rc<Cell<usize>>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn values_placed_out_of_order_come_out_in_order() {
        let mut places = Places::with_capacity(0);
        places.grow(200);
        for i in (0..200).rev() {
            places.set(i, i.to_string());
        }
        assert_eq!(places.first_unfilled(200), None);
        let values = places.into_vec().ok().unwrap();
        assert_eq!(values, (0..200).map(|i| i.to_string()).collect::<Vec<_>>());
    }

    #[test]
    fn the_first_gap_is_found_and_nothing_leaks() {
        let drops = Rc::new(Cell::new(0));
        let mut places = Places::with_capacity(0);
        places.grow(130);
        for i in (0..130).filter(|&i| i != 70) {
            places.set(i, Counted(drops.clone()));
        }
        assert_eq!(places.first_unfilled(130), Some(70));
        assert_eq!(places.first_unfilled(60), None);
        places.set(70, Counted(drops.clone()));
        assert_eq!(places.first_unfilled(130), None);
        assert_eq!(
            places.first_unfilled(140),
            Some(130),
            "past the places made"
        );
        places.set(5, Counted(drops.clone())); // replaces: one drop
        assert_eq!(drops.get(), 1);
        // A fill that stops at an error keeps what it filled before it.
        let filled = places.fill(200..210, |i| {
            if i < 204 {
                Ok(Some(Counted(drops.clone())))
            } else {
                Err(i)
            }
        });
        assert_eq!(filled.err(), Some(204));
        assert_eq!(places.first_unfilled(210), Some(130));
        for i in 200..204 {
            places.clear(i);
        }
        assert_eq!(drops.get(), 5);
        places.clear(6);
        places.clear(6);
        places.clear(999);
        assert_eq!(drops.get(), 6);
        let places = places.into_vec().err().expect("place 6 is empty");
        drop(places);
        assert_eq!(drops.get(), 135, "every value dropped exactly once");
    }

    #[test]
    fn a_run_fills_its_places_and_marks_every_word_it_spans() {
        let mut places = Places::with_capacity(0);
        // 60..200 spans a word's top bits, two whole words and a low part.
        let mut next = 60u64..;
        assert!(places.fill_run(60..200, || next.next()));
        assert_eq!(places.first_unfilled(200), Some(0));
        assert!(places.fill_run(0..60, || Some(0)));
        assert_eq!(places.first_unfilled(200), None);
        let values = places.into_vec().ok().unwrap();
        assert_eq!(values[..60], [0; 60]);
        assert!(values[60..].iter().copied().eq(60..200));
    }

    #[test]
    fn a_run_cut_short_keeps_what_came_before_and_drops_what_was_after() {
        let drops = Rc::new(Cell::new(0));
        let mut places = Places::with_capacity(0);
        for i in 0..10 {
            places.set(i, Counted(drops.clone()));
        }
        // Filled again: the ten old values go, and stopping at the fifth
        // new one leaves places 4..10 empty.
        let mut left = 4;
        let filled = places.fill_run(0..10, || {
            left -= 1;
            (left >= 0).then(|| Counted(drops.clone()))
        });
        assert!(!filled);
        assert_eq!(drops.get(), 10);
        assert_eq!(places.first_unfilled(10), Some(4));
        drop(places);
        assert_eq!(drops.get(), 14, "every value dropped exactly once");
    }

    #[test]
    fn no_places_is_an_empty_vec() {
        let places = Places::<u64>::with_capacity(0);
        assert_eq!(places.first_unfilled(0), None);
        assert_eq!(places.first_unfilled(1), Some(0));
        assert_eq!(places.into_vec().ok(), Some(Vec::new()));
    }
}
