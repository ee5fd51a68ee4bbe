//! Undoing `Content-Encoding` on a scrape body, with a limit on the result.

use flate2::read::MultiGzDecoder;
use std::borrow::Cow;
use std::io::Read;

/// Why a body could not be turned into parser input.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("body of {len} bytes is larger than the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },

    #[error("gzip body decompresses to more than the limit of {limit} bytes")]
    DecompressedTooLarge { limit: usize },

    #[error("unsupported Content-Encoding {0:?} (only gzip and identity are accepted)")]
    UnsupportedEncoding(String),

    #[error("body is not valid gzip: {0}")]
    Gzip(#[source] std::io::Error),
}

/// Returns the body as the parser needs it: borrowed when it was sent uncompressed,
/// decompressed when `content_encoding` is `gzip` (or `x-gzip`). The result never
/// exceeds `max_bytes`; decompression stops as soon as it would, so a small body that
/// inflates enormously costs at most `max_bytes` of memory.
///
/// Concatenated gzip members are read as one stream, as Go's reader (and so every
/// Go exporter's client) treats them.
pub fn decode_body<'b>(
    body: &'b [u8],
    content_encoding: Option<&str>,
    max_bytes: usize,
) -> Result<Cow<'b, [u8]>, BodyError> {
    // A header may list several codings; identity is a no-op wherever it appears.
    let mut codings = content_encoding
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"));
    let coding = codings.next();
    if let Some(second) = codings.next() {
        return Err(BodyError::UnsupportedEncoding(format!(
            "{}, {second}",
            coding.unwrap_or("")
        )));
    }
    match coding {
        None => {
            if body.len() > max_bytes {
                return Err(BodyError::TooLarge {
                    len: body.len(),
                    limit: max_bytes,
                });
            }
            Ok(Cow::Borrowed(body))
        }
        Some(c) if c.eq_ignore_ascii_case("gzip") || c.eq_ignore_ascii_case("x-gzip") => {
            gunzip(body, max_bytes).map(Cow::Owned)
        }
        Some(c) => Err(BodyError::UnsupportedEncoding(c.to_owned())),
    }
}

fn gunzip(body: &[u8], max_bytes: usize) -> Result<Vec<u8>, BodyError> {
    // One byte past the limit tells "exactly at the limit" from "over it".
    let cap = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    // Text compresses about tenfold; start near that instead of growing from nothing,
    // without letting a tiny body reserve the whole limit up front.
    let guess = body.len().saturating_mul(8).min(max_bytes).min(16 << 20);
    let mut out = Vec::with_capacity(guess);
    MultiGzDecoder::new(body)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(BodyError::Gzip)?;
    if out.len() > max_bytes {
        return Err(BodyError::DecompressedTooLarge { limit: max_bytes });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn identity_borrows() {
        let body = b"up 1\n";
        for ce in [None, Some(""), Some("identity"), Some(" Identity ")] {
            let out = decode_body(body, ce, 100).unwrap();
            assert!(matches!(out, Cow::Borrowed(_)), "{ce:?}");
            assert_eq!(&*out, body);
        }
        assert!(matches!(
            decode_body(body, None, 4),
            Err(BodyError::TooLarge { len: 5, limit: 4 })
        ));
        assert_eq!(&*decode_body(body, None, 5).unwrap(), body);
    }

    #[test]
    fn gzip_round_trip_and_limit() {
        let text = b"# TYPE up gauge\nup 1\n".repeat(100);
        let gz = gzip(&text);
        for ce in ["gzip", "GZIP", "x-gzip", "gzip, identity"] {
            let out = decode_body(&gz, Some(ce), text.len()).unwrap();
            assert_eq!(&*out, &text[..], "{ce}");
        }
        let e = decode_body(&gz, Some("gzip"), text.len() - 1).unwrap_err();
        assert!(matches!(e, BodyError::DecompressedTooLarge { .. }));
        assert_eq!(
            e.to_string(),
            format!(
                "gzip body decompresses to more than the limit of {} bytes",
                text.len() - 1
            )
        );
        // usize::MAX means no practical limit and must not overflow.
        assert_eq!(
            decode_body(&gz, Some("gzip"), usize::MAX).unwrap().len(),
            text.len()
        );
    }

    #[test]
    fn gzip_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 64 << 20];
        let gz = gzip(&zeros);
        assert!(gz.len() < 256 << 10);
        let e = decode_body(&gz, Some("gzip"), 1 << 20).unwrap_err();
        assert!(matches!(e, BodyError::DecompressedTooLarge { limit } if limit == 1 << 20));
    }

    #[test]
    fn concatenated_members_are_one_stream() {
        let mut gz = gzip(b"a 1\n");
        gz.extend(gzip(b"b 2\n"));
        assert_eq!(
            &*decode_body(&gz, Some("gzip"), 100).unwrap(),
            b"a 1\nb 2\n"
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        let e = decode_body(b"up 1\n", Some("gzip"), 100).unwrap_err();
        assert!(matches!(e, BodyError::Gzip(_)), "{e:?}");
        assert!(e.to_string().starts_with("body is not valid gzip: "), "{e}");

        let gz = gzip(&b"up 1\n".repeat(50));
        let e = decode_body(&gz[..gz.len() / 2], Some("gzip"), 1000).unwrap_err();
        assert!(matches!(e, BodyError::Gzip(_)), "{e:?}");

        let e = decode_body(&gz, Some("br"), 1000).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported Content-Encoding \"br\" (only gzip and identity are accepted)"
        );
        assert!(matches!(
            decode_body(&gz, Some("gzip, br"), 1000),
            Err(BodyError::UnsupportedEncoding(_))
        ));
    }
}
