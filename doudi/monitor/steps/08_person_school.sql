-- Enrolments in non-compulsory education (教育) per person: a high-school or vocational and a
-- college enrolment this period, the fees of this period's enrolments, and the annual fee of the
-- latest enrolment of the window (the higher fee when two start on the same day). Enrolments
-- are taken from the load of the month they happened in.
WITH enrolments AS (
    SELECT s.citizen_id, s.stage, s.enrol_date, s.annual_fee, s.enrol_date >= r.period_start AS in_period
    FROM feed_school AS s
    CROSS JOIN run_period AS r
    WHERE s.enrol_date BETWEEN r.window_start AND r.period_end
      AND s.period = strftime(s.enrol_date, '%Y-%m')
), ranked AS (
    SELECT *,
           row_number() OVER (PARTITION BY citizen_id ORDER BY enrol_date DESC, annual_fee DESC, stage) AS rn
    FROM enrolments
)
SELECT citizen_id,
       coalesce(bool_or(in_period AND stage IN ('high_school', 'vocational')), false) AS enrolled_high_school,
       coalesce(bool_or(in_period AND stage = 'college'), false) AS enrolled_college,
       CAST(max(CASE WHEN rn = 1 THEN annual_fee END) AS DECIMAL(18, 2)) AS school_fee_annual,
       CAST(coalesce(sum(CASE WHEN in_period THEN annual_fee END), 0) AS DECIMAL(18, 2)) AS school_fees_period
FROM ranked
GROUP BY citizen_id
