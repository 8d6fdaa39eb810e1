-- The demo's Postgres shop (configs/demo.yaml, pipeline "shop").
CREATE TABLE IF NOT EXISTS customers (
  id            serial PRIMARY KEY,
  name          text NOT NULL,
  email         text NOT NULL,
  phone         text,
  password_hash text,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS orders (
  id          serial PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers(id),
  total       numeric(10,2) NOT NULL,
  status      text NOT NULL DEFAULT 'new',
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS outbox (
  id            uuid PRIMARY KEY,
  aggregatetype text NOT NULL,
  aggregateid   text NOT NULL,
  type          text NOT NULL,
  payload       jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO customers (name, email, phone, password_hash)
SELECT 'customer ' || g, 'c' || g || '@example.com', '+1-555-' || lpad(g::text, 4, '0'), md5(g::text)
FROM generate_series(1, 1000) g
WHERE NOT EXISTS (SELECT 1 FROM customers);
INSERT INTO orders (customer_id, total, status)
SELECT 1 + (g % 1000), round((random() * 500)::numeric, 2), 'new'
FROM generate_series(1, 5000) g
WHERE NOT EXISTS (SELECT 1 FROM orders);
