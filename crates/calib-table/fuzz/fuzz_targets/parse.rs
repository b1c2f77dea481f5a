//! `parse` never panics, and a parsed table survives `to_bytes` unchanged:
//! parse(to_bytes(parse(x))) == parse(x), and to_bytes is a fixed point from then on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trt_calib_table::CalibrationTable;

fuzz_target!(|data: &[u8]| {
    let Ok(table) = CalibrationTable::parse(data) else {
        return;
    };
    let bytes = table.to_bytes();
    let again = CalibrationTable::parse(&bytes).unwrap_or_else(|e| {
        panic!("to_bytes output does not parse: {e}\n{bytes:?}");
    });
    assert_eq!(again, table);
    assert_eq!(again.to_bytes(), bytes);
    // Diffing a table with itself finds nothing.
    assert!(trt_calib_table::diff(&table, &again).is_identical());
});
