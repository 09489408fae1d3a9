-- Data for the list-query plans (bench/list_plans.py, docs/indexes.md): coin events spread
-- evenly over plans.days days ending at the end of the current UTC day, in time order (as
-- the pipeline writes them), each with one prediction per active model, one outbox delivery
-- and its log row, one evaluation per prediction of a model with a horizon, and its
-- coin_metrics row. Sizes come from settings: plans.models, plans.events, plans.coins,
-- plans.days. Expects the partitions of those days to exist.

-- plans.models models, alternately random forest and XGBoost; 4 in 10 have a horizon
INSERT INTO prediction_active_models (model_id, model_name, model_type, target_variable,
                                      future_minutes, price_change_percent, target_direction,
                                      features, local_model_path)
SELECT 9000 + i, 'plans-model-' || i, (ARRAY['random_forest', 'xgboost'])[1 + i % 2],
       'price_close', CASE WHEN i % 4 >= 2 THEN 10 END, CASE WHEN i % 4 >= 2 THEN 5 END,
       CASE WHEN i % 4 >= 2 THEN 'up' END, '[]'::jsonb, '/nonexistent/plans-model-' || i
  FROM generate_series(0, current_setting('plans.models')::int - 1) i;

CREATE TEMP TABLE plan_events ON COMMIT DROP AS
SELECT i AS n,
       'PLAN' || lpad((i * 7919 % c.coins)::text, 6, '0')
           || substr(md5((i * 7919 % c.coins)::text), 1, 34) AS mint,
       c.t0 + (i::float8 / c.events) * c.span AS ts,
       1 + i % 3 AS phase,
       random() AS r
  FROM (SELECT current_setting('plans.events')::int AS events,
               current_setting('plans.coins')::int AS coins,
               make_interval(days => current_setting('plans.days')::int) AS span,
               date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 day'
                   - make_interval(days => current_setting('plans.days')::int) AS t0) c,
       generate_series(0, current_setting('plans.events')::int - 1) i;

INSERT INTO coin_metrics (mint, "timestamp", phase_id_at_time, price_open, price_high, price_low,
                          price_close, market_cap_close, volume_sol, buy_volume_sol,
                          sell_volume_sol, num_buys, num_sells)
SELECT mint, ts, phase, 1e-8 * (1 + r), 1.2e-8 * (1 + r), 0.9e-8 * (1 + r), 1.1e-8 * (1 + r),
       11 * (1 + r), 5 * r, 3 * r, 2 * r, 10, 5
  FROM plan_events ORDER BY n;

-- probability = u^4 (drawn per row: the lateral refers to e and a): ~16 % positive (> 0.5),
-- ~8.5 % alerts at the default threshold 0.7
INSERT INTO predictions (coin_id, data_timestamp, model_id, active_model_id, prediction,
                         probability, phase_id_at_time, prediction_duration_ms, is_stale,
                         is_alert, alert_threshold, event_received_at, created_at, tag,
                         suppressed)
SELECT e.mint, e.ts, a.model_id, a.id, (p.prob > 0.5)::int, p.prob, e.phase, 3, false,
       p.prob >= 0.7, 0.7, e.ts + interval '50 ms', e.ts + interval '80 ms',
       CASE WHEN p.prob >= 0.7 THEN 'alert' WHEN p.prob > 0.5 THEN 'positive'
            ELSE 'negative' END,
       false
  FROM plan_events e
 CROSS JOIN (SELECT * FROM prediction_active_models WHERE model_name LIKE 'plans-model-%') a
 CROSS JOIN LATERAL (SELECT round((random() ^ 4)::numeric, 4) + 0 * (a.id + e.n) AS prob) p
 ORDER BY e.n, a.id;

-- one delivery per event: 90 % delivered, 5 % superseded, 3 % expired, 2 % failed
INSERT INTO prediction_webhook_outbox (coin_id, data_timestamp, webhook_url, payload,
                                       idempotency_key, status, attempts, next_attempt_at,
                                       last_status, created_at, delivered_at, closed_at)
SELECT mint, ts, 'http://127.0.0.1:5678/webhook/plans',
       json_build_object('coin_id', mint, 'pad', repeat('x', 400))::text,
       md5(n::text),
       CASE WHEN r < 0.90 THEN 'delivered' WHEN r < 0.95 THEN 'superseded'
            WHEN r < 0.98 THEN 'expired' ELSE 'failed' END,
       CASE WHEN r < 0.90 THEN 1 WHEN r < 0.98 THEN 0 ELSE 5 END,
       ts, CASE WHEN r < 0.90 THEN 200 WHEN r >= 0.98 THEN 503 END,
       ts + interval '100 ms',
       CASE WHEN r < 0.90 THEN ts + interval '150 ms' END,
       CASE WHEN r >= 0.90 THEN ts + interval '10 s' END
  FROM plan_events ORDER BY n;

INSERT INTO prediction_webhook_log (coin_id, data_timestamp, webhook_url, response_status,
                                    outbox_id, attempt, idempotency_key, duration_ms, outcome,
                                    created_at)
SELECT coin_id, data_timestamp, webhook_url, last_status, id, greatest(attempts, 1),
       idempotency_key, 40, CASE WHEN status = 'delivered' THEN 'delivered' ELSE 'failed' END,
       COALESCE(delivered_at, closed_at)
  FROM prediction_webhook_outbox
 WHERE status IN ('delivered', 'failed') ORDER BY id;

-- one evaluation per prediction of a model with a horizon
INSERT INTO prediction_evaluations (prediction_id, data_timestamp, coin_id, model_id,
                                    active_model_id, probability, prediction, is_alert, tag,
                                    target_variable, future_minutes, horizon_at, start_value,
                                    end_value, realised_change_pct, target_hit, result,
                                    evaluated_at)
SELECT p.id, p.data_timestamp, p.coin_id, p.model_id, p.active_model_id, p.probability,
       p.prediction, p.is_alert, p.tag, a.target_variable, a.future_minutes,
       p.data_timestamp + make_interval(mins => a.future_minutes), 1.0, 1.1, 10.0,
       random() < 0.3, CASE WHEN random() < 0.5 THEN 'success' ELSE 'failed' END,
       p.data_timestamp + make_interval(mins => a.future_minutes + 1)
  FROM predictions p JOIN prediction_active_models a ON a.id = p.active_model_id
 WHERE a.future_minutes IS NOT NULL
 ORDER BY p.id;
