-- Disasters (应急) per person this period: the direct economic loss, and whether a house
-- collapsed or was severely damaged. A row delivered twice counts once.
WITH events AS (
    SELECT DISTINCT d.citizen_id, d.name, d.division_code, d.disaster_date, d.disaster_kind,
           d.house_damage, d.loss_amount
    FROM feed_disaster AS d
    CROSS JOIN run_period AS r
    WHERE d.disaster_date BETWEEN r.period_start AND r.period_end
)
SELECT citizen_id,
       CAST(sum(loss_amount) AS DECIMAL(18, 2)) AS disaster_loss_period,
       coalesce(bool_or(house_damage IN ('severe', 'collapsed')), false) AS house_collapsed
FROM events
GROUP BY citizen_id
