// Package admin is Sluice's cluster administration — topics, consumer
// groups, SCRAM users and ACLs — over the Kafka admin APIs (franz-go's kadm), so it works the same
// against the Sluice broker and any Kafka-compatible cluster. The CLI's
// `topic`, `group`, `user` and `acl` commands are thin wrappers around it.
//
// Offset resets follow kafka-consumer-groups: a plan is computed first
// (PlanReset) and only committed on request (ExecuteReset); both refuse while
// the group has members, because a live member would overwrite the reset
// with its next commit.
package admin
