-- The demo's MariaDB inventory (configs/demo.yaml, pipeline "inventory").
CREATE TABLE IF NOT EXISTS products (
  id    INT PRIMARY KEY,
  name  VARCHAR(100) NOT NULL,
  price DECIMAL(10,2) NOT NULL
);
CREATE TABLE IF NOT EXISTS stock (
  product_id   INT NOT NULL,
  warehouse_id INT NOT NULL,
  qty          INT NOT NULL,
  PRIMARY KEY (product_id, warehouse_id)
);
-- Recursive CTEs in derived tables work on MariaDB 10.2+ and MySQL 8 alike.
INSERT IGNORE INTO products
SELECT n, CONCAT('product ', n), ROUND(RAND() * 100, 2)
FROM (WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 500) SELECT n FROM s) p;
INSERT IGNORE INTO stock
SELECT p.n, w.n, FLOOR(RAND() * 1000)
FROM (WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 500) SELECT n FROM s) p
CROSS JOIN (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3) w;
