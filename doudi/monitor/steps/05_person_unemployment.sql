-- Registered unemployment (人社) per person this period: registered, and not ended by an end of
-- registration on the same day or later in the period.
WITH events AS (
    SELECT u.citizen_id,
           max(u.event_date) FILTER (WHERE u.event = 'register') AS registered_on,
           max(u.event_date) FILTER (WHERE u.event = 'end') AS ended_on
    FROM feed_unemployment AS u
    CROSS JOIN run_period AS r
    WHERE u.event_date BETWEEN r.period_start AND r.period_end
    GROUP BY u.citizen_id
)
SELECT citizen_id,
       registered_on IS NOT NULL AND (ended_on IS NULL OR ended_on < registered_on) AS unemployed_registered
FROM events
