// Package itest holds Sluice's end-to-end tests against real services —
// PostgreSQL, MariaDB/MySQL, Redis and Elasticsearch — and the one helper
// that finds those services for any test in the module.
//
// A service is found, in order:
//
//  1. from its environment variable (SLUICE_TEST_PG_DSN, SLUICE_TEST_MYSQL_DSN,
//     SLUICE_TEST_REDIS_ADDR, SLUICE_TEST_ES_URL), as printed by
//     `scripts/services env`;
//  2. else by starting a container with testcontainers-go, when a Docker
//     engine answers;
//  3. else the test is skipped with a message naming the variable to set —
//     unless CI is set, where a missing service fails the test.
//
// Containers are shared by every test in one test binary and stopped by
// [Main]; call it from TestMain.
package itest
