-- Installed on coin_metrics (owned by the collector) when that table exists.
-- One function serves both trigger kinds: the statement-level trigger (preferred: one
-- NOTIFY per INSERT statement) and the row-level fallback (e.g. TimescaleDB hypertables,
-- which do not support transition tables). Every inserted row becomes a durable event row;
-- the notification keeps the binding channel and payload (contract §1) {mint, timestamp, phase_id}
-- (for a multi-row statement: the newest row of the statement).
-- SECURITY DEFINER: the collector's role needs no privilege on prediction_events.
CREATE OR REPLACE FUNCTION notify_coin_metrics_insert()
RETURNS TRIGGER
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path FROM CURRENT
AS $fn$
DECLARE
    newest RECORD;
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        -- created_at = the statement's end (clock time, not the transaction start): the
        -- collector commits right after, so latency is measured from (about) its commit
        INSERT INTO prediction_events (mint, data_timestamp, phase_id, created_at)
        SELECT n.mint, n."timestamp", n.phase_id_at_time, clock_timestamp() FROM new_rows n;
        SELECT n.mint, n."timestamp", n.phase_id_at_time
          INTO newest
          FROM new_rows n
         ORDER BY n."timestamp" DESC
         LIMIT 1;
        IF FOUND THEN
            PERFORM pg_notify(
                'coin_metrics_insert',
                json_build_object(
                    'mint', newest.mint,
                    'timestamp', newest."timestamp",
                    'phase_id', newest.phase_id_at_time
                )::text
            );
        END IF;
        RETURN NULL;
    END IF;
    INSERT INTO prediction_events (mint, data_timestamp, phase_id, created_at)
    VALUES (NEW.mint, NEW."timestamp", NEW.phase_id_at_time, clock_timestamp());
    PERFORM pg_notify(
        'coin_metrics_insert',
        json_build_object(
            'mint', NEW.mint,
            'timestamp', NEW."timestamp",
            'phase_id', NEW.phase_id_at_time
        )::text
    );
    RETURN NEW;
END;
$fn$;
