-- Hukou moves (公安) per person: the people whose household registration moved out of the
-- province this period.
SELECT h.citizen_id, true AS moved_out_of_province
FROM feed_hukou_move AS h
CROSS JOIN run_period AS r
WHERE h.move_date BETWEEN r.period_start AND r.period_end
  AND h.direction = 'out_of_province'
GROUP BY h.citizen_id
