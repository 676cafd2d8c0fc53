use super::*;
use crate::rules::metric;

fn sample(name: &str, ts: i64, v: f64, high_resolution: bool) -> Sample {
    Sample {
        metric: metric(
            "App",
            name,
            &[Dimension {
                name: "d".into(),
                value: "1".into(),
            }],
        )
        .into(),
        ts,
        unit: "Count".into(),
        agg: Aggregate::value(v, 1.0),
        high_resolution,
    }
}

#[test]
fn a_put_merges_into_its_minute_and_second() {
    let db = Db::memory(&[]).unwrap();
    db.put(vec![sample("m", 120, 1.0, false), sample("m", 150, 3.0, false)])
        .unwrap();
    db.put(vec![sample("m", 179, 5.0, true)]).unwrap();
    let id = db.find(&sample("m", 0, 0.0, false).metric).unwrap().unwrap();
    let minutes = db.read(id, 0, 600, false).unwrap();
    assert_eq!(minutes.len(), 1);
    assert_eq!((minutes[0].ts, minutes[0].resolution), (120, 60));
    assert_eq!(
        (minutes[0].agg.count, minutes[0].agg.sum, minutes[0].agg.max),
        (3.0, 9.0, 5.0)
    );
    let seconds = db.read(id, 0, 600, true).unwrap();
    assert_eq!(
        seconds.iter().map(|p| (p.ts, p.resolution)).collect::<Vec<_>>(),
        [(179, 1)]
    );
    assert_eq!(db.find(&sample("other", 0, 0.0, false).metric).unwrap(), None);
    let listed = db.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_put, 179);
}

#[test]
fn shared_and_separate_metric_records_store_alike() {
    let db = Db::memory(&[]).unwrap();
    // One record shared by a run of samples, the same metric again in
    // another record after another metric, all in one write.
    let a = sample("a", 60, 1.0, false);
    let mut run = vec![a.clone(), Sample { ts: 120, ..a.clone() }];
    run.push(sample("b", 60, 10.0, false));
    run.push(sample("a", 60, 2.0, false));
    run.push(Sample { ts: 180, ..a });
    assert!(Arc::ptr_eq(&run[0].metric, &run[1].metric));
    db.write(&[run, vec![sample("a", 120, 4.0, false)]]).unwrap();
    let read = |name: &str| {
        let id = db.find(&sample(name, 0, 0.0, false).metric).unwrap().unwrap();
        let points = db.read(id, 0, 600, false).unwrap();
        let mut out: Vec<_> = points.iter().map(|p| (p.ts, p.agg.count, p.agg.sum)).collect();
        out.sort_by_key(|p| p.0);
        out
    };
    assert_eq!(read("a"), [(60, 2.0, 3.0), (120, 2.0, 5.0), (180, 1.0, 1.0)]);
    assert_eq!(read("b"), [(60, 1.0, 10.0)]);
    assert_eq!(db.list().unwrap().len(), 2);
}

#[test]
fn roll_up_moves_old_data_into_coarser_tiers_and_expires_it() {
    let db = Db::memory(&[]).unwrap();
    let day = 86400;
    db.put(vec![
        sample("m", 0, 1.0, true),
        sample("m", 60, 2.0, false),
        sample("m", 240, 4.0, false),
    ])
    .unwrap();
    let id = db.find(&sample("m", 0, 0.0, false).metric).unwrap().unwrap();
    // After 3 hours the seconds are gone; the minutes stay.
    db.roll_up(3 * 3600 + 1).unwrap();
    assert!(db.read(id, 0, 600, true).unwrap().is_empty());
    assert_eq!(db.read(id, 0, 600, false).unwrap().len(), 3);
    // After 15 days the minutes are one 5-minute row.
    db.roll_up(15 * day + 600).unwrap();
    let rows = db.read(id, 0, 600, false).unwrap();
    assert_eq!(
        rows.iter().map(|p| (p.ts, p.resolution)).collect::<Vec<_>>(),
        [(0, 300)]
    );
    assert_eq!((rows[0].agg.count, rows[0].agg.sum), (3.0, 7.0));
    // After 63 days an hour; after 455 days nothing.
    db.roll_up(63 * day + 600).unwrap();
    let rows = db.read(id, 0, 3600, false).unwrap();
    assert_eq!(
        rows.iter().map(|p| (p.ts, p.resolution, p.agg.sum)).collect::<Vec<_>>(),
        [(0, 3600, 7.0)]
    );
    db.roll_up(455 * day + 3600).unwrap();
    assert!(db.read(id, 0, 3600, false).unwrap().is_empty());
}

#[test]
fn a_put_merges_into_stored_rows_read_by_range_or_one_by_one() {
    let db = Db::memory(&[]).unwrap();
    let far = 10 * 86400;
    // Dense: 100 minutes stored, then each merged again.
    let dense = |v: f64| (0..100).map(|m| sample("d", m * 60, v, false)).collect::<Vec<_>>();
    db.put(dense(1.0)).unwrap();
    db.put(dense(2.0)).unwrap();
    // Sparse: two minutes ten days apart (read row by row), and a new one.
    db.put(vec![sample("s", 60, 1.0, false), sample("s", 60 + far, 2.0, false)])
        .unwrap();
    db.put(vec![
        sample("s", 61, 3.0, false),
        sample("s", 61 + far, 4.0, false),
        sample("s", 120, 5.0, false),
    ])
    .unwrap();
    let id = db.find(&sample("d", 0, 0.0, false).metric).unwrap().unwrap();
    let rows = db.read(id, 0, 6000, false).unwrap();
    assert_eq!(rows.len(), 100);
    assert!(rows.iter().all(|p| (p.agg.count, p.agg.sum) == (2.0, 3.0)));
    let id = db.find(&sample("s", 0, 0.0, false).metric).unwrap().unwrap();
    let rows = db.read(id, 0, far + 120, false).unwrap();
    assert_eq!(
        rows.iter().map(|p| (p.ts, p.agg.count, p.agg.sum)).collect::<Vec<_>>(),
        [(60, 2.0, 4.0), (120, 1.0, 5.0), (60 + far, 2.0, 6.0)]
    );
}

#[test]
fn requests_written_together_merge_as_if_written_one_after_the_other() {
    let db = Db::memory(&[]).unwrap();
    db.write(&[
        vec![sample("m", 60, 1.0, false), sample("n", 60, 7.0, false)],
        vec![sample("m", 90, 3.0, true)],
    ])
    .unwrap();
    let id = db.find(&sample("m", 0, 0.0, false).metric).unwrap().unwrap();
    let minutes = db.read(id, 0, 600, false).unwrap();
    assert_eq!(
        minutes
            .iter()
            .map(|p| (p.ts, p.agg.count, p.agg.sum))
            .collect::<Vec<_>>(),
        [(60, 2.0, 4.0)]
    );
    assert_eq!(db.read(id, 0, 600, true).unwrap().len(), 1);
    assert_eq!(db.list().unwrap().len(), 2);
    assert_eq!(db.list().unwrap()[0].last_put, 90);
}

#[test]
fn a_database_of_the_json_format_reads_merges_and_rolls_up() {
    // Rows as the previous version wrote them: the aggregate as JSON text.
    let dir = tempfile::tempdir().unwrap();
    let day = 86400;
    let far = 10 * day;
    {
        let db = Db::open(dir.path(), &[]).unwrap();
        db.put(vec![sample("m", 60, 1.0, false), sample("m", 60 + far, 1.0, false)])
            .unwrap();
        let conn = db.conn();
        let mut rows = conn.prepare("SELECT metric, res, ts, unit, agg FROM points").unwrap();
        let rows: Vec<(i64, i64, i64, String, Aggregate)> = rows
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    stored::decode(r.get_ref(4)?).unwrap(),
                ))
            })
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(rows.len(), 2);
        for (metric, res, ts, unit, agg) in rows {
            conn.execute(
                "UPDATE points SET agg=?5 WHERE metric=?1 AND res=?2 AND ts=?3 AND unit=?4",
                params![metric, res, ts, unit, serde_json::to_string(&agg).unwrap()],
            )
            .unwrap();
        }
        let text: i64 = conn
            .query_row("SELECT count(*) FROM points WHERE typeof(agg)='text'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(text, 2);
    }
    // The upgraded server opens it: reads it, merges into it (by range and
    // row by row), rolls it up.
    let db = Db::open(dir.path(), &[]).unwrap();
    let id = db.find(&sample("m", 0, 0.0, false).metric).unwrap().unwrap();
    let read = |from, to| {
        db.read(id, from, to, false)
            .unwrap()
            .iter()
            .map(|p| (p.ts, p.agg.count, p.agg.sum))
            .collect::<Vec<_>>()
    };
    assert_eq!(read(0, far + 120), [(60, 1.0, 1.0), (60 + far, 1.0, 1.0)]);
    db.put(vec![sample("m", 61, 2.0, false)]).unwrap();
    db.put(vec![sample("m", 61, 4.0, false), sample("m", 61 + far, 3.0, false)])
        .unwrap();
    assert_eq!(read(0, far + 120), [(60, 3.0, 7.0), (60 + far, 2.0, 4.0)]);
    let text: i64 = db
        .conn()
        .query_row("SELECT count(*) FROM points WHERE typeof(agg)='text'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(text, 0, "rows written again are binary");
    // An untouched JSON row rolls up too.
    db.conn()
        .execute(
            "UPDATE points SET agg=?2 WHERE ts=?1",
            params![60, serde_json::to_string(&Aggregate::value(5.0, 1.0)).unwrap()],
        )
        .unwrap();
    db.roll_up(15 * day + 600).unwrap();
    let rows = db.read(id, 0, 600, false).unwrap();
    assert_eq!(
        rows.iter().map(|p| (p.ts, p.resolution, p.agg.sum)).collect::<Vec<_>>(),
        [(0, 300, 5.0)]
    );
}
