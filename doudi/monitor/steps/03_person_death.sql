-- Deaths (公安) per person: the earliest death date recorded in the window, up to the end of the
-- period.
SELECT d.citizen_id, min(d.death_date) AS death_date
FROM feed_death AS d
CROSS JOIN run_period AS r
WHERE d.death_date BETWEEN r.window_start AND r.period_end
GROUP BY d.citizen_id
