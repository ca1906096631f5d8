/**
 * The billing run's SQL: which periods are due, and the active days of every camera of a batch of
 * (park, period) pairs, computed where the history is.
 */

/** Periods ended by the given time and not yet recorded, per park: every version's grid up to the next version's start. */
export const DUE_PERIODS = `
WITH v AS (
  SELECT c.*, lead(c.effective_from) OVER (PARTITION BY c.park_id ORDER BY c.effective_from) AS until
    FROM signalq_config_version c
   WHERE (?::text IS NULL OR c.park_id = ?)),
p AS (
  SELECT v.park_id, v.id AS version_id, s::date AS period_start, s::date + v.period_days AS period_end, v.timezone,
         v.min_active_minutes, v.daily_rate, v.currency
    FROM v, generate_series(v.effective_from::timestamp,
                            (least(coalesce(v.until, 'infinity'::date), (?::timestamptz AT TIME ZONE v.timezone)::date + 1) - v.period_days)::timestamp,
                            make_interval(days => v.period_days)) AS s)
SELECT p.park_id, p.version_id::text, p.period_start::text, p.period_end::text, p.timezone, p.min_active_minutes,
       p.daily_rate::text, p.currency
  FROM p
 WHERE p.period_end::timestamp AT TIME ZONE p.timezone <= ?::timestamptz
   AND NOT EXISTS (SELECT 1 FROM signalq_period r WHERE r.park_id = p.park_id AND r.period_start = p.period_start)
 ORDER BY p.park_id, p.period_start
 LIMIT ?`;

/**
 * Records the lines of a batch of (park, period) pairs. A camera is online from an ONLINE until its
 * next event (ordered by occurred_at; at one instant OFFLINE sorts first); its state at the period's
 * start is its last event before it, and a camera still online at the end counts up to the end.
 * Each online span is cut at every local midnight of the park's time zone (a span over midnight
 * gives minutes to both days), a day counts when its minutes reach the minimum, and each camera
 * seen before the period's end gets one line, zero days included. A zero line is CREATED at once:
 * there is nothing to pay. Returns the lines recorded. The period's events are read per park
 * through the index (a lateral scan, never the whole month), and sorted by byte order ("C"): the
 * order of ids does not matter, only that each camera's events are together.
 */
export const RECORD_LINES = `
WITH job AS (
  SELECT j.*, j.period_start::timestamp AT TIME ZONE j.tz AS pfrom, j.period_end::timestamp AT TIME ZONE j.tz AS pto
    FROM unnest(?::text[], ?::bigint[], ?::date[], ?::date[], ?::text[], ?::int[], ?::bigint[], ?::text[])
      AS j(park_id, version_id, period_start, period_end, tz, min_minutes, daily_rate, currency)),
device AS (
  SELECT job.*, d.device_id FROM job JOIN signalq_device d ON d.park_id = job.park_id AND d.first_seen_at < job.pto),
event AS (
  SELECT dv.park_id, dv.period_start, dv.device_id, dv.tz, dv.pto, dv.pfrom AS at, s.online
    FROM device dv
   CROSS JOIN LATERAL (SELECT h.online FROM signalq_device_status h
                        WHERE h.park_id = dv.park_id AND h.device_id = dv.device_id AND h.occurred_at <= dv.pfrom
                        ORDER BY h.occurred_at DESC, h.online DESC LIMIT 1) s
  UNION ALL
  SELECT job.park_id, job.period_start, h.device_id, job.tz, job.pto, h.occurred_at, h.online
    FROM job
   CROSS JOIN LATERAL (SELECT h.device_id, h.occurred_at, h.online FROM signalq_device_status h
                        WHERE h.park_id = job.park_id AND h.occurred_at > job.pfrom AND h.occurred_at < job.pto
                        OFFSET 0) h),
span AS (
  SELECT park_id, period_start, device_id, tz, online, at,
         coalesce(lead(at) OVER (PARTITION BY park_id COLLATE "C", period_start, device_id COLLATE "C" ORDER BY at, online), pto) AS until
    FROM event),
piece AS (
  SELECT s.park_id, s.period_start, s.device_id, d AS day,
         extract(epoch FROM least(s.until, (d + interval '1 day') AT TIME ZONE s.tz) - greatest(s.at, d AT TIME ZONE s.tz)) AS seconds
    FROM span s,
         generate_series(date_trunc('day', s.at AT TIME ZONE s.tz), s.until AT TIME ZONE s.tz, interval '1 day') AS d
   WHERE s.online AND s.until > s.at),
day_online AS (
  SELECT park_id, period_start, device_id, day, sum(seconds) AS seconds
    FROM piece WHERE seconds > 0 GROUP BY park_id, period_start, device_id, day),
active AS (
  SELECT o.park_id, o.period_start, o.device_id, count(*) FILTER (WHERE o.seconds >= job.min_minutes * 60) AS days
    FROM day_online o JOIN job USING (park_id, period_start)
   GROUP BY o.park_id, o.period_start, o.device_id),
line AS (
  INSERT INTO signalq_payment (park_id, device_id, period_start, period_end, config_version_id, active_days, daily_rate, amount,
                               currency, payment_progress)
  SELECT dv.park_id, dv.device_id, dv.period_start, dv.period_end, dv.version_id, coalesce(a.days, 0), dv.daily_rate,
         coalesce(a.days, 0) * dv.daily_rate, dv.currency,
         CASE WHEN coalesce(a.days, 0) * dv.daily_rate = 0 THEN 'CREATED' ELSE 'NOT_CREATED' END
    FROM device dv LEFT JOIN active a USING (park_id, period_start, device_id)
  ON CONFLICT (park_id, device_id, period_start) DO NOTHING
  RETURNING park_id, period_start, amount),
period AS (
  INSERT INTO signalq_period (park_id, period_start, period_end, config_version_id, lines)
  SELECT job.park_id, job.period_start, job.period_end, job.version_id,
         (SELECT count(*) FROM line WHERE line.park_id = job.park_id AND line.period_start = job.period_start)
    FROM job
  ON CONFLICT (park_id, period_start) DO NOTHING)
SELECT count(*)::int AS lines, count(*) FILTER (WHERE amount = 0)::int AS zero_lines FROM line`;
