//! Property-style round trips over random tables (seeded, reproducible).

use trt_calib_table::{diff, Algorithm, CalibrationTable, Entry, TrtVersion};

/// SplitMix64: small, seeded, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const NAME_PIECES: &[&str] = &[
    "input",
    "onnx::Conv_",
    "(Unnamed Layer* ",
    ") [Convolution]_output",
    ": ",
    ":",
    " ",
    "[",
    "]",
    "*",
    "/layer1/layer1.0/conv1/Conv",
    "_output_0",
    "é",
    "張量",
    "\t",
    "-",
    "0",
];

fn random_version(rng: &mut Rng) -> TrtVersion {
    loop {
        let major = 1 + rng.below(12) as u32;
        let minor = rng.below(if major < 10 { 10 } else { 100 }) as u32;
        if let Ok(v) = TrtVersion::new(major, minor, rng.below(100) as u32) {
            return v;
        }
    }
}

fn random_table(rng: &mut Rng) -> CalibrationTable {
    let version = random_version(rng);
    let algorithm = Algorithm::ALL[rng.below(4) as usize];
    let mut table = CalibrationTable::new(version, algorithm);
    for i in 0..rng.below(60) {
        let mut name = String::new();
        for _ in 0..1 + rng.below(4) {
            name.push_str(NAME_PIECES[rng.below(NAME_PIECES.len() as u64) as usize]);
        }
        name.push_str(&i.to_string()); // unique
        let bits = match rng.below(4) {
            0 => 0,
            1 => rng.below(16) as u32,
            _ => rng.next() as u32, // any bit pattern, NaNs and negatives included
        };
        table.entries.push(Entry::new(name, f32::from_bits(bits)));
    }
    table
}

#[test]
fn random_tables_round_trip() {
    let mut rng = Rng(0x7472_7463_6163_6865);
    for _ in 0..500 {
        let table = random_table(&mut rng);
        let bytes = table.to_bytes();
        let parsed = CalibrationTable::parse(&bytes).unwrap_or_else(|e| {
            panic!("{e}\n{}", String::from_utf8_lossy(&bytes));
        });
        assert_eq!(parsed, table);
        assert_eq!(parsed.to_bytes(), bytes);
        assert!(diff(&parsed, &table).is_identical());
        // CRLF endings give the same table.
        let crlf = String::from_utf8(bytes).unwrap().replace('\n', "\r\n");
        assert_eq!(CalibrationTable::parse(crlf.as_bytes()).unwrap(), table);
    }
}

#[test]
fn random_truncations_never_panic_and_report_a_line() {
    let mut rng = Rng(42);
    for _ in 0..300 {
        let bytes = random_table(&mut rng).to_bytes();
        let cut = rng.below(bytes.len() as u64 + 1) as usize;
        let lines = bytes[..cut].iter().filter(|&&b| b == b'\n').count() + 1;
        match CalibrationTable::parse(&bytes[..cut]) {
            Ok(t) => assert_eq!(CalibrationTable::parse(&t.to_bytes()).unwrap(), t),
            Err(e) => assert!((1..=lines).contains(&e.line()), "{e} (of {lines} lines)"),
        }
    }
}
