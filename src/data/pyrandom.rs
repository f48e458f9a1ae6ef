//! Python's `random` module, for the draws the course's posting emulator made: seeded the same
//! way (`random.seed(100)`), the same Mersenne Twister, the same `randrange`/`randint`, so pinctl
//! emits the same keys in the same order as the original script.

use rand_mt::Mt;

pub struct PyRandom {
    mt: Mt,
}

impl PyRandom {
    /// `random.seed(n)` for a non-negative integer: init_by_array over its 32-bit words.
    pub fn seed(n: u64) -> Self {
        let key: Vec<u32> = if n >> 32 == 0 {
            vec![n as u32]
        } else {
            vec![n as u32, (n >> 32) as u32]
        };
        PyRandom {
            mt: Mt::new_with_key(key),
        }
    }

    /// `random.getrandbits(k)` for 1 <= k <= 32.
    fn getrandbits(&mut self, k: u32) -> u32 {
        self.mt.next_u32() >> (32 - k)
    }

    /// `random._randbelow(n)`: rejection sampling over `n.bit_length()` bits.
    pub fn randbelow(&mut self, n: u32) -> u32 {
        assert!(n > 0, "randbelow(0)");
        let k = 32 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `random.randrange(start, stop)`.
    pub fn randrange(&mut self, start: u32, stop: u32) -> u32 {
        start + self.randbelow(stop - start)
    }

    /// `random.randint(a, b)`, both ends included.
    pub fn randint(&mut self, a: u32, b: u32) -> u32 {
        self.randrange(a, b + 1)
    }
}
