//! The logger object called through its nvinfer1::ILogger vtable, as TensorRT calls it.

use std::ffi::CString;
use std::sync::Mutex;

use trt::Logger;

static RECORDS: Mutex<Vec<(log::Level, String, String)>> = Mutex::new(Vec::new());

struct Recorder;
impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        RECORDS
            .lock()
            .unwrap()
            .push((r.level(), r.target().to_string(), r.args().to_string()));
    }
    fn flush(&self) {}
}

#[test]
fn severities_null_and_non_utf8_messages() {
    static RECORDER: Recorder = Recorder;
    log::set_logger(&RECORDER).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let logger = Logger::new().unwrap();
    let msg = |s: &str| CString::new(s).unwrap();

    logger
        .call_through_vtable(0, Some(&msg("internal")))
        .unwrap();
    logger
        .call_through_vtable(1, Some(&msg("No supported formats for conv1")))
        .unwrap();
    logger
        .call_through_vtable(2, Some(&msg("Missing scale and zero-point")))
        .unwrap();
    logger.call_through_vtable(3, Some(&msg("info"))).unwrap();
    logger
        .call_through_vtable(4, Some(&msg("verbose")))
        .unwrap();
    logger.call_through_vtable(2, None).unwrap();
    let bad = CString::new(vec![b'a', 0xff, b'b']).unwrap();
    logger.call_through_vtable(3, Some(&bad)).unwrap();

    let got = RECORDS.lock().unwrap().clone();
    use log::Level::*;
    let expect: Vec<(log::Level, &str)> = vec![
        (Error, "internal"),
        (Error, "No supported formats for conv1"),
        (Warn, "Missing scale and zero-point"),
        (Info, "info"),
        (Trace, "verbose"),
        (Warn, "(null message)"),
        (Info, "a\u{fffd}b"),
    ];
    assert_eq!(got.len(), expect.len(), "{got:?}");
    for ((level, target, text), (el, et)) in got.iter().zip(&expect) {
        assert_eq!(target, "tensorrt");
        assert_eq!((level, text.as_str()), (el, *et));
    }
    assert_eq!(
        logger.last_error().as_deref(),
        Some("No supported formats for conv1")
    );
    assert_eq!(
        logger.recent_errors(4).as_deref(),
        Some("internal; No supported formats for conv1")
    );
    assert_eq!(
        logger.recent_errors(1).as_deref(),
        Some("No supported formats for conv1")
    );
    let kept = logger.take_messages();
    assert_eq!(kept.len(), 4, "errors and warnings are kept: {kept:?}");
    assert!(logger.take_messages().is_empty());
}
