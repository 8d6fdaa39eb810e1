#!/usr/bin/env bash
# The demo's load generator: small transactions against the shop (Postgres)
# and the inventory (MariaDB) until killed. Each transaction's row count is
# added to the file named by $1, which the demo's live view reads.
set -uo pipefail
counter=${1:?usage: load.sh COUNTER_FILE}
: "${SHOP_PSQL:?}" "${INVENTORY_MARIADB:?}"
n=0
while true; do
  c=$((RANDOM % 1000 + 1)); o=$((RANDOM % 5000 + 1))
  $SHOP_PSQL -q <<SQL >/dev/null 2>&1 && n=$((n + 5))
BEGIN;
UPDATE customers SET phone = '+1-555-' || lpad((random() * 9999)::int::text, 4, '0') WHERE id = $c;
WITH o AS (INSERT INTO orders (customer_id, total) VALUES ($c, round((random() * 500)::numeric, 2)) RETURNING id, customer_id, total)
INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload)
SELECT gen_random_uuid(), 'order', o.id::text, 'OrderCreated', jsonb_build_object('order_id', o.id, 'customer_id', o.customer_id, 'total', o.total) FROM o;
UPDATE orders SET status = 'shipped' WHERE id = $o;
DELETE FROM orders WHERE id = (SELECT min(id) FROM orders WHERE status = 'shipped' AND id <> $o);
COMMIT;
SQL
  $INVENTORY_MARIADB -e "UPDATE stock SET qty = GREATEST(qty - 1, 0) WHERE product_id = $((RANDOM % 500 + 1)) AND warehouse_id = $((RANDOM % 3 + 1))" >/dev/null 2>&1 && n=$((n + 1))
  echo "$n" >"$counter"
  sleep 0.2
done
