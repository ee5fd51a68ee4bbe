//! Element-wise mathematical functions of instant vectors.
//!
//! Where Prometheus composes a function from simpler operations (`log2`, `log10`, `deg`,
//! `rad`, `sgn`), the same composition is used here, because the composed result can
//! differ in the last bit from a dedicated library routine. The remaining functions map
//! to the platform's math library, which agrees with Go's to within rounding.

use std::f64::consts::{LOG10_E, LOG2_E, PI};

/// The function behind a one-argument PromQL math function, or `None` if `name` is not
/// one. Every function maps NaN to NaN.
pub fn instant_math(name: &str) -> Option<fn(f64) -> f64> {
    let f: fn(f64) -> f64 = match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "ln" => f64::ln,
        "log2" => log2,
        "log10" => log10,
        "sqrt" => f64::sqrt,
        "sgn" => sgn,
        "deg" => deg,
        "rad" => rad,
        "acos" => f64::acos,
        "acosh" => f64::acosh,
        "asin" => f64::asin,
        "asinh" => f64::asinh,
        "atan" => f64::atan,
        "atanh" => f64::atanh,
        "cos" => f64::cos,
        "cosh" => f64::cosh,
        "sin" => f64::sin,
        "sinh" => f64::sinh,
        "tan" => f64::tan,
        "tanh" => f64::tanh,
        _ => return None,
    };
    Some(f)
}

/// `round(v, to_nearest)`: rounds to the nearest multiple of `to_nearest`, ties upwards.
/// Multiplying by the inverse rather than dividing by `to_nearest` is what Prometheus
/// does (it gives fewer surprises for fractions like 0.1), so results match it exactly.
pub fn round(v: f64, to_nearest: f64) -> f64 {
    let inverse = 1.0 / to_nearest;
    (v * inverse + 0.5).floor() / inverse
}

/// -1, 0 or 1 by sign; zero keeps its sign and NaN stays NaN.
fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

fn deg(v: f64) -> f64 {
    v * 180.0 / PI
}

fn rad(v: f64) -> f64 {
    v * PI / 180.0
}

/// Base-10 logarithm as the natural logarithm times log10(e), Prometheus's formula
/// (e.g. it yields 1.301029995663981 for 20, where a dedicated log10 gives …813).
fn log10(v: f64) -> f64 {
    v.ln() * LOG10_E
}

/// Base-2 logarithm from the mantissa/exponent split, which makes exact powers of two
/// come out exact, as in Prometheus.
fn log2(v: f64) -> f64 {
    let (frac, exp) = frexp(v);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    frac.ln() * LOG2_E + f64::from(exp)
}

/// Splits `v` into a fraction in `[0.5, 1)` (with `v`'s sign) and a power of two, so that
/// `v = frac · 2^exp`. Zero, infinities and NaN are returned unchanged with exponent 0.
fn frexp(v: f64) -> (f64, i32) {
    if v == 0.0 || !v.is_finite() {
        return (v, 0);
    }
    let mut x = v;
    let mut exp = 0_i32;
    // Scale subnormals into the normal range so the exponent field is meaningful.
    if x.abs() < f64::MIN_POSITIVE {
        x *= (1u64 << 52) as f64;
        exp = -52;
    }
    let bits = x.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i32 - 1022;
    let frac = f64::from_bits((bits & !(0x7ff_u64 << 52)) | (1022_u64 << 52));
    (frac, exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, v: f64) -> f64 {
        instant_math(name).expect(name)(v)
    }

    /// promqltest's comparison tolerance, for values that were printed rounded.
    fn roughly(a: f64, b: f64) -> bool {
        if a.is_nan() || b.is_nan() {
            return a.is_nan() && b.is_nan();
        }
        a == b || (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
    }

    const NAMES: [&str; 23] = [
        "abs", "ceil", "floor", "exp", "ln", "log2", "log10", "sqrt", "sgn", "deg", "rad", "acos",
        "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan", "tanh",
    ];

    #[test]
    fn every_name_resolves_and_others_do_not() {
        for name in NAMES {
            assert!(instant_math(name).is_some(), "{name}");
            assert!(call(name, f64::NAN).is_nan(), "{name}(NaN)");
        }
        for name in ["round", "clamp", "pi", "Abs", "", "time", "log"] {
            assert!(instant_math(name).is_none(), "{name}");
        }
    }

    #[test]
    fn abs_ceil_floor_round_from_functions_test() {
        let inputs = [
            2.5,
            2.0,
            -2.5,
            -2.0,
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let abs = [2.5, 2.0, 2.5, 2.0, 0.0, 0.0, f64::INFINITY, f64::INFINITY];
        let ceil = [
            3.0,
            2.0,
            -2.0,
            -2.0,
            0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let floor = [
            2.0,
            2.0,
            -3.0,
            -2.0,
            0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let rounded = [
            3.0,
            2.0,
            -2.0,
            -2.0,
            0.0,
            0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for (i, v) in inputs.into_iter().enumerate() {
            assert_eq!(call("abs", v), abs[i], "abs({v})");
            assert_eq!(call("ceil", v), ceil[i], "ceil({v})");
            assert_eq!(call("floor", v), floor[i], "floor({v})");
            assert_eq!(round(v, 1.0), rounded[i], "round({v})");
        }
        assert!(round(f64::NAN, 1.0).is_nan());
    }

    #[test]
    fn round_to_nearest_from_aggregators_test() {
        // http_requests{group="production",job="api-server"} is 100 and 200 at 50m.
        for (x, want) in [(100.0, -1.0), (200.0, -2.0)] {
            assert_eq!(round(-(1.0 + 0.005 * x), 1.0), want);
        }
        for x in [100.0, 200.0] {
            assert_eq!(round(0.0005 * x, 0.1), 0.1);
            assert_eq!(round(2.1 + 0.0005 * x, 0.1), 2.2);
            assert_eq!(round(5.2 + 0.0005 * x, 0.1), 5.3);
            assert_eq!(round(0.025 * x, 5.0), 5.0);
        }
        assert_eq!(round(-(5.2 + 0.0005 * 100.0), 0.1), -5.2);
        assert_eq!(round(-(5.2 + 0.0005 * 200.0), 0.1), -5.3);
        assert_eq!(round(0.045 * 100.0, 5.0), 5.0);
        assert_eq!(round(0.045 * 200.0, 5.0), 10.0);
    }

    #[test]
    fn round_edge_cases() {
        assert_eq!(round(1.5, 1.0), 2.0);
        assert_eq!(round(-1.5, 1.0), -1.0);
        assert_eq!(round(123.456, 0.01), 123.46);
        assert_eq!(round(17.0, 10.0), 20.0);
        // to_nearest of zero: 1/0 = Inf, then Inf/Inf = NaN, as in Prometheus.
        assert!(round(1.0, 0.0).is_nan());
        assert!(round(1.0, f64::NAN).is_nan());
        // An infinite to_nearest makes the inverse 0: floor(0.5)/0 = 0/0 = NaN.
        assert!(round(1.0, f64::INFINITY).is_nan());
        // Negative to_nearest rounds ties downwards.
        assert_eq!(round(2.5, -1.0), 2.0);
    }

    #[test]
    fn exp_ln_sqrt_logs_from_functions_test() {
        let cases: [(&str, f64, f64); 22] = [
            ("exp", 10.0, 22026.465794806718),
            ("exp", 20.0, 485165195.4097903),
            ("exp", 0.0, 1.0),
            ("exp", -10.0, 4.5399929762484854e-05),
            ("ln", 10.0, std::f64::consts::LN_10),
            ("ln", 20.0, 2.995732273553991),
            ("ln", 0.0, f64::NEG_INFINITY),
            ("ln", -10.0, f64::NAN),
            ("sqrt", 10.0, 3.1622776601683795),
            ("sqrt", 20.0, 4.47213595499958),
            ("sqrt", -1.0, f64::NAN),
            ("log2", 10.0, 3.3219280948873626),
            ("log2", 20.0, 4.321928094887363),
            ("log2", 0.0, f64::NEG_INFINITY),
            ("log2", -10.0, f64::NAN),
            ("log10", 10.0, 1.0),
            ("log10", 20.0, 1.301029995663981),
            ("log10", 0.0, f64::NEG_INFINITY),
            ("log10", -10.0, f64::NAN),
            ("exp", f64::INFINITY, f64::INFINITY),
            ("exp", f64::NEG_INFINITY, 0.0),
            ("ln", f64::INFINITY, f64::INFINITY),
        ];
        for (name, v, want) in cases {
            let got = call(name, v);
            assert!(roughly(got, want), "{name}({v}) = {got}, want {want}");
        }
        assert!(roughly(call("exp", call("ln", 10.0)), 10.0));
        assert!(roughly(call("exp", call("ln", 20.0)), 20.0));
        assert_eq!(call("log10", 20.0), 1.301029995663981);
    }

    #[test]
    fn log2_is_exact_for_powers_of_two() {
        for e in -1074..=1023_i32 {
            let v = if e >= -1022 {
                f64::from_bits(((e + 1023) as u64) << 52)
            } else {
                f64::from_bits(1_u64 << (e + 1074))
            };
            assert_eq!(call("log2", v), f64::from(e), "2^{e}");
        }
        assert_eq!(call("log2", f64::INFINITY), f64::INFINITY);
        assert_eq!(call("log2", -0.0), f64::NEG_INFINITY);
        assert!(call("log2", f64::NEG_INFINITY).is_nan());
    }

    #[test]
    fn frexp_splits_correctly() {
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(frexp(-3.0), (-0.75, 2));
        assert_eq!(frexp(f64::MIN_POSITIVE / 4.0), (0.5, -1023));
        assert_eq!(frexp(5e-324), (0.5, -1073));
        assert_eq!(frexp(0.0), (0.0, 0));
    }

    #[test]
    fn trig_from_trig_functions_test() {
        let cases: [(&str, f64, f64); 28] = [
            ("sin", 10.0, -0.5440211108893699),
            ("sin", 20.0, 0.9129452507276277),
            ("cos", 10.0, -0.8390715290764524),
            ("cos", 20.0, 0.40808206181339196),
            ("tan", 10.0, 0.6483608274590867),
            ("tan", 20.0, 2.2371609442247427),
            ("asin", 10.0 - 10.1, -0.10016742116155944),
            ("asin", 20.0 - 10.1, f64::NAN),
            ("acos", 10.0 - 10.1, 1.670963747956456),
            ("acos", 20.0 - 10.1, f64::NAN),
            ("atan", 10.0, 1.4711276743037345),
            ("atan", 20.0, 1.5208379310729538),
            ("sinh", 10.0, 11013.232920103324),
            ("sinh", 20.0, 2.4258259770489514e+08),
            ("cosh", 10.0, 11013.232920103324),
            ("cosh", 20.0, 2.4258259770489514e+08),
            ("tanh", 10.0, 0.9999999958776927),
            ("tanh", 20.0, 1.0),
            ("asinh", 10.0, 2.99822295029797),
            ("asinh", 20.0, 3.6895038689889055),
            ("acosh", 10.0, 2.993222846126381),
            ("acosh", 20.0, 3.6882538673612966),
            ("atanh", 10.0 - 10.1, -0.10033534773107522),
            ("atanh", 20.0 - 10.1, f64::NAN),
            ("rad", 10.0, 0.17453292519943295),
            ("rad", 20.0, 0.3490658503988659),
            ("deg", 10.0, 572.9577951308232),
            ("deg", 20.0, 1145.9155902616465),
        ];
        for (name, v, want) in cases {
            let got = call(name, v);
            assert!(roughly(got, want), "{name}({v}) = {got}, want {want}");
        }
        for name in ["rad", "deg"] {
            assert_eq!(call(name, 0.0), 0.0);
        }
        assert_eq!(call("rad", -10.0), -0.17453292519943295);
        assert_eq!(call("deg", -10.0), -572.9577951308232);
        assert_eq!(call("rad", 180.0), PI);
        assert_eq!(call("deg", PI), 180.0);
    }

    #[test]
    fn sgn_from_functions_test() {
        let cases = [
            (f64::NEG_INFINITY, -1.0),
            (f64::INFINITY, 1.0),
            (-50.0, -1.0),
            (0.0, 0.0),
            (100.0, 1.0),
        ];
        for (v, want) in cases {
            assert_eq!(call("sgn", v), want, "sgn({v})");
        }
        assert!(call("sgn", f64::NAN).is_nan());
        assert!(call("sgn", -0.0).is_sign_negative());
    }

    mod props {
        use super::super::*;
        use super::NAMES;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn math_never_panics(v in any::<f64>(), n in any::<f64>()) {
                for name in NAMES {
                    let _ = instant_math(name).map(|f| f(v));
                }
                let _ = round(v, n);
            }

            #[test]
            fn log2_agrees_with_library_within_an_ulp(v in 1e-300..1e300f64) {
                let ours = log2(v);
                let lib = v.log2();
                prop_assert!((ours - lib).abs() <= 4.0 * f64::EPSILON * lib.abs().max(1.0));
            }
        }
    }
}
