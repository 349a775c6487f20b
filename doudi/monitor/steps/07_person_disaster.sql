-- Disasters (应急) per person this period: the direct economic loss, and whether a house
-- collapsed or was severely damaged. Events are taken from the load of the month they happened in.
SELECT d.citizen_id,
       CAST(sum(d.loss_amount) AS DECIMAL(18, 2)) AS disaster_loss_period,
       coalesce(bool_or(d.house_damage IN ('severe', 'collapsed')), false) AS house_collapsed
FROM feed_disaster AS d
CROSS JOIN run_period AS r
WHERE d.disaster_date BETWEEN r.period_start AND r.period_end
  AND d.period = strftime(d.disaster_date, '%Y-%m')
GROUP BY d.citizen_id
