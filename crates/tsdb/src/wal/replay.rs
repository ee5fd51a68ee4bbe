//! Reading the WAL back at start, repairing torn tails, and writing checkpoints.

use super::record::{self, FrameStream, Record, RecordBuf, StreamFrame};
use super::{latest_checkpoint, list_segments, segment_name, sync_dir};
use crate::{Result, TsdbError};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Default, Clone)]
pub struct ReplayStats {
    pub segments: u64,
    pub records: u64,
    /// Frames cut off (torn tail or checksum failure), each repaired by truncation.
    pub corruptions: u64,
    /// Records with a valid checksum whose content could not be decoded; skipped.
    pub undecodable_records: u64,
}

/// Feeds every record of the newest checkpoint and of the segments after it to `apply`.
/// A torn or corrupt frame ends its segment: the file is truncated there (unless
/// `read_only`), the event is logged, and replay goes on with the next segment.
pub fn replay(
    dir: &Path,
    read_only: bool,
    mut apply: impl FnMut(Record<'_>),
) -> Result<ReplayStats> {
    let mut stats = ReplayStats::default();
    if !dir.exists() {
        return Ok(stats);
    }
    let checkpoint = latest_checkpoint(dir)?;
    let mut files = Vec::new();
    let mut first_segment = 0;
    if let Some((upto, cp_dir)) = &checkpoint {
        files.extend(list_segments(cp_dir)?.into_iter().map(|(_, p)| p));
        first_segment = upto + 1;
    }
    files.extend(
        list_segments(dir)?
            .into_iter()
            .filter(|(i, _)| *i >= first_segment)
            .map(|(_, p)| p),
    );
    for path in files {
        stats.segments += 1;
        let file = std::fs::File::open(&path).map_err(|e| TsdbError::io(&path, e))?;
        let file_len = file.metadata().map_err(|e| TsdbError::io(&path, e))?.len();
        let mut reader = FrameStream::new(std::io::BufReader::with_capacity(1 << 20, file));
        let mut payload = Vec::new();
        let mut corrupt_at = None;
        loop {
            match reader
                .next_into(&mut payload)
                .map_err(|e| TsdbError::io(&path, e))?
            {
                StreamFrame::Record => match record::decode(&payload) {
                    Ok(rec) => {
                        stats.records += 1;
                        apply(rec);
                    }
                    Err(e) => {
                        stats.undecodable_records += 1;
                        tracing::warn!(segment = %path.display(), error = %e, "skipping undecodable WAL record");
                    }
                },
                StreamFrame::Corrupt { offset, reason } => {
                    corrupt_at = Some((offset, reason));
                    break;
                }
                StreamFrame::End => break,
            }
        }
        if let Some((offset, reason)) = corrupt_at {
            stats.corruptions += 1;
            tracing::warn!(
                segment = %path.display(),
                offset,
                reason,
                dropped_bytes = file_len.saturating_sub(offset),
                "WAL segment has a torn or corrupt tail; truncating it"
            );
            if !read_only {
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| TsdbError::io(&path, e))?;
                f.set_len(offset).map_err(|e| TsdbError::io(&path, e))?;
                f.sync_all().map_err(|e| TsdbError::io(&path, e))?;
            }
        }
    }
    Ok(stats)
}

/// Replaces segments `..= upto` (and any older checkpoint) with a checkpoint holding the
/// `live` series records and the samples and exemplars of those segments that `keep`
/// selects. Crash-safe: the checkpoint is complete and renamed before anything is deleted.
pub fn write_checkpoint(
    dir: &Path,
    upto: u64,
    live: &[(u32, Vec<(String, String)>)],
    keep: impl Fn(u32, i64) -> bool,
) -> Result<()> {
    let tmp = dir.join(format!("checkpoint.{upto:08}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TsdbError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| TsdbError::io(&tmp, e))?;
    let out_path = tmp.join(segment_name(0));
    let mut out = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&out_path)
        .map_err(|e| TsdbError::io(&out_path, e))?;
    let mut buf = RecordBuf::default();
    for chunk in live.chunks(1000) {
        buf.series(
            chunk
                .iter()
                .map(|(r, ls)| (*r, ls.iter().map(|(n, v)| (n.as_str(), v.as_str())))),
        );
    }
    out.write_all(&buf.buf)
        .map_err(|e| TsdbError::io(&out_path, e))?;
    // Records of the previous checkpoint and of the covered segments, filtered.
    let mut sources = Vec::new();
    if let Some((_, cp)) = latest_checkpoint(dir)? {
        sources.extend(list_segments(&cp)?.into_iter().map(|(_, p)| p));
    }
    sources.extend(
        list_segments(dir)?
            .into_iter()
            .filter(|(i, _)| *i <= upto)
            .map(|(_, p)| p),
    );
    for path in &sources {
        let file = std::fs::File::open(path).map_err(|e| TsdbError::io(path, e))?;
        let mut reader = FrameStream::new(std::io::BufReader::with_capacity(1 << 20, file));
        let mut payload = Vec::new();
        while reader
            .next_into(&mut payload)
            .map_err(|e| TsdbError::io(path, e))?
            == StreamFrame::Record
        {
            buf.clear();
            match record::decode(&payload) {
                Ok(Record::Samples(s)) => {
                    let kept: Vec<_> = s.into_iter().filter(|&(r, t, _)| keep(r, t)).collect();
                    buf.samples(&kept);
                }
                Ok(Record::Exemplars(e)) => {
                    let kept: Vec<_> = e.into_iter().filter(|(r, t, _, _)| keep(*r, *t)).collect();
                    buf.exemplars(&kept);
                }
                Ok(Record::Series(_)) | Err(_) => {}
            }
            out.write_all(&buf.buf)
                .map_err(|e| TsdbError::io(&out_path, e))?;
        }
    }
    out.sync_all().map_err(|e| TsdbError::io(&out_path, e))?;
    drop(out);
    let final_dir = dir.join(format!("checkpoint.{upto:08}"));
    std::fs::rename(&tmp, &final_dir).map_err(|e| TsdbError::io(&final_dir, e))?;
    sync_dir(dir)?;
    // Now the old material is redundant.
    for (i, path) in list_segments(dir)? {
        if i <= upto {
            std::fs::remove_file(&path).map_err(|e| TsdbError::io(&path, e))?;
        }
    }
    let rd = std::fs::read_dir(dir).map_err(|e| TsdbError::io(dir, e))?;
    for entry in rd.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(num) = name.strip_prefix("checkpoint.") {
            if num.parse::<u64>().is_ok_and(|i| i < upto) || num.ends_with(".tmp") {
                let p = entry.path();
                std::fs::remove_dir_all(&p).map_err(|e| TsdbError::io(&p, e))?;
            }
        }
    }
    sync_dir(dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Wal;
    use super::*;
    use crate::FsyncPolicy;

    fn samples_of(dir: &Path) -> (Vec<(u32, i64)>, ReplayStats) {
        let mut got = Vec::new();
        let stats = replay(dir, false, |r| {
            if let Record::Samples(s) = r {
                got.extend(s.into_iter().map(|(r, t, _)| (r, t)));
            }
        })
        .unwrap();
        (got, stats)
    }

    #[test]
    fn replay_truncates_torn_tail_and_keeps_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let mut wal = Wal::open(&dir, 1 << 20, FsyncPolicy::Never).unwrap();
        let mut b = RecordBuf::default();
        for t in 0..10 {
            b.clear();
            b.samples(&[(1, t, t as f64)]);
            wal.write(&b.buf).unwrap();
        }
        let seg = dir.join(segment_name(wal.current_segment()));
        drop(wal);
        let len = std::fs::metadata(&seg).unwrap().len();
        // Tear the last record in half, as a crash mid-write would.
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 5)
            .unwrap();
        let (got, stats) = samples_of(&dir);
        assert_eq!(got.len(), 9);
        assert_eq!(stats.corruptions, 1);
        // The repair is persistent: a second replay sees a clean log.
        let (again, stats) = samples_of(&dir);
        assert_eq!(again.len(), 9);
        assert_eq!(stats.corruptions, 0);
        // And a new writer starts a fresh segment after it.
        let wal = Wal::open(&dir, 1 << 20, FsyncPolicy::Never).unwrap();
        assert!(wal.current_segment() > 1);
    }

    #[test]
    fn failed_write_is_held_and_written_when_the_disk_recovers() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let mut wal = Wal::open(&dir, 1 << 20, FsyncPolicy::Never).unwrap();
        let mut b = RecordBuf::default();
        b.samples(&[(1, 1, 1.0)]);
        wal.write(&b.buf).unwrap();
        // A handle that refuses writes stands in for a full or failing disk.
        let seg = dir.join(segment_name(wal.current_segment()));
        let healthy = std::mem::replace(
            &mut wal.file,
            std::sync::Arc::new(std::fs::File::open(&seg).unwrap()),
        );
        b.clear();
        b.samples(&[(1, 2, 2.0)]);
        assert!(wal.write(&b.buf).is_err());
        drop(healthy);
        // The next write first lands the held batch in a fresh segment, then its own.
        b.clear();
        b.samples(&[(1, 3, 3.0)]);
        wal.write(&b.buf).unwrap();
        drop(wal);
        let (got, stats) = samples_of(&dir);
        assert_eq!(got, vec![(1, 1), (1, 2), (1, 3)]);
        assert_eq!(stats.corruptions, 0);
    }

    #[test]
    fn corrupt_middle_segment_does_not_stop_later_segments() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let mut wal = Wal::open(&dir, 1 << 20, FsyncPolicy::Never).unwrap();
        let mut b = RecordBuf::default();
        b.samples(&[(1, 1, 1.0)]);
        wal.write(&b.buf).unwrap();
        wal.write(&b.buf).unwrap();
        let first = wal.rotate().unwrap();
        b.clear();
        b.samples(&[(1, 2, 2.0)]);
        wal.write(&b.buf).unwrap();
        drop(wal);
        let seg = dir.join(segment_name(first));
        let mut data = std::fs::read(&seg).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        std::fs::write(&seg, data).unwrap();
        let (got, stats) = samples_of(&dir);
        assert_eq!(got, vec![(1, 1), (1, 2)]);
        assert_eq!(stats.corruptions, 1);
    }

    #[test]
    fn checkpoint_replaces_old_segments() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let mut wal = Wal::open(&dir, 1 << 20, FsyncPolicy::Never).unwrap();
        let mut b = RecordBuf::default();
        b.series(
            [
                (1u32, [("a", "1")].into_iter()),
                (2u32, [("a", "2")].into_iter()),
            ]
            .into_iter(),
        );
        b.samples(&[(1, 10, 1.0), (1, 20, 2.0), (2, 10, 3.0)]);
        wal.write(&b.buf).unwrap();
        let upto = wal.rotate().unwrap();
        b.clear();
        b.samples(&[(1, 30, 4.0)]);
        wal.write(&b.buf).unwrap();
        let live = vec![(1u32, vec![("a".to_string(), "1".to_string())])];
        write_checkpoint(&dir, upto, &live, |r, t| r == 1 && t >= 20).unwrap();
        assert!(list_segments(&dir).unwrap().iter().all(|(i, _)| *i > upto));
        let mut series = Vec::new();
        let mut samples = Vec::new();
        replay(&dir, false, |r| match r {
            Record::Series(s) => series.extend(s.into_iter().map(|(r, _)| r)),
            Record::Samples(s) => samples.extend(s.into_iter().map(|(r, t, _)| (r, t))),
            Record::Exemplars(_) => {}
        })
        .unwrap();
        assert_eq!(series, vec![1]);
        assert_eq!(samples, vec![(1, 20), (1, 30)]);
    }
}
