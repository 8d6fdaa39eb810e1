// Package cdc holds pieces the change-data-capture sources share:
// snapshot progress tracking for logs and `sluice status`. It knows nothing
// of any database.
package cdc
