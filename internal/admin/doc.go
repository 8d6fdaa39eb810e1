// Package admin is Sluice's cluster administration — topics and consumer
// groups — over the Kafka admin APIs (franz-go's kadm), so it works the same
// against the Sluice broker and any Kafka-compatible cluster. The CLI's
// `topic` and `group` commands are thin wrappers around it.
//
// Offset resets follow kafka-consumer-groups: a plan is computed first
// (PlanReset) and only committed on request (ExecuteReset); both refuse while
// the group has members, because a live member would overwrite the reset
// with its next commit.
package admin
