//! Sample values as text, the same way in `/metrics` and in `pharos tsdb dump`.

/// Formats a sample value so it parses back to the same bits, NaN payloads aside: every
/// NaN (the staleness marker included) prints as `NaN`, as Prometheus prints it.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        let a = v.abs();
        // Rust's plain form never uses an exponent; 1e300 would print 301 digits.
        if a != 0.0 && !(1e-7..1e21).contains(&a) {
            format!("{v:e}")
        } else {
            format!("{v}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_roundtrip() {
        for v in [
            0.0,
            -0.0,
            1.0,
            -1.5,
            0.1,
            1e300,
            -1e-300,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            123456789.125,
            1e21,
            1e20,
            1e-7,
            9.99e-8,
        ] {
            let s = format_value(v);
            assert_eq!(
                s.parse::<f64>().unwrap().to_bits(),
                v.to_bits(),
                "{v} printed as {s}"
            );
        }
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(-0.0), "-0");
        assert_eq!(format_value(1e300), "1e300");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(pharos_model::STALE_NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    }
}
