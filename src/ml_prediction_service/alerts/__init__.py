"""n8n webhooks: payloads, routing, the durable outbox and the delivery task."""
